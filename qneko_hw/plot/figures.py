"""Routine figures as data, and their rendering.

A routine's fit describes its plot as a :class:`Figure`: panels of series (measured points
with error bars, the fitted model on a dense grid, IQ scatter, histograms, threshold
lines), axes named with their SI unit. The description is stored in the run file with the
analysis results, so a report drawn again from the file is the same plot; :func:`render_png`
draws it with matplotlib (Agg, imported when drawing), choosing an SI prefix for each axis
(``s`` → ``µs``, ``Hz`` → ``MHz``, ``V`` → ``mV``) so that the tick labels read well.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import ArrayLike
from pydantic import ConfigDict

from qneko_hw.config.base import Frozen

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["Figure", "Panel", "Series", "fit_panel", "render_png", "si_scale"]

SeriesKind = Literal["points", "line", "scatter", "hist", "vline", "hline"]


def _floats(values: ArrayLike) -> tuple[float, ...]:
    return tuple(float(v) for v in np.asarray(values, dtype=np.float64).ravel())


class Series(Frozen):
    """One thing drawn on a panel.

    Attributes:
        kind: ``points`` (markers, with ``yerr`` error bars if given), ``line`` (a model on
            a dense grid), ``scatter`` (IQ shots: ``x`` = I, ``y`` = Q), ``hist`` (``x`` =
            bin edges, ``y`` = counts per bin), ``vline``/``hline`` (``x``/``y`` = where).
        x, y, yerr: the values, in the panel's axis units (SI).
        label: legend entry (empty: none).
        color: a matplotlib colour (``C0`` … ``C9`` or a name), empty for the default cycle.
    """

    model_config = ConfigDict(ser_json_inf_nan="constants")

    kind: SeriesKind
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    yerr: tuple[float, ...] = ()
    label: str = ""
    color: str = ""

    @classmethod
    def points(
        cls, x: ArrayLike, y: ArrayLike, yerr: ArrayLike | None = None, label: str = "data"
    ) -> Series:
        """Measured points (with standard errors ``yerr``)."""
        return cls(
            kind="points",
            x=_floats(x),
            y=_floats(y),
            yerr=() if yerr is None else _floats(yerr),
            label=label,
            color="C0",
        )

    @classmethod
    def line(cls, x: ArrayLike, y: ArrayLike, label: str = "fit", color: str = "C3") -> Series:
        """A model curve (evaluate it on a dense grid, not at the data points)."""
        return cls(kind="line", x=_floats(x), y=_floats(y), label=label, color=color)


class Panel(Frozen):
    """One set of axes.

    Attributes:
        x_label, y_label: what the axes show (``delay``, ``P(|1⟩)``).
        x_unit, y_unit: their SI unit (``s``, ``Hz``, ``V``, ``rad``; empty: dimensionless,
            e.g. a pulse count). Values are given in that unit; the renderer picks a prefix.
        series: what to draw, in order.
        x_scale: ``linear`` or ``log``.
        r_squared: R² of the fit of the plotted quantity, shown on the panel (None: no fit).
        note: a short text shown in a corner (e.g. fitted values).
        title: panel title.
    """

    model_config = ConfigDict(ser_json_inf_nan="constants")

    x_label: str
    y_label: str
    x_unit: str = ""
    y_unit: str = ""
    series: tuple[Series, ...] = ()
    x_scale: Literal["linear", "log"] = "linear"
    r_squared: float | None = None
    note: str = ""
    title: str = ""


class Figure(Frozen):
    """A routine's plot: one or more panels side by side."""

    model_config = ConfigDict(ser_json_inf_nan="constants")

    panels: tuple[Panel, ...]
    title: str = ""


def fit_panel(
    x: ArrayLike,
    y: ArrayLike,
    err: ArrayLike | None,
    model: tuple[ArrayLike, ArrayLike] | None,
    *,
    x_label: str,
    x_unit: str,
    y_label: str,
    y_unit: str = "",
    r_squared: float | None = None,
    note: str = "",
    title: str = "",
    extra: Sequence[Series] = (),
) -> Panel:
    """The usual panel of a fit: the data ``y ± err`` at ``x`` as points, the model
    (dense x, values) as a line if given, then ``extra`` series (markers of fitted values)."""
    series = [Series.points(x, y, err)]
    if model is not None:
        series.append(Series.line(*model))
    return Panel(
        x_label=x_label,
        x_unit=x_unit,
        y_label=y_label,
        y_unit=y_unit,
        series=(*series, *extra),
        r_squared=r_squared,
        note=note,
        title=title,
    )


_PREFIXES = ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"))
_SCALED_UNITS = {"s", "Hz", "V"}


