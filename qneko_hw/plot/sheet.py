"""The pulse sheet of a compiled program: its lines, acquisition windows and frame changes
against time, for one sweep step.

:func:`sheet_data` extracts what a figure of step ``k`` needs into a small frozen
:class:`SheetData` (only the active samples of each line, as :func:`render_line` gives them,
in V; no idle zeros), which a run file can store (:meth:`SheetData.to_hdf5`). :func:`pulse_sheet`
draws it with matplotlib's Agg canvas (never pyplot); :func:`pulse_sheet_png` returns the PNG.

Long idle stretches (a 500 µs delay between a 40 ns pulse and the readout) are compressed on
the time axis into short marked breaks by :func:`time_axis`; the active parts keep their true
time scale.
"""

from __future__ import annotations

import io
import json
import math
import operator
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qneko_hw.compiler.programs import AwgProgram, CompiledExperiment, LinePlan
from qneko_hw.compiler.render import render_line
from qneko_hw.errors import QnekoError

if TYPE_CHECKING:
    import h5py
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "DEFAULT_DIGITIZER_RATE_HZ",
    "MAX_SHEET_SAMPLES",
    "FrameChange",
    "SheetData",
    "SheetDc",
    "SheetLine",
    "SheetLo",
    "SheetSegment",
    "SheetWindow",
    "TimeAxis",
    "pulse_sheet",
    "pulse_sheet_png",
    "sheet_data",
    "time_axis",
]

DEFAULT_DIGITIZER_RATE_HZ = 1e9
"""Digitizer sample rate (Sa/s) assumed when :func:`sheet_data` is not told it: a
:class:`~qneko_hw.compiler.programs.DigitizerProgram` does not hold its rate, and 1 GS/s is
the rate of the station's digitizer model ``qneko_dig2``."""

MAX_SHEET_SAMPLES = 200_000
"""Default cap on the complex samples a :class:`SheetData` keeps, over all its lines."""

_FORMAT = 1
_ATTR = "qneko_pulse_sheet"
_ENTRY_DTYPE = np.dtype([("start", "<i8"), ("phase", "<f8"), ("frequency", "<f8")])
_PHASE_TOL = 1e-9  # rad
_FREQ_TOL = 1e-6  # Hz
_KINDS = ("drive", "readout", "flux")


def _frozen(a: ArrayLike, dtype: type[Any]) -> NDArray[Any]:
    out = np.array(a, dtype=dtype)
    out.setflags(write=False)
    return out


