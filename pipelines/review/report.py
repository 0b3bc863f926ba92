"""``report.html``: one self-contained page about a search (summary, leaderboard, every figure, the model card).

Drawn from the MLflow store alone, so a run copied from another machine gives the same report. plotly's
JavaScript is inlined once and each figure refers to it: the file opens offline, with no CDN.
"""

from __future__ import annotations

import datetime
import html
import json
import logging
from pathlib import Path
from typing import Any

from kerashpo.pipelines.review.figures import Figures, draw_figures, log_figures
from kerashpo.pipelines.review.record import BUDGET_TAG, SearchRecord, load_search
from kerashpo.spaces import UserError
from kerashpo.spaces.choices import TrialState

log = logging.getLogger("kerashpo.report")

REPORT = "report.html"  # its name on the parent run and in the export folder

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.5rem; text-align: left; }
th { background: #f4f4f4; }
tfoot td { font-style: italic; background: #fafafa; }
.board { overflow-x: auto; }
figure { margin: 2rem 0; }
figcaption, .skipped { color: #555; font-size: 0.9rem; }
.card { border-left: 4px solid #ddd; padding-left: 1rem; }
"""


def review_search(tracking_uri: str, run_id: str, out: Path) -> Path:
    """Draw the figures of the search whose parent run is ``run_id``, log them and the report on that run, and
    write the report to ``out``."""
    from mlflow import MlflowClient

    from kerashpo.search.leaderboard import leaderboard

    client = MlflowClient(tracking_uri=tracking_uri)
    record = load_search(client, run_id)
    figures = draw_figures(record)
    log_figures(client, run_id, figures)
    page = render_report(record, leaderboard(tracking_uri, run_id=run_id), figures)
    try:
        client.log_text(run_id, page, REPORT)
    except Exception as exc:  # tracking never fails a run: the local file still gets written
        log.warning("report: could not log %s on run %s (%s: %s)", REPORT, run_id, type(exc).__name__, exc)
    partial = out.with_name(f".{out.name}.partial")  # a reader never sees half a page
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(page, encoding="utf-8")
        partial.replace(out)
    except OSError as exc:
        raise UserError(f"{out}: cannot write the report ({exc.strerror or exc})") from None
    return out


def render_report(record: SearchRecord, board: Any, figures: Figures) -> str:
    from plotly.offline import get_plotlyjs

    title = f"kerashpo report: {record.tags.get('kerashpo.study', record.experiment)}"
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{_escape(title)}</title>",
        f"<style>{_STYLE}</style>",
        '<script type="text/javascript">window.PlotlyConfig = {MathJaxConfig: "local"};</script>',
        f'<script type="text/javascript">{get_plotlyjs()}</script>', "</head><body>",
        f"<h1>{_escape(title)}</h1>",
        '<section id="summary"><h2>Summary</h2>', _definition_table(summary(record)), "</section>",
        '<section id="leaderboard"><h2>Leaderboard</h2>', _leaderboard_table(board), "</section>",
        '<section id="figures"><h2>Figures</h2>', *_figures(figures), "</section>",
        '<section id="model-card"><h2>Model card</h2>', _card(record.card), "</section>",
        "</body></html>",
    ]
    return "\n".join(parts)


def summary(record: SearchRecord) -> list[tuple[str, str]]:
    """The search in a few lines: data, splits, driver, budget, seed, time, trials by state, best and test."""
    tags, params, metrics = record.tags, record.run.data.params, record.run.data.metrics
    splits = ", ".join(f"{k.removeprefix('split_')} {v}" for k, v in params.items() if k.startswith("split_"))
    driver = tags.get("driver", "-")
    search = ", ".join(f"{key} {tags[key]}" for key in ("sampler", "pruner", "tuner") if key in tags)
    budget = _budget(params, tags)
    states = TrialState.finished()
    trials = ", ".join(f"{record.count(s)} {s.lower()}" for s in states)
    others = len(record.trials) - sum(record.count(s) for s in states)
    if others:
        trials += f", {others} unfinished"
    best = metrics.get(f"best_{record.objective}")
    tested = ", ".join(f"{k} {v:.4f}" for k, v in sorted(metrics.items()) if k.startswith("test_"))
    seconds, sessions = record.wall_seconds(), record.session_seconds
    started = datetime.datetime.fromtimestamp(record.run.info.start_time / 1000, datetime.timezone.utc)
    return [
        ("Experiment", record.experiment),
        ("Parent run", record.run_id),
        ("Data", f"{tags.get('dataset', '-')} ({tags.get('task', '-')})"),
        ("Split sizes", f"{splits or '-'} (seed {params.get('seed', '-')})"),
        ("Split fingerprint", tags.get("split_fingerprint", "-")),
        ("Model", tags.get("model", "-")),
        ("Driver", f"{driver}: {search}" if search else driver),
        ("Objective", ", ".join(f"{m} ({d})" for m, d in record.objectives) + f"; shipped: {tags.get('pick')}"
         if record.objectives else f"{record.objective} ({record.direction})"),
        ("Budget", budget),
        ("Seed", params.get("seed", "-")),
        ("Wall time", "-" if seconds is None else f"{seconds:.1f} s" if len(sessions) < 2 else
         f"{seconds:.1f} s over {len(sessions)} sessions ({' + '.join(f'{s:.1f}' for s in sessions)} s)"),
        ("Trials", f"{len(record.trials)}: {trials}"),
        ("Best trial", f"{tags['best_trial']}: {record.objective} {best:.4f}"
         if "best_trial" in tags and best is not None else "-"),
        ("Shipped", record.shipped),
        ("Test (evaluated once)", tested or "-"),
        ("Started", f"{started:%Y-%m-%d %H:%M:%S} UTC, status {record.run.info.status}"),
        ("Code version", tags.get("code_version", "-")),
    ]


def _budget(params: dict[str, str], tags: dict[str, str]) -> str:
    """The budget as the latest session configured it (its tag); a run recorded before the tag, as its params."""
    budget = {**params, **{k: str(v) for k, v in json.loads(tags.get(BUDGET_TAG, "{}")).items()}}
    text = (f"{budget.get('trials', '-')} trials of at most {budget.get('max_epochs', '-')} epochs "
            f"(patience {budget.get('patience', '-')})")
    if budget.get("timeout", "None") != "None":
        text += f", timeout {budget['timeout']} s"
    return text


def _definition_table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{_escape(k)}</th><td>{_escape(v)}</td></tr>" for k, v in rows)
    return f'<table class="summary">{body}</table>'


def _leaderboard_table(board: Any) -> str:
    """One row per trial, best first; the baseline (scored on the same splits) in the footer."""
    columns = [board.attrs.get("objective", c) if c == "objective" else c for c in board.columns]
    head = "".join(f"<th>{_escape(c)}</th>" for c in columns)

    def rows(frame: Any) -> str:
        return "".join("<tr>" + "".join(f"<td>{_escape(_cell(v))}</td>" for v in row) + "</tr>"
                       for row in frame.itertuples(index=False))

    baseline = board["state"] == TrialState.BASELINE
    return (f'<div class="board"><table id="leaderboard-table"><thead><tr>{head}</tr></thead>'
            f"<tbody>{rows(board[~baseline])}</tbody><tfoot>{rows(board[baseline])}</tfoot></table></div>")


def _figures(figures: Figures) -> list[str]:
    parts = []
    for figure in figures.drawn:
        plot = figure.interactive.to_html(full_html=False, include_plotlyjs=False, div_id=f"plot-{figure.name}",
                                          config={"displaylogo": False, "responsive": True})
        parts.append(f'<figure class="figure" id="figure-{figure.name}"><h3>{_escape(figure.title)}</h3>{plot}'
                     f"<figcaption>{_escape(figure.caption)}</figcaption></figure>")
    if figures.skipped:
        notes = "".join(f"<li><b>{_escape(title)}</b> skipped: {_escape(why)}</li>"
                        for title, why in figures.skipped.items())
        parts.append(f'<ul class="skipped" id="skipped-figures">{notes}</ul>')
    return parts


def _card(card: str | None) -> str:
    if card is None:
        return '<p class="skipped">No model card: the search exported no model.</p>'
    from markdown_it import MarkdownIt

    return f'<div class="card">{MarkdownIt("commonmark", {"html": False}).enable("table").render(card)}</div>'


def _cell(value: Any) -> str:
    if value is None or str(value) in ("<NA>", "nan", "None", "NaN"):
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _escape(value: Any) -> str:
    return html.escape(str(value))
