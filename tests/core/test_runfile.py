"""Run files: round trip, atomic write, streaming writer, crash (SIGKILL) recovery, xarray."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from qneko_hw.analysis import Results
from qneko_hw.config.base import Frozen
from qneko_hw.data import Axis, Data, Provenance, Signal
from qneko_hw.errors import QnekoError
from qneko_hw.runfile import RunWriter, add_results, open_run, read_run, write_run


class _Setup(Frozen):
    start_v: float


def _data() -> Data[_Setup]:
    shots = (np.arange(12).reshape(3, 4) * (1 + 1j)).astype(np.complex64)
    return Data(
        routine="rabi",
        qubit="q0",
        setup=_Setup(start_v=0.3),
        axes={
            "amplitude_v": Axis.of("amplitude_v", [0.0, 0.1, 0.2], "V", "drive amplitude"),
            "prepared": Axis.of("prepared", [0, 1, 0], "", "prepared state"),
        },
        signals={
            "q0": Signal.iq(shots, "q0"),
            "s21": Signal(np.array([1 + 1j, 2, 3j]), ("step",), "", "S21"),
        },
        provenance=Provenance(
            run_id="r", program_digest="ab" * 32, calibration_version=7, multiplexed_with=("q1",)
        ),
    )


def test_round_trip_is_self_describing(tmp_path: Path) -> None:
    data = _data()
    p = write_run(
        tmp_path / "runs" / "r.h5",
        data,
        kind="rabi",
        parameters='{"points": 3}',
        context={"chip": "{}"},
    )
    assert not list(tmp_path.glob("runs/*.partial"))
    run = read_run(p)
    assert run.results is None  # not analysed yet
    assert np.array_equal(run.shots["q0"], data.signals["q0"].values)
    assert run.shots["q0"].dtype == np.complex64
    assert list(run.axes) == ["amplitude_v", "prepared"]  # in the order given
    assert run.axes["amplitude_v"].unit == "V" and run.axes["amplitude_v"].long_name
    assert np.array_equal(run.signals["s21"].values, data.signals["s21"].values)
    assert run.signals["s21"].dims == ("step",)
    assert run.routine["parameters"] == '{"points": 3}'
    assert _Setup.model_validate_json(run.routine["setup"]) == data.setup
    assert run.attrs["calibration_version"] == 7 and run.multiplexed_with == ("q1",)
    assert run.kind == "rabi" and run.qubit == "q0" and run.run_id == "r"
    versions = json.loads(run.attrs["versions"])
    assert {"qneko-hw", "numpy", "qiskit", "qiskit-experiments"} <= set(versions)
    assert "created" in run.context and run.context["chip"] == "{}"
    with h5py.File(p) as f:
        assert f["q0"].attrs["units"] == "V" and f["amplitude_v"].attrs["units"] == "V"
        assert f["q0"].dims[0]["step"] is not None  # the step dimension scale
    results = Results(routine="rabi", qubit="q0", verdict="good", values={"x_v": float("nan")})
    add_results(p, results)
    again = read_run(p).results
    assert again is not None and again.model_dump_json() == results.model_dump_json()


def test_run_file_opens_as_a_labelled_dataset(tmp_path: Path) -> None:
    """One documented call, either way: ``open_run`` or xarray's h5netcdf engine."""
    import xarray as xr

    p = write_run(tmp_path / "r.h5", _data(), kind="rabi", parameters="{}")
    add_results(p, Results(routine="rabi", qubit="q0", verdict="poor", values={"a_v": 1.0}))
    for ds in (open_run(p), xr.open_dataset(p, engine="h5netcdf")):
        assert ds["q0"].dims == ("step", "shot") and ds["q0"].dtype == np.complex64
        assert ds["q0"].attrs["units"] == "V"
        assert ds["amplitude_v"].dims == ("step",) and ds["amplitude_v"].attrs["units"] == "V"
        assert "amplitude_v" in ds.coords and "prepared" in ds.coords
        assert ds.attrs["routine"] == "rabi" and ds.attrs["qubit"] == "q0"
        assert float(ds["q0"].swap_dims(step="amplitude_v").sel(amplitude_v=0.2)[0].real) == 8
        ds.close()
    ds = open_run(p)
    assert ds.attrs["verdict"] == "poor" and json.loads(ds.attrs["results"])["values"] == {
        "a_v": 1.0
    }


def test_an_older_run_file_is_refused_by_name(tmp_path: Path) -> None:
    old = tmp_path / "old.h5"
    with h5py.File(old, "w") as f:
        f.create_group("shots")
    with pytest.raises(QnekoError, match=r"old\.h5: run file format 1"):
        read_run(old)


