"""The figures of a search, drawn from its MLflow record alone (``search_record``): each as an interactive plotly
figure and as a static matplotlib one (its PNG needs no browser), logged under ``figures/`` on the parent run.

Importance, parallel coordinates and slices come from an Optuna study rebuilt in memory from the trials
(``trial_study``), so both drivers share one code path. A figure the record cannot support (one trial, one
parameter, no baseline) is skipped with a note; one that fails is reported and skipped. Nothing here fails a run.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from kerashpo.pipelines.review.record import SearchRecord, TrialRecord, reference_of
from kerashpo.pipelines.review.trial_study import NUMBER_ATTR, as_study
from kerashpo.spaces.choices import Direction, Task, TrialState

log = logging.getLogger("kerashpo.figures")

FIGURES_DIR = "figures"
TOP_PARAMS = 6  # parallel coordinates and slices show the parameters that matter most
TOP_CURVES = 5  # learning curves in colour; the other trials in grey
_SIZE = (8.0, 4.8)  # inches, at matplotlib's 100 dpi
_BEST, _MUTED = "#1f77b4", "#7f7f7f"
_TICK_GAP = 0.06  # the least distance between two labels of a parallel-coordinates axis, as a share of its length


class Skip(Exception):
    """A figure the search's record cannot support; the message says why."""


class NotApplicable(Skip):
    """A figure that does not belong to this kind of search (a Pareto front of one objective): left out unsaid."""


@dataclass
class Figure:
    name: str  # the artifacts' stem: figures/<name>.html and figures/<name>.png
    title: str
    caption: str
    interactive: Any  # plotly
    static: Any  # matplotlib


@dataclass
class Figures:
    drawn: list[Figure] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # title -> why


class _Sources:
    """What the figures read, each part computed once."""

    def __init__(self, record: SearchRecord):
        self.record = record
        self.study = as_study(record)
        self.complete = [t for t in record.trials if t.state is TrialState.COMPLETE and t.value is not None]

    @cached_property
    def importances(self) -> dict[str, float]:
        """The ranked parameters, the most important first: those every complete trial has and that vary. Optuna
        would judge a parameter only some trials have (a second layer's width) on the trials having all of them."""
        import optuna

        if len(self.complete) < 2:
            raise Skip(f"needs two complete trials or more; the search has {len(self.complete)}")
        varying = [name for name in _param_names(self.complete) if name not in self.conditional
                   and len({t.params[name] for t in self.complete}) > 1]
        if len(varying) < 2:
            raise Skip(f"needs two parameters or more that every complete trial has and that vary; "
                       f"{len(varying)} {'does' if len(varying) == 1 else 'do'}")
        return dict(optuna.importance.get_param_importances(self.study, params=varying))

    @property
    def conditional(self) -> list[str]:
        """The parameters only some complete trials have (they exist where another parameter enables them)."""
        return [name for name in _param_names(self.complete) if any(name not in t.params for t in self.complete)]

    @property
    def important(self) -> list[str]:
        """The parameters the importance chart ranks first, in its order."""
        return list(self.importances)[:TOP_PARAMS]


def draw_figures(record: SearchRecord) -> Figures:
    """Every figure the record supports; the others with the reason they were skipped."""
    sources = _Sources(record)
    figures = Figures()
    for name, title, draw in _DRAWERS:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna's small-sample warnings
                caption, interactive, static = draw(sources)
        except NotApplicable:
            continue
        except Skip as why:
            figures.skipped[title] = str(why)
            log.info("figure %s skipped: %s", name, why)
            continue
        except Exception as exc:  # a figure is never worth a failed run
            figures.skipped[title] = f"could not be drawn ({type(exc).__name__}: {exc})"
            log.warning("figure %s: could not be drawn (%s: %s)", name, type(exc).__name__, exc)
            continue
        # The page decides the width: Optuna sizes some figures in pixels.
        interactive.update_layout(title=title, template="plotly_white", width=None, autosize=True)
        figures.drawn.append(Figure(name, title, caption, interactive, static))
    return figures


