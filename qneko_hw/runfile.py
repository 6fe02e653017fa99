"""Run files: one self-describing HDF5 file per routine run — its data, its analysis, its context.

Layout (netCDF-compatible at the root, so ``xarray.open_dataset(path, engine="h5netcdf")``
gives a labelled Dataset; :func:`open_run` does the same for complete and partial files)::

    /                      attributes: qneko_run_format (2), title, run_id, routine,
                           routine_kind, qubit, created, calibration_version,
                           program_sha256, multiplexed_with, not_applicable, versions (JSON:
                           qneko-hw, numpy, scipy, h5py, qiskit, qiskit-experiments, python)
    /step, /shot           dimension scales (indices of the sweep steps and of the shots)
    /<axis>                float64 (step,): one per sweep axis, attributes units, long_name
    /<signal>              the measured signals: IQ shots complex64 (step, shot) in V, a VNA
                           trace complex (step,); attributes units, long_name, coordinates
    /routine               attributes: parameters (JSON of the routine), setup (JSON)
    /context               attributes: calibration_state, station, chip (JSON), and more
    /program               the pulse sheet of the first step (see qneko_hw.plot.sheet)
    /analysis/results      the analysis results, UTF-8 JSON bytes (empty until analysed)

:class:`RunWriter` streams shots into the file while they arrive. The file is written as
``<name>.partial`` in HDF5's single-writer/multiple-reader (SWMR) mode: every flush leaves
a consistent file, so a writer killed at any moment leaves a ``.partial`` that
:func:`read_run` and :func:`open_run` read with everything flushed so far (also while the
writer is still running). Closing the writer fsyncs the file and renames it to its final
name. :func:`add_results` writes the analysis into the complete file afterwards, again in
SWMR mode (into a dataset created with the file, so no HDF5 object is added): a process
killed while it writes leaves the data intact.

Write path (see ``benchmarks/bench_runfile.py``): shots are gathered into HDF5 chunks of
about 2 MiB and each completed chunk goes to the file with one write, straight from the
caller's array when a block covers whole chunks. A flush adds the rows of the chunks still
being gathered (HDF5 writes such a chunk in full, so a flush costs up to one chunk write per
acquisition: flush by time, not after every small append) and the metadata that makes them
visible. On Linux the writer asks the kernel to start writing the file back to disk every
16 MiB (``sync_file_range``), so the fsync on close finds little left to do.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qneko_hw.analysis import Results
from qneko_hw.data import Axis, Data, Signal
from qneko_hw.errors import QnekoError

if TYPE_CHECKING:
    import xarray

    from qneko_hw.plot.sheet import SheetData

__all__ = [
    "FORMAT",
    "RunFile",
    "RunWriter",
    "add_results",
    "open_run",
    "read_run",
    "software_versions",
    "unit_of",
    "write_run",
]

log = logging.getLogger(__name__)

#: Version of the layout above.
FORMAT = 2
PARTIAL_SUFFIX = ".partial"
_CHUNK_ELEMENTS = 1 << 18  # 2 MiB of complex64 per HDF5 chunk
_WRITEBACK_BYTES = 16 << 20  # start the kernel's write-back after this many bytes
_SYNC_FILE_RANGE_WRITE = 2  # <linux/fs.h>: start write-out of dirty pages, do not wait
_UNIT_SUFFIXES = {"_v": "V", "_hz": "Hz", "_s": "s", "_rad": "rad", "_dbm": "dBm"}
_GROUPS = ("routine", "context", "program", "analysis")
_RESERVED = frozenset({"step", "shot", *_GROUPS})


def unit_of(parameter: str) -> str:
    """Unit of a parameter, from its name's suffix (``amplitude_v`` → ``V``)."""
    for suffix, unit in _UNIT_SUFFIXES.items():
        if parameter.endswith(suffix):
            return unit
    return ""


