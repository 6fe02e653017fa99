"""Calibration report: one self-contained HTML page, one section per routine run.

Each section shows the routine's plot (data, fit), fit values ± uncertainties, the quality
verdict and its message, and the calibration diff (old → new per parameter). Plots are
PNG images embedded as ``data:`` URIs; the page loads nothing from anywhere else.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from qneko_hw.analysis import Fit
from qneko_hw.config.calibration import CalibrationState, CalValue
from qneko_hw.runfile import read_run, unit_of

log = logging.getLogger(__name__)

__all__ = [
    "BackgroundPlots",
    "DiffRow",
    "ReportEntry",
    "calibration_diff",
    "plot_fit",
    "write_report",
]


@dataclass(frozen=True)
class DiffRow:
    """One calibrated parameter that changed; ``None`` where it did not exist.

    Attributes:
        parameter: dotted name, e.g. ``q0.pi_amplitude_v`` or ``cz.q0-q1.duration_s``.
        old, new: values in the parameter's SI unit. old_uncertainty, new_uncertainty:
            one standard deviation, same unit, ``None`` when unknown.
    """

    parameter: str
    old: float | None
    new: float | None
    old_uncertainty: float | None = None
    new_uncertainty: float | None = None


def _flatten(state: CalibrationState) -> dict[str, CalValue]:
    flat: dict[str, CalValue] = {}
    for q, cal in state.qubits.items():
        for name in type(cal).model_fields:
            value = getattr(cal, name)
            if isinstance(value, CalValue):
                flat[f"{q}.{name}"] = value
    for pair, cz in state.cz.items():
        for name in type(cz).model_fields:
            value = getattr(cz, name)
            if isinstance(value, CalValue):
                flat[f"cz.{pair}.{name}"] = value
    return flat


def calibration_diff(old: CalibrationState, new: CalibrationState) -> tuple[DiffRow, ...]:
    """Parameters whose value or uncertainty differ between ``old`` and ``new``."""
    a, b = _flatten(old), _flatten(new)
    rows = []
    for key in sorted(a.keys() | b.keys()):
        va, vb = a.get(key), b.get(key)
        if (
            va is not None
            and vb is not None
            and (va.value, va.uncertainty)
            == (
                vb.value,
                vb.uncertainty,
            )
        ):
            continue
        rows.append(
            DiffRow(
                parameter=key,
                old=va.value if va else None,
                new=vb.value if vb else None,
                old_uncertainty=va.uncertainty if va else None,
                new_uncertainty=vb.uncertainty if vb else None,
            )
        )
    return tuple(rows)


class Outcome(Protocol):
    """What :meth:`ReportEntry.from_outcome` needs of a routine outcome."""

    @property
    def fit(self) -> Fit: ...

    @property
    def state(self) -> CalibrationState: ...

    @property
    def run_file(self) -> Path: ...

    @property
    def run_id(self) -> str: ...

    @property
    def error(self) -> Exception | None: ...


@dataclass(frozen=True)
class ReportEntry:
    """One section of the report.

    Attributes:
        fit: the routine's fit (values, uncertainties, verdict, message, data and model).
        run_id, run_file: where the raw data is.
        x_label: label of the plot's x axis (sweep parameter and unit).
        diff: calibration changes this run made.
        error: why the calibration was not updated, if it was not.
        png: the plot, if already drawn (:class:`BackgroundPlots`); else drawn on writing.
        multiplexed_with: the qubits measured in the same program (comma-separated), if any.
    """

    fit: Fit
    run_id: str = ""
    run_file: str = ""
    x_label: str = ""
    diff: tuple[DiffRow, ...] = ()
    error: str | None = None
    png: bytes | None = None
    multiplexed_with: str = ""

    @classmethod
    def from_outcome(cls, outcome: Outcome) -> ReportEntry:
        """An entry from a routine outcome; the state before the run comes from its run file."""
        diff: tuple[DiffRow, ...] = ()
        x_label = together = ""
        if outcome.run_file.exists():
            run = read_run(outcome.run_file, shots=False)
            if run.sweep_parameter != "none":
                x_label = f"{run.sweep_parameter} ({run.unit})" if run.unit else ""
                x_label = x_label or run.sweep_parameter
            together = run.context.get("multiplexed_with", "")
            before = run.context.get("calibration_state")
            if before:
                diff = calibration_diff(CalibrationState.model_validate_json(before), outcome.state)
        return cls(
            fit=outcome.fit,
            run_id=outcome.run_id,
            run_file=outcome.run_file.name,
            x_label=x_label,
            diff=diff,
            error=str(outcome.error) if outcome.error is not None else None,
            multiplexed_with=together,
        )


def plot_fit(fit: Fit, *, x_label: str = "") -> bytes:
    """The fit's data (``x``, ``y``) and model (``y_fit``) as a PNG image (Agg backend)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 3.6), dpi=100)
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.14, top=0.9)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if fit.x and fit.y and len(fit.x) == len(fit.y):
        ax.plot(fit.x, fit.y, "o", ms=3.5, color="#1f77b4", label="data")
        if len(fit.y_fit) == len(fit.x):
            ax.plot(fit.x, fit.y_fit, "-", lw=1.6, color="#d62728", label="fit")
        ax.legend(loc="best", fontsize="small")
    else:
        ax.text(0.5, 0.5, "no data to plot", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(f"{fit.routine} · {fit.qubit} · {fit.quality}")
    ax.set_xlabel(x_label or "sweep")
    ax.set_ylabel("signal")
    ax.grid(alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _pm(value: float | None, sigma: float | None, unit: str) -> str:
    if value is None:
        return "—"
    text = f"{value:.6g}"
    if sigma is not None:
        text += f" ± {sigma:.2g}"
    return text + (f" {unit}" if unit else "")


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:60em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;padding-bottom:.2em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .6em}
th{background:#f4f4f4;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
.verdict{font-weight:bold;padding:.1em .5em;border-radius:.3em;color:#fff}
.good{background:#2e7d32}.poor{background:#ef6c00}.bad{background:#c62828}
.error{color:#c62828}img{max-width:100%;border:1px solid #eee}.meta{color:#666;font-size:.9em}
"""


def _section(idx: int, entry: ReportEntry) -> str:
    fit = entry.fit
    e = html.escape
    image = entry.png if entry.png is not None else plot_fit(fit, x_label=entry.x_label)
    png = base64.b64encode(image).decode("ascii")
    parts = [
        f'<section class="run" id="run-{idx}" data-routine="{e(fit.routine)}" '
        f'data-qubit="{e(fit.qubit)}">',
        f"<h2>{e(fit.qubit)} — {e(fit.routine)}</h2>",
        f'<p class="meta">run {e(entry.run_id)} · file {e(entry.run_file)}'
        + (f" · measured together: {e(entry.multiplexed_with)}" if entry.multiplexed_with else "")
        + "</p>",
        f'<p>verdict: <span class="verdict {e(fit.quality)}">{e(fit.quality)}</span> '
        f"R² = {fit.r_squared:.4f}</p>",
    ]
    if fit.message:
        parts.append(f'<p class="message">{e(fit.message)}</p>')
    if entry.error:
        parts.append(f'<p class="error">not applied: {e(entry.error)}</p>')
    parts.append(
        f'<img alt="{e(fit.routine)} {e(fit.qubit)} plot" width="600" height="360" '
        f'src="data:image/png;base64,{png}">'
    )
    parts.append('<h3>Fit values</h3><table class="values"><tr><th>parameter</th>')
    parts.append("<th>value ± 1σ</th></tr>")
    if not fit.values:
        parts.append('<tr><td colspan="2">none</td></tr>')
    for name, value in fit.values.items():
        cell = _pm(value, fit.uncertainties.get(name), unit_of(name))
        parts.append(f'<tr><td>{e(name)}</td><td class="num">{e(cell)}</td></tr>')
    parts.append("</table>")
    parts.append('<h3>Calibration changes</h3><table class="diff"><tr><th>parameter</th>')
    parts.append("<th>old</th><th>new</th></tr>")
    if not entry.diff:
        parts.append('<tr><td colspan="3">no change</td></tr>')
    for row in entry.diff:
        unit = unit_of(row.parameter)
        old = _pm(row.old, row.old_uncertainty, unit)
        new = _pm(row.new, row.new_uncertainty, unit)
        parts.append(
            f'<tr><td>{e(row.parameter)}</td><td class="num">{e(old)}</td>'
            f'<td class="num">→ {e(new)}</td></tr>'
        )
    parts.append("</table></section>")
    return "\n".join(parts)


def render_report(entries: Sequence[ReportEntry], *, title: str = "Calibration report") -> str:
    """The report as one self-contained HTML document."""
    e = html.escape
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    summary = [
        '<table class="summary"><tr><th>qubit</th><th>routine</th><th>verdict</th>'
        "<th>changes</th></tr>"
    ]
    for i, entry in enumerate(entries):
        fit = entry.fit
        summary.append(
            f'<tr><td><a href="#run-{i}">{e(fit.qubit)}</a></td><td>{e(fit.routine)}</td>'
            f'<td><span class="verdict {e(fit.quality)}">{e(fit.quality)}</span></td>'
            f'<td class="num">{len(entry.diff)}</td></tr>'
        )
    summary.append("</table>")
    body = "\n".join(_section(i, entry) for i, entry in enumerate(entries))
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f"<title>{e(title)}</title><style>{_CSS}</style></head><body>\n"
        f'<h1>{e(title)}</h1>\n<p class="meta">generated {stamp} · {len(entries)} runs</p>\n'
        + "\n".join(summary)
        + "\n"
        + body
        + "\n</body></html>\n"
    )


def write_report(
    out_dir: str | Path, entries: Iterable[ReportEntry], *, title: str = "Calibration report"
) -> Path:
    """Write ``out_dir/report.html`` (atomically) and return its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "report.html"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render_report(list(entries), title=title), encoding="utf-8")
    tmp.replace(path)
    return path


def _ignore_sigint() -> None:
    """The plot worker leaves Ctrl-C to the calibrating process, which stops cleanly."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


class BackgroundPlots:
    """Draws report plots in one worker process while a calibration goes on.

    Matplotlib is CPU-bound Python; in the calibrating process it would wait for the GIL
    that the analyses (and a simulated lab) hold, and drawing every plot at the end would
    add to the run's wall time. :meth:`submit` an entry as soon as its routine has
    finished; :meth:`entries` returns them with their plots (an entry whose plot the worker
    could not draw is drawn on writing). Use as a context manager.
    """

    def __init__(self) -> None:
        self._pool: Any = None
        self._jobs: list[tuple[ReportEntry, Any]] = []

    def __enter__(self) -> BackgroundPlots:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, entry: ReportEntry) -> None:
        """Start drawing ``entry``'s plot."""
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # spawn: the calibrating process has threads (instrument servers, I/O)
            ctx = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(
                max_workers=1, mp_context=ctx, initializer=_ignore_sigint
            )
        try:
            job = self._pool.submit(plot_fit, entry.fit, x_label=entry.x_label)
        except Exception as exc:  # a lost worker: the plot is drawn on writing instead
            log.warning("report plots: worker unavailable (%s); drawing on writing", exc)
            job = None
        self._jobs.append((entry, job))

    def entries(self) -> list[ReportEntry]:
        """Every submitted entry, in order, with its plot."""
        out = []
        for entry, job in self._jobs:
            if job is None:
                out.append(entry)
                continue
            try:
                png = job.result()
            except Exception as exc:  # a broken worker: draw it here instead
                log.warning(
                    "report plot of %s %s failed in the worker: %s",
                    entry.fit.routine,
                    entry.fit.qubit,
                    exc,
                )
                png = None
            out.append(dataclasses.replace(entry, png=png))
        return out

    def close(self) -> None:
        """Stop the worker (pending plots are dropped)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