def log_figures(client: Any, run_id: str, figures: Figures) -> None:
    """Each figure as ``figures/<name>.html`` (plotly) and ``figures/<name>.png`` on the run."""
    for figure in figures.drawn:
        for drawing, suffix in ((figure.interactive, "html"), (figure.static, "png")):
            try:
                client.log_figure(run_id, drawing, f"{FIGURES_DIR}/{figure.name}.{suffix}")
            except Exception as exc:  # tracking never fails a run
                log.warning("figure %s: could not log its %s (%s: %s)", figure.name, suffix, type(exc).__name__, exc)


def _canvas(rows: int = 1, cols: int = 1, size: tuple[float, float] = _SIZE, left: float = 0.1) -> tuple[Any, Any]:
    """A figure with fixed margins: a layout engine would lay every figure out twice, doubling the PNG's cost.
    Made without pyplot, it renders with Agg whatever backend the process uses, and leaves pyplot's state alone."""
    from matplotlib.figure import Figure as StaticFigure

    static = StaticFigure(figsize=size)
    static.subplots_adjust(left=left, right=0.97, bottom=0.14, top=0.9, wspace=0.3, hspace=0.6)
    return static, static.subplots(rows, cols)


def _whole_step(largest: int) -> int:
    """A tick step for trial numbers or epochs: whole, about ten ticks."""
    return max(1, round(largest / 10))


def _whole_numbers() -> Any:
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _param_names(trials: list[TrialRecord]) -> list[str]:
    return list(dict.fromkeys(name for t in trials for name in t.params))


# -- the figures ------------------------------------------------------------------------------------------------

Drawn = tuple[str, Any, Any]  # caption, plotly figure, matplotlib figure


def optimization_history(sources: _Sources) -> Drawn:
    import plotly.graph_objects as go

    record = sources.record
    complete = sources.complete
    pruned = [t for t in record.trials if t.state is TrialState.PRUNED and t.value is not None]
    if not complete and not pruned:
        raise Skip("no trial reported its objective")
    x_complete, y_complete = [t.number for t in complete], [t.value or 0.0 for t in complete]  # all have one
    best: list[float] = []
    for value in y_complete:
        best.append(value if not best or record.direction.better(value, best[-1]) else best[-1])
    x_pruned, y_pruned = [t.number for t in pruned], [t.value for t in pruned]
    interactive = go.Figure([
        go.Scatter(x=x_complete, y=y_complete, mode="markers", name="complete", marker={"color": _BEST}),
        go.Scatter(x=x_pruned, y=y_pruned, mode="markers", name="pruned (best epoch before it stopped)",
                   marker={"color": _MUTED, "symbol": "x"}, opacity=0.6),
        go.Scatter(x=x_complete, y=best, mode="lines", line_shape="hv", name="best so far",
                   line={"color": "#d62728"}),
    ])
    interactive.update_layout(xaxis_title="trial", yaxis_title=record.objective,
                              xaxis_dtick=_whole_step(max(t.number for t in [*complete, *pruned])))
    static, axes = _canvas()
    axes.scatter(x_complete, y_complete, color=_BEST, label="complete", zorder=3)
    axes.scatter(x_pruned, y_pruned, color=_MUTED, marker="x", alpha=0.6, label="pruned")
    axes.step(x_complete, best, where="post", color="#d62728", label="best so far")
    axes.set(xlabel="trial", ylabel=record.objective, title="Optimization history")
    axes.xaxis.set_major_locator(_whole_numbers())
    axes.legend()
    failed = record.count(TrialState.FAILED)
    caption = (f"{record.objective} of each trial (best epoch) and the best so far; pruned trials as grey crosses"
               + (f"; {failed} failed trial(s) have no value" if failed else "") + ".")
    return caption, interactive, static


