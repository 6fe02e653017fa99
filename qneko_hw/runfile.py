"""Run files: one HDF5 file per experiment with shots, sweep axis and the full context.

Layout::

    /shots/<acquisition>   complex64 (steps, shots), volts, chunked per step
    /sweep/values          float64 (steps,), attribute ``parameter`` and ``unit``
    /context               attributes: run_id, experiment, qubit, program_sha256, created,
                           calibration_state (JSON), station (YAML), chip (YAML or empty)

Files are written under a temporary name and renamed when complete, so a crash never
leaves a half-written file with the final name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qneko_hw.errors import QnekoError

__all__ = ["RunData", "read_run", "write_run"]

_UNITS = {"amplitude_v": "V", "frequency_hz": "Hz", "duration_s": "s"}


@dataclass(frozen=True)
class RunData:
    """Contents of a run file."""

    shots: dict[str, NDArray[np.complex64]]
    sweep_parameter: str
    sweep_values: NDArray[np.float64]
    context: dict[str, str]


def write_run(
    path: str | Path,
    *,
    shots: dict[str, NDArray[np.complex64]],
    sweep_parameter: str | None,
    sweep_values: NDArray[np.float64],
    context: dict[str, str],
) -> Path:
    """Write a run file atomically; returns its path."""
    import h5py

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".partial")
    with h5py.File(tmp, "w") as f:
        grp = f.create_group("shots")
        for name, data in shots.items():
            arr = np.asarray(data, dtype=np.complex64)
            chunks = (1, arr.shape[1]) if arr.ndim == 2 and arr.size else None
            grp.create_dataset(name, data=arr, chunks=chunks)
        sweep = f.create_group("sweep")
        ds = sweep.create_dataset("values", data=np.asarray(sweep_values, dtype=np.float64))
        param = sweep_parameter or "none"
        ds.attrs["parameter"] = param
        ds.attrs["unit"] = _UNITS.get(param, "")
        ctx = f.create_group("context")
        for key, value in {"created": datetime.now(UTC).isoformat(), **context}.items():
            ctx.attrs[key] = value
    tmp.replace(p)
    return p


def read_run(path: str | Path) -> RunData:
    """Read a run file written by :func:`write_run`."""
    import h5py

    p = Path(path)
    try:
        with h5py.File(p, "r") as f:
            shots = {name: np.asarray(ds[()]) for name, ds in f["shots"].items()}
            values = np.asarray(f["sweep/values"][()], dtype=np.float64)
            param = str(f["sweep/values"].attrs["parameter"])
            context: dict[str, Any] = {k: str(v) for k, v in f["context"].attrs.items()}
    except (OSError, KeyError) as exc:
        raise QnekoError(f"{p}: not a readable run file ({exc})", source=str(p)) from None
    return RunData(shots=shots, sweep_parameter=param, sweep_values=values, context=context)


def context_json(obj: Any) -> str:
    """Canonical JSON for context attributes."""
    return json.dumps(obj, sort_keys=True)
