"""Calibration reports: self-contained HTML pages a physicist keeps.

Every invocation of a calibration (a tune-up, a nightly check, a resumed run) gets its own
page, ``reports/<invocation>.html``; ``report.html`` next to the store is the index: the
current state of every qubit, the frequency plan and the list of every invocation's page.
An invocation's page has

- a front page: one row per qubit (each calibrated value ± σ, how this invocation changed
  it, the qubit's status and, if it failed, where and why), then per qubit every calibrated
  parameter with its value, σ, the value before, when it was set and by which routine with
  what verdict;
- the frequency plan: qubits, resonators, LOs and IFs per line;
- one section per routine run: its own plot (drawn from the figure its fit stored: data
  with error bars, the model on a dense grid, axes in the routine's units, R² of the
  plotted quantity), the pulse sheet of its first sweep step, its values ± σ, its verdict
  and message, and the calibration changes (committed, or only proposed by a check).

Plots are PNG images embedded as ``data:`` URIs; a page loads nothing from anywhere else.
Everything on a page comes from the run files and the store, so ``qneko report DIR``
(:func:`rebuild`) draws the same pages again.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qneko_hw.analysis import Results
from qneko_hw.config.calibration import CalibrationState, CalValue
from qneko_hw.config.station import Station
from qneko_hw.errors import QnekoError
from qneko_hw.plot.figures import si_scale
from qneko_hw.runfile import RunFile, read_run, unit_of

if TYPE_CHECKING:
    from qneko_hw.plot.sheet import SheetData
    from qneko_hw.store import Store

log = logging.getLogger(__name__)

__all__ = [
    "BackgroundPlots",
    "DiffRow",
    "Invocation",
    "QubitStatus",
    "ReportEntry",
    "calibration_diff",
    "format_quantity",
    "frequency_plan",
    "rebuild",
    "write_index",
    "write_invocation_report",
]

REPORTS_DIR = "reports"
INDEX_NAME = "report.html"

#: The parameters of the summary row, with their column heads.
SUMMARY_PARAMETERS: tuple[tuple[str, str], ...] = (
    ("drive_frequency_hz", "f01"),
    ("readout_frequency_hz", "f readout"),
    ("pi_amplitude_v", "π amp"),
    ("drag_beta_s", "DRAG β"),
    ("assignment_fidelity", "F assign"),
    ("t1_s", "T1"),
    ("t2_s", "T2*"),
    ("t2_echo_s", "T2 echo"),
)


def format_quantity(value: float | None, unit: str = "", sigma: float | None = None) -> str:
    """``value ± sigma unit`` with an SI prefix chosen for the value (``5.123456 GHz ±
    12.0 kHz``); ``—`` for None."""
    if value is None or not math.isfinite(value):
        return "—" if value is None else f"{value}"
    factor, shown = si_scale([value], unit)
    digits = 7 if unit == "Hz" else 5
    text = f"{value / factor:.{digits}g}" + (f" {shown}" if shown else "")
    if sigma is not None and math.isfinite(sigma) and sigma > 0:
        s_factor, s_unit = si_scale([sigma], unit)
        text += f" ± {_two_digits(sigma / s_factor)}" + (f" {s_unit}" if s_unit else "")
    return text


def _two_digits(x: float) -> str:
    """``x`` > 0 to two significant digits, without an exponent for 0.001 ≤ x < 10⁵."""
    if not 1e-3 <= x < 1e5:
        return f"{x:.2g}"
    decimals = max(0, 1 - math.floor(math.log10(x)))
    return f"{x:.{decimals}f}"


# --- calibration changes -------------------------------------------------------------


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


def _proposed(run: RunFile, results: Results) -> tuple[DiffRow, ...]:
    """The changes ``results`` propose, against the state the run started from."""
    before = _state_of(run)
    rows = []
    for name, change in results.changes.items():
        old = None
        if before is not None and run.qubit in before.qubits:
            value = getattr(before.qubit(run.qubit), name, None)
            old = value if isinstance(value, CalValue) else None
        if change.samples is not None:
            rows.append(DiffRow(f"{run.qubit}.{name}", None, float(len(change.samples))))
            continue
        rows.append(
            DiffRow(
                parameter=f"{run.qubit}.{name}",
                old=old.value if old else None,
                new=change.value,
                old_uncertainty=old.uncertainty if old else None,
                new_uncertainty=change.uncertainty,
            )
        )
    return tuple(rows)


def _state_of(run: RunFile) -> CalibrationState | None:
    text = run.context.get("calibration_state")
    return CalibrationState.model_validate_json(text) if text else None


# --- one section per run -------------------------------------------------------------


@dataclass(frozen=True)
class ReportEntry:
    """One section of an invocation's page: one routine run.

    Attributes:
        run_id, run_file: the run and its file name. qubit, routine: where and what.
        results: the stored analysis (None: the run did not get that far).
        multiplexed_with: the other qubits measured in the same programs.
        diff: the calibration changes the results propose.
        version: the store version that committed them (None: not committed — a check,
            or refused).
        error: why the update was refused, if it was.
        created: when the run started (UTC, ISO).
        sheet: the pulse sheet of the first step, if any.
        png, sheet_png: the drawn plot and pulse sheet (None: drawn on writing).
    """

    run_id: str
    run_file: str
    qubit: str
    routine: str
    results: Results | None
    multiplexed_with: tuple[str, ...] = ()
    diff: tuple[DiffRow, ...] = ()
    version: int | None = None
    error: str | None = None
    created: str = ""
    sheet: SheetData | None = field(default=None, repr=False)
    png: bytes | None = field(default=None, repr=False)
    sheet_png: bytes | None = field(default=None, repr=False)

    @classmethod
    def from_run(
        cls, run: RunFile, *, version: int | None = None, error: str | None = None
    ) -> ReportEntry:
        """The section of run file ``run`` (``version``: the store version its changes
        were committed in; ``error``: why they were refused)."""
        results = run.results
        if error is None and results is not None and results.verdict == "bad":
            error = f"{results.routine} unusable: {results.message}"
        return cls(
            run_id=run.run_id,
            run_file=run.path.name,
            qubit=run.qubit,
            routine=run.routine_name,
            results=results,
            multiplexed_with=run.multiplexed_with,
            diff=_proposed(run, results) if results is not None else (),
            version=version,
            error=error,
            created=run.context.get("created", ""),
            sheet=run.sheet,
        )

    def drawn(self, *, sheet: bool = True) -> ReportEntry:
        """This entry with its plot (and, if ``sheet``, its pulse sheet) drawn."""
        png, sheet_png = draw(self.results, self.sheet if sheet else None)
        return dataclasses.replace(self, png=png, sheet_png=sheet_png)


def draw(results: Results | None, sheet: SheetData | None) -> tuple[bytes, bytes | None]:
    """The PNGs of a run's figure and of its pulse sheet (None without a sheet)."""
    from qneko_hw.plot.figures import render_png

    title = f"{results.routine} · {results.qubit} · {results.verdict}" if results else ""
    png = render_png(results.figure if results else None, title=title)
    sheet_png = None
    if sheet is not None:
        from qneko_hw.plot.sheet import pulse_sheet_png

        try:
            sheet_png = pulse_sheet_png(sheet)
        except Exception as exc:  # a drawing aid: the report goes on without it
            log.warning("pulse sheet of %s not drawn: %s", sheet.program, exc)
    return png, sheet_png