def param_importance(sources: _Sources) -> Drawn:
    import plotly.graph_objects as go

    importances = sources.importances
    names = list(reversed(importances))  # the most important at the top
    values = [importances[n] for n in names]
    interactive = go.Figure(go.Bar(x=values, y=names, orientation="h", marker={"color": _BEST}))
    interactive.update_layout(xaxis_title="importance (sums to 1)", height=max(300, 40 + 28 * len(names)))
    static, axes = _canvas(left=min(0.5, 0.04 + 0.009 * max(map(len, names))))  # room for the names
    axes.barh(names, values, color=_BEST)
    axes.set(xlabel="importance (sums to 1)", title="Hyperparameter importance")
    unranked = f" Not ranked: {', '.join(sources.conditional)}, which only some trials have." \
        if sources.conditional else ""
    caption = (f"How much each parameter explains of {sources.record.objective} over the "
               f"{len(sources.complete)} complete trials (Optuna's default importance evaluator).{unranked}")
    return caption, interactive, static


def parallel_coordinates(sources: _Sources) -> Drawn:
    import optuna.visualization as plots
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    params, objective = sources.important, sources.record.objective
    interactive = plots.plot_parallel_coordinate(sources.study, params=params, target_name=objective)
    # Optuna writes each axis' labels as annotations at (axis, height between 0 and 1).
    labels: dict[float, list[tuple[float, Any]]] = {}
    for note in interactive.layout.annotations:
        labels.setdefault(note.x, []).append((note.y, note))
    interactive.layout.annotations = [note for ticks in labels.values()
                                      for _, note in _spaced(sorted(ticks, key=lambda tick: tick[0]))]
    # Drawn here rather than by Optuna's matplotlib module, which goes through pyplot and restyles the process.
    trials = _complete_trials(sources.study)
    values = [float(t.value) for t in trials]
    distributions = trials[0].distributions  # the same for every trial: one per parameter name
    axes_of = [_unit_axis(values, None), *(_unit_axis([t.params[p] for t in trials], distributions[p]) for p in params)]
    static, axes = _canvas()
    colours = colormaps["viridis" if sources.record.direction is Direction.MAXIMIZE else "viridis_r"]
    norm = Normalize(min(values), max(values))
    for index in sorted(range(len(trials)), key=lambda i: -sources.record.direction.best_first(values[i])):
        axes.plot(range(len(axes_of)), [positions[index] for positions, _ in axes_of],
                  color=colours(norm(values[index])), alpha=0.8)  # the best drawn last, on top
    for x, (_, ticks) in enumerate(axes_of):
        axes.axvline(x, color="black", linewidth=0.8)
        for y, label in ticks:
            axes.text(x + 0.03, y, label, fontsize="x-small", va="center")
    axes.set_xticks(range(len(axes_of)), [objective, *params], rotation=20, ha="right")
    axes.set(yticks=[], ylim=(-0.05, 1.05), xlim=(-0.1, len(axes_of) - 0.6), title="Parallel coordinates")
    static.colorbar(ScalarMappable(norm, colours), ax=axes, label=objective)
    caption = f"Complete trials across {_ranked_first(params)}, coloured by {objective}."
    return caption, interactive, static


def _ranked_first(params: list[str]) -> str:
    return f"the {len(params)} parameters the importance chart ranks first ({', '.join(params)})"


def _spaced(ticks: list[tuple[float, Any]]) -> list[tuple[float, Any]]:
    """Ascending ticks of a vertical axis, those closer than ``_TICK_GAP`` to a kept one left out (the ends stay):
    Optuna labels a log axis at its ends and at each decade, and a decade near an end would print over it."""
    if len(ticks) < 3:
        return ticks
    first, last = ticks[0], ticks[-1]
    gap = _TICK_GAP * (last[0] - first[0])
    kept = [first]
    for tick in ticks[1:-1]:
        if tick[0] - kept[-1][0] >= gap and last[0] - tick[0] >= gap:
            kept.append(tick)
    return [*kept, last]


def _unit_axis(values: list[Any], distribution: Any) -> tuple[list[float], list[tuple[float, str]]]:
    """Values placed on [0, 1] (categories evenly, log ranges by decade) and the axis' labelled ticks."""
    from optuna.distributions import CategoricalDistribution

    if isinstance(distribution, CategoricalDistribution):
        choices = [str(c) for c in distribution.choices]
        step = 1 / max(len(choices) - 1, 1)
        return [choices.index(str(v)) * step for v in values], _spaced([(i * step, c) for i, c in enumerate(choices)])
    log = bool(getattr(distribution, "log", False))
    scaled = [math.log10(v) if log else float(v) for v in values]
    low, high = min(scaled), max(scaled)
    span = high - low or 1.0
    ends = [(0.0, f"{min(values):.3g}"), (1.0, f"{max(values):.3g}")] if high > low else [(0.5, f"{values[0]:.3g}")]
    return [(v - low) / span if high > low else 0.5 for v in scaled], ends


