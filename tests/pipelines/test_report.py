"""Figures on the search's parent run and `kerashpo report`, on tiny real searches with each driver."""

from __future__ import annotations

import contextlib
import io
import itertools
import re
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from browser import console_errors, headless_chromium
from helpers import chdir, copy_store, exit_code, tracking_uri, write_pipeline
from mlflow import MlflowClient
from PIL import Image

from kerashpo.pipelines.cli import main
from kerashpo.pipelines.review.figures import _TICK_GAP, FIGURES_DIR, TOP_PARAMS, draw_figures
from kerashpo.pipelines.review.record import SearchRecord, TrialRecord
from kerashpo.pipelines.review.report import REPORT
from kerashpo.pipelines.review.trial_study import infer_distributions
from kerashpo.pipelines.waiting import wait_until
from kerashpo.search.leaderboard import find_search_run
from kerashpo.spaces.choices import TrialState

# One worker builds this module's searches once (module-scoped fixtures).
pytestmark = pytest.mark.xdist_group("report")

EVERY_FIGURE = ("optimization_history", "param_importance", "parallel_coordinates", "slices", "learning_curves",
                "test_evaluation", "champion_vs_baseline")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class Search:
    """A finished `kerashpo run`: its folder, what it printed, and its parent run."""

    def __init__(self, directory: Path, name: str, printed: str):
        self.directory, self.printed = directory, printed
        self.client = MlflowClient(tracking_uri(directory))
        self.run_id = find_search_run(self.client, name).info.run_id

    @property
    def report(self) -> Path:
        match = re.search(r"^report: (.+)$", self.printed, re.MULTILINE)
        assert match, f"`kerashpo run` printed no report path:\n{self.printed}"
        return Path(match.group(1).strip())

    def trial_runs(self) -> list:
        experiment = self.client.get_run(self.run_id).info.experiment_id
        return self.client.search_runs([experiment], f"tags.`mlflow.parentRunId` = '{self.run_id}' and "
                                                     "tags.`kerashpo.role` = 'trial'")

    def artifacts(self, folder: str, destination: Path) -> dict[str, Path]:
        downloaded = Path(self.client.download_artifacts(self.run_id, folder, str(destination)))
        return {path.name: path for path in downloaded.iterdir()}


def run_search(directory: Path, name: str, **pipeline: object) -> Search:
    config = write_pipeline(directory, name=name, report=True, **pipeline)  # type: ignore[arg-type]
    printed = io.StringIO()
    with chdir(directory), contextlib.redirect_stdout(printed):
        assert main(["run", str(config)]) == 0
    return Search(directory, name, printed.getvalue())


@pytest.fixture(scope="module")
def optuna_search(tmp_path_factory, empty_mlflow_db) -> Search:
    directory = copy_store(empty_mlflow_db, tmp_path_factory.mktemp("report_optuna"))
    return run_search(directory, "fig_optuna", trials=3, max_epochs=3, patience=2)


@pytest.fixture(scope="module")
def keras_tuner_search(tmp_path_factory, empty_mlflow_db) -> Search:
    directory = copy_store(empty_mlflow_db, tmp_path_factory.mktemp("report_keras_tuner"))
    return run_search(directory, "fig_kt", dataset="iris", trials=2, max_epochs=2, patience=2,
                      extra="driver: keras_tuner\nkeras_tuner: {tuner: random}\n")


@pytest.fixture(scope="module")
def one_trial_search(tmp_path_factory, empty_mlflow_db) -> Search:
    """A regression, so the test figure is predicted vs actual with residuals."""
    directory = copy_store(empty_mlflow_db, tmp_path_factory.mktemp("report_one_trial"))
    return run_search(directory, "fig_one", dataset="diabetes", trials=1, max_epochs=2)


def drawn_figures(driver) -> dict[str, bool]:
    """Each figure on the page and whether plotly drew it (its plot holds SVG or canvas elements)."""
    return {figure.get_attribute("id").removeprefix("figure-"):
            bool(figure.find_elements("css selector", ".js-plotly-plot svg, .js-plotly-plot canvas"))
            for figure in driver.find_elements("css selector", "figure.figure")}


