"""Property: whatever table and config a user gives `kerashpo run`, it either refuses in one line before
writing anything, or searches, exports, and `kerashpo predict` scores the same file. Never a traceback.

Hypothesis writes small odd tables (odd column names, mixed types, missing values, constant and all-missing
columns, one-row classes, tiny and empty files) and configs (unknown keys and values). Most cases are cheap
refusals; the few that search run 2 trials of 2 epochs.

``KERASHPO_HYPOTHESIS_EXAMPLES`` sets how many cases to try: by default a few, the same ones every run (CI);
given explicitly, that many random ones (a long local hunt: ``KERASHPO_HYPOTHESIS_EXAMPLES=200``).
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import SIGNATURE_PARAMETERS
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from kerashpo.pipelines.cli import main
from kerashpo.pipelines.runtime.quiet import import_backend_quietly

# Started before the first case: its start-up lines are no case's output, and Keras's imports raise the
# recursion limit, which Hypothesis warns about when it happens inside a test.
import_backend_quietly()
import keras  # noqa: E402,F401

EXAMPLES = int(os.environ.get("KERASHPO_HYPOTHESIS_EXAMPLES", "4"))
# TensorFlow's own C++ log lines (and absl's note about them) are not kerashpo's output.
NATIVE_LOG = re.compile(r"^(?:[IWEF]\d{4} |WARNING: All log messages before absl)")

ODD_NAMES = ["é col", "price ($)", "a/b", "x.y", "2nd", "a b", "a_b", "L" * 300, "dense", "normalize", "head",
             "价格", "Q", "q", " lead", "trail ", "", "nan", "None", "True", "1", "a,b", 'say "hi"', "new\nline",
             "#", "y", "x_one_hot", "x", "kind"]
COLUMN_KINDS = ["numbers", "integers", "text", "constant", "missing", "booleans", "mixed"]
TARGET_KINDS = ["binary", "multiclass", "one_row_class", "regression", "constant", "with_missing"]
CONFIG_CHANGES = ["none", "none", "none", "unknown_key", "unknown_sampler", "unknown_task", "unknown_space",
                  "drop_unknown", "categorical_first", "drop_all", "regression_task"]
FILES = ["table", "table", "table", "empty", "header_only"]


@dataclass
class Case:
    columns: list[tuple[str, str]]  # (name, kind)
    target: str
    target_kind: str
    rows: int
    missing: float
    change: str = "none"
    file: str = "table"
    seed: int = 0
    notes: list[str] = field(default_factory=list)
    searches: bool = False  # an explicit example every part of which is supported: a refusal fails it


names = st.one_of(st.sampled_from(ODD_NAMES), st.sampled_from(SIGNATURE_PARAMETERS), st.text(max_size=12))
cases = st.builds(
    Case,
    columns=st.lists(st.tuples(names, st.sampled_from(COLUMN_KINDS)), min_size=1, max_size=4),
    target=st.one_of(st.just("target"), names),
    target_kind=st.sampled_from(TARGET_KINDS),
    # A few rows are a cheap refusal (too few to split); 40 rows can search, if the rest allows it.
    rows=st.sampled_from([0, 1, 3, 5, 9, 40, 40, 40]),
    missing=st.sampled_from([0.0, 0.1, 0.5]),
    change=st.sampled_from(CONFIG_CHANGES),
    file=st.sampled_from(FILES),
    seed=st.integers(0, 3),
)


def column(kind: str, rows: int, missing: float, rng: np.random.Generator) -> pd.Series:
    values: Any
    if kind == "numbers":
        values = rng.normal(size=rows).round(3)
    elif kind == "integers":
        values = rng.integers(0, 5, size=rows)
    elif kind == "text":
        values = rng.choice(["a", "b", "c d", "é"], size=rows)
    elif kind == "constant":
        values = np.full(rows, 7.0)
    elif kind == "missing":
        values = np.full(rows, np.nan)
    elif kind == "booleans":
        values = rng.choice([True, False], size=rows)
    else:  # numbers and words in one column
        values = rng.choice(["1", "2.5", "x", "-3"], size=rows)
    series = pd.Series(values, dtype=object if kind in ("text", "mixed", "booleans") else None)
    if missing and rows and kind not in ("constant", "missing"):
        series[rng.random(rows) < missing] = np.nan
    return series


def target(kind: str, rows: int, rng: np.random.Generator) -> pd.Series:
    if kind == "binary":
        return pd.Series(np.where(np.arange(rows) % 2 == 0, "yes", "no"))
    if kind == "multiclass":
        return pd.Series(np.arange(rows) % 3)
    if kind == "one_row_class":
        return pd.Series(np.where(np.arange(rows) == 0, 2, np.arange(rows) % 2))
    if kind == "regression":
        return pd.Series(rng.normal(size=rows).round(3) * 10)
    if kind == "constant":
        return pd.Series(np.ones(rows, dtype=int))
    values = pd.Series(np.arange(rows) % 2, dtype=float)
    values[::4] = np.nan
    return values


def write_case(case: Case, directory: Path) -> Path:
    """The CSV and the pipeline config of a case."""
    rng = np.random.default_rng(case.seed)
    data = {name: column(kind, case.rows, case.missing, rng) for name, kind in case.columns}
    data[case.target] = target(case.target_kind, case.rows, rng)
    csv = directory / "data.csv"
    if case.file == "empty":
        csv.write_bytes(b"")
    else:
        frame = pd.DataFrame(data)
        (frame.head(0) if case.file == "header_only" else frame).to_csv(csv, index=False)
    dataset: dict[str, Any] = {"path": "data.csv", "target": case.target}
    document: dict[str, Any] = {"name": "prop", "dataset": dataset, "budget": {"trials": 2, "max_epochs": 2},
                                "report": False}
    features = [name for name, _ in case.columns if name != case.target]
    if case.change == "unknown_key":
        document["trails"] = 3
    elif case.change == "unknown_sampler":
        document["optuna"] = {"sampler": "fastest"}
    elif case.change == "unknown_task":
        document["task"] = "clustering"
    elif case.change == "unknown_space":
        document["space"] = "transformer"
    elif case.change == "drop_unknown":
        dataset["drop"] = ["no such column"]
    elif case.change == "categorical_first" and features:
        dataset["categorical"] = features[:1]
    elif case.change == "drop_all":
        dataset["drop"] = sorted(set(features))
    elif case.change == "regression_task":
        document["task"] = "regression"
    config = directory / "prop.yaml"
    config.write_text(yaml.safe_dump(document, allow_unicode=True))
    return config


def run_cli(argv: list[str], capfd) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = int(exc.code or 0)
    out, err = capfd.readouterr()
    return code, out, err


def kerashpo_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip() and not NATIVE_LOG.match(line)]


def reason(line: str) -> str:
    """A refusal's kind, for Hypothesis's statistics: without paths, quoted names and numbers."""
    line = re.sub(r"\S*kerashpo-prop-[^/]*/", "", line.removeprefix("kerashpo: error: "))
    return re.sub(r"([\"']).*?\1|\d+", "_", line)[:70]


def check_case(case: Case, capfd) -> str:
    """Run the case in a fresh folder; return ``refused`` or ``searched`` once its outcome holds up."""
    capfd.readouterr()
    old = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="kerashpo-prop-") as scratch:
        directory = Path(scratch)
        os.chdir(directory)
        try:
            config = write_case(case, directory)
            code, out, err = run_cli(["run", str(config), "--trials", "2", "--max-epochs", "2"], capfd)
            assert "Traceback" not in out + err, err[-3000:]
            if code == 2:
                lines = kerashpo_lines(err)
                assert len(lines) == 1 and lines[0].startswith("kerashpo: error: "), lines
                assert not (directory / "mlruns").exists(), "a refused run wrote a store"
                return "refused: " + reason(lines[0])
            assert code == 0, f"exit {code}\n{out[-2000:]}\n{err[-2000:]}"
            export = directory / "mlruns" / "exports" / "prop"
            assert (export / "model.keras").is_file() and (export / "saved_model").is_dir()
            code, out, err = run_cli(["predict", "--model", str(export), "data.csv", "--out", "p.csv"], capfd)
            assert code == 0 and "Traceback" not in err, err[-3000:]
            assert len(pd.read_csv(directory / "p.csv")) == len(pd.read_csv(directory / "data.csv"))
            return "searched"
        finally:
            os.chdir(old)


@pytest.mark.slow  # one search at least (the explicit example)
@settings(max_examples=EXAMPLES, deadline=None, database=None,
          derandomize="KERASHPO_HYPOTHESIS_EXAMPLES" not in os.environ,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=cases)
# One case that searches, whatever else is drawn: odd names of every sort, missing values, mixed types.
# Found by Hypothesis: a column named "True" searched, then failed writing the SavedModel (a Python keyword
# cannot name a signature's argument). "self" is the first parameter of the TensorFlow methods a signature's
# arguments pass through by keyword.
@example(case=Case(columns=[("é col", "numbers"), ("a b", "text"), ("a_b", "mixed"), ("True", "booleans"),
                            ("dense", "integers"), ("L" * 300, "numbers"), ("self", "numbers")],
                   target="price ($)", target_kind="binary", rows=40, missing=0.1, change="categorical_first",
                   searches=True))
# Found by Hypothesis: a column name holding a line break ("\x1e" is one to str.splitlines) made the refusal
# listing the columns two lines.
@example(case=Case(columns=[("\x1e", "numbers")], target="target", target_kind="binary", rows=0, missing=0.0,
                   change="drop_unknown"))
@example(case=Case(columns=[("new\nline", "numbers"), ("x", "text")], target="target", target_kind="binary",
                   rows=3, missing=0.0, change="drop_unknown"))
def test_a_run_refuses_in_one_line_or_searches_and_predicts(case, capfd):
    outcome = check_case(case, capfd)
    assert outcome == "searched" or not case.searches, outcome
    event(outcome)