# --- the front page ------------------------------------------------------------------


@dataclass(frozen=True)
class QubitStatus:
    """How a qubit ended an invocation: ``ok``, ``failed`` (at ``node``/``routine``:
    ``message``), ``interrupted``, or ``not run``."""

    status: str
    node: str | None = None
    routine: str | None = None
    message: str = ""


@dataclass(frozen=True)
class Invocation:
    """What one invocation did (recorded as ``reports/<id>.json`` next to its page).

    Attributes:
        id: the invocation id (a UTC time stamp and a strategy). kind: ``calibrate``,
        ``nightly``, ``resume`` or ``runs`` (run files without a recorded invocation).
        started, finished: UTC ISO times. runs: the run ids, in order. versions: store
        version → the run id whose changes it committed. start_version, end_version: the
        store's head before and after. qubits: each qubit's status. title: page title.
    """

    id: str
    kind: str
    started: str
    finished: str = ""
    runs: tuple[str, ...] = ()
    versions: Mapping[str, int] = field(default_factory=dict)
    start_version: int | None = None
    end_version: int | None = None
    qubits: Mapping[str, QubitStatus] = field(default_factory=dict)
    title: str = "Calibration report"

    def to_json(self) -> str:
        """The record as JSON."""
        data = dataclasses.asdict(self)
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Invocation:
        """A record written by :meth:`to_json`."""
        data = json.loads(text)
        data["runs"] = tuple(data.get("runs", ()))
        data["qubits"] = {q: QubitStatus(**v) for q, v in data.get("qubits", {}).items()}
        return cls(**data)