@cache
def software_versions() -> dict[str, str]:
    """Versions of the software that measures and analyses (recorded in every run file)."""
    from importlib import metadata

    out = {"python": sys.version.split()[0]}
    for dist in ("qneko-hw", "numpy", "scipy", "h5py", "qiskit", "qiskit-experiments"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


@cache
def _sync_file_range() -> Callable[[int], None] | None:
    """``fd → sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE)`` on Linux, else None.

    Starts write-out of the file's dirty pages without waiting for it: the disk works while
    the writer goes on, instead of all at once in the final fsync. A hint only; durability
    still comes from the fsync on close.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # the process's own symbols, libc's too
        fn = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    fn.restype = ctypes.c_int

    def start_writeback(fd: int) -> None:
        fn(fd, 0, 0, _SYNC_FILE_RANGE_WRITE)  # errors ignored: it is only a hint

    return start_writeback


class _ChunkBuffer:
    """Rows of one acquisition gathered into whole chunks before they are written.

    ``base`` is the first row of the chunk being gathered (always chunk-aligned), ``fill``
    the rows gathered so far, ``done`` the rows of them already in the file (written by a
    flush). Every row is handed to HDF5 once: a flush writes rows ``done:fill``, the
    completed chunk rows ``done:rows``; blocks of whole chunks are written from the
    caller's array without a copy when they are complex64 already.
    """

    def __init__(self, dataset: Any, rows: int, width: int) -> None:
        import h5py

        self.dataset = dataset
        self.rows = rows
        self.width = width
        self.data = np.empty((rows, width), dtype=np.complex64)
        self.base = 0
        self.fill = 0
        self.done = 0
        self._create_simple = h5py.h5s.create_simple

    def add(self, arr: NDArray[Any]) -> int:
        """Gather rows ``(width,)`` or ``(k, width)``, cast to complex64 while copied.

        Completed chunks are written; returns the bytes written to the file.
        """
        fill = self.fill
        if arr.ndim == 1:  # one step, the usual case when streaming step by step
            self.data[fill] = arr
            self.fill = fill = fill + 1
            return self._complete() if fill == self.rows else 0
        k = arr.shape[0]
        if fill + k < self.rows:
            self.data[fill : fill + k] = arr
            self.fill = fill + k
            return 0
        written, pos = 0, 0
        while pos < k:
            if self.fill == 0 and k - pos >= self.rows:
                m = (k - pos) // self.rows * self.rows  # whole chunks, written straight
                written += self._write(
                    self.base, np.ascontiguousarray(arr[pos : pos + m], dtype=np.complex64)
                )
                self.base += m
                pos += m
                continue
            take = min(self.rows - self.fill, k - pos)
            self.data[self.fill : self.fill + take] = arr[pos : pos + take]
            self.fill += take
            pos += take
            if self.fill == self.rows:
                written += self._complete()
        return written

    def _complete(self) -> int:
        """Write the rows of the completed chunk that no flush wrote; start the next one."""
        written = self._write(self.base + self.done, self.data[self.done :])
        self.base += self.rows
        self.fill = self.done = 0
        return written

    def write_pending(self) -> int:
        """Write the gathered rows not yet in the file; returns the bytes written."""
        if self.fill == self.done:
            return 0
        written = self._write(self.base + self.done, self.data[self.done : self.fill])
        self.done = self.fill
        return written

    @property
    def rows_in_file(self) -> int:
        return self.base + self.done

    def _write(self, start: int, data: NDArray[np.complex64]) -> int:
        dsid = self.dataset.id
        stop = start + data.shape[0]
        if stop > dsid.shape[0]:
            dsid.set_extent((stop, self.width))
        fspace = dsid.get_space()
        fspace.select_hyperslab((start, 0), data.shape)
        dsid.write(self._create_simple(data.shape), fspace, data)
        return int(data.nbytes)


@dataclass(frozen=True)
class Stream:
    """An IQ acquisition streamed into the file: shots per step, unit, long name."""

    shots: int
    unit: str = "V"
    long_name: str = ""


def _check_name(path: Path, name: str, what: str) -> None:
    if not name or "/" in name or name.startswith(".") or name in _RESERVED:
        raise QnekoError(
            f"{path}: {what} name {name!r} cannot be stored (empty, has '/', or is one of "
            f"{', '.join(sorted(_RESERVED))})",
            source=str(path),
        )


class RunWriter:
    """Stream IQ shots into a run file as they arrive.

    Use as a context manager::

        with RunWriter(path, acquisitions={"q0": 1000},
                       axes=[Axis.of("amplitude_v", amps, "V", "drive amplitude")],
                       context=ctx) as w:
            for step_shots in stream:        # (shots,) per step or (k, shots) per block
                w.append("q0", step_shots)

    Args:
        path: final file name; the file is written as ``path + ".partial"`` and renamed
            when the writer closes without an exception.
        acquisitions: acquisition name → shots per step (or a :class:`Stream`). Every
            dataset is created up front (SWMR allows no new objects later).
        axes: the sweep axes, one value per planned step (may be empty).
        context: string attributes of ``/context`` (``created`` is added).
        attrs: root attributes (strings or numbers).
        routine: string attributes of ``/routine`` (the routine's parameters and setup).
        signals: signals known in full when the file opens (a VNA trace), written at once.
        sheet: the pulse sheet of the first step, stored in ``/program``.
        flush_interval_s: flush at most this often while appending, seconds (0 flushes
            after every append). The writer always flushes when it closes. What a flush
            leaves in the file (:attr:`steps_flushed`) survives the writer being killed.
        fsync: fsync the file before the rename, so the final name only ever points to
            data that reached the disk (and, on Linux, start the disk's write-back while
            appending so that this fsync is short).

    Whole chunks (about 2 MiB) go to the file as soon as they are complete, between
    flushes too; a flush adds the rows of the chunk still being gathered and the
    metadata that makes all of it visible to readers.

    The constructor does no I/O; the file is created on ``__enter__`` (or :meth:`open`).
    On an exception inside the ``with`` block the data appended so far is flushed and the
    ``.partial`` file is kept, never renamed.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        acquisitions: Mapping[str, int | Stream],
        axes: Sequence[Axis] = (),
        context: Mapping[str, str] | None = None,
        attrs: Mapping[str, str | int | float] | None = None,
        routine: Mapping[str, str] | None = None,
        signals: Mapping[str, Signal] | None = None,
        sheet: SheetData | None = None,
        flush_interval_s: float = 1.0,
        fsync: bool = True,
    ) -> None:
        self.path = Path(path)
        self.partial_path = self.path.with_name(self.path.name + PARTIAL_SUFFIX)
        self._streams: dict[str, Stream] = {}
        for name, spec in acquisitions.items():
            _check_name(self.path, name, "acquisition")
            stream = spec if isinstance(spec, Stream) else Stream(int(spec))
            if int(stream.shots) < 1:
                raise QnekoError(
                    f"acquisition '{name}': shots per step must be ≥ 1, got {stream.shots}",
                    source=str(self.path),
                )
            self._streams[name] = stream
        self._axes = tuple(axes)
        self._fixed = dict(signals or {})
        for name in (*(a.name for a in self._axes), *self._fixed):
            _check_name(self.path, name, "axis or signal")
        clash = {a.name for a in self._axes} & (set(self._streams) | set(self._fixed))
        if clash:
            raise QnekoError(
                f"{self.path}: names used by an axis and a signal: {', '.join(sorted(clash))}",
                source=str(self.path),
            )
        sizes = {a.values.size for a in self._axes}
        if len(sizes) > 1:
            raise QnekoError(
                f"{self.path}: axes of different lengths {sorted(sizes)}", source=str(self.path)
            )
        self._planned = sizes.pop() if sizes else 0
        self._context = {"created": datetime.now(UTC).isoformat(), **dict(context or {})}
        self._attrs = dict(attrs or {})
        self._routine = dict(routine or {})
        self._sheet = sheet
        self._flush_interval_s = float(flush_interval_s)
        self._fsync = fsync
        self._file: Any = None
        self._fd = -1  # our own descriptor of the .partial file, for write-back and fsync
        self._writeback: Callable[[int], None] | None = None
        self._unsynced = 0  # bytes written since the last write-back hint
        self._buffers: dict[str, _ChunkBuffer] = {}
        self._flushed: dict[str, int] = {}
        self._step_scale: Any = None
        self._last_flush = 0.0
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------------

    def open(self) -> RunWriter:
        """Create the ``.partial`` file, its datasets and attributes; enter SWMR mode."""
        import h5py

        if self._file is not None or self._closed:
            raise QnekoError(f"{self.path}: run writer already opened", source=str(self.path))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = h5py.File(self.partial_path, "w", libver="latest")
        try:
            self._layout(f)
            f.swmr_mode = True
            f.flush()
            if self._fsync:
                self._fd = os.open(self.partial_path, os.O_RDONLY)
                self._writeback = _sync_file_range()
        except BaseException:
            f.close()
            raise
        self._file = f
        self._last_flush = time.monotonic()
        return self

    def _layout(self, f: Any) -> None:
        """Every object of the file (nothing can be added once in SWMR mode)."""
        import h5py

        f.attrs["qneko_run_format"] = FORMAT
        for key, value in self._attrs.items():
            f.attrs[key] = value
        fixed_steps = {int(s.values.shape[0]) for s in self._fixed.values()}
        planned = max(self._planned, *fixed_steps, 0)
        step = f.create_dataset(
            "step", data=np.arange(planned, dtype=np.int64), maxshape=(None,), chunks=(4096,)
        )
        step.make_scale("step")
        self._step_scale = step
        widths = {s.shots for s in self._streams.values()}
        shot_scales: dict[int, Any] = {}
        for n in sorted(widths):
            name = "shot" if len(widths) == 1 else f"shot_{n}"
            shot_scales[n] = f.create_dataset(name, data=np.arange(n, dtype=np.int64))
            shot_scales[n].make_scale(name)
        coords = " ".join(a.name for a in self._axes)
        for axis in self._axes:
            ds = f.create_dataset(axis.name, data=np.asarray(axis.values, dtype=np.float64))
            ds.attrs["units"] = axis.unit
            ds.attrs["long_name"] = axis.long_name
            ds.attrs["qneko_role"] = "axis"
            ds.dims[0].attach_scale(step)
        for name, stream in self._streams.items():
            rows = max(1, min(max(planned, 1), _CHUNK_ELEMENTS // stream.shots))
            cols = min(stream.shots, _CHUNK_ELEMENTS)
            ds = f.create_dataset(
                name,
                shape=(0, stream.shots),
                maxshape=(None, stream.shots),
                chunks=(rows, cols),
                dtype=np.complex64,
            )
            ds.attrs["units"] = stream.unit
            ds.attrs["long_name"] = stream.long_name or f"IQ shots of acquisition {name}"
            ds.attrs["qneko_role"] = "signal"
            if coords:
                ds.attrs["coordinates"] = coords
            ds.dims[0].attach_scale(step)
            ds.dims[1].attach_scale(shot_scales[stream.shots])
            self._buffers[name] = _ChunkBuffer(ds, rows, stream.shots)
            self._flushed[name] = 0
        for name, sig in self._fixed.items():
            if sig.dims[:1] != ("step",) or len(sig.dims) != 1:
                raise QnekoError(
                    f"{self.path}: signal {name} of dims {sig.dims}: only (step,) signals are "
                    "written whole; stream (step, shot) shots with acquisitions=",
                    source=str(self.path),
                )
            ds = f.create_dataset(name, data=sig.values)
            ds.attrs["units"] = sig.unit
            ds.attrs["long_name"] = sig.long_name
            ds.attrs["qneko_role"] = "signal"
            if coords:
                ds.attrs["coordinates"] = coords
            ds.dims[0].attach_scale(step)
        routine = f.create_group("routine")
        for key, value in self._routine.items():
            routine.attrs[key] = str(value)
        ctx = f.create_group("context")
        for key, value in self._context.items():
            ctx.attrs[key] = str(value)
        program = f.create_group("program")
        if self._sheet is not None:
            self._sheet.to_hdf5(program)
        analysis = f.create_group("analysis")
        analysis.create_dataset(
            "results", shape=(0,), maxshape=(None,), chunks=(1 << 16,), dtype=np.uint8
        )
        del h5py

    def __enter__(self) -> RunWriter:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def close(self) -> Path:
        """Flush, close, fsync and rename ``.partial`` → final name; returns the final path."""
        if self._closed:
            return self.path
        f = self._require_open()
        fd, self._fd = self._fd, -1
        try:
            try:
                self._flush(f, time.monotonic())
            finally:
                f.close()
                self._file = None
                self._closed = True
            if fd >= 0:
                os.fsync(fd)
        finally:
            if fd >= 0:
                os.close(fd)
        self.partial_path.replace(self.path)
        return self.path

    def abort(self) -> Path:
        """Flush and close, keeping the ``.partial`` file; returns its path."""
        try:
            if self._file is not None:
                try:
                    self._flush(self._file, time.monotonic())
                finally:
                    self._file.close()
                    self._file = None
        finally:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
            self._closed = True
        log.warning("run file left incomplete: %s", self.partial_path)
        return self.partial_path

    # -- data ------------------------------------------------------------------------------

    @property
    def steps_written(self) -> dict[str, int]:
        """Rows (sweep steps) appended so far per acquisition, flushed or still buffered."""
        return {name: buf.base + buf.fill for name, buf in self._buffers.items()}

    @property
    def steps_flushed(self) -> dict[str, int]:
        """Rows per acquisition that the last flush made durable against a killed writer.

        A ``.partial`` file left by a writer killed after that flush holds at least these
        rows (possibly more: whole chunks are written between flushes).
        """
        return dict(self._flushed)

    def append(self, acquisition: str, block: ArrayLike) -> None:
        """Append shots of one step ``(shots,)`` or of a block of steps ``(k, shots)`` (V).

        Rows are gathered into whole chunks, each written to the file once complete;
        :meth:`flush` (at most ``flush_interval_s`` apart, and on close) writes the rest
        and makes everything visible to readers. Any numeric dtype is cast to complex64
        while it is copied, without an intermediate array.
        """
        f = self._require_open()
        buf = self._buffers.get(acquisition)
        if buf is None:
            raise QnekoError(
                f"{self.path}: unknown acquisition '{acquisition}' "
                f"(declared: {', '.join(self._buffers)})",
                source=str(self.path),
            )
        arr = block if isinstance(block, np.ndarray) else np.asarray(block, dtype=np.complex64)
        if arr.dtype.kind not in "biufc":
            arr = arr.astype(np.complex64)
        shape = arr.shape
        if len(shape) > 2 or shape[-1:] != (buf.width,):
            raise QnekoError(
                f"{self.path}: acquisition '{acquisition}' takes blocks of shape "
                f"(k, {buf.width}), got {shape}",
                source=str(self.path),
            )
        written = buf.add(arr)
        now = time.monotonic()
        if now - self._last_flush >= self._flush_interval_s:
            self._flush(f, now, written)
        elif written:
            self._wrote(written)

    def flush(self) -> None:
        """Write every gathered row and make the ``.partial`` file consistent on disk."""
        self._flush(self._require_open(), time.monotonic())

    def _flush(self, f: Any, now: float, written: int = 0) -> None:
        for buf in self._buffers.values():
            written += buf.write_pending()
        rows = max((buf.rows_in_file for buf in self._buffers.values()), default=0)
        step = self._step_scale
        if step is not None and rows > step.shape[0]:  # steps beyond the planned axes
            old = step.shape[0]
            step.resize((rows,))
            step[old:rows] = np.arange(old, rows, dtype=np.int64)
        f.flush()
        for name, buf in self._buffers.items():
            self._flushed[name] = buf.rows_in_file
        self._last_flush = now
        self._wrote(written)

    def _wrote(self, nbytes: int) -> None:
        """Count bytes sent to the file; start the kernel's write-back every 16 MiB."""
        self._unsynced += nbytes
        if self._writeback is not None and self._unsynced >= _WRITEBACK_BYTES:
            self._writeback(self._fd)
            self._unsynced = 0

    def _require_open(self) -> Any:
        if self._file is None:
            raise QnekoError(f"{self.path}: run writer is not open", source=str(self.path))
        return self._file


def write_run(
    path: str | Path,
    data: Data[Any],
    *,
    kind: str,
    parameters: str,
    context: Mapping[str, str] | None = None,
    not_applicable: str | None = None,
    sheet: SheetData | None = None,
) -> Path:
    """Write a routine's data at once (fsync'd, then renamed); returns the file's path.

    Args:
        data: the routine's data (its setup is stored as JSON in ``/routine``).
        kind: the routine's kind. parameters: JSON of the routine (its parameters).
        context: string attributes of ``/context`` (calibration state, station, chip...).
        not_applicable: why the routine did not apply (nothing measured), if so.
        sheet: the pulse sheet of the first step.
    """
    p = Path(path)
    streams: dict[str, Stream] = {}
    fixed: dict[str, Signal] = {}
    for name, sig in data.signals.items():
        if sig.dims == ("step", "shot") and np.iscomplexobj(sig.values):
            if sig.values.ndim != 2 or sig.values.shape[1] < 1:
                raise QnekoError(
                    f"{p}: shots of '{name}' must be (steps, shots) with shots ≥ 1, "
                    f"got {sig.values.shape}",
                    source=str(p),
                )
            streams[name] = Stream(int(sig.values.shape[1]), sig.unit, sig.long_name)
        else:
            fixed[name] = sig
    prov = data.provenance
    attrs: dict[str, str | int | float] = {
        "title": f"{data.routine} on {data.qubit}",
        "source": "qneko-hw",
        "run_id": prov.run_id,
        "routine": data.routine,
        "routine_kind": kind,
        "qubit": data.qubit,
        "calibration_version": int(prov.calibration_version),
        "program_sha256": prov.program_digest,
        "multiplexed_with": ",".join(prov.multiplexed_with),
        "not_applicable": not_applicable or "",
        "axes": ",".join(data.axes),
        "versions": json.dumps(software_versions(), sort_keys=True),
    }
    with RunWriter(
        p,
        acquisitions=streams,
        axes=list(data.axes.values()),
        context=context,
        attrs=attrs,
        routine={"parameters": parameters, "setup": data.setup.model_dump_json()},
        signals=fixed,
        sheet=sheet,
        flush_interval_s=float("inf"),
    ) as writer:
        for name in streams:
            values = data.signals[name].values
            if values.shape[0]:
                writer.append(name, values)
    return writer.path


def add_results(path: str | Path, results: Results) -> None:
    """Store ``results`` in the run file ``path`` (its ``/analysis/results``), fsync'd.

    Raises:
        QnekoError: the file cannot be opened for writing or is not a run file.
    """
    import h5py

    p = Path(path)
    payload = np.frombuffer(results.model_dump_json().encode("utf-8"), dtype=np.uint8)
    try:
        with h5py.File(p, "r+", libver="latest") as f:
            f.swmr_mode = True
            ds = f["analysis/results"]
            ds.resize((payload.size,))
            ds[:] = payload
            f.flush()
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except (OSError, KeyError) as exc:
        raise QnekoError(f"{p}: cannot store the analysis results ({exc})", source=str(p)) from None


@dataclass(frozen=True, eq=False)
class RunFile:
    """A run file as read back.

    Attributes:
        path: the file. complete: False for a ``.partial`` file (writer still running,
        or killed). attrs: root attributes. axes, signals: the data (signals may have
        fewer steps than the axes in a partial file). routine: ``/routine`` attributes
        (``parameters``, ``setup``: JSON). context: ``/context`` attributes. results: the
        stored analysis, or None. sheet: the pulse sheet, or None.
    """

    path: Path
    complete: bool
    attrs: dict[str, Any]
    axes: dict[str, Axis]
    signals: dict[str, Signal]
    routine: dict[str, str] = field(default_factory=dict)
    context: dict[str, str] = field(default_factory=dict)
    results: Results | None = None
    sheet: SheetData | None = None

    @property
    def run_id(self) -> str:
        """The run's id."""
        return str(self.attrs.get("run_id", ""))

    @property
    def qubit(self) -> str:
        """The qubit the routine ran on."""
        return str(self.attrs.get("qubit", ""))

    @property
    def kind(self) -> str:
        """The routine's kind (its entry in the routine table)."""
        return str(self.attrs.get("routine_kind", ""))

    @property
    def routine_name(self) -> str:
        """The routine's name."""
        return str(self.attrs.get("routine", ""))

    @property
    def multiplexed_with(self) -> tuple[str, ...]:
        """The other qubits measured in the same programs."""
        text = str(self.attrs.get("multiplexed_with", ""))
        return tuple(q for q in text.split(",") if q)

    @property
    def not_applicable(self) -> str:
        """Why the routine did not apply (empty if it did)."""
        return str(self.attrs.get("not_applicable", ""))

    @property
    def shots(self) -> dict[str, NDArray[np.complex64]]:
        """IQ shots (steps, shots) per acquisition."""
        return {
            n: np.asarray(s.values, dtype=np.complex64)
            for n, s in self.signals.items()
            if len(s.dims) == 2 and s.dims[1].startswith("shot")
        }


def _open_for_read(p: Path) -> Any:
    import h5py

    try:
        return h5py.File(p, "r")
    except OSError:
        # A writer still running, or killed, leaves the SWMR-write flag set.
        return h5py.File(p, "r", swmr=True)


def _dims_of(ds: Any) -> tuple[str, ...]:
    names = []
    for k, dim in enumerate(ds.dims):
        label = None
        for scale_name, _ in dim.items():
            if scale_name in ("step",) or scale_name.startswith("shot"):
                label = scale_name
                break
        names.append(label or ("step" if k == 0 else f"dim_{k}"))
    return tuple(names)


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _attr_value(value: Any) -> Any:
    """An HDF5 attribute as a Python str, int or float."""
    if isinstance(value, bytes | str):
        return _text(value)
    return value.item() if hasattr(value, "item") else value


def read_run(path: str | Path, *, signals: bool = True) -> RunFile:
    """Read a run file, complete or ``.partial`` (every row flushed so far).

    With ``signals=False`` only the axes, attributes, analysis and pulse sheet are read.

    Raises:
        QnekoError: not a readable run file, or one of an older format (naming it).
    """
    from qneko_hw.plot.sheet import SheetData

    p = Path(path)
    try:
        with _open_for_read(p) as f:
            fmt = int(f.attrs.get("qneko_run_format", 1))
            if fmt != FORMAT:
                raise QnekoError(
                    f"{p}: run file format {fmt}, this qneko-hw reads format {FORMAT} "
                    "(files of format 1 hold no analysis; read them with h5py)",
                    source=str(p),
                )
            attrs = {k: _attr_value(v) for k, v in f.attrs.items()}
            axes: dict[str, Axis] = {}
            sigs: dict[str, Signal] = {}
            for name, ds in f.items():
                if name in _RESERVED or name.startswith("shot"):
                    continue
                if not hasattr(ds, "dtype"):
                    continue
                units = _text(ds.attrs.get("units", ""))
                long_name = _text(ds.attrs.get("long_name", ""))
                role = _text(ds.attrs.get("qneko_role", ""))
                if role == "signal":
                    if signals:
                        sigs[name] = Signal(np.asarray(ds[()]), _dims_of(ds), units, long_name)
                    continue
                if role == "axis":
                    axes[name] = Axis(name, np.asarray(ds[()], np.float64), units, long_name)
            routine = {k: _text(v) for k, v in f["routine"].attrs.items()}
            context = {k: _text(v) for k, v in f["context"].attrs.items()}
            raw = np.asarray(f["analysis/results"][()], dtype=np.uint8)
            program = f["program"]
            sheet = SheetData.from_hdf5(program) if len(program) or len(program.attrs) else None
    except (OSError, KeyError) as exc:
        raise QnekoError(f"{p}: not a readable run file ({exc})", source=str(p)) from None
    results = Results.model_validate_json(raw.tobytes()) if raw.size else None
    order = [n for n in str(attrs.get("axes", "")).split(",") if n in axes]
    axes = {n: axes[n] for n in (*order, *(k for k in axes if k not in order))}
    return RunFile(
        path=p,
        complete=not p.name.endswith(PARTIAL_SUFFIX),
        attrs=attrs,
        axes=axes,
        signals=sigs,
        routine=routine,
        context=context,
        results=results,
        sheet=sheet,
    )


def open_run(path: str | Path) -> xarray.Dataset:
    """A run file as a labelled :class:`xarray.Dataset`.

    One variable per signal (IQ shots complex64 with dims ``(step, shot)`` and ``units``
    V), the sweep axes as coordinates along ``step`` with their ``units`` and
    ``long_name``, and the root attributes plus ``results`` (the analysis, JSON) and
    ``verdict`` as dataset attributes. For a ``.partial`` file, the steps every signal has
    written. A complete file also opens with ``xarray.open_dataset(path, engine="h5netcdf")``.
    """
    import xarray as xr

    run = read_run(path)
    steps = min((s.values.shape[0] for s in run.signals.values()), default=0)
    if not run.signals:
        steps = max((a.values.size for a in run.axes.values()), default=0)
    variables = {
        name: (sig.dims, sig.values[:steps], {"units": sig.unit, "long_name": sig.long_name})
        for name, sig in run.signals.items()
    }
    coords: dict[str, Any] = {"step": np.arange(steps)}
    for name, axis in run.axes.items():
        coords[name] = (
            "step",
            axis.values[:steps],
            {"units": axis.unit, "long_name": axis.long_name},
        )
    attrs: dict[str, Any] = {**run.attrs, "complete": int(run.complete)}
    if run.results is not None:
        attrs["results"] = run.results.model_dump_json(exclude={"figure"})
        attrs["verdict"] = run.results.verdict
    return xr.Dataset(variables, coords=coords, attrs=attrs)


def context_json(obj: Any) -> str:
    """Canonical JSON for context attributes."""
    return json.dumps(obj, sort_keys=True)