def test_unreadable_file(tmp_path: Path) -> None:
    bad = tmp_path / "x.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(QnekoError, match=r"x\.h5"):
        read_run(bad)


# -- streaming writer -------------------------------------------------------------------


def _rows(start: int, stop: int, shots: int) -> np.ndarray:
    """Deterministic shots: row i holds i + 1j * (0 .. shots-1)."""
    i = np.arange(start, stop, dtype=np.float32)[:, None]
    return (i + 1j * np.arange(shots, dtype=np.float32)[None, :]).astype(np.complex64)


def test_writer_per_step_and_blocks(tmp_path: Path) -> None:
    amps = np.linspace(0.0, 0.5, 300)
    path = tmp_path / "runs" / "w.h5"
    with RunWriter(
        path,
        acquisitions={"q0": 7, "q1": 3},
        axes=[Axis.of("amplitude_v", amps, "V", "amplitude_v")],
        context={"run_id": "w", "calibration_version": "12", "chip": "{}"},
        flush_interval_s=0.0,
    ) as w:
        assert w.partial_path.exists() and not path.exists()
        for i in range(300):  # one step per append
            w.append("q0", _rows(i, i + 1, 7)[0])
        w.append("q1", _rows(0, 5, 3))  # blocks of different sizes
        w.append("q1", _rows(5, 295, 3))
        w.append("q1", _rows(295, 300, 3))
        assert w.steps_written == {"q0": 300, "q1": 300}
    assert path.exists() and not w.partial_path.exists()
    run = read_run(path)
    assert run.complete
    assert np.array_equal(run.shots["q0"], _rows(0, 300, 7))
    assert np.array_equal(run.shots["q1"], _rows(0, 300, 3))
    assert run.context["calibration_version"] == "12" and "created" in run.context
    with h5py.File(path) as f:
        ds = f["q0"]
        assert ds.dtype == np.complex64 and ds.chunks is not None and ds.maxshape == (None, 7)


def test_open_run(tmp_path: Path) -> None:
    path = tmp_path / "x.h5"
    with RunWriter(
        path,
        acquisitions={"q0": 4},
        axes=[Axis.of("frequency_hz", np.array([5e9, 5.1e9, 5.2e9]), "Hz", "frequency_hz")],
        context={"program_sha256": "cd" * 32},
    ) as w:
        w.append("q0", _rows(0, 3, 4))
    ds = open_run(path)
    assert ds["q0"].dims == ("step", "shot")
    assert ds["q0"].dtype == np.complex64
    assert ds["frequency_hz"].attrs["units"] == "Hz"
    assert ds["frequency_hz"].dims == ("step",)
    assert np.allclose(ds["q0"].sel(step=1).values, _rows(1, 2, 4)[0])
    assert ds.attrs["complete"] == 1
    assert float(ds["q0"].swap_dims(step="frequency_hz").sel(frequency_hz=5.2e9)[0].real) == 2


def test_exception_keeps_partial(tmp_path: Path) -> None:
    path = tmp_path / "e.h5"
    with (
        pytest.raises(KeyboardInterrupt),
        RunWriter(
            path,
            acquisitions={"q0": 5},
            axes=[Axis.of("duration_s", np.arange(10) * 1e-6, "s", "duration_s")],
            context={},
        ) as w,
    ):
        w.append("q0", _rows(0, 4, 5))
        raise KeyboardInterrupt
    assert not path.exists()
    run = read_run(w.partial_path)
    assert not run.complete
    assert np.array_equal(run.shots["q0"], _rows(0, 4, 5))
    ds = open_run(w.partial_path)
    assert ds.sizes["step"] == 4 and ds["duration_s"].attrs["units"] == "s"


def test_writer_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(QnekoError, match="shots per step"):
        RunWriter(
            tmp_path / "a.h5",
            acquisitions={"q0": 0},
            axes=(),
            context={},
        )
    w = RunWriter(tmp_path / "b.h5", acquisitions={"q0": 2}, context={})
    with pytest.raises(QnekoError, match="not open"):
        w.append("q0", np.zeros(2))
    with w:
        with pytest.raises(QnekoError, match="unknown acquisition 'q9'"):
            w.append("q9", np.zeros(2))
        with pytest.raises(QnekoError, match=r"\(k, 2\)"):
            w.append("q0", np.zeros((1, 3)))
    assert read_run(tmp_path / "b.h5").shots["q0"].shape == (0, 2)


