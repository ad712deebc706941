"""Figures for the report: pixel-exact PNG thumbnails and matplotlib SVG charts, as data URIs.

Charts use matplotlib's object API only (no pyplot state) and tell series apart by hatch,
marker and grey level as well as colour, so a greyscale print stays readable.
"""

from __future__ import annotations

import base64
import io
import re
from typing import Literal, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatterSciNotation, MaxNLocator
from PIL import Image

from genreport.pipeline.models.catalogue import VARIANTS, Design

THUMB_SCALE = 4
# Variant styles: colour, grey-distinguishable hatch and marker.
STYLES = dict(zip(VARIANTS, (
    {"color": "#9e9e9e", "hatch": "", "marker": "o", "linestyle": ":"},
    {"color": "#3b6ea8", "hatch": "//", "marker": "s", "linestyle": "--"},
    {"color": "#1b1b1b", "hatch": "..", "marker": "^", "linestyle": "-"},
)))
# Models of other names: 16 colours (as many as a report holds models), each with its own
# marker, hatch and dash pattern, so that no two models of one report look alike.
OTHER_COLOURS = ("#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#66a61e", "#a6761d", "#e6ab02", "#1f78b4",
                 "#b2182b", "#4d9221", "#8c510a", "#542788", "#01665e", "#c51b7d", "#2166ac", "#b35806")
