"""The CLI: every bad input is one clear line and exit 2 with nothing written; help is instant; the UI serves."""

from __future__ import annotations

import argparse
import subprocess
import sys
import textwrap

import pytest
from helpers import exit_code

from kerashpo.pipelines.cli import main

GOOD = textwrap.dedent("""\
    name: bad
    dataset: {name: iris}
    budget: {trials: 2, max_epochs: 2}
    report: false
    export: {formats: [keras]}
""")


def space_file(body: str) -> str:
    return "space: space.yaml\n" + "#SPACE\n" + body


CASES = {
    "missing file": (None, ["run", "nowhere.yaml"], "nowhere.yaml: config file not found"),
    "not yaml": ("name: [unclosed\n", None, "not valid YAML"),
    "not a mapping": ("- just\n- a list\n", None, "a pipeline config is a YAML mapping"),
    "unknown key": (GOOD + "epochs: 3\n", None, "unknown key 'epochs'"),
    "unknown nested key": (GOOD.replace("max_epochs: 2", "max_epochs: 2, trails: 3"), None,
                           "unknown key 'budget.trails'"),
    "missing field": ("name: bad\n", None, "missing required field 'dataset'"),
    "misspelled required field": (GOOD.replace("dataset:", "data:"), None,
                                  "unknown key 'data'; did you mean 'dataset'?"),
    "unknown dataset": (GOOD.replace("iris", "mnist"), None, "unknown dataset 'mnist'"),
    "unknown sampler": (GOOD + "optuna: {sampler: annealing}\n", None, "optuna.sampler: unknown value 'annealing'"),
    "where the file is, written as a key": (GOOD + "source: elsewhere.yaml\n", None, "unknown key 'source'"),
    "misspelled nested key": (GOOD.replace("max_epochs: 2", "max_epoch: 2"), None,
                              "unknown key 'budget.max_epoch'; did you mean 'max_epochs'?"),
    "misspelled key in a list": (GOOD + "objectives: [{metric: val_log_loss, directon: minimize}]\n", None,
                                 "unknown key 'objectives.0.directon'; did you mean 'direction'?"),
    "unknown sampler flag": (GOOD, ["--sampler", "annealing"],
                             "argument --sampler: invalid choice: 'annealing' (choose from 'tpe', 'random', 'cmaes',"),
    "unknown pruner": (GOOD + "optuna: {pruner: patient}\n", None, "optuna.pruner: unknown value 'patient'"),
    "unknown activation": (GOOD + space_file("extends: mlp\nparams:\n  activation: [relu, swish2]\n"), None,
                           "activation: unknown value 'swish2'"),
    "unknown optimizer": (GOOD + space_file("extends: mlp\nparams:\n  optimizer: {type: fixed, value: adagrad}\n"),
                          None, "optimizer: unknown value 'adagrad'"),
    "low above high": (GOOD + space_file("extends: mlp\nparams:\n  n_layers: {type: int, low: 4, high: 2}\n"),
                       None, "n_layers: low=4 > high=2"),
    "log with low 0": (GOOD + space_file(
        "extends: mlp\nparams:\n  learning_rate: {type: float, low: 0, high: 0.1, log: true}\n"),
        None, "learning_rate: log scale needs low > 0"),
    "empty categorical": (GOOD + space_file("extends: mlp\nparams:\n  activation: {type: categorical, choices: []}\n"),
                          None, "activation: categorical parameter has no choices"),
    "condition on nothing": (GOOD + space_file(
        "params:\n  momentum: {type: float, low: 0.1, high: 0.9, when: {optimiser: sgd}}\n"),
        None, "condition names parameter 'optimiser', which does not exist"),
    "unknown preset": (GOOD + "space: transformer\n", None, "unknown space preset 'transformer'"),
    "wrong objective": (GOOD + "objective: {metric: val_auc}\n", None, "'val_auc' is not reported for a multiclass"),
    "trials zero": (GOOD, ["--trials", "0"], "argument --trials: must be at least 1, got 0"),
    "trials negative": (GOOD, ["--trials", "-3"], "argument --trials: must be at least 1, got -3"),
    "format without keras": (GOOD.replace("[keras]", "[saved_model]"), None,
                             "export.formats: 'keras' is always written"),
    "unknown format": (GOOD.replace("[keras]", "[keras, onnx]"), None, "export.formats.1: unknown value 'onnx'"),
    "registry without mlflow": (GOOD.replace("[keras]", "[keras], register_model: true"), None,
                                "register_model: true needs 'mlflow' in export.formats"),
    "ensemble of one": (GOOD.replace("[keras]", "[keras], ensemble: 1"), None,
                        "export: ensemble: 1 model is the champion alone"),
    "ensemble and refit": (GOOD.replace("[keras]", "[keras], ensemble: 3, refit: true"), None,
                           "cannot be combined with refit: true"),
    "folds with validation": (GOOD + "split: {folds: 3, validation: 0.2}\n", None,
                              "split: with folds each fold is the validation part in turn; remove validation"),
    "one fold": (GOOD + "split: {folds: 1}\n", None, "split.folds: Input should be greater than or equal to 2"),
    "repeats without folds": (GOOD + "split: {repeats: 2}\n", None, "repeats repeats the folds"),
    "folds and ensemble": (GOOD.replace("[keras]", "[keras], ensemble: 3") + "split: {folds: 3}\n", None,
                           "export.ensemble averages the trials' own models, and with split.folds"),
    "constraints and ensemble": (GOOD.replace("[keras]", "[keras], ensemble: 3")
                                 + "constraints: {n_params: {max: 5000}}\n", None,
                                 "export.ensemble: constraints bound each trial's model"),
    "folds without refit": (GOOD.replace("[keras]", "[keras], refit: false") + "split: {folds: 3}\n", None,
                            "with split.folds the champion is always refit"),
    "constraint on nothing": (GOOD + "constraints: {params: {max: 100}}\n", None,
                              "constraints.params: not a metric the trials record; choose from n_params"),
    "constraint without bound": (GOOD + "constraints: {n_params: {}}\n", None,
                                 "constraints.n_params: give max, min or both"),
    "constraint upside down": (GOOD + "constraints: {latency_ms: {min: 5, max: 1}}\n", None,
                               "constraints.latency_ms: min 5 is above max 1"),
    "objectives under keras tuner": (GOOD + "driver: keras_tuner\nobjectives: [{metric: val_log_loss}, "
                                     "{metric: n_params}]\n", None,
                                     "objectives: Keras Tuner combines several objectives into one number; use "
                                     "driver optuna"),
    "one objective in objectives": (GOOD + "objectives: [{metric: val_log_loss}]\n", None,
                                    "objectives: give two or three (got 1)"),
    "objective and objectives": (GOOD + "objective: {metric: val_accuracy}\nobjectives: [{metric: val_log_loss}, "
                                 "{metric: n_params}]\n", None, "give objective (one) or objectives (several)"),
    "size as first objective": (GOOD + "objectives: [{metric: n_params}, {metric: val_log_loss}]\n", None,
                                "objectives.0.metric: 'n_params' is not reported for a multiclass task (the first"),
    "unknown second objective": (GOOD + "objectives: [{metric: val_log_loss}, {metric: flops}]\n", None,
                                 "objectives.1.metric: 'flops' is not a metric the trials record"),
    "cmaes with objectives": (GOOD + "optuna: {sampler: cmaes}\nobjectives: [{metric: val_log_loss}, "
                              "{metric: n_params}]\n", None, "sampler cmaes optimizes one objective"),
    "gp on conditional space with objectives": (GOOD + "optuna: {sampler: gp}\nobjectives: [{metric: "
                                                "val_log_loss}, {metric: n_params}]\n", None,
                                                "sampler gp samples conditional parameters (units_1"),
    "pick without objectives": (GOOD.replace("[keras]", "[keras], pick: {rule: best_first}"), None,
                                "export.pick chooses from the Pareto front of several objectives"),
    "pick trial without number": (GOOD.replace("[keras]", "[keras], pick: {rule: trial}") + "objectives: [{metric: "
                                  "val_log_loss}, {metric: n_params}]\n", None,
                                  "rule: trial takes the trial's number"),
    "pruning with one objective": (GOOD + "optuna: {pruning: primary}\n", None,
                                   "optuna.pruning says how a search with several objectives prunes"),
    "trials in file": (GOOD.replace("trials: 2", "trials: 0"), None, "budget.trials: Input should be greater than"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_exit_2_and_nothing_written(case, in_tmp, capsys):
    text, args, message = CASES[case]
    if text is not None:
        config, _, space = text.partition("#SPACE\n")
        (in_tmp / "config.yaml").write_text(config)
        if space:
            (in_tmp / "space.yaml").write_text(space)
    argv = args if args and args[0] == "run" else ["run", "config.yaml", *(args or [])]
    assert exit_code(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert message in err[0], err[0]
    assert "Traceback" not in err[0]
    assert not (in_tmp / "mlruns").exists(), "a rejected run must not create a store"


def test_help_answers_without_importing_tensorflow():
    probe = ("import sys\nfrom kerashpo.pipelines.cli import main\n"
             "for argv in (['--help'], ['run', '--help']):\n"
             "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
             "print(sorted(m for m in ('tensorflow', 'keras', 'mlflow', 'optuna') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert "--max-epochs" in out and "leaderboard" in out
    assert out.strip().splitlines()[-1] == "[]"
    console = subprocess.run(["kerashpo", "--help"], capture_output=True, text=True)
    assert console.returncode == 0 and "run" in console.stdout


def test_every_option_has_help_and_named_choices_come_from_the_vocabulary():
    from kerashpo.pipelines.cli import build_parser
    from kerashpo.spaces.choices import Backend, Driver, Pruner, Sampler, TableFormat, Tuner

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    vocabulary = {"--driver": Driver, "--tuner": Tuner, "--sampler": Sampler, "--pruner": Pruner,
                  "--backend": Backend, "--format": TableFormat}
    for name, command in commands.choices.items():
        for action in command._actions:
            assert action.help, f"kerashpo {name} {'/'.join(action.option_strings) or action.dest}: no help"
            flag = next((f for f in action.option_strings if f in vocabulary), None)
            if flag:
                assert tuple(action.choices) == vocabulary[flag].values(), (name, flag)
    sampler = next(a for a in commands.choices["run"]._actions if "--sampler" in a.option_strings)
    assert "nsga2" in sampler.choices


def test_leaderboard_without_a_store_says_how_to_make_one(in_tmp, capsys):
    assert main(["leaderboard"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no MLflow store" in err and "kerashpo run" in err and len(err.splitlines()) == 1
    assert not (in_tmp / "mlruns").exists()