def test_flushes_across_chunk_boundaries(tmp_path: Path) -> None:
    """Chunks larger than HDF5's chunk cache, flushed mid-chunk: every row once, in order."""
    shots = 1000  # 2 MiB chunks of 262 rows (1 MiB default chunk cache)
    path = tmp_path / "f.h5"
    with RunWriter(
        path,
        acquisitions={"q0": shots},
        axes=[Axis.of("amplitude_v", np.linspace(0.0, 1.0, 2000), "V", "amplitude_v")],
        context={},
        flush_interval_s=0.0,
    ) as w:
        with h5py.File(path.with_name("f.h5.partial"), "r", swmr=True) as f:
            chunk_rows = f["q0"].chunks[0]
        assert 1 < chunk_rows < 400
        # one step, blocks inside a chunk, across a boundary, covering whole chunks
        pieces = [1, 1, 5, 100, chunk_rows, 3 * chunk_rows + 7, 1, chunk_rows - 2, 1, 250]
        done = 0
        for k in pieces:
            rows = _rows(done, done + k, shots)
            w.append("q0", rows[0] if k == 1 else rows)
            done += k
            assert w.steps_written == {"q0": done}
            assert w.steps_flushed == {"q0": done}  # flush after every append
            live = read_run(w.partial_path)  # SWMR reader while the writer runs
            assert np.array_equal(live.shots["q0"], _rows(0, done, shots))
    run = read_run(path)
    assert np.array_equal(run.shots["q0"], _rows(0, done, shots))


def test_append_casts_to_complex64(tmp_path: Path) -> None:
    path = tmp_path / "c.h5"
    with RunWriter(
        path,
        acquisitions={"q0": 3},
        axes=(),
        context={},
        flush_interval_s=float("inf"),
    ) as w:
        w.append("q0", np.array([1 + 2j, 3, -1j]))  # complex128 row
        w.append("q0", np.arange(6, dtype=np.float64).reshape(2, 3))  # float block
        w.append("q0", [[1, 2, 3]])  # list
        w.append("q0", np.arange(3, dtype=np.int16))
        assert w.steps_flushed == {"q0": 0} and w.steps_written == {"q0": 5}
    shots = read_run(path).shots["q0"]
    assert shots.dtype == np.complex64
    expected = [[1 + 2j, 3, -1j], [0, 1, 2], [3, 4, 5], [1, 2, 3], [0, 1, 2]]
    assert np.array_equal(shots, np.array(expected, dtype=np.complex64))


_CHILD = """
import sys
import numpy as np
from qneko_hw.data import Axis
from qneko_hw.runfile import RunWriter

shots = 1000
w = RunWriter(sys.argv[1], acquisitions={"q0": shots},
              axes=[Axis.of("amplitude_v", np.linspace(0, 1, 10**6), "V", "amplitude")],
              context={"run_id": "crash"}, flush_interval_s=float(sys.argv[2]))
w.open()
i = 0
while True:
    row = (i + 1j * np.arange(shots, dtype=np.float32)).astype(np.complex64)
    w.append("q0", row)
    i += 1
    print(i, w.steps_flushed["q0"], flush=True)
"""


@pytest.mark.parametrize("flush_interval_s", [0.0, 0.02])
def test_sigkill_leaves_readable_partial(tmp_path: Path, flush_interval_s: float) -> None:
    """Killed mid-run: the .partial holds at least every row the last flush reported.

    With ``flush_interval_s=0`` that is every appended row; with a timed flush, the rows
    of ``steps_flushed`` at the last append seen (several 2 MiB chunks and partial ones).
    """
    final = tmp_path / "crash.h5"
    partial = tmp_path / "crash.h5.partial"
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(final), str(flush_interval_s)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    target = 500 if flush_interval_s == 0 else 1500
    try:
        assert proc.stdout is not None
        flushed = 0
        while flushed < target:
            line = proc.stdout.readline()
            assert line, "writer subprocess ended early"
            appended, flushed = map(int, line.split())
            if flush_interval_s == 0:
                assert flushed == appended
        live = read_run(partial)  # SWMR: readable while the writer is still running
        assert live.shots["q0"].shape[0] >= target
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert not final.exists()
    run = read_run(partial)
    rows = run.shots["q0"].shape[0]
    assert rows >= flushed
    assert np.array_equal(run.shots["q0"], _rows(0, rows, 1000))
    assert run.context["run_id"] == "crash" and not run.complete
    ds = open_run(partial)
    assert ds.sizes["step"] == rows and ds["amplitude_v"].attrs["units"] == "V"
