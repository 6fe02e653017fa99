"""Plots: the pulse sheet of a compiled program (:func:`pulse_sheet`), and the routines'
figures as data (:class:`Figure`) with their renderer. Matplotlib is imported inside the
functions that draw."""

from __future__ import annotations

from qneko_hw.plot.figures import Figure, Panel, Series, render_png
from qneko_hw.plot.sheet import SheetData, pulse_sheet, pulse_sheet_png, sheet_data

__all__ = [
    "Figure",
    "Panel",
    "Series",
    "SheetData",
    "pulse_sheet",
    "pulse_sheet_png",
    "render_png",
    "sheet_data",
]