@pytest.mark.slow
def test_report_opens_offline_with_every_figure_drawn_and_one_leaderboard_row_per_trial(optuna_search):
    page = optuna_search.report.read_text()
    assert optuna_search.report.parent.name == "fig_optuna"  # beside the exported model and its card
    assert (optuna_search.report.parent / "model_card.md").is_file()
    # Offline: plotly's script inlined once, nothing fetched from elsewhere.
    assert not re.search(r"<(script|link)[^>]+(src|href)=", page)
    assert page.count("plotly.js v") == 1
    with headless_chromium() as browser:
        browser.get(optuna_search.report.as_uri())
        figures = wait_until(lambda: (lambda d: d if d and all(d.values()) else None)(drawn_figures(browser)),
                             30, every=0.1, what="every figure drawn")
        assert set(figures) == set(EVERY_FIGURE)
        rows = browser.find_elements("css selector", "#leaderboard-table tbody tr")
        assert len(rows) == len(optuna_search.trial_runs()) == 3
        assert browser.find_elements("css selector", "#leaderboard-table tfoot tr"), "the baseline row"
        card = browser.find_element("css selector", "#model-card").text
        assert "Model card: fig_optuna" in card and "Test metrics" in card
        summary = browser.find_element("css selector", "#summary").text
        for shown in ("digits (multiclass)", "train 1077, validation 360, test 360", "optuna: sampler tpe",
                      "Wall time", "3 trials of at most 3 epochs"):
            assert shown in summary
        assert console_errors(browser) == []


@pytest.mark.slow
@pytest.mark.parametrize("search", ["optuna_search", "keras_tuner_search"])
def test_every_figure_is_logged_on_the_parent_run_as_html_and_png(search, request, tmp_path):
    search = request.getfixturevalue(search)
    files = search.artifacts(FIGURES_DIR, tmp_path)
    assert set(files) == {f"{name}.{kind}" for name in EVERY_FIGURE for kind in ("html", "png")}
    for name in EVERY_FIGURE:
        png = files[f"{name}.png"]
        assert png.read_bytes().startswith(PNG_SIGNATURE), name
        with Image.open(png) as image:
            assert image.width >= 400 and image.height >= 300, name
            assert len(image.convert("RGB").getcolors(maxcolors=1 << 20) or range(1 << 20)) > 20, f"{name} is blank"
        assert "Plotly.newPlot" in files[f"{name}.html"].read_text(), name
    assert REPORT in {a.path for a in search.client.list_artifacts(search.run_id)}


@pytest.mark.slow
def test_a_one_trial_search_completes_and_its_report_notes_the_skipped_figures(one_trial_search, tmp_path):
    files = one_trial_search.artifacts(FIGURES_DIR, tmp_path)
    drawn = {name.rsplit(".", 1)[0] for name in files}
    assert drawn == {"optimization_history", "learning_curves", "test_evaluation", "champion_vs_baseline"}
    page = one_trial_search.report.read_text()
    skipped = re.findall(r"<li><b>([^<]+)</b> skipped: ([^<]+)</li>", page)
    assert {title for title, _ in skipped} == {"Hyperparameter importance", "Parallel coordinates", "Slices"}
    assert all("needs two complete trials or more; the search has 1" in why for _, why in skipped)
    assert "predicted vs actual" in page  # a regression's test figure


@pytest.mark.slow
def test_report_command_redraws_the_same_report_from_the_store_alone(optuna_search, tmp_path):
    out = tmp_path / "elsewhere" / "search.html"
    with chdir(tmp_path):  # no ./mlruns here: only the tracking URI leads to the search
        assert main(["report", "--run", optuna_search.run_id, "--out", str(out),
                     "--tracking-uri", tracking_uri(optuna_search.directory)]) == 0
    assert out.read_text() == optuna_search.report.read_text()