def frequency_plan(station: Station, state: CalibrationState) -> list[dict[str, str]]:
    """One row per qubit: its drive (frequency, AWG channels, LO and IF) and readout
    (frequency, feedline, LO and IF), as the compiler would set them for ``state``."""
    from qneko_hw.compiler.channels import lo_frequency_hz, resolve_channel

    rows = []
    for q in sorted(state.qubits):
        cal = state.qubit(q)
        row = {"qubit": q}
        if q in station.drive:
            line = station.drive[q]
            info = resolve_channel(f"{q}.drive", station, state)
            lo = lo_frequency_hz(station, state, info)
            row |= {
                "f01": format_quantity(cal.drive_frequency_hz.value, "Hz"),
                "drive": f"{line.awg} ch {line.channel_i}/{line.channel_q}",
                "drive LO": f"{line.lo} @ {format_quantity(lo, 'Hz')}",
                "drive IF": format_quantity(cal.drive_frequency_hz.value - lo, "Hz"),
            }
        feed = station.feedline_of(q)
        if feed is not None:
            ro = station.readout[feed]
            info = resolve_channel(f"{q}.readout", station, state)
            lo = lo_frequency_hz(station, state, info)
            row |= {
                "f readout": format_quantity(cal.readout_frequency_hz.value, "Hz"),
                "feedline": f"{feed} ({ro.awg} → {ro.digitizer} ch {ro.digitizer_channel})",
                "readout LO": f"{ro.lo} @ {format_quantity(lo, 'Hz')}",
                "readout IF": format_quantity(cal.readout_frequency_hz.value - lo, "Hz"),
            }
        if q in station.bias:
            bias = cal.bias_voltage_v.value if cal.bias_voltage_v is not None else 0.0
            row["bias"] = f"{station.bias[q].source} @ {format_quantity(bias, 'V')}"
        rows.append(row)
    return rows


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:72em;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.25em;border-bottom:1px solid #ccc;padding-bottom:.2em}
h3{font-size:1.05em}table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ddd;padding:.25em .6em;vertical-align:top}
th{background:#f4f4f4;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
.verdict,.status{font-weight:bold;padding:.1em .5em;border-radius:.3em;color:#fff;
white-space:nowrap}
.good,.ok{background:#2e7d32}.poor,.interrupted{background:#ef6c00}
.bad,.failed{background:#c62828}.not-run,.na{background:#777}
.error{color:#c62828}img{max-width:100%;border:1px solid #eee}.meta{color:#666;font-size:.9em}
.delta{color:#555;font-size:.85em;display:block}.small{font-size:.85em}
section.run{margin-bottom:2.5em}details{margin:.3em 0}
"""


def _e(text: object) -> str:
    return html.escape(str(text))


def _img(png: bytes, alt: str, cls: str = "plot") -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img class="{cls}" alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _value_cell(value: CalValue | None, before: CalValue | None, unit: str) -> str:
    if value is None:
        return '<td class="num">—</td>'
    text = _e(format_quantity(value.value, unit, value.uncertainty))
    if value.updated is None:
        text += " <span class='small'>(design)</span>"
    if before is not None and before.value != value.value:
        text += f"<span class='delta'>was {_e(format_quantity(before.value, unit))}</span>"
    return f'<td class="num">{text}</td>'


def _status_cell(status: QubitStatus | None) -> str:
    if status is None:
        return '<td><span class="status not-run">not run</span></td>'
    css = status.status.replace(" ", "-")
    where = ""
    if status.status == "failed":
        where = f"<br>at {_e(status.node)} ({_e(status.routine)}): {_e(status.message)}"
    elif status.status == "interrupted" and status.node:
        where = f"<br>stopped at {_e(status.node)}"
    return f'<td><span class="status {css}">{_e(status.status)}</span>{where}</td>'


def _summary_table(
    state: CalibrationState,
    before: CalibrationState | None,
    statuses: Mapping[str, QubitStatus],
    epc: Mapping[str, tuple[float, float]] | None,
    *,
    link: bool = True,
) -> str:
    """One row per qubit; ``epc``: RB results to show (None: no RB column); ``link``: the
    qubit names link to their parameter tables on the same page."""
    head = "".join(f"<th>{_e(label)}</th>" for _, label in SUMMARY_PARAMETERS)
    rb_head = "<th>EPC (RB)</th>" if epc is not None else ""
    rows = [f'<table class="summary"><tr><th>qubit</th><th>status</th>{head}{rb_head}</tr>']
    for q in sorted(state.qubits):
        cal = state.qubit(q)
        old = before.qubits.get(q) if before is not None else None
        cells = []
        for name, _ in SUMMARY_PARAMETERS:
            value = getattr(cal, name)
            prev = getattr(old, name) if old is not None else None
            cells.append(_value_cell(value, prev, unit_of(name)))
        if epc is not None:
            rb = epc.get(q)
            cells.append(
                f'<td class="num">{_e(format_quantity(rb[0], "", rb[1]))}</td>'
                if rb
                else '<td class="num">—</td>'
            )
        name = f'<a href="#qubit-{_e(q)}">{_e(q)}</a>' if link else _e(q)
        rows.append(
            f'<tr class="qubit-row" data-qubit="{_e(q)}"><td>{name}</td>'
            f"{_status_cell(statuses.get(q))}{''.join(cells)}</tr>"
        )
    rows.append("</table>")
    return "\n".join(rows)


def _qubit_details(
    state: CalibrationState,
    before: CalibrationState | None,
    by_run: Mapping[str, ReportEntry],
) -> str:
    parts = []
    for q in sorted(state.qubits):
        cal = state.qubit(q)
        old = before.qubits.get(q) if before is not None else None
        rows = [
            f'<details id="qubit-{_e(q)}"><summary>{_e(q)}: every calibrated parameter</summary>',
            '<table class="parameters"><tr><th>parameter</th><th>value ± σ</th><th>before</th>'
            "<th>set</th><th>by</th></tr>",
        ]
        for name in type(cal).model_fields:
            value = getattr(cal, name)
            if not isinstance(value, CalValue):
                continue
            prev = getattr(old, name) if old is not None else None
            unit = unit_of(name)
            when = value.updated.strftime("%Y-%m-%d %H:%M:%S UTC") if value.updated else "design"
            by = "—"
            if value.run_id:
                entry = by_run.get(value.run_id)
                routine = value.run_id.split("-")[1] if "-" in value.run_id else value.run_id
                if entry is not None and entry.results is not None:
                    by = (
                        f'<a href="#run-{_e(entry.run_id)}">{_e(entry.routine)}</a> '
                        f'<span class="verdict {_e(entry.results.verdict)}">'
                        f"{_e(entry.results.verdict)}</span>"
                    )
                else:
                    by = f"{_e(routine)} <span class='small'>(earlier invocation)</span>"
            before_text = "—" if prev is None else format_quantity(prev.value, unit)
            rows.append(
                f"<tr><td>{_e(name)}</td>"
                f'<td class="num">{_e(format_quantity(value.value, unit, value.uncertainty))}</td>'
                f'<td class="num">{_e(before_text)}</td><td>{_e(when)}</td><td>{by}</td></tr>'
            )
        rows.append("</table></details>")
        parts.append("\n".join(rows))
    return "\n".join(parts)


def _plan_table(rows: Sequence[Mapping[str, str]]) -> str:
    if not rows:
        return "<p>no qubits</p>"
    columns: list[str] = []
    for r in rows:
        columns += [c for c in r if c not in columns]
    out = ['<table class="plan"><tr>' + "".join(f"<th>{_e(c)}</th>" for c in columns) + "</tr>"]
    for r in rows:
        out.append("<tr>" + "".join(f"<td>{_e(r.get(c, '—'))}</td>" for c in columns) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _sheet_owners(entries: Sequence[ReportEntry]) -> dict[str, str]:
    """Run id → the run whose section shows its pulse sheet: the first run of the page
    with the same program (qubits measured together share one)."""
    first: dict[str, str] = {}
    owners = {}
    for entry in entries:
        if entry.sheet is not None:
            owners[entry.run_id] = first.setdefault(entry.sheet.digest, entry.run_id)
    return owners


def _section(entry: ReportEntry, sheet_owner: str | None) -> str:
    res = entry.results
    e = _e
    shows_sheet = sheet_owner == entry.run_id
    if entry.png is None or (shows_sheet and entry.sheet_png is None):
        entry = entry.drawn(sheet=shows_sheet)
    assert entry.png is not None
    verdict = res.verdict if res is not None else "bad"
    parts = [
        f'<section class="run" id="run-{e(entry.run_id)}" data-routine="{e(entry.routine)}" '
        f'data-qubit="{e(entry.qubit)}">',
        f"<h2>{e(entry.qubit)} — {e(entry.routine)}</h2>",
        f'<p class="meta">run {e(entry.run_id)} · file runs/{e(entry.run_file)}'
        + (f" · started {e(entry.created)}" if entry.created else "")
        + (
            f" · measured together with {e(', '.join(entry.multiplexed_with))}"
            if entry.multiplexed_with
            else ""
        )
        + "</p>",
    ]
    if res is None:
        parts.append('<p class="error">no analysis in the run file (the run did not finish)</p>')
    else:
        r2 = "—" if res.r_squared is None else f"{res.r_squared:.4f}"
        parts.append(
            f'<p>verdict: <span class="verdict {e(verdict)}">{e(verdict)}</span> R² = {r2}</p>'
        )
        if res.message:
            parts.append(f'<p class="message">{e(res.message)}</p>')
    if entry.error:
        parts.append(f'<p class="error">not applied: {e(entry.error)}</p>')
    parts.append(_img(entry.png, f"{entry.routine} {entry.qubit} plot"))
    if shows_sheet and entry.sheet_png is not None:
        parts.append(
            "<details><summary>pulse sheet of the first sweep step</summary>"
            + _img(entry.sheet_png, f"{entry.routine} {entry.qubit} pulse sheet", "sheet")
            + "</details>"
        )
    elif sheet_owner is not None and not shows_sheet:
        parts.append(
            f'<p class="meta">pulse sheet: the same program as <a href="#run-{e(sheet_owner)}">'
            f"run {e(sheet_owner)}</a></p>"
        )
    if res is not None:
        parts.append('<h3>Results</h3><table class="values"><tr><th>quantity</th>')
        parts.append("<th>value ± 1σ</th></tr>")
        if not res.values:
            parts.append('<tr><td colspan="2">none</td></tr>')
        for name, value in res.values.items():
            cell = format_quantity(value, unit_of(name), res.uncertainties.get(name))
            parts.append(f'<tr><td>{e(name)}</td><td class="num">{e(cell)}</td></tr>')
        parts.append("</table>")
    committed = f"committed as version {entry.version}" if entry.version else "not committed"
    parts.append(
        f'<h3>Calibration changes <span class="small">({e(committed)})</span></h3>'
        '<table class="diff"><tr><th>parameter</th><th>old</th><th>new</th></tr>'
    )
    if not entry.diff:
        parts.append('<tr><td colspan="3">no change</td></tr>')
    for row in entry.diff:
        unit = unit_of(row.parameter)
        old = format_quantity(row.old, unit, row.old_uncertainty)
        new = format_quantity(row.new, unit, row.new_uncertainty)
        parts.append(
            f'<tr><td>{e(row.parameter)}</td><td class="num">{e(old)}</td>'
            f'<td class="num">→ {e(new)}</td></tr>'
        )
    parts.append("</table></section>")
    return "\n".join(parts)


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>\n"
        f"<h1>{_e(title)}</h1>\n{body}\n</body></html>\n"
    )


def _epc(entries: Iterable[ReportEntry]) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    for entry in entries:
        res = entry.results
        if res is not None and "epc" in res.values and res.verdict != "bad":
            out[entry.qubit] = (res.values["epc"], res.uncertainties.get("epc", math.nan))
    return out


def render_invocation(
    invocation: Invocation,
    entries: Sequence[ReportEntry],
    *,
    state: CalibrationState,
    before: CalibrationState | None,
    station: Station | None,
) -> str:
    """An invocation's page (see the module docstring)."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    by_run = {e.run_id: e for e in entries}
    failed = sum(1 for s in invocation.qubits.values() if s.status == "failed")
    meta = (
        f'<p class="meta">{_e(invocation.kind)} · started {_e(invocation.started)}'
        + (f" · finished {_e(invocation.finished)}" if invocation.finished else "")
        + f" · {len(entries)} runs · {failed} qubits failed"
        + (
            f" · store versions {invocation.start_version} → {invocation.end_version}"
            if invocation.end_version is not None
            else ""
        )
        + f' · page drawn {stamp} · <a href="../{INDEX_NAME}">all reports</a></p>'
    )
    body = [
        meta,
        "<h2>Qubits</h2>",
        _summary_table(state, before, invocation.qubits, _epc(entries)),
        _qubit_details(state, before, by_run),
    ]
    if station is not None:
        body += ["<h2>Frequency plan</h2>", _plan_table(frequency_plan(station, state))]
    body.append("<h2>Runs</h2>")
    body.append(
        '<table class="runs"><tr><th>qubit</th><th>routine</th><th>verdict</th>'
        "<th>changes</th></tr>"
        + "".join(
            f'<tr><td>{_e(en.qubit)}</td><td><a href="#run-{_e(en.run_id)}">{_e(en.routine)}'
            f'</a></td><td><span class="verdict {_e(en.results.verdict if en.results else "bad")}">'
            f"{_e(en.results.verdict if en.results else 'no analysis')}</span></td>"
            f'<td class="num">{len(en.diff)}{" ✓" if en.version else ""}</td></tr>'
            for en in entries
        )
        + "</table>"
    )
    owners = _sheet_owners(entries)
    body += [_section(en, owners.get(en.run_id)) for en in entries]
    return _page(invocation.title, "\n".join(body))


def _write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def write_invocation_report(
    out_dir: str | Path,
    invocation: Invocation,
    entries: Sequence[ReportEntry],
    *,
    state: CalibrationState,
    before: CalibrationState | None,
    station: Station | None,
) -> Path:
    """Write ``reports/<id>.html`` and ``reports/<id>.json`` (atomically) under ``out_dir``
    and update the index; returns the page's path."""
    folder = Path(out_dir) / REPORTS_DIR
    _write_text(folder / f"{invocation.id}.json", invocation.to_json())
    page = _write_text(
        folder / f"{invocation.id}.html",
        render_invocation(invocation, entries, state=state, before=before, station=station),
    )
    write_index(out_dir, state=state, station=station)
    return page


def invocations(out_dir: str | Path) -> list[Invocation]:
    """Every invocation recorded under ``out_dir/reports``, oldest first (unreadable
    records are skipped with a warning)."""
    out = []
    for path in sorted((Path(out_dir) / REPORTS_DIR).glob("*.json")):
        try:
            out.append(Invocation.from_json(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError, KeyError) as exc:
            log.warning("invocation record %s unreadable: %s", path, exc)
    return sorted(out, key=lambda i: i.started)


def write_index(
    out_dir: str | Path, *, state: CalibrationState | None, station: Station | None
) -> Path:
    """Write ``out_dir/report.html``: the current state of every qubit, the frequency plan
    and the list of every invocation's page."""
    records = invocations(out_dir)
    body = [
        f'<p class="meta">{len(records)} invocations · drawn '
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M:%S UTC')}</p>"
    ]
    if state is not None:
        latest: dict[str, QubitStatus] = {}
        for rec in records:
            latest.update(rec.qubits)
        body += [
            "<h2>Qubits now</h2>",
            '<p class="meta">status: how each qubit ended its latest invocation</p>',
            _summary_table(state, None, latest, None, link=False),
        ]
        if station is not None:
            body += ["<h2>Frequency plan</h2>", _plan_table(frequency_plan(station, state))]
    body.append("<h2>Reports</h2>")
    body.append(
        '<table class="invocations"><tr><th>started</th><th>kind</th><th>runs</th>'
        "<th>qubits</th><th>store versions</th></tr>"
    )
    for rec in reversed(records):
        counts: dict[str, int] = {}
        for s in rec.qubits.values():
            counts[s.status] = counts.get(s.status, 0) + 1
        qubits = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "—"
        versions = (
            f"{rec.start_version} → {rec.end_version}" if rec.end_version is not None else "—"
        )
        body.append(
            f'<tr><td><a href="{REPORTS_DIR}/{_e(rec.id)}.html">{_e(rec.started)}</a></td>'
            f"<td>{_e(rec.kind)}</td><td class='num'>{len(rec.runs)}</td><td>{_e(qubits)}</td>"
            f"<td>{_e(versions)}</td></tr>"
        )
    body.append("</table>")
    return _write_text(Path(out_dir) / INDEX_NAME, _page("Calibration reports", "\n".join(body)))


# --- rebuilding from the files -------------------------------------------------------


def committed_versions(store: Store) -> dict[str, int]:
    """Run id → the store version that committed its changes (from the commit messages,
    ``"<routine> <qubit> <run id>"``)."""
    out: dict[str, int] = {}
    for info in store.history():
        words = info.message.split()
        if len(words) >= 3:
            out[words[-1]] = info.version
    return out


def rebuild(out_dir: str | Path, *, store: Store, station: Station | None = None) -> list[Path]:
    """Draw every invocation's page and the index again from the run files and the store
    under ``out_dir`` (``qneko report DIR``); run files no invocation recorded get a page
    of their own. Returns the pages written.

    Raises:
        QnekoError: ``out_dir`` has no run files and no invocation records.
    """
    root = Path(out_dir)
    files = {p.stem: p for p in sorted((root / "runs").glob("*.h5"))}
    records = invocations(root)
    if not files and not records:
        raise QnekoError(
            f"{root}: no run files (runs/*.h5) and no reports to rebuild", source=str(root)
        )
    committed = committed_versions(store)
    current = store.current()
    if current is None:
        raise QnekoError(f"{store.path}: the store has no versions", source=str(store.path))
    recorded = {r for rec in records for r in rec.runs}
    loose = [rid for rid in files if rid not in recorded]
    if loose:
        records.append(
            Invocation(
                id="unrecorded-runs",
                kind="runs",
                started=min(loose),
                runs=tuple(loose),
                title="Runs without an invocation record",
            )
        )
    pages = []
    for rec in records:
        entries = []
        for rid in rec.runs:
            path = files.get(rid)
            if path is None:
                log.warning("%s: run %s of invocation %s has no file", root, rid, rec.id)
                continue
            try:
                run = read_run(path, signals=False)
            except QnekoError as exc:
                log.warning("%s", exc)
                continue
            version = rec.versions.get(rid, committed.get(rid))
            entries.append(ReportEntry.from_run(run, version=version))
        end = rec.end_version if rec.end_version is not None else current.version
        state = store.get(end) if end else current
        before = store.get(rec.start_version) if rec.start_version else None
        page = root / REPORTS_DIR / f"{rec.id}.html"
        _write_text(
            page,
            render_invocation(rec, entries, state=state, before=before, station=station),
        )
        pages.append(page)
    write_index(root, state=current, station=station)
    return [*pages, root / INDEX_NAME]


# --- drawing while a calibration runs ------------------------------------------------


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
        self._sheets: set[str] = set()  # programs whose pulse sheet is being drawn

    def __enter__(self) -> BackgroundPlots:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, entry: ReportEntry) -> None:
        """Start drawing ``entry``'s plot, and its pulse sheet unless an earlier entry
        has the same program (the report shows a program's sheet once)."""
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # spawn: the calibrating process has threads (instrument servers, I/O)
            ctx = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(
                max_workers=1, mp_context=ctx, initializer=_ignore_sigint
            )
        sheet = entry.sheet
        if sheet is not None and sheet.digest in self._sheets:
            sheet = None
        elif sheet is not None:
            self._sheets.add(sheet.digest)
        try:
            job = self._pool.submit(draw, entry.results, sheet)
        except Exception as exc:  # a lost worker: the plot is drawn on writing instead
            log.warning("report plots: worker unavailable (%s); drawing on writing", exc)
            job = None
        self._jobs.append((entry, job))

    def entries(self) -> list[ReportEntry]:
        """Every submitted entry, in order, with its plots."""
        out = []
        for entry, job in self._jobs:
            if job is None:
                out.append(entry)
                continue
            try:
                png, sheet_png = job.result()
            except Exception as exc:  # a broken worker: draw it here instead
                log.warning(
                    "report plot of %s %s failed in the worker: %s", entry.routine, entry.qubit, exc
                )
                out.append(entry)
                continue
            out.append(dataclasses.replace(entry, png=png, sheet_png=sheet_png))
        return out

    def close(self) -> None:
        """Stop the worker (pending plots are dropped)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
