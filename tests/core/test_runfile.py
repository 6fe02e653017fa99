"""Run files: round trip, atomic write, clear errors."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from qneko_hw.errors import QnekoError
from qneko_hw.runfile import read_run, write_run


def test_round_trip(tmp_path: Path) -> None:
    shots = {"q0": (np.arange(12).reshape(3, 4) * (1 + 1j)).astype(np.complex64)}
    p = write_run(
        tmp_path / "runs" / "r.h5",
        shots=shots,
        sweep_parameter="amplitude_v",
        sweep_values=np.array([0.0, 0.1, 0.2]),
        context={"run_id": "r", "program_sha256": "ab" * 32},
    )
    run = read_run(p)
    assert np.array_equal(run.shots["q0"], shots["q0"])
    assert run.shots["q0"].dtype == np.complex64
    assert run.sweep_parameter == "amplitude_v"
    assert run.context["program_sha256"] == "ab" * 32
    assert "created" in run.context
    with h5py.File(p) as f:
        assert f["sweep/values"].attrs["unit"] == "V"
    assert not list(tmp_path.glob("runs/*.partial"))


def test_unreadable_file(tmp_path: Path) -> None:
    bad = tmp_path / "x.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(QnekoError, match=r"x\.h5"):
        read_run(bad)