# -- data ---------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SheetSegment:
    """A stretch of consecutive samples in which a line plays something.

    Attributes:
        start_samples: first sample of the segment from the start of the step (samples of
            the line's ``sample_rate_hz``).
        length_samples: true length of the segment (samples).
        samples: complex output ``I + iQ`` (V) before mixer correction, as
            :func:`~qneko_hw.compiler.render.render_line` gives it: ``length_samples``
            values; or, when the line is decimated by ``d > 1``, the min/max envelope of each
            bin of ``d`` samples, interleaved ``[min₀, max₀, min₁, max₁, …]`` (real and
            imaginary parts taken separately), ``2·⌈length_samples/d⌉`` values.
    """

    start_samples: int
    length_samples: int
    samples: NDArray[np.complex128]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SheetSegment):
            return NotImplemented
        return (
            self.start_samples == other.start_samples
            and self.length_samples == other.length_samples
            and np.array_equal(self.samples, other.samples)
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class FrameChange:
    """A change of phase or IF between entries of a line, where the later entry starts.

    Attributes:
        line: line name; time_s: start of the entry that plays the new frame (s);
        phase_rad: the entry's phase (rad); delta_phase_rad: its change from the previous
        entry of the same IF, wrapped to (−π, π] (rad), or ``None`` for the first entry of
        that IF (then ``phase_rad`` itself is the news); frequency_hz: the entry's IF (Hz);
        new_frequency: on a drive or flux line, the IF was not played before in this step
        and appears after the line's first entry (a frame frequency change).
    """

    line: str
    time_s: float
    phase_rad: float
    delta_phase_rad: float | None
    frequency_hz: float
    new_frequency: bool

    @property
    def label(self) -> str:
        """Short text for the sheet: ``Δφ=+0.500``, ``φ=1.571`` (rad), ``IF 100.0 MHz``."""
        parts = []
        if self.delta_phase_rad is not None:
            parts.append(f"Δφ={self.delta_phase_rad:+.3f}")
        elif abs(self.phase_rad) > _PHASE_TOL:
            parts.append(f"φ={self.phase_rad:.3f}")
        if self.new_frequency:
            parts.append(f"IF {self.frequency_hz / 1e6:.1f} MHz")
        return " ".join(parts)


@dataclass(frozen=True, eq=False)
class SheetLine:
    """One AWG line (an I/Q pair, or one flux channel) at the sheet's step.

    Attributes:
        name: the line, e.g. ``drive:q0``, ``readout:f0``, ``flux:q0``.
        instrument: the AWG that plays it.
        kind: ``drive``, ``readout`` or ``flux`` (a flux line plays the real part only).
        sample_rate_hz: the AWG's sample rate (Sa/s).
        decimation: 1 when ``segments`` hold every sample; ``d > 1`` when they hold the
            min/max envelope of bins of ``d`` samples (see :class:`SheetSegment`).
        segments: the active stretches, in time order; nothing is stored between them.
        entry_start_samples: start sample of each entry played in the step (samples).
        entry_phase_rad: each entry's phase (rad), the frame's phase plus the pulse's own.
        entry_frequency_hz: each entry's IF (Hz).
    """

    name: str
    instrument: str
    kind: str
    sample_rate_hz: float
    decimation: int
    segments: tuple[SheetSegment, ...]
    entry_start_samples: NDArray[np.int64]
    entry_phase_rad: NDArray[np.float64]
    entry_frequency_hz: NDArray[np.float64]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SheetLine):
            return NotImplemented
        return (
            (self.name, self.instrument, self.kind, self.sample_rate_hz, self.decimation)
            == (other.name, other.instrument, other.kind, other.sample_rate_hz, other.decimation)
            and self.segments == other.segments
            and np.array_equal(self.entry_start_samples, other.entry_start_samples)
            and np.array_equal(self.entry_phase_rad, other.entry_phase_rad)
            and np.array_equal(self.entry_frequency_hz, other.entry_frequency_hz)
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def entry_starts_s(self) -> NDArray[np.float64]:
        """Start time of each entry from the start of the step (s)."""
        return np.asarray(self.entry_start_samples / self.sample_rate_hz, dtype=np.float64)

    @property
    def stored_samples(self) -> int:
        """Complex values held by the segments."""
        return sum(int(s.samples.size) for s in self.segments)

    def active_s(self) -> list[tuple[float, float]]:
        """(start, end) of each segment (s)."""
        r = self.sample_rate_hz
        return [
            (s.start_samples / r, (s.start_samples + s.length_samples) / r) for s in self.segments
        ]

    def frame_changes(self) -> tuple[FrameChange, ...]:
        """Where the phase or IF of the played entries changes (:class:`FrameChange`).

        Entries are compared with the previous entry of the same IF, so that the tones of a
        multiplexed readout line do not mark each other. The first entry of an IF is marked
        when its phase is not zero, or, on a drive or flux line, when the IF appears after
        the line's first entry (a frame frequency change); a readout line's tones are its
        qubits', so a new IF there is no change of frame.
        """
        out: list[FrameChange] = []
        last: dict[float, float] = {}
        first_start = int(self.entry_start_samples[0]) if self.entry_start_samples.size else 0
        for start, phase, freq in zip(
            self.entry_start_samples.tolist(),
            self.entry_phase_rad.tolist(),
            self.entry_frequency_hz.tolist(),
            strict=True,
        ):
            key = next((f for f in last if abs(f - freq) <= _FREQ_TOL), None)
            t = start / self.sample_rate_hz
            if key is None:
                new = start > first_start and self.kind != "readout"
                if new or abs(phase) > _PHASE_TOL:
                    out.append(FrameChange(self.name, t, phase, None, freq, new))
                last[freq] = phase
                continue
            delta = math.remainder(phase - last[key], 2 * math.pi)
            if abs(delta) > _PHASE_TOL:
                out.append(FrameChange(self.name, t, phase, delta, freq, False))
            last[key] = phase
        return tuple(out)


@dataclass(frozen=True)
class SheetWindow:
    """One acquisition window.

    Attributes:
        instrument: the digitizer; name: the acquisition's name; channel: digitizer input
        (1-based); start_s / length_s: window after the trigger, i.e. from the start of the
        step (s); frequency_hz: IF removed by demodulation (Hz).
    """

    instrument: str
    name: str
    channel: int
    start_s: float
    length_s: float
    frequency_hz: float


@dataclass(frozen=True)
class SheetLo:
    """An LO source's setting: frequency (Hz), power (dBm), output on."""

    instrument: str
    frequency_hz: float
    power_dbm: float
    output: bool


@dataclass(frozen=True)
class SheetDc:
    """A DC source's setting: voltage (V), output on."""

    instrument: str
    voltage_v: float
    output: bool


@dataclass(frozen=True, eq=False)
class SheetData:
    """Everything a pulse sheet of one sweep step draws; small enough for a run file.

    Attributes:
        program: the compiled program's name; digest: its sha256 digest.
        step: the sweep step shown (0-based); steps: the program's number of steps.
        sweep_parameter / sweep_value: the sweep's parameter and its value at ``step`` (SI
            unit of the parameter), or ``None`` without a sweep.
        duration_s: length of the step (s): the longest AWG step, or the end of the last
            acquisition window if later.
        lines: every AWG line of the program (:class:`SheetLine`), sorted by instrument.
        windows: the acquisition windows (:class:`SheetWindow`).
        los / dcs: LO and DC source settings (:class:`SheetLo`, :class:`SheetDc`).
        max_samples: the cap on stored complex samples the sheet was made with.
    """

    program: str
    digest: str
    step: int
    steps: int
    sweep_parameter: str | None
    sweep_value: float | None
    duration_s: float
    lines: tuple[SheetLine, ...]
    windows: tuple[SheetWindow, ...]
    los: tuple[SheetLo, ...]
    dcs: tuple[SheetDc, ...]
    max_samples: int = MAX_SHEET_SAMPLES

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SheetData):
            return NotImplemented
        return self._scalars() == other._scalars() and self.lines == other.lines

    __hash__ = None  # type: ignore[assignment]

    @property
    def decimated(self) -> bool:
        """Some line keeps min/max envelopes instead of every sample."""
        return any(line.decimation > 1 for line in self.lines)

    @property
    def stored_samples(self) -> int:
        """Complex values held over all lines."""
        return sum(line.stored_samples for line in self.lines)

    def line(self, name: str) -> SheetLine:
        """The line called ``name``; a QnekoError lists the known lines."""
        for ln in self.lines:
            if ln.name == name:
                return ln
        known = ", ".join(ln.name for ln in self.lines) or "none"
        raise QnekoError(f"pulse sheet has no line '{name}' (lines: {known})", line=name)

    def frame_changes(self) -> tuple[FrameChange, ...]:
        """Frame changes of every line, line by line."""
        return tuple(fc for ln in self.lines for fc in ln.frame_changes())

    def active_s(self) -> list[tuple[float, float]]:
        """(start, end) (s) of everything active on any row: segments and windows."""
        spans = [iv for ln in self.lines for iv in ln.active_s()]
        spans += [(w.start_s, w.start_s + w.length_s) for w in self.windows]
        return spans

    def _scalars(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "program": self.program,
            "digest": self.digest,
            "step": self.step,
            "steps": self.steps,
            "sweep_parameter": self.sweep_parameter,
            "sweep_value": self.sweep_value,
            "duration_s": self.duration_s,
            "max_samples": self.max_samples,
            "lines": [
                {
                    "name": ln.name,
                    "instrument": ln.instrument,
                    "kind": ln.kind,
                    "sample_rate_hz": ln.sample_rate_hz,
                    "decimation": ln.decimation,
                }
                for ln in self.lines
            ],
            "windows": [asdict(w) for w in self.windows],
            "los": [asdict(lo) for lo in self.los],
            "dcs": [asdict(dc) for dc in self.dcs],
        }

    def to_hdf5(self, group: h5py.Group) -> None:
        """Write the sheet into ``group`` (an h5py Group the caller created).

        Writes one JSON attribute ``qneko_pulse_sheet`` (the scalars, windows, LO and DC
        settings) and three datasets per line ``i``: ``line{i}_samples`` (complex128, all
        segments' samples concatenated, V), ``line{i}_segments`` (int64, rows of start
        sample, true length, stored count) and ``line{i}_entries`` (start sample, phase in
        rad, IF in Hz). :meth:`from_hdf5` reads it back exactly.
        """
        group.attrs[_ATTR] = json.dumps(self._scalars(), sort_keys=True)
        for i, ln in enumerate(self.lines):
            samples = (
                np.concatenate([s.samples for s in ln.segments])
                if ln.segments
                else np.zeros(0, dtype=np.complex128)
            )
            segments = np.array(
                [(s.start_samples, s.length_samples, s.samples.size) for s in ln.segments],
                dtype=np.int64,
            ).reshape(-1, 3)
            entries = np.zeros(ln.entry_start_samples.size, dtype=_ENTRY_DTYPE)
            entries["start"] = ln.entry_start_samples
            entries["phase"] = ln.entry_phase_rad
            entries["frequency"] = ln.entry_frequency_hz
            group.create_dataset(f"line{i}_samples", data=samples.astype(np.complex128))
            group.create_dataset(f"line{i}_segments", data=segments)
            group.create_dataset(f"line{i}_entries", data=entries)

    @classmethod
    def from_hdf5(cls, group: h5py.Group) -> SheetData:
        """Read a sheet that :meth:`to_hdf5` wrote into ``group``.

        Raises:
            QnekoError: ``group`` holds no pulse sheet, or one of an unknown format.
        """
        raw = group.attrs.get(_ATTR)
        if raw is None:
            raise QnekoError(f"HDF5 group {group.name} holds no pulse sheet", group=group.name)
        meta = json.loads(raw if isinstance(raw, str) else bytes(raw).decode())
        if meta.get("format") != _FORMAT:
            raise QnekoError(
                f"HDF5 group {group.name}: pulse sheet format {meta.get('format')!r} "
                f"(this version reads {_FORMAT})",
                group=group.name,
            )
        lines = []
        for i, m in enumerate(meta["lines"]):
            samples = np.asarray(group[f"line{i}_samples"][()], dtype=np.complex128)
            segments = np.asarray(group[f"line{i}_segments"][()], dtype=np.int64).reshape(-1, 3)
            entries = np.asarray(group[f"line{i}_entries"][()])
            ends = np.cumsum(segments[:, 2])
            segs = tuple(
                SheetSegment(
                    int(start),
                    int(length),
                    _frozen(samples[int(end - count) : int(end)], np.complex128),
                )
                for (start, length, count), end in zip(segments.tolist(), ends, strict=True)
            )
            lines.append(
                SheetLine(
                    name=str(m["name"]),
                    instrument=str(m["instrument"]),
                    kind=str(m["kind"]),
                    sample_rate_hz=float(m["sample_rate_hz"]),
                    decimation=int(m["decimation"]),
                    segments=segs,
                    entry_start_samples=_frozen(entries["start"], np.int64),
                    entry_phase_rad=_frozen(entries["phase"], np.float64),
                    entry_frequency_hz=_frozen(entries["frequency"], np.float64),
                )
            )
        return cls(
            program=str(meta["program"]),
            digest=str(meta["digest"]),
            step=int(meta["step"]),
            steps=int(meta["steps"]),
            sweep_parameter=meta["sweep_parameter"],
            sweep_value=meta["sweep_value"],
            duration_s=float(meta["duration_s"]),
            lines=tuple(lines),
            windows=tuple(SheetWindow(**w) for w in meta["windows"]),
            los=tuple(SheetLo(**lo) for lo in meta["los"]),
            dcs=tuple(SheetDc(**dc) for dc in meta["dcs"]),
            max_samples=int(meta["max_samples"]),
        )