def _complete_trials(study: Any) -> list[Any]:
    import optuna

    return [t for t in study.trials if t.state is optuna.trial.TrialState.COMPLETE]


def slices(sources: _Sources) -> Drawn:
    import numpy as np
    import optuna.visualization as plots
    from matplotlib.ticker import LogFormatter, NullLocator
    from optuna.distributions import CategoricalDistribution

    params, objective = sources.important, sources.record.objective
    interactive = plots.plot_slice(sources.study, params=params, target_name=objective)
    _readable_log_axes(interactive)
    # Optuna's static slices put every parameter in one row; a grid keeps each panel legible.
    cols = min(3, len(params))
    rows = -(-len(params) // cols)
    static, panels = _canvas(rows, cols, size=(4.0 * cols, 3.4 * rows))
    panels = np.ravel(panels)
    complete = _complete_trials(sources.study)
    for axes, name in zip(panels, params):
        having = [t for t in complete if name in t.params]
        distribution = having[0].distributions[name]
        x = [t.params[name] for t in having]
        if isinstance(distribution, CategoricalDistribution):
            choices = [str(c) for c in distribution.choices]
            x = [choices.index(str(v)) for v in x]
            axes.set_xticks(range(len(choices)), choices, rotation=30, ha="right")
        elif getattr(distribution, "log", False):
            axes.set_xscale("log")
            # Plain 1e-03 labels and no minor ticks: typeset powers made this the slowest PNG by far.
            axes.xaxis.set_major_formatter(LogFormatter(labelOnlyBase=True))
            axes.xaxis.set_minor_locator(NullLocator())
        else:  # small or large numbers as a few digits times a power of ten, written once at the axis' end
            axes.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
        axes.scatter(x, [t.value for t in having], c=[t.user_attrs[NUMBER_ATTR] for t in having], cmap="Blues",
                     edgecolors=_MUTED)
        axes.set_xlabel(name)
    for axes in panels[len(params):]:
        axes.set_visible(False)
    for axes in panels[::cols]:
        axes.set_ylabel(objective)
    static.suptitle("Slices (darker: later trials)")
    caption = f"{objective} against each of {_ranked_first(params)} (complete trials)."
    return caption, interactive, static


_LOG_LABELS = 3  # labels a narrow panel's log axis holds without running into each other


def _readable_log_axes(figure: Any) -> None:
    """Plotly's log axes labelled at powers of ten only, a decade or every few decades: in a narrow panel any
    labels between (plotly's 2 and 5, SI prefixes), or one per decade over many decades, run into each other."""
    for axis in figure.select_xaxes(selector={"type": "log"}):
        anchor = axis.plotly_name.replace("axis", "")  # xaxis2 -> x2, as its traces name it
        values = [v for trace in figure.data if trace.xaxis == anchor for v in (trace.x or ()) if v and v > 0]
        decades = math.log10(max(values) / min(values)) if values else 1.0
        axis.update(dtick=max(1, math.ceil(decades / _LOG_LABELS)), exponentformat="power")


def learning_curves(sources: _Sources) -> Drawn:
    import plotly.graph_objects as go

    record = sources.record
    curves = [t for t in record.trials if t.curve and t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    if not curves:
        raise Skip("no trial logged its objective per epoch")
    top = sorted(sources.complete, key=lambda t: record.direction.best_first(t.value or 0.0))[:TOP_CURVES]
    colours = dict(zip((t.number for t in top), ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")))
    interactive, (static, axes) = go.Figure(), _canvas()
    shown: set[str] = set()
    for trial in sorted(curves, key=lambda t: t.number in colours):  # the top trials drawn last, on top
        epochs, values = list(trial.curve), list(trial.curve.values())
        if trial.number in colours:
            group, style = f"trial {trial.number}", {"color": colours[trial.number], "width": 2.5}
            opacity, dash = 1.0, "solid"
        else:
            pruned = trial.state is TrialState.PRUNED
            group = "pruned" if pruned else "other complete"
            style, opacity = {"color": _MUTED, "width": 1}, 0.3 if pruned else 0.6
            dash = "dot" if pruned else "solid"
        interactive.add_trace(go.Scatter(
            x=epochs, y=values, mode="lines+markers", name=group, legendgroup=group, showlegend=group not in shown,
            line={**style, "dash": dash}, opacity=opacity, hovertext=f"trial {trial.number} ({trial.state.lower()})"))
        axes.plot(epochs, values, marker=".", color=style["color"], linewidth=style["width"], alpha=opacity,
                  linestyle=":" if dash == "dot" else "-", label=None if group in shown else group)
        shown.add(group)
    interactive.update_layout(xaxis_title="epoch", yaxis_title=record.objective,
                              xaxis_dtick=_whole_step(max(max(t.curve) for t in curves)))
    axes.set(xlabel="epoch", ylabel=record.objective, title="Learning curves")
    axes.xaxis.set_major_locator(_whole_numbers())
    axes.legend(fontsize="small")
    caption = (f"Validation {record.objective} per epoch: the {len(top)} best complete trials in colour, the other "
               "complete trials in grey, pruned trials faded and dotted.")
    return caption, interactive, static


def final_evaluation(sources: _Sources) -> Drawn:
    predictions = sources.record.predictions
    if predictions is None:
        raise Skip("the run logged no test predictions (no champion was evaluated)")
    if Task(predictions["task"]) is Task.REGRESSION:
        return _residuals(predictions)
    return _confusion_matrix(predictions)


def _confusion_matrix(predictions: dict[str, Any]) -> Drawn:
    import numpy as np
    import plotly.graph_objects as go

    labels, counts = [str(label) for label in predictions["labels"]], np.asarray(predictions["confusion"])
    accuracy = float(np.trace(counts) / max(counts.sum(), 1))
    interactive = go.Figure(go.Heatmap(z=counts, x=labels, y=labels, colorscale="Blues", text=counts,
                                       texttemplate="%{text}", hovertemplate="actual %{y}, predicted %{x}: %{z}"))
    interactive.update_layout(xaxis_title="predicted", yaxis_title="actual", yaxis_autorange="reversed",
                              xaxis_type="category", yaxis_type="category")
    static, axes = _canvas()
    axes.imshow(counts, cmap="Blues")
    axes.set(xticks=range(len(labels)), yticks=range(len(labels)), xticklabels=labels, yticklabels=labels,
             xlabel="predicted", ylabel="actual", title="Confusion matrix (test)")
    if len(labels) <= 20:  # beyond that the counts would not be legible
        for (row, col), count in np.ndenumerate(counts):
            axes.text(col, row, str(count), ha="center", va="center", fontsize="small",
                      color="white" if count > counts.max() / 2 else "black")
    caption = f"The shipped model's predictions on the {int(counts.sum())} test rows (accuracy {accuracy:.4f})."
    return caption, interactive, static


def _residuals(predictions: dict[str, Any]) -> Drawn:
    import numpy as np
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    actual, predicted = np.asarray(predictions["actual"]), np.asarray(predictions["predicted"])
    residuals = actual - predicted
    span = [float(min(actual.min(), predicted.min())), float(max(actual.max(), predicted.max()))]
    interactive = make_subplots(rows=1, cols=2, subplot_titles=("predicted vs actual", "residuals"))
    interactive.add_trace(go.Scatter(x=actual, y=predicted, mode="markers", name="test rows",
                                     marker={"color": _BEST, "opacity": 0.6}), row=1, col=1)
    interactive.add_trace(go.Scatter(x=span, y=span, mode="lines", name="perfect",
                                     line={"color": _MUTED, "dash": "dash"}), row=1, col=1)
    interactive.add_trace(go.Scatter(x=predicted, y=residuals, mode="markers", name="residual",
                                     marker={"color": "#d62728", "opacity": 0.6}), row=1, col=2)
    interactive.add_hline(y=0, line={"color": _MUTED, "dash": "dash"}, row=1, col=2)
    interactive.update_xaxes(title_text="actual", row=1, col=1)
    interactive.update_yaxes(title_text="predicted", row=1, col=1)
    interactive.update_xaxes(title_text="predicted", row=1, col=2)
    interactive.update_yaxes(title_text="actual - predicted", row=1, col=2)
    static, (left, right) = _canvas(1, 2)
    left.scatter(actual, predicted, s=10, alpha=0.6, color=_BEST)
    left.plot(span, span, linestyle="--", color=_MUTED)
    left.set(xlabel="actual", ylabel="predicted", title="Predicted vs actual (test)")
    right.scatter(predicted, residuals, s=10, alpha=0.6, color="#d62728")
    right.axhline(0, linestyle="--", color=_MUTED)
    right.set(xlabel="predicted", ylabel="actual - predicted", title="Residuals (test)")
    rmse = float(np.sqrt(np.mean(residuals ** 2)))
    shown = f"{len(actual)} of the {predictions.get('rows', len(actual))}"
    caption = f"The shipped model's predictions on {shown} test rows (RMSE on those shown {rmse:.4g})."
    return caption, interactive, static


# Validation, then test (lighter).
_SHIPPED_COLOURS = ("#1f77b4", "#aec7e8")
_REFERENCE_COLOURS = {"linear": ("#7f7f7f", "#c7c7c7"), "gradient_boosting": ("#2ca02c", "#98df8a")}


def champion_vs_baseline(sources: _Sources) -> Drawn:
    import numpy as np
    import plotly.graph_objects as go

    record = sources.record
    if not record.baselines:
        raise Skip("the search fitted no baseline (baseline: false)")
    if record.champion is None:
        raise Skip("the search has no champion yet")
    test = record.run.data.metrics
    ensemble = record.ensemble
    # What shipped: on validation an average's own scores (its members' predictions averaged), else the champion's.
    shipped, validation = (ensemble.kind, ensemble.validation) if ensemble is not None \
        else (f"trial {record.champion.number}", record.champion_validation)
    # Per split, the shipped model then each reference, in a colour per model (lighter on test).
    series: dict[str, tuple[dict[str, float], str]] = {}
    for split, prefix, shade in (("validation", "val_", 0), ("test", "test_", 1)):
        ours = validation if split == "validation" else {k: v for k, v in test.items() if k.startswith(prefix)}
        series[f"shipped: {shipped}, {split}"] = ({k.removeprefix(prefix): v for k, v in ours.items()},
                                                  _SHIPPED_COLOURS[shade])
        for run in record.baselines:
            reference = run.data.tags.get("model", "baseline")
            series[f"baseline: {reference}, {split}"] = (
                {k.removeprefix(prefix): v for k, v in run.data.metrics.items() if k.startswith(prefix)},
                _REFERENCE_COLOURS.get(reference_of(run), _REFERENCE_COLOURS["linear"])[shade])
    shipped_names = set().union(*(s for label, (s, _) in series.items() if label.startswith("shipped")))
    reference_names = set().union(*(s for label, (s, _) in series.items() if label.startswith("baseline")))
    names = sorted(shipped_names & reference_names)
    if not names:
        raise Skip("the shipped model and the baseline share no metric")
    interactive, (static, axes) = go.Figure(), _canvas()
    width = 0.8 / len(series)
    for index, (label, (scores, colour)) in enumerate(series.items()):
        values = [scores.get(n) for n in names]
        interactive.add_trace(go.Bar(x=names, y=values, name=label, marker={"color": colour},
                                     text=[f"{v:.4g}" if v is not None else "" for v in values]))
        axes.bar(np.arange(len(names)) + (index - (len(series) - 1) / 2) * width,
                 [np.nan if v is None else v for v in values], width, label=label, color=colour)
    interactive.update_layout(barmode="group", yaxis_title="score")
    axes.set(xticks=range(len(names)), xticklabels=names, ylabel="score", title="Shipped model vs baseline")
    # Below the axes: inside, it would hide the tallest bars.
    static.subplots_adjust(bottom=0.26)
    axes.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=len(series) // 2,
                frameon=False)
    validated = "its own scores" if ensemble is not None else f"trial {record.champion.number} at its best epoch"
    references = " and ".join(reference_of(run).replace("_", " ") for run in record.baselines)
    caption = (f"The shipped model beside the reference models ({references}) fitted on the same splits, on "
               f"validation ({validated}) and on test (evaluated once). Shipped: {record.shipped}.")
    return caption, interactive, static


def pareto_front_figure(sources: _Sources) -> Drawn:
    """The first objective against the second: every complete trial that met the constraints, the front joined,
    the champion marked."""
    import plotly.graph_objects as go

    from kerashpo.search.selection.pareto import pareto_front

    record = sources.record
    objectives = record.objectives
    if not objectives:
        raise NotApplicable("the search has one objective")
    names = [f"best_{metric}" for metric, _ in objectives]
    trials = [t for t in sources.complete if t.feasible and all(n in t.metrics for n in names)]
    if len(trials) < 2:
        raise Skip(f"needs two complete trials that meet the constraints; the search has {len(trials)}")
    points = {t.number: tuple(t.metrics[n] for n in names) for t in trials}
    front = sorted(pareto_front(points, [d for _, d in objectives]), key=lambda n: points[n][0])
    champion = record.champion
    (x_name, _), (y_name, _) = objectives[0], objectives[1]
    interactive, (static, axes) = go.Figure(), _canvas()
    others = [n for n in points if n not in front]
    for label, numbers, colour, mode in (("dominated", others, _MUTED, "markers"),
                                         ("Pareto front", front, _BEST, "lines+markers")):
        xs, ys = [points[n][0] for n in numbers], [points[n][1] for n in numbers]
        interactive.add_trace(go.Scatter(x=xs, y=ys, mode=mode, name=label, marker={"color": colour},
                                         text=[f"trial {n}" for n in numbers], line={"shape": "hv"}))
        if mode == "markers":
            axes.scatter(xs, ys, color=colour, s=18, label=label)
        else:
            axes.step(xs, ys, where="post", color=colour, marker="o", label=label)
    if champion is not None and champion.number in points:
        x, y = points[champion.number][:2]
        interactive.add_trace(go.Scatter(x=[x], y=[y], mode="markers", name=f"shipped: trial {champion.number}",
                                         marker={"color": "#d62728", "size": 14, "symbol": "star"}))
        axes.scatter([x], [y], color="#d62728", marker="*", s=160, zorder=3, label=f"shipped: trial {champion.number}")
    interactive.update_layout(xaxis_title=x_name, yaxis_title=y_name)
    axes.set(xlabel=x_name, ylabel=y_name, title="Pareto front")
    ys = [values[1] for values in points.values()]
    if min(ys) > 0 and max(ys) > 100 * min(ys):  # sizes span orders of magnitude
        interactive.update_yaxes(type="log")
        axes.set_yscale("log")
    axes.legend(fontsize="small")
    third = f"; the third objective, {objectives[2][0]}, is in the leaderboard" if len(objectives) > 2 else ""
    caption = (f"{len(front)} of {len(points)} complete trials that met the constraints are on the front "
               f"({x_name} against {y_name}){third}. The shipped model was picked by "
               f"{record.tags.get('pick', 'the pick rule')}.")
    return caption, interactive, static


_DRAWERS: tuple[tuple[str, str, Callable[[_Sources], Drawn]], ...] = (
    ("pareto_front", "Pareto front", pareto_front_figure),
    ("optimization_history", "Optimization history", optimization_history),
    ("param_importance", "Hyperparameter importance", param_importance),
    ("parallel_coordinates", "Parallel coordinates", parallel_coordinates),
    ("slices", "Slices", slices),
    ("learning_curves", "Learning curves", learning_curves),
    ("test_evaluation", "Test evaluation", final_evaluation),
    ("champion_vs_baseline", "Shipped model vs baseline", champion_vs_baseline),
)
