"""Every routine has the one shape: frozen parameters that round-trip through JSON (as run
files store them), a frozen setup model, an update map onto real calibration fields, and a
pure, re-entrant plan that threads can share."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel, ValidationError

from qneko_hw.calibrations import ROUTINES
from qneko_hw.calibrations.routine import Plan, Routine
from qneko_hw.config import default_station, random_chip
from qneko_hw.config.calibration import CalibrationState, CalValue, QubitCalibration
from qneko_hw.config.initial import design_state
from qneko_hw.errors import CalibrationError

CHIP = random_chip(2, 5)
STATION = default_station({"f0": ["q0", "q1"]}, seed=5)


def _state() -> CalibrationState:
    state = design_state(CHIP, STATION)
    for q in ("q0", "q1"):  # a discriminator and T1, as later routines need
        state = state.with_qubit(
            q,
            iq_angle_rad=CalValue.design(0.3),
            threshold=CalValue.design(1e-3),
            t1_s=CalValue.design(40e-6),
        )
    return state


@pytest.mark.parametrize("kind", sorted(ROUTINES))
def test_the_routine_is_frozen_parameters_that_round_trip(kind: str) -> None:
    cls = ROUTINES[kind]
    routine = cls()
    assert cls.kind == kind and routine.name
    with pytest.raises(ValidationError):
        routine.name = "other"  # type: ignore[misc]
    again = cls.model_validate_json(routine.model_dump_json())
    assert again == routine
    assert issubclass(cls.setup_type, BaseModel) and cls.setup_type.model_config.get("frozen")
    fields = set(QubitCalibration.model_fields)
    for line in cls.updates:
        assert line.field in fields, (kind, line)


def _same(a: Plan[Any], b: Plan[Any]) -> bool:
    return (
        a.setup == b.setup
        and [x.name for x in a.axes] == [x.name for x in b.axes]
        and all(np.array_equal(x.values, y.values) for x, y in zip(a.axes, b.axes, strict=True))
        and a.measurement == b.measurement
    )


@pytest.mark.parametrize("kind", sorted(ROUTINES))
def test_one_routine_object_plans_for_many_qubits_at_once(kind: str) -> None:
    """Plans made concurrently from eight threads by one routine object are the plans made
    one after the other (no state carried between calls)."""
    routine: Routine[Any] = ROUTINES[kind]()
    state = _state()
    try:
        expected = {q: routine.plan(q, state, STATION) for q in ("q0", "q1")}
    except CalibrationError as exc:  # the flux sweep refuses a qubit without a bias line
        assert kind == "flux_sweep" and "bias line" in str(exc)
        return
    jobs = ["q0", "q1"] * 4
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda q: routine.plan(q, state, STATION), jobs))
    for q, plan in zip(jobs, got, strict=True):
        assert _same(plan, expected[q]), (kind, q)
    assert routine == ROUTINES[kind]()  # planning changed nothing on the routine