OTHER_MARKERS = ("D", "v", "P", "X", "*", "h", "p", "<")
OTHER_HATCHES = ("xx", "\\\\", "--", "++", "oo", "||", "**", "..")
OTHER_DASHES = ("-.", (0, (5, 1)), (0, (1, 1)), (0, (3, 1, 1, 1)), (0, (5, 5)), (0, (3, 5, 1, 5)))
OTHER_STYLES = tuple({"color": colour, "marker": OTHER_MARKERS[i % len(OTHER_MARKERS)], "hatch": OTHER_HATCHES[(i + i // 8) % len(OTHER_HATCHES)],
                      "linestyle": OTHER_DASHES[i % len(OTHER_DASHES)]} for i, colour in enumerate(OTHER_COLOURS))


def styles_for(names: Sequence[str]) -> dict[str, dict[str, object]]:
    """A style per model name: genreport's variants keep theirs, other names take ``OTHER_STYLES`` in order."""
    others = iter(range(len(names)))
    return {name: STYLES[name] if name in STYLES else OTHER_STYLES[next(others) % len(OTHER_STYLES)] for name in names}


def plain(text: str) -> str:
    """``text`` for a matplotlib label, shown as written: a '$' never starts mathtext."""
    return str(text).replace("$", r"\$")


def data_uri(payload: bytes, mime: str) -> str:
    """A base64 data URI for ``payload``."""
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


def thumbnail_png(image: np.ndarray, scale: int = THUMB_SCALE) -> bytes:
    """A 28x28 image in [0, 1] as a greyscale PNG, enlarged by an integer factor, unblurred."""
    pixels = np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0)
    grey = np.round(pixels * 255.0).astype(np.uint8)
    grey = np.repeat(np.repeat(grey, scale, axis=0), scale, axis=1)
    buffer = io.BytesIO()
    # zlib's default level, not ``optimize`` (level 9): 0.23 ms a thumbnail instead of 2.2 ms, for
    # 11% more bytes (921 against 832 on average); a report holds about 180 of them.
    Image.fromarray(grey, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def thumbnail_uri(image: np.ndarray) -> str:
    """``thumbnail_png`` as a data URI."""
    return data_uri(thumbnail_png(image), "image/png")


SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
# What LogFormatterSciNotation writes at and between decades: $\mathdefault{10^{-2}}$, $\mathdefault{2\times10^{-2}}$.
MATHTEXT_LOG_LABEL = re.compile(r"\$\\mathdefault\{(?:([0-9.]+)\\times)?10\^\{(-?[0-9]+)\}\}\$")
TIMES = "\u2009×\u2009"  # thin spaces, as mathtext spaces the sign: 2 × 10⁻²


class PlainLogFormatter(LogFormatterSciNotation):
    """Matplotlib's log-axis tick labels (10⁻², 3 × 10⁻²) as plain text, not mathtext.

    Parsing their mathtext was 22.9% of the time matplotlib took to save the report's charts
    (benchmarks/results/plain-log-labels-2026-12-07/). A label of another form is kept as
    matplotlib wrote it.
    """

    def __call__(self, x: float, pos: int | None = None) -> str:
        label = super().__call__(x, pos)
        parts = MATHTEXT_LOG_LABEL.fullmatch(label)
        if parts is None:
            return label
        coefficient, exponent = parts.groups()
        return (f"{coefficient}{TIMES}" if coefficient else "") + "10" + exponent.translate(SUPERSCRIPTS)


def log_scale(ax: Axes, axis: Literal["x", "y"]) -> None:
    """Put ``ax``'s 'x' or 'y' axis on a log scale labelled as matplotlib labels it, in plain text."""
    getattr(ax, f"set_{axis}scale")("log")
    scaled = getattr(ax, f"{axis}axis")
    # Both as matplotlib's LogScale makes its own: base 10, and minor labels allowed (set_locs thins them).
    scaled.set_major_formatter(PlainLogFormatter())
    scaled.set_minor_formatter(PlainLogFormatter())


def _svg_uri(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    return data_uri(buffer.getvalue(), "image/svg+xml")


def _new_figure(width: float = 7.0, height: float = 3.2) -> tuple[Figure, object]:
    fig = Figure(figsize=(width, height))
    ax = fig.subplots()
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def per_class_bar_chart(class_names: Sequence[str], means: dict[str, Sequence[float]]) -> str:
    """Grouped bars: mean SSIM of each class for each variant, as an SVG data URI."""
    fig, ax = _new_figure(7.2, 3.4)
    width = 0.8 / max(len(means), 1)
    x = np.arange(len(class_names))
    styles = styles_for(list(means))
    for i, (variant, values) in enumerate(means.items()):
        style = styles[variant]
        ax.bar(x + (i - (len(means) - 1) / 2) * width, values, width, label=plain(variant),
               color=style["color"], hatch=style["hatch"], edgecolor="black", linewidth=0.4)
    low = min(min(v) for v in means.values())
    ax.set_ylim(max(0.0, low - 0.05), 1.0)
    ax.set_xticks(x, [plain(name) for name in class_names], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("mean SSIM")
    # Above the axes: inside them it covered the bars of the last classes.
    ax.legend(fontsize=8, ncols=len(means), loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    return _svg_uri(fig)


def ssim_histogram(values: dict[str, np.ndarray]) -> str:
    """Overlaid SSIM histograms of the variants on one set of axes, as an SVG data URI."""
    fig, ax = _new_figure()
    everything = np.concatenate([np.asarray(v) for v in values.values()])
    bins = np.linspace(float(np.percentile(everything, 0.5)), 1.0, 41)
    styles = styles_for(list(values))
    for variant, v in values.items():
        style = styles[variant]
        ax.hist(np.clip(v, bins[0], 1.0), bins=bins, histtype="step", linewidth=1.6,
                color=style["color"], linestyle=style["linestyle"], label=plain(variant))
    ax.set_xlabel("SSIM per test image")
    ax.set_ylabel("images")
    ax.legend(fontsize=8, loc="upper left")
    return _svg_uri(fig)


def validation_against_work(curves: dict[str, dict[str, list[float]]]) -> str:
    """Validation MSE of each variant against epochs (left) and training compute (right).

    ``curves[variant]`` holds ``val_loss``, ``epochs`` (the fractional epoch each value was
    measured at) and ``tflop`` (the training compute spent by then), so both framings of a
    matched budget are visible side by side.
    """
    fig = Figure(figsize=(7.2, 3.0))
    axes = fig.subplots(1, 2, sharey=True)
    styles = styles_for(list(curves))
    for ax, key, label in ((axes[0], "epochs", "epochs (passes over the training split)"), (axes[1], "tflop", "training compute (TFLOP)")):
        ax.spines[["top", "right"]].set_visible(False)
        for variant, curve in curves.items():
            style = styles[variant]
            ax.plot(curve[key], curve["val_loss"], linestyle=style["linestyle"], marker=style["marker"], markersize=3,
                    color=style["color"], label=plain(variant))
        ax.set_xlabel(label, fontsize=8)
        ax.set_xlim(left=0)
    log_scale(axes[0], "y")
    axes[0].set_ylabel("validation MSE")
    axes[1].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return _svg_uri(fig)


def search_space_chart(grid: list[dict], mean_image_loss: float | None, chosen: dict) -> str:
    """Best validation loss of every searched combination (one marker per rung reached), the
    chosen one ringed and the mean-image baseline as a reference line."""
    fig, ax = _new_figure(7.2, 3.2)
    labels = [f"{g['units']} {g['activation'][:5]} {g['optimizer'][:4]}" for g in grid]
    x = np.arange(len(grid))
    markers = {0: ("o", "#9e9e9e"), 1: ("s", "#3b6ea8"), 2: ("^", "#1b1b1b"), 3: ("D", "#000000")}
    for rung in sorted({g["rung"] for g in grid if g["rung"] is not None}):
        idx = [i for i, g in enumerate(grid) if g["rung"] == rung]
        marker, colour = markers.get(rung, ("D", "#000000"))
        ax.scatter(x[idx], [grid[i]["val_loss"] for i in idx], marker=marker, color=colour, s=16, label=f"last rung {rung}", zorder=3)
    for i, g in enumerate(grid):
        if Design.of(g) == Design.of(chosen) and g["val_loss"] is not None:
            ax.scatter([i], [g["val_loss"]], s=120, facecolors="none", edgecolors="black", linewidths=1.2, label="chosen", zorder=4)
    if mean_image_loss is not None:
        ax.axhline(mean_image_loss, color="#b00000", linestyle="--", linewidth=1, label="mean image")
    log_scale(ax, "y")
    ax.set_xticks(x, labels, rotation=90, fontsize=5)
    ax.set_ylabel("best validation MSE")
    ax.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=4, frameon=False)
    return _svg_uri(fig)


def loss_curves(histories: dict[str, dict[str, list[float]]]) -> str:
    """Training (dashed) and validation (solid) loss per epoch for each variant, log scale."""
    fig, ax = _new_figure()
    styles = styles_for(list(histories))
    for variant, history in histories.items():
        style = styles[variant]
        for key, line in (("loss", ":"), ("val_loss", "-")):
            series = history.get(key) or []
            if series:
                epochs = np.arange(1, len(series) + 1)
                ax.plot(epochs, series, linestyle=line, marker=style["marker"], markersize=3,
                        color=style["color"], label=plain(f"{variant} {key.replace('_', ' ')}"))
    log_scale(ax, "y")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE loss")
    ax.legend(fontsize=7, ncols=2)
    return _svg_uri(fig)


def quality_cost_chart(points: list[dict], front: dict[str, list[str]]) -> str:
    """Mean SSIM (with its 95% interval) against parameters (left) and forward FLOPs per image (right), log-scaled.

    ``points`` hold ``name``, ``mean``, ``ci95``, ``params``, ``flops`` and ``baseline``; every
    point is labelled and ``front[axis]`` (names, cheapest first) is joined by a step line: the
    models no other model beats on both quality and that cost.
    """
    fig = Figure(figsize=(7.2, 3.4))
    axes = fig.subplots(1, 2, sharey=True)
    styles = styles_for([p["name"] for p in points if not p["baseline"]])
    for ax, key, label in ((axes[0], "params", "parameters"), (axes[1], "flops", "forward FLOPs per image")):
        ax.spines[["top", "right"]].set_visible(False)
        shown = [p for p in points if p.get(key)]
        for p in shown:
            style = {"color": "#b00000", "marker": "x"} if p["baseline"] else styles[p["name"]]
            low, high = p["ci95"] if p.get("ci95") else (p["mean"], p["mean"])
            ax.errorbar([p[key]], [p["mean"]], yerr=[[p["mean"] - low], [high - p["mean"]]], marker=style["marker"], color=style["color"],
                        markersize=5, capsize=2, linewidth=0.8)
            ax.annotate(plain(p["name"]), (p[key], p["mean"]), xytext=(4, 3), textcoords="offset points", fontsize=6)
        chosen = [next(p for p in shown if p["name"] == name) for name in front.get(key, []) if any(p["name"] == name for p in shown)]
        if len(chosen) > 1:
            ax.step([p[key] for p in chosen], [p["mean"] for p in chosen], where="post", color="#555555", linewidth=0.8,
                    linestyle="--", label="Pareto front")
            ax.legend(fontsize=7, loc="lower right")
        log_scale(ax, "x")
        ax.set_xlabel(label, fontsize=8)
    axes[0].set_ylabel("mean SSIM (95% interval)")
    fig.tight_layout()
    return _svg_uri(fig)