@pytest.mark.slow
def test_a_resumed_search_reports_its_whole_time_its_budget_as_configured_now_and_every_trial(run_dir):
    """Issue 38: run again with a larger --trials, the summary is the whole study's, not the last session's."""
    config = write_pipeline(run_dir, name="resumed", dataset="iris", trials=2, max_epochs=2, patience=2, report=True)
    commands = []
    for argv in (["run", str(config)], ["run", str(config), "--trials", "3"]):
        printed, started = io.StringIO(), time.monotonic()
        with chdir(run_dir), contextlib.redirect_stdout(printed):
            assert main(argv) == 0
        commands.append(time.monotonic() - started)
    search = Search(run_dir, "resumed", printed.getvalue())
    trials = {int(run.data.tags["trial_number"]): run.info for run in search.trial_runs()}
    assert sorted(trials) == [0, 1, 2]

    def span(numbers: list[int]) -> float:  # a session's search lasted at least from its first trial to its last
        return (max(trials[n].end_time for n in numbers) - min(trials[n].start_time for n in numbers)) / 1000

    rows = dict(re.findall(r"<tr><th>([^<]+)</th><td>([^<]*)</td></tr>", search.report.read_text()))
    assert rows["Budget"] == "3 trials of at most 2 epochs (patience 2)"
    assert rows["Trials"] == "3: 3 complete, 0 pruned, 0 failed"  # iris's 30 validation rows: no pruning
    assert "over 2 sessions" in rows["Wall time"]
    seconds = float(rows["Wall time"].split()[0])  # shown to 0.1 s
    assert span([0, 1]) + span([2]) - 0.05 <= seconds <= sum(commands) + 0.05, (rows["Wall time"], commands)


