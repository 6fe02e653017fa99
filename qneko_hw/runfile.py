"""Run files: one HDF5 file per experiment with shots, sweep axis and the full context.

Layout::

    /shots/<acquisition>   complex64 (steps, shots), volts, chunked, resizable along steps
    /sweep/values          float64 (steps,), attribute ``parameter`` and ``unit``
    /context               attributes: run_id, experiment, qubit, program_sha256, created,
                           calibration_state (JSON), station (JSON), chip (JSON or empty)

:class:`RunWriter` streams shots into the file while they arrive. The file is written as
``<name>.partial`` in HDF5's single-writer/multiple-reader (SWMR) mode: every flush leaves
a consistent file, so a writer killed at any moment leaves a ``.partial`` that
:func:`read_run` and :func:`to_xarray` read with everything flushed so far (also while the
writer is still running). Closing the writer renames the file to its final name.

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qneko_hw.errors import QnekoError

if TYPE_CHECKING:
    import xarray

__all__ = ["RunData", "RunWriter", "read_run", "to_xarray", "unit_of", "write_run"]

log = logging.getLogger(__name__)

PARTIAL_SUFFIX = ".partial"
_CHUNK_ELEMENTS = 1 << 18  # 2 MiB of complex64 per HDF5 chunk
_WRITEBACK_BYTES = 16 << 20  # start the kernel's write-back after this many bytes
_SYNC_FILE_RANGE_WRITE = 2  # <linux/fs.h>: start write-out of dirty pages, do not wait
_UNIT_SUFFIXES = {"_v": "V", "_hz": "Hz", "_s": "s", "_rad": "rad", "_dbm": "dBm"}


def unit_of(parameter: str) -> str:
    """Unit of a parameter, from its name's suffix (``amplitude_v`` → ``V``)."""
    for suffix, unit in _UNIT_SUFFIXES.items():
        if parameter.endswith(suffix):
            return unit
    return ""


@dataclass(frozen=True)
class RunData:
    """Contents of a run file.

    Attributes:
        shots: IQ shots per acquisition, complex64 (steps, shots), volts.
        sweep_parameter: name of the swept parameter (``none`` without a sweep).
        sweep_values: sweep axis in the parameter's SI unit (all planned steps).
        context: string attributes (run id, program hash, calibration state, station, chip).
        complete: False for a ``.partial`` file (writer still running or interrupted).
    """

    shots: dict[str, NDArray[np.complex64]]
    sweep_parameter: str
    sweep_values: NDArray[np.float64]
    context: dict[str, str]
    complete: bool = True

    @property
    def unit(self) -> str:
        """Unit of the sweep axis (``V``, ``Hz``, ``s``, ``rad`` or empty)."""
        return unit_of(self.sweep_parameter)


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