def si_scale(values: Sequence[float], unit: str) -> tuple[float, str]:
    """(factor, prefixed unit) for showing ``values`` (SI ``unit``): values / factor lie in
    [1, 1000) at their largest magnitude; units other than s, Hz, V are left as they are."""
    if unit not in _SCALED_UNITS:
        return 1.0, unit
    finite = [abs(v) for v in values if math.isfinite(v) and v != 0.0]
    if not finite:
        return 1.0, unit
    top = max(finite)
    for factor, prefix in _PREFIXES:
        if top >= factor:
            return factor, prefix + unit
    return 1e-9, "n" + unit


def _axis_label(label: str, unit: str) -> str:
    return f"{label} ({unit})" if unit else label


def _draw_panel(ax: Axes, panel: Panel) -> None:
    xs = [v for s in panel.series for v in s.x]
    ys = [v for s in panel.series if s.kind != "hist" for v in s.y]
    x_factor, x_unit = si_scale(xs, panel.x_unit)
    y_factor, y_unit = si_scale(ys, panel.y_unit)
    x_offset = 0.0
    if panel.x_unit == "Hz" and xs:
        lo, hi = min(xs), max(xs)
        centre = 0.5 * (lo + hi)
        if hi > lo and (hi - lo) < 0.01 * abs(centre):  # a narrow sweep at GHz: show offsets
            x_offset = centre
            x_factor, x_unit = si_scale([hi - centre], "Hz")
    labelled = False
    for s in panel.series:
        x = (np.asarray(s.x) - x_offset) / x_factor
        y = np.asarray(s.y) / y_factor
        kw: dict[str, Any] = {"label": s.label or None}
        if s.color:
            kw["color"] = s.color
        labelled |= bool(s.label)
        if s.kind == "points":
            yerr = np.asarray(s.yerr) / y_factor if s.yerr else None
            ax.errorbar(x, y, yerr=yerr, fmt="o", ms=3.5, lw=0.8, capsize=0, **kw)
        elif s.kind == "line":
            ax.plot(x, y, "-", lw=1.6, **kw)
        elif s.kind == "scatter":
            ax.plot(x, y, ".", ms=1.5, alpha=0.35, **kw)
        elif s.kind == "hist":
            edges = x
            counts = np.asarray(s.y)
            ax.stairs(counts, edges, fill=True, alpha=0.35, **kw)
        elif s.kind == "vline":
            for v in x:
                ax.axvline(v, ls="--", lw=1.2, **kw)
                kw["label"] = None
        elif s.kind == "hline":
            for v in y:
                ax.axhline(v, ls="--", lw=1.2, **kw)
                kw["label"] = None
    if panel.x_scale == "log":
        ax.set_xscale("log")
    x_name = panel.x_label
    if x_offset:
        base, base_unit = si_scale([x_offset], "Hz")
        x_name = f"{panel.x_label} − {x_offset / base:.6f} {base_unit}"
    ax.set_xlabel(_axis_label(x_name, x_unit))
    hist_only = all(s.kind in ("hist", "vline") for s in panel.series) and panel.series
    ax.set_ylabel(_axis_label(panel.y_label, "" if hist_only else y_unit))
    if panel.title:
        ax.set_title(panel.title, fontsize="medium")
    text = panel.note
    if panel.r_squared is not None:
        text = f"R² = {panel.r_squared:.4f}" + (f"\n{text}" if text else "")
    if text:
        ax.text(
            0.02,
            0.97,
            text,
            transform=ax.transAxes,
            va="top",
            ha="left",
            fontsize="small",
            bbox={"boxstyle": "round", "fc": "white", "ec": "#ccc", "alpha": 0.85},
        )
    if labelled:
        ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)


def render_png(figure: Figure | None, *, title: str = "") -> bytes:
    """``figure`` drawn as a PNG image (a "no data" image for None or no panels)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    panels = figure.panels if figure is not None else ()
    n = max(1, len(panels))
    fig = MplFigure(figsize=(6.0 if n == 1 else 5.0 * n, 3.8), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, n, squeeze=False)[0]
    if not panels:
        axes[0].text(0.5, 0.5, "no data to plot", ha="center", va="center")
        axes[0].set_axis_off()
    for ax, panel in zip(axes, panels, strict=False):
        _draw_panel(ax, panel)
    heading = title or (figure.title if figure is not None else "")
    if heading:
        fig.suptitle(heading, fontsize="medium")
    # fixed margins: a layout engine would draw the figure two more times
    fig.subplots_adjust(
        left=0.12 if n == 1 else 0.08,
        right=0.98,
        bottom=0.14,
        top=0.88 if heading else 0.95,
        wspace=0.3,
    )
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
