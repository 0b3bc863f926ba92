"""The ablation's figures, each as PNG (matplotlib) and interactive HTML (plotly): the validation objective per
variant with error bars, and every variant's learning curves (train and validation loss, mean over seeds)."""

from __future__ import annotations

import logging
import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kerashpo.pipelines.ablation.table import SeedRun

log = logging.getLogger("kerashpo.ablation")

BARS, CURVES = "ablation_bars", "ablation_curves"


def mean_curve(runs: Sequence[SeedRun], metric: str) -> list[float]:
    """The metric per epoch averaged over the seeds that reached that epoch (early stopping ends some sooner)."""
    curves = [run.history[metric] for run in runs if metric in run.history]
    length = max((len(c) for c in curves), default=0)
    means = []
    for epoch in range(length):
        values = [c[epoch] for c in curves if epoch < len(c) and math.isfinite(c[epoch])]
        means.append(sum(values) / len(values) if values else math.nan)
    return means


def write_figures(frame: Any, runs: Sequence[SeedRun], title: str, directory: Path) -> list[Path]:
    """Both figures into ``directory``; a figure that cannot be drawn is a warning, never the ablation's end."""
    written: list[Path] = []
    for name, draw in ((BARS, _bars), (CURVES, _curves)):
        try:
            written += draw(frame, runs, title, directory / name)
        except Exception as exc:
            log.warning("figures: could not draw %s (%s: %s)", name, type(exc).__name__, exc)
    return written


def _bars(frame: Any, runs: Sequence[SeedRun], title: str, stem: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display, whatever the user's backend
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go

    objective = frame.attrs["objective"]
    names = list(frame["variant"])
    means = [float(v) for v in frame[f"{objective}_mean"]]
    errors = [0.0 if math.isnan(s) else float(s) for s in frame[f"{objective}_std"]]
    colours = ["#d62728" if name == "champion" else "#1f77b4" for name in names]
    figure, axes = plt.subplots(figsize=(max(6.0, 0.9 * len(names)), 4.0))
    axes.bar(names, means, yerr=errors, capsize=4, color=colours)
    axes.set_ylabel(f"{objective} (mean ± std over seeds)")
    axes.set_title("\n".join(textwrap.wrap(title, 110)), fontsize=9)
    axes.tick_params(axis="x", rotation=30)
    figure.tight_layout()
    figure.savefig(stem.with_suffix(".png"), dpi=120)
    plt.close(figure)
    plot = go.Figure(go.Bar(x=names, y=means, error_y={"type": "data", "array": errors}, marker_color=colours,
                            hovertext=list(frame["sets"])))
    plot.update_layout(title=title, yaxis_title=f"{objective} (mean ± std over seeds)")
    plot.write_html(stem.with_suffix(".html"), include_plotlyjs=True)
    return [stem.with_suffix(".png"), stem.with_suffix(".html")]


def _curves(frame: Any, runs: Sequence[SeedRun], title: str, stem: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go

    figure, axes = plt.subplots(figsize=(8.0, 5.0))
    plot = go.Figure()
    colours = plt.get_cmap("tab10")
    for index, name in enumerate(frame["variant"]):
        own = [run for run in runs if run.variant == name]
        colour = matplotlib.colors.to_hex(colours(index % 10))
        for metric, dash, label in (("val_loss", "solid", "validation"), ("loss", "dash", "train")):
            curve = mean_curve(own, metric)
            epochs = list(range(1, len(curve) + 1))
            axes.plot(epochs, curve, color=colour, linestyle="-" if dash == "solid" else "--",
                      label=f"{name} ({label})")
            plot.add_trace(go.Scatter(x=epochs, y=curve, mode="lines", name=f"{name} ({label})",
                                      line={"color": colour, "dash": dash}, legendgroup=name))
    axes.set_xlabel("epoch")
    axes.set_ylabel("loss (mean over seeds)")
    axes.set_title("\n".join(["Learning curves: validation solid, train dashed", *textwrap.wrap(title, 100)]),
                   fontsize=9)
    axes.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    figure.savefig(stem.with_suffix(".png"), dpi=120)
    plt.close(figure)
    plot.update_layout(title=f"Learning curves (validation solid, train dashed): {title}", xaxis_title="epoch",
                       yaxis_title="loss (mean over seeds)")
    plot.write_html(stem.with_suffix(".html"), include_plotlyjs=True)
    return [stem.with_suffix(".png"), stem.with_suffix(".html")]