class RunWriter:
    """Stream IQ shots into a run file as they arrive.

    Use as a context manager::

        with RunWriter(path, acquisitions={"q0": 1000}, sweep_parameter="amplitude_v",
                       sweep_values=amps, context=ctx) as w:
            for step_shots in stream:        # (shots,) per step or (k, shots) per block
                w.append("q0", step_shots)

    Args:
        path: final file name; the file is written as ``path + ".partial"`` and renamed
            when the writer closes without an exception.
        acquisitions: acquisition name → shots per step. Every dataset is created up front
            (SWMR allows no new objects later).
        sweep_parameter: swept parameter name (unit from its suffix), or None.
        sweep_values: planned sweep axis in the parameter's SI unit.
        context: string attributes stored in ``/context`` (``created`` is added).
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
        acquisitions: Mapping[str, int],
        sweep_parameter: str | None,
        sweep_values: ArrayLike,
        context: Mapping[str, str],
        flush_interval_s: float = 1.0,
        fsync: bool = True,
    ) -> None:
        self.path = Path(path)
        self.partial_path = self.path.with_name(self.path.name + PARTIAL_SUFFIX)
        for name, n in acquisitions.items():
            if int(n) < 1:
                raise QnekoError(f"acquisition '{name}': shots per step must be ≥ 1, got {n}")
        self._shots_per_step = {name: int(n) for name, n in acquisitions.items()}
        self._sweep_parameter = sweep_parameter or "none"
        self._sweep_values = np.asarray(sweep_values, dtype=np.float64).reshape(-1)
        self._context = {"created": datetime.now(UTC).isoformat(), **dict(context)}
        self._flush_interval_s = float(flush_interval_s)
        self._fsync = fsync
        self._file: Any = None
        self._fd = -1  # our own descriptor of the .partial file, for write-back and fsync
        self._writeback: Callable[[int], None] | None = None
        self._unsynced = 0  # bytes written since the last write-back hint
        self._buffers: dict[str, _ChunkBuffer] = {}
        self._flushed: dict[str, int] = {}
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
            grp = f.create_group("shots")
            planned = max(1, self._sweep_values.size)
            for name, n in self._shots_per_step.items():
                rows = max(1, min(planned, _CHUNK_ELEMENTS // n))
                cols = min(n, _CHUNK_ELEMENTS)
                ds = grp.create_dataset(
                    name,
                    shape=(0, n),
                    maxshape=(None, n),
                    chunks=(rows, cols),
                    dtype=np.complex64,
                )
                self._buffers[name] = _ChunkBuffer(ds, rows, n)
                self._flushed[name] = 0
            sweep = f.create_group("sweep")
            values = sweep.create_dataset("values", data=self._sweep_values)
            values.attrs["parameter"] = self._sweep_parameter
            values.attrs["unit"] = unit_of(self._sweep_parameter)
            ctx = f.create_group("context")
            for key, value in self._context.items():
                ctx.attrs[key] = str(value)
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
    *,
    shots: dict[str, NDArray[np.complex64]],
    sweep_parameter: str | None,
    sweep_values: NDArray[np.float64],
    context: dict[str, str],
) -> Path:
    """Write a whole run at once (shots ``(steps, shots)`` per acquisition); returns its path."""
    arrays = {name: np.asarray(data, dtype=np.complex64) for name, data in shots.items()}
    for name, arr in arrays.items():
        if arr.ndim != 2 or arr.shape[1] < 1:
            raise QnekoError(
                f"{path}: shots of '{name}' must be (steps, shots) with shots ≥ 1, got {arr.shape}",
                source=str(path),
            )
    with RunWriter(
        path,
        acquisitions={name: arr.shape[1] for name, arr in arrays.items()},
        sweep_parameter=sweep_parameter,
        sweep_values=sweep_values,
        context=context,
        flush_interval_s=float("inf"),
    ) as writer:
        for name, arr in arrays.items():
            if arr.shape[0]:
                writer.append(name, arr)
    return writer.path


def _open_for_read(p: Path) -> Any:
    import h5py

    try:
        return h5py.File(p, "r")
    except OSError:
        # A writer still running, or killed, leaves the SWMR-write flag set.
        return h5py.File(p, "r", swmr=True)


def read_run(path: str | Path, *, shots: bool = True) -> RunData:
    """Read a run file, complete or ``.partial`` (all rows flushed so far).

    With ``shots=False`` only the sweep axis and the context are read (``shots`` is empty).
    """
    p = Path(path)
    try:
        with _open_for_read(p) as f:
            data = {name: np.asarray(ds[()]) for name, ds in f["shots"].items()} if shots else {}
            values = np.asarray(f["sweep/values"][()], dtype=np.float64)
            param = str(f["sweep/values"].attrs["parameter"])
            context: dict[str, str] = {k: str(v) for k, v in f["context"].attrs.items()}
    except (OSError, KeyError) as exc:
        raise QnekoError(f"{p}: not a readable run file ({exc})", source=str(p)) from None
    return RunData(
        shots=data,
        sweep_parameter=param,
        sweep_values=values,
        context=context,
        complete=not p.name.endswith(PARTIAL_SUFFIX),
    )


def to_xarray(path: str | Path) -> xarray.Dataset:
    """A run file as an :class:`xarray.Dataset`.

    One complex64 variable per acquisition with dims ``(step, shot)`` (``shot_<name>`` when
    acquisitions differ in shots per step), the sweep axis as coordinate on ``step`` named
    after the parameter with its ``units``, and the context as dataset attributes. For a
    ``.partial`` file, the steps every acquisition has written.
    """
    import xarray as xr

    run = read_run(path)
    widths = {arr.shape[1] for arr in run.shots.values()}
    steps = min((arr.shape[0] for arr in run.shots.values()), default=0)
    if run.sweep_values.size:
        steps = min(steps, run.sweep_values.size) if run.shots else run.sweep_values.size
    variables = {
        name: (
            ("step", "shot" if len(widths) == 1 else f"shot_{name}"),
            arr[:steps],
            {"units": "V", "long_name": f"IQ shots of {name}"},
        )
        for name, arr in run.shots.items()
    }
    coords: dict[str, Any] = {"step": np.arange(steps)}
    if run.sweep_parameter != "none" and run.sweep_values.size:
        coords[run.sweep_parameter] = (
            "step",
            run.sweep_values[:steps],
            {"units": run.unit, "long_name": run.sweep_parameter},
        )
    attrs: dict[str, Any] = {**run.context, "complete": int(run.complete)}
    return xr.Dataset(variables, coords=coords, attrs=attrs)


def context_json(obj: Any) -> str:
    """Canonical JSON for context attributes."""
    return json.dumps(obj, sort_keys=True)
