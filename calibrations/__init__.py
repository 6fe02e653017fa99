"""Calibration routines (plan → Data → fit → Results → update), their runner and graphs.

Every routine is importable from here, and :data:`ROUTINES` maps each routine's ``kind``
(as run files store it) to its class. None of their modules imports qiskit,
qiskit-experiments or qcodes at import time (the analyses import them when they run).
The graphs are in :mod:`qneko_hw.calibrations.default_graph`.
"""

from __future__ import annotations

from typing import Any

from qneko_hw.calibrations.active_reset import ResetCheck
from qneko_hw.calibrations.allxy import AllXY
from qneko_hw.calibrations.discrimination import Discrimination
from qneko_hw.calibrations.drag import DragBeta
from qneko_hw.calibrations.ef_spectroscopy import EfSpectroscopy
from qneko_hw.calibrations.fine_amplitude import FineAmplitude
from qneko_hw.calibrations.flux_sweep import FluxSweep
from qneko_hw.calibrations.punch_out import PunchOut
from qneko_hw.calibrations.qubit_search import QubitSearch
from qneko_hw.calibrations.qubit_spectroscopy import QubitSpectroscopy
from qneko_hw.calibrations.rabi import AmplitudeRabi
from qneko_hw.calibrations.ramsey import Ramsey
from qneko_hw.calibrations.rb import InterleavedRB, RandomizedBenchmarking
from qneko_hw.calibrations.readout_optimization import (
    IntegrationWeights,
    ReadoutFrequency,
    ReadoutPower,
)
from qneko_hw.calibrations.resonator_spectroscopy import ResonatorSpectroscopy
from qneko_hw.calibrations.resonator_spectroscopy_vna import ResonatorSpectroscopyVna
from qneko_hw.calibrations.routine import Plan, Routine, Update
from qneko_hw.calibrations.runner import (
    RoutineOutcome,
    run_routine,
    run_routine_multiplexed,
)
from qneko_hw.calibrations.t1 import T1
from qneko_hw.calibrations.t2_echo import T2Echo

#: Every routine class by its ``kind``.
ROUTINES: dict[str, type[Routine[Any]]] = {
    cls.kind: cls
    for cls in (
        AllXY,
        AmplitudeRabi,
        Discrimination,
        DragBeta,
        EfSpectroscopy,
        FineAmplitude,
        FluxSweep,
        IntegrationWeights,
        InterleavedRB,
        PunchOut,
        QubitSearch,
        QubitSpectroscopy,
        Ramsey,
        RandomizedBenchmarking,
        ReadoutFrequency,
        ReadoutPower,
        ResetCheck,
        ResonatorSpectroscopy,
        ResonatorSpectroscopyVna,
        T1,
        T2Echo,
    )
}

__all__ = [
    "ROUTINES",
    "T1",
    "AllXY",
    "AmplitudeRabi",
    "Discrimination",
    "DragBeta",
    "EfSpectroscopy",
    "FineAmplitude",
    "FluxSweep",
    "IntegrationWeights",
    "InterleavedRB",
    "Plan",
    "PunchOut",
    "QubitSearch",
    "QubitSpectroscopy",
    "Ramsey",
    "RandomizedBenchmarking",
    "ReadoutFrequency",
    "ReadoutPower",
    "ResetCheck",
    "ResonatorSpectroscopy",
    "ResonatorSpectroscopyVna",
    "Routine",
    "RoutineOutcome",
    "T2Echo",
    "Update",
    "run_routine",
    "run_routine_multiplexed",
]