# -- extraction ---------------------------------------------------------------------------


def _steps(program: CompiledExperiment) -> int:
    if program.awgs:
        return program.awgs[0].steps
    if program.digitizers:
        return program.digitizers[0].steps
    return int(program.sweep_values.size)


def _line_kind(line: LinePlan) -> str:
    kind = line.name.partition(":")[0]
    if kind in _KINDS:
        return kind
    return "flux" if line.channel_q is None else "drive"


def _segments(awg: AwgProgram, line: LinePlan, step: int) -> list[tuple[int, int]]:
    """Merged (start, end) sample intervals of the line's entries at ``step``."""
    entries = line.entries[line.entries["step"] == step]
    limit = int(awg.step_samples[step])
    spans = sorted(
        (int(e["start"]), int(e["start"]) + int(awg.waveforms[int(e["waveform"])].size))
        for e in entries
    )
    merged: list[list[int]] = []
    for a, end in spans:
        b = min(end, limit)
        if b <= a:
            continue
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def _decimation(lengths: list[int], cap: int) -> int:
    """Smallest bin size d whose min/max envelopes fit ``cap`` (1 if all samples fit).

    With more than ``cap/2`` segments no bin size fits; each segment then keeps 2 values.
    """
    total = sum(lengths)
    if total <= cap:
        return 1
    longest = max(lengths)

    def cost(d: int) -> int:
        return sum(2 * -(-n // d) for n in lengths)

    lo, hi = 2, max(2, longest)
    if cost(hi) > cap:
        return hi
    while lo < hi:  # cost is non-increasing in d
        mid = (lo + hi) // 2
        if cost(mid) <= cap:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _envelope(z: NDArray[np.complex128], d: int) -> NDArray[np.complex128]:
    bins = -(-z.size // d)
    pad = bins * d - z.size
    re = np.pad(z.real, (0, pad), mode="edge").reshape(bins, d)
    im = np.pad(z.imag, (0, pad), mode="edge").reshape(bins, d)
    out = np.empty(2 * bins, dtype=np.complex128)
    out[0::2] = re.min(axis=1) + 1j * im.min(axis=1)
    out[1::2] = re.max(axis=1) + 1j * im.max(axis=1)
    return out


def sheet_data(
    program: CompiledExperiment,
    step: int = 0,
    *,
    digitizer_rate_hz: float | None = None,
    max_samples: int = MAX_SHEET_SAMPLES,
) -> SheetData:
    """What the pulse sheet of sweep ``step`` of ``program`` draws.

    Args:
        program: a compiled experiment.
        step: the sweep step (0-based).
        digitizer_rate_hz: sample rate of the digitizers (Sa/s), which converts their
            windows (digitizer samples) to seconds; a DigitizerProgram does not hold it, so
            ``None`` takes :data:`DEFAULT_DIGITIZER_RATE_HZ` (1 GS/s, the ``qneko_dig2``).
            Pass ``digitizer_traits(model).sample_rate_hz`` for another model.
        max_samples: cap on the complex samples kept over all lines; beyond it every
            segment keeps the min/max envelope of bins of a common size instead.

    Raises:
        QnekoError: ``step`` is not a step of the program (names it and the number of
            steps), or a rate or cap that is not positive.
    """
    steps = _steps(program)
    k = operator.index(step)
    if not 0 <= k < steps:
        raise QnekoError(
            f"program {program.name!r} has {steps} sweep step{'s' if steps != 1 else ''} "
            f"(0 … {steps - 1}); step {k} is out of range",
            step=k,
            steps=steps,
        )
    rate = DEFAULT_DIGITIZER_RATE_HZ if digitizer_rate_hz is None else float(digitizer_rate_hz)
    if not (math.isfinite(rate) and rate > 0):
        raise QnekoError(f"digitizer_rate_hz must be positive, got {digitizer_rate_hz!r}")
    if max_samples < 2:
        raise QnekoError(f"max_samples must be at least 2, got {max_samples!r}")

    found: list[tuple[AwgProgram, LinePlan, list[tuple[int, int]], NDArray[np.complex128]]] = []
    for awg in program.awgs:
        for line in awg.lines:
            spans = _segments(awg, line, k)
            z = render_line(awg, line, k) if spans else np.zeros(0, dtype=np.complex128)
            found.append((awg, line, spans, z))
    d = _decimation([b - a for *_, spans, _ in found for a, b in spans] or [0], max_samples)

    lines = []
    for awg, line, spans, z in found:
        segs = tuple(
            SheetSegment(
                a, b - a, _frozen(z[a:b] if d == 1 else _envelope(z[a:b], d), np.complex128)
            )
            for a, b in spans
        )
        entries = line.entries[line.entries["step"] == k]
        order = np.argsort(entries["start"], kind="stable")
        entries = entries[order]
        lines.append(
            SheetLine(
                name=line.name,
                instrument=awg.instrument,
                kind=_line_kind(line),
                sample_rate_hz=float(awg.sample_rate_hz),
                decimation=d,
                segments=segs,
                entry_start_samples=_frozen(entries["start"], np.int64),
                entry_phase_rad=_frozen(entries["phase"], np.float64),
                entry_frequency_hz=_frozen(entries["frequency"], np.float64),
            )
        )
    windows = tuple(
        SheetWindow(
            instrument=dig.instrument,
            name=name,
            channel=int(dem.channel),
            start_s=dem.start_samples / rate,
            length_s=dem.length_samples / rate,
            frequency_hz=float(dem.frequency_hz),
        )
        for dig in program.digitizers
        for dem, name in zip(dig.demodulators, dig.names, strict=True)
    )
    ends = [float(awg.step_samples[k]) / awg.sample_rate_hz for awg in program.awgs]
    ends += [w.start_s + w.length_s for w in windows]
    sweep_value = (
        float(program.sweep_values[k])
        if program.sweep_parameter is not None and k < program.sweep_values.size
        else None
    )
    return SheetData(
        program=program.name,
        digest=program.digest or program.sha256(),
        step=k,
        steps=steps,
        sweep_parameter=program.sweep_parameter,
        sweep_value=sweep_value,
        duration_s=max(ends, default=0.0),
        lines=tuple(lines),
        windows=windows,
        los=tuple(
            SheetLo(lo.instrument, float(lo.frequency_hz), float(lo.power_dbm), bool(lo.output))
            for lo in program.los
        ),
        dcs=tuple(
            SheetDc(dc.instrument, float(dc.voltage_v), bool(dc.output)) for dc in program.dcs
        ),
        max_samples=max_samples,
    )


# -- the compressed time axis -------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TimeAxis:
    """Piecewise-linear map from true time (s) to the drawn axis (s of drawn length).

    Attributes:
        true_s: increasing knots in true time (s); axis_s: their positions on the axis (s).
            Between knots the map is linear: slope 1 on active stretches and short gaps,
            ``gap_width_s / gap`` across a compressed gap.
        breaks: the compressed gaps, (start, end) in true time (s).
    """

    true_s: NDArray[np.float64]
    axis_s: NDArray[np.float64]
    breaks: tuple[tuple[float, float], ...]

    def __call__(self, t_s: ArrayLike) -> NDArray[np.float64]:
        """Axis positions (s) of true times ``t_s`` (s)."""
        t = np.asarray(t_s, dtype=np.float64)
        return np.asarray(np.interp(t, self.true_s, self.axis_s), dtype=np.float64)

    def at(self, t_s: float) -> float:
        """Axis position (s) of one true time ``t_s`` (s)."""
        return float(np.interp(t_s, self.true_s, self.axis_s))

    def true_time(self, x_s: float) -> float:
        """True time (s) at axis position ``x_s`` (s); inside a break, interpolated."""
        return float(np.interp(x_s, self.axis_s, self.true_s))

    @property
    def length_s(self) -> float:
        """Drawn length of the axis (s)."""
        return float(self.axis_s[-1])

    def pieces(self) -> list[tuple[float, float]]:
        """The uncompressed stretches (start, end) in true time (s), between breaks."""
        edges = [0.0]
        for a, b in self.breaks:
            edges += [a, b]
        edges.append(float(self.true_s[-1]))
        return [
            (edges[i], edges[i + 1]) for i in range(0, len(edges), 2) if edges[i + 1] > edges[i]
        ]


def time_axis(
    active_s: Sequence[tuple[float, float]],
    duration_s: float,
    *,
    max_gap_s: float | None = None,
    gap_width_s: float | None = None,
) -> TimeAxis:
    """The compressed time axis of a sheet.

    Every gap in which nothing is active (no interval of ``active_s`` covers it), including
    the stretches before the first and after the last activity, that is longer than
    ``max_gap_s`` is drawn ``gap_width_s`` wide; everything else keeps its true length.

    Args:
        active_s: (start, end) of each active stretch (s); they may overlap.
        duration_s: length of the step (s); the axis covers 0 … ``duration_s``.
        max_gap_s: longest gap drawn to scale (s); default ``max(1 µs, active / 4)`` with
            ``active`` the total active time.
        gap_width_s: drawn width of a compressed gap (s); default
            ``max(20 ns, active / 10)``, at most ``max_gap_s``.
    """
    end = max([float(duration_s), *(float(b) for _, b in active_s)], default=0.0)
    spans = sorted((max(0.0, float(a)), min(end, float(b))) for a, b in active_s)
    merged: list[list[float]] = []
    for a, b in spans:
        if b <= a:
            continue
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    active = sum(b - a for a, b in merged)
    threshold = max(1e-6, active / 4) if max_gap_s is None else float(max_gap_s)
    width = max(20e-9, active / 10) if gap_width_s is None else float(gap_width_s)
    width = min(width, threshold)
    edges = [0.0, *(x for ab in merged for x in ab), end]
    true = [0.0]
    axis = [0.0]
    breaks = []
    for i in range(0, len(edges), 2):  # (edges[i], edges[i+1]) is a gap
        a, b = edges[i], edges[i + 1]
        if b - a > threshold:
            if a > true[-1]:
                axis.append(axis[-1] + (a - true[-1]))
                true.append(a)
            axis.append(axis[-1] + width)
            true.append(b)
            breaks.append((a, b))
    if end > true[-1] or len(true) == 1:
        axis.append(axis[-1] + (end - true[-1]))
        true.append(end)
    return TimeAxis(
        true_s=_frozen(true, np.float64), axis_s=_frozen(axis, np.float64), breaks=tuple(breaks)
    )


# -- drawing ------------------------------------------------------------------------------

_I_COLOUR = "#1f77b4"
_Q_COLOUR = "#ff7f0e"
_FLUX_COLOUR = "#2ca02c"
_MARK_COLOUR = "#9467bd"
_WINDOW_COLOUR = "#d62728"
_BREAK_COLOUR = "#bbbbbb"


def _unit(duration_s: float) -> tuple[str, float]:
    return ("µs", 1e-6) if duration_s >= 1e-6 else ("ns", 1e-9)


def _length_text(t_s: float) -> str:
    if t_s >= 1e-3:
        return f"{t_s / 1e-3:.1f} ms"
    if t_s >= 1e-6:
        return f"{t_s / 1e-6:.1f} µs"
    return f"{t_s / 1e-9:.1f} ns"


def _ticks(axis: TimeAxis, scale: float) -> tuple[list[float], list[str]]:
    """Tick positions (axis, in units of ``scale``) labelled with true times."""
    from matplotlib.ticker import MaxNLocator

    total = axis.length_s
    ticks: list[tuple[float, float]] = []  # (axis position, true time) in s
    for p0, p1 in axis.pieces():
        x0 = axis.at(p0)
        share = (axis.at(p1) - x0) / total if total > 0 else 1.0
        nbins = max(1, round(8 * share))
        values = MaxNLocator(nbins=nbins, steps=[1, 2, 2.5, 5, 10]).tick_values(
            p0 / scale, p1 / scale
        )
        if p0 > 0:
            ticks.append((x0, p0))
        for v in values:
            t = float(v) * scale
            if p0 - 1e-15 <= t <= p1 + 1e-15:
                ticks.append((x0 + (t - p0), t))
    ticks.sort()
    kept: list[tuple[float, float]] = []
    for x, t in ticks:
        if not kept or x - kept[-1][0] > 0.06 * total:
            kept.append((x, t))
    return [x / scale for x, _ in kept], [f"{round(t / scale, 6):.6g}" for _, t in kept]


def _draw_line(ax: Axes, line: SheetLine, axis: TimeAxis, scale: float) -> None:
    r = line.sample_rate_hz
    d = line.decimation
    components = [(_I_COLOUR, np.real), (_Q_COLOUR, np.imag)]
    if line.kind == "flux":
        components = [(_FLUX_COLOUR, np.real)]
    peak = 0.0
    for seg in line.segments:
        if seg.samples.size:
            peak = max(peak, float(np.abs(seg.samples.real).max()))
            if line.kind != "flux":
                peak = max(peak, float(np.abs(seg.samples.imag).max()))
    for colour, part in components:
        if d == 1:
            xs: list[NDArray[np.float64]] = []
            ys: list[NDArray[np.float64]] = []
            for seg in line.segments:
                t = (seg.start_samples + np.arange(seg.length_samples) + 0.5) / r
                xs += [axis(t) / scale, np.array([np.nan])]
                ys += [np.asarray(part(seg.samples), dtype=np.float64), np.array([np.nan])]
            if xs:
                ax.plot(np.concatenate(xs), np.concatenate(ys), color=colour, lw=0.9)
            continue
        for seg in line.segments:  # each bin drawn over its own span, so one bin shows
            bins = seg.samples.size // 2
            end = seg.start_samples + seg.length_samples
            lo = np.minimum(seg.start_samples + np.arange(bins) * d, end)
            edges = np.stack([lo, np.minimum(lo + d, end)], axis=1).reshape(-1) / r
            env = seg.samples.reshape(bins, 2)
            ax.fill_between(
                axis(edges) / scale,
                np.repeat(np.asarray(part(env[:, 0]), dtype=np.float64), 2),
                np.repeat(np.asarray(part(env[:, 1]), dtype=np.float64), 2),
                color=colour,
                alpha=0.6,
                lw=0.5,
            )
    ax.axhline(0.0, color="#888888", lw=0.5)
    top = 1.45 * peak if peak > 0 else 1.0
    ax.set_ylim(-1.1 * (peak if peak > 0 else 1.0), top)
    xt = ax.get_xaxis_transform()
    for fc in line.frame_changes():
        x = axis.at(fc.time_s) / scale
        ax.plot([x, x], [0.72, 0.98], transform=xt, color=_MARK_COLOUR, lw=1.4)
        ax.text(
            x,
            0.97,
            " " + fc.label,
            transform=xt,
            fontsize=6.5,
            color=_MARK_COLOUR,
            ha="left",
            va="top",
        )
    ax.set_ylabel(f"{line.name}\nV", fontsize=8)
    ax.set_label(line.name)


def _draw_windows(ax: Axes, sheet: SheetData, axis: TimeAxis, scale: float) -> None:
    ax.set_ylim(0.0, 1.0)
    ax.set_yticks([])
    ax.set_ylabel("acquire", fontsize=8)
    ax.set_label("acquire")
    n = len(sheet.windows)
    if n == 0:
        ax.text(0.5, 0.5, "no acquisition", transform=ax.transAxes, ha="center", va="center")
    for i, w in enumerate(sheet.windows):
        x0 = axis.at(w.start_s) / scale
        x1 = axis.at(w.start_s + w.length_s) / scale
        y0, y1 = i / n + 0.04 / n, (i + 1) / n - 0.04 / n
        ax.axvspan(x0, x1, ymin=y0, ymax=y1, color=_WINDOW_COLOUR, alpha=0.3, lw=0)
        ax.text(
            (x0 + x1) / 2,
            (y0 + y1) / 2,
            f"{w.name} · {w.instrument} ch{w.channel} · IF {w.frequency_hz / 1e6:.2f} MHz",
            ha="center",
            va="center",
            fontsize=6.5,
            clip_on=True,
        )


def _settings_text(sheet: SheetData) -> str:
    rows = [
        f"LO {lo.instrument}: {lo.frequency_hz / 1e9:.6f} GHz, {lo.power_dbm:g} dBm"
        + ("" if lo.output else " (off)")
        for lo in sheet.los
    ]
    rows += [
        f"DC {dc.instrument}: {dc.voltage_v:.4g} V" + ("" if dc.output else " (off)")
        for dc in sheet.dcs
    ]
    if sheet.decimated:
        rows.append(f"min/max envelopes of {sheet.lines[0].decimation} samples")
    return "\n".join(rows) if rows else "no LO / DC settings"


def pulse_sheet(program_or_sheet: CompiledExperiment | SheetData, step: int = 0) -> Figure:
    """The pulse sheet of one sweep step as a matplotlib Figure (Agg canvas, no pyplot).

    One row per AWG line (I and Q of drive and readout lines, the real part of flux lines,
    in V), a row of acquisition windows, purple ticks where a line's phase or IF changes
    (labelled with Δφ or φ in rad), LO and DC settings in a text block. Idle gaps are
    compressed into hatched breaks labelled with their true length (:func:`time_axis`).

    Args:
        program_or_sheet: a compiled program, or a :class:`SheetData` (drawn as it is).
        step: the sweep step of a compiled program (0-based). A SheetData holds one step;
            a ``step`` other than 0 or the sheet's own is an error.

    Raises:
        QnekoError: ``step`` out of range, or not the step of the given SheetData.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if isinstance(program_or_sheet, SheetData):
        sheet = program_or_sheet
        if step not in (0, sheet.step):
            raise QnekoError(
                f"the pulse sheet holds step {sheet.step} of {sheet.program!r}, not step {step}",
                step=step,
                steps=sheet.steps,
            )
    else:
        sheet = sheet_data(program_or_sheet, step)
    axis = time_axis(sheet.active_s(), sheet.duration_s)
    unit, scale = _unit(sheet.duration_s)

    rows = len(sheet.lines) + 1
    fig = Figure(figsize=(11.0, 1.35 * rows + 1.1), dpi=100)
    FigureCanvasAgg(fig)
    ratios = [1.0] * len(sheet.lines) + [0.45 + 0.2 * max(1, len(sheet.windows))]
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False, height_ratios=ratios)[:, 0]
    fig.subplots_adjust(left=0.09, right=0.74, top=1 - 0.55 / (1.35 * rows + 1.1), hspace=0.12)
    for ax, line in zip(axes[:-1], sheet.lines, strict=True):
        _draw_line(ax, line, axis, scale)
    _draw_windows(axes[-1], sheet, axis, scale)
    for ax in axes:
        for a, b in axis.breaks:
            x0, x1 = axis.at(a) / scale, axis.at(b) / scale
            ax.axvspan(x0, x1, color=_BREAK_COLOUR, alpha=0.35, hatch="///", lw=0)
            ax.text(
                (x0 + x1) / 2,
                0.5,
                f"⋯ {_length_text(b - a)} ⋯",
                transform=ax.get_xaxis_transform(),
                rotation=90,
                ha="center",
                va="center",
                fontsize=6.5,
                color="#444444",
            )
        ax.grid(alpha=0.25, axis="x")
    ticks, labels = _ticks(axis, scale)
    axes[-1].set_xticks(ticks, labels, fontsize=7)
    axes[-1].set_xlim(0.0, axis.length_s / scale)
    axes[-1].set_xlabel(
        f"time ({unit})" + (" · hatched: idle time compressed" if axis.breaks else "")
    )
    title = f"{sheet.program} · step {sheet.step} of {sheet.steps}"
    if sheet.sweep_parameter is not None and sheet.sweep_value is not None:
        title += f" · {sheet.sweep_parameter} = {sheet.sweep_value:.6g}"
    fig.suptitle(title, fontsize=10)
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color=_I_COLOUR, label="I (V)"),
        Line2D([], [], color=_Q_COLOUR, label="Q (V)"),
        Line2D([], [], color=_FLUX_COLOUR, label="flux (V)"),
        Line2D([], [], color=_MARK_COLOUR, label="phase / IF change (rad)"),
    ]
    fig.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.76, 0.06), fontsize=7)
    fig.text(0.76, 0.02, f"digest {sheet.digest[:16]}", fontsize=6.5, color="#666666")
    fig.text(
        0.76,
        1 - 0.55 / (1.35 * rows + 1.1),
        _settings_text(sheet),
        fontsize=7,
        family="monospace",
        va="top",
    )
    return fig


def pulse_sheet_png(program_or_sheet: CompiledExperiment | SheetData, step: int = 0) -> bytes:
    """:func:`pulse_sheet` as PNG bytes (same arguments and errors)."""
    fig = pulse_sheet(program_or_sheet, step)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