@pytest.mark.slow
@pytest.mark.parametrize("argv, message", [
    (["--experiment", "nope"], "no experiment named 'nope'"),
    (["--run", "0123456789abcdef"], "no run '0123456789abcdef'"),
])
def test_report_of_an_unknown_search_is_one_line_and_exit_2(optuna_search, argv, message, capsys, tmp_path):
    with chdir(optuna_search.directory):
        assert exit_code(["report", *argv, "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "r.html").exists()


def test_report_with_no_store_here_is_one_line_and_exit_2(tmp_path, capsys):
    with chdir(tmp_path):
        assert exit_code(["report"]) == 2
    assert "no MLflow store" in capsys.readouterr().err
    assert not (tmp_path / "report.html").exists()


def test_distributions_are_inferred_from_the_logged_text_of_params():
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    trials = [TrialRecord(n, TrialState.COMPLETE, 0.1, params, {}) for n, params in enumerate([
        {"units": "16", "learning_rate": "0.0001", "dropout": "0.1", "batch_norm": "True", "optimizer": "adam"},
        {"units": "64", "learning_rate": "0.05", "dropout": "0.4", "batch_norm": "False", "optimizer": "sgd",
         "momentum": "0.9"},
    ])]
    found = infer_distributions(trials)
    assert found["units"] == IntDistribution(16, 64)
    assert found["learning_rate"] == FloatDistribution(0.0001, 0.05, log=True)  # 500x apart: a log range
    assert found["dropout"] == FloatDistribution(0.1, 0.4)
    assert found["batch_norm"] == CategoricalDistribution(["False", "True"])
    assert found["optimizer"] == CategoricalDistribution(["adam", "sgd"])
    assert found["momentum"] == FloatDistribution(0.9, 0.9)  # conditional: only where the optimizer is sgd


def conditional_search() -> SearchRecord:
    """A search's record as the figures read it: the loss follows dropout (from 0.0008, a log range) and the learning
    rate; l2's values are small but within one decade (a linear axis); a second layer's width and l1 exist on some
    trials only, as in the mlp preset."""
    trials = []
    for number in range(16):
        params = {"n_layers": str(1 + number % 2), "units_1": str(16 * 2 ** (number % 3)),
                  "dropout": repr(0.0008 * 1.5 ** number), "learning_rate": repr(10 ** (-4 + 0.6 * (number % 5))),
                  "l1_enabled": str(number % 4 < 2), "l2": repr(2e-5 * (1 + number % 6))}
        if params["n_layers"] == "2":
            params["units_2"] = str(16 * 2 ** (number % 4))
        if params["l1_enabled"] == "True":
            params["l1"] = repr(10 ** (-6 + number % 4))
        value = 0.05 + 0.2 * float(params["dropout"]) + 0.01 * abs(number % 5 - 2) + 0.001 * (number % 3)
        trials.append(TrialRecord(number, TrialState.COMPLETE, value, params, {1: value + 0.1, 2: value}))
    run = SimpleNamespace(info=SimpleNamespace(run_id="parent", start_time=0, end_time=1000, status="FINISHED"),
                          data=SimpleNamespace(tags={"objective": "val_log_loss", "direction": "minimize"}, params={},
                                               metrics={}))
    return SearchRecord(run, "conditional", trials)


def test_parallel_coordinates_and_slices_show_the_parameters_the_importance_chart_ranks_first():
    figures = {figure.name: figure for figure in draw_figures(conditional_search()).drawn}
    importance = figures["param_importance"]
    ranking = list(reversed(importance.interactive.data[0].y))  # drawn bottom up
    # Optuna would judge a parameter only some trials have on the few trials having all such parameters.
    assert {"units_2", "l1"}.isdisjoint(ranking) and len(ranking) == 6, ranking
    assert "Not ranked: l1, units_2, which only some trials have." in importance.caption
    first = ranking[:TOP_PARAMS]
    parallel = figures["parallel_coordinates"]
    assert set(parallel.interactive.layout.xaxis.ticktext) == {"val_log_loss", *first}
    assert f"the {len(first)} parameters the importance chart ranks first ({', '.join(first)})" in parallel.caption
    slices = figures["slices"]
    assert {axis.title.text for axis in slices.interactive.select_xaxes()} == set(first)
    assert f"each of the {len(first)} parameters the importance chart ranks first ({', '.join(first)})" \
        in slices.caption


def test_no_two_tick_labels_of_a_figure_overlap():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figures = draw_figures(conditional_search()).drawn
    for figure in figures:
        canvas = FigureCanvasAgg(figure.static)  # as the PNG is drawn
        canvas.draw()
        renderer = canvas.get_renderer()
        for axes in figure.static.axes:
            for ticks in (axes.get_xticklabels(), axes.get_yticklabels()):
                # Slanted labels (names) pass each other where their upright boxes would not: level ones only.
                boxes = [label.get_window_extent(renderer) for label in ticks if label.get_visible()
                         and label.get_text() and axes.get_visible() and label.get_rotation() == 0]
                for one, other in itertools.combinations(boxes, 2):
                    assert not one.overlaps(other), f"{figure.name}: {one} and {other}"
    parallel = next(figure for figure in figures if figure.name == "parallel_coordinates")
    heights: dict[float, list[float]] = {}
    for note in parallel.interactive.layout.annotations:  # each axis' labels, at heights between 0 and 1
        heights.setdefault(note.x, []).append(note.y)
    for axis, ys in heights.items():
        ys.sort()
        assert all(high - low >= _TICK_GAP * (ys[-1] - ys[0]) for low, high in itertools.pairwise(ys)), (axis, ys)
    # Plotly's log axes: a few labels, powers of ten, rather than 1-2-5 steps with SI prefixes (100μ).
    slices = next(figure for figure in figures if figure.name == "slices")
    logs = [axis for axis in slices.interactive.select_xaxes() if axis.type == "log"]
    assert {axis.title.text for axis in logs} >= {"dropout", "learning_rate"}
    # Powers of ten only, at most four labels however many decades the values span.
    assert all(float(axis.dtick).is_integer() and axis.exponentformat == "power" for axis in logs)
