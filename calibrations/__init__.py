"""Calibration routines (build / analyze / update) and the runner that drives them."""

from __future__ import annotations

from qneko_hw.calibrations.discrimination import Discrimination
from qneko_hw.calibrations.drag import DragBeta
from qneko_hw.calibrations.fine_amplitude import FineAmplitude
from qneko_hw.calibrations.qubit_spectroscopy import QubitSpectroscopy
from qneko_hw.calibrations.rabi import AmplitudeRabi
from qneko_hw.calibrations.ramsey import Ramsey
from qneko_hw.calibrations.runner import Routine, RoutineOutcome, run_routine
from qneko_hw.calibrations.t1 import T1
from qneko_hw.calibrations.t2_echo import T2Echo

__all__ = [
    "T1",
    "AmplitudeRabi",
    "Discrimination",
    "DragBeta",
    "FineAmplitude",
    "QubitSpectroscopy",
    "Ramsey",
    "Routine",
    "RoutineOutcome",
    "T2Echo",
    "run_routine",
]
