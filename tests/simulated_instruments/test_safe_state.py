"""An execution that ends early leaves its instruments safe: AWGs stopped, outputs off.

The faults are injected between the executor and real drivers talking to the twins; the
twins (what the instruments would do) are the oracle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from qneko_hw.compiler import compile_experiment
from qneko_hw.config import default_station, random_chip
from qneko_hw.config.initial import design_state
from qneko_hw.drivers.station import connect
from qneko_hw.errors import SafetyLimitError
from qneko_hw.executor import execute
from qneko_hw.experiment import Experiment, Measure, Play, Sweep
from qneko_hw.pulses import Gaussian
from qneko_hw.simulated_instruments.lab import SimulatedLab

CHIP = random_chip(2, 11)
STATION = default_station({"f0": ["q0", "q1"]}, seed=3)
STATE = design_state(CHIP, STATION)
EXP = Experiment(
    name="rabi",
    instructions=(
        Play(channel="q0.drive", pulse=Gaussian(amplitude_v=0.1, duration_s=40e-9, sigma_s=1e-8)),
        Measure(qubit="q0", name="q0"),
    ),
    sweep=Sweep(parameter="amplitude_v", instruction=0, values=(0.0, 0.1, 0.2)),
    shots=20,
)


class _Faulty:
    """A role object that raises ``error`` from ``method`` and passes the rest through."""

    def __init__(self, inner: Any, method: str, error: BaseException) -> None:
        self._inner, self._method, self._error = inner, method, error

    def __getattr__(self, name: str) -> Any:
        if name == self._method:

            def fail(*_a: object, **_k: object) -> None:
                raise self._error

            return fail
        return getattr(self._inner, name)


def _twins_of(lab: SimulatedLab, kind: str) -> list[Any]:
    compiled = compile_experiment(EXP, STATION, STATE)
    names = [p.instrument for p in (compiled.awgs if kind == "awg" else compiled.los)]
    return [lab.twins[n] for n in names]


def _assert_safe(lab: SimulatedLab) -> None:
    for awg in _twins_of(lab, "awg"):
        assert not awg.running
        assert not any(awg.channel_output(ch) for ch in (1, 2, 3, 4))
    for lo in _twins_of(lab, "lo"):
        assert not lo.output


def _dig(instruments: dict[str, Any]) -> str:
    return next(n for n in instruments if "dig" in n)


def _readout_awg(instruments: dict[str, Any]) -> str:
    compiled = compile_experiment(EXP, STATION, STATE)
    return next(p.instrument for p in compiled.awgs if p.readout)


faults: list[tuple[str, Callable[[dict[str, Any]], str], str, BaseException]] = [
    # the digitizer fails after every LO and AWG was set and switched on
    ("digitizer configure", _dig, "configure", RuntimeError("digitizer lost")),
    # Ctrl-C while the shots are fetched, with the AWGs running
    ("Ctrl-C at fetch", _dig, "fetch", KeyboardInterrupt()),
    # a refused safety limit on the readout AWG after the drive AWG is playing
    ("refused limit", _readout_awg, "run", SafetyLimitError("limit", limit=1.0)),
]


@pytest.mark.parametrize(("case", "target", "method", "error"), faults, ids=[f[0] for f in faults])
def test_an_execution_that_fails_leaves_awgs_stopped_and_rf_off(
    case: str, target: Callable[[dict[str, Any]], str], method: str, error: BaseException
) -> None:
    compiled = compile_experiment(EXP, STATION, STATE)
    with SimulatedLab(CHIP, STATION) as lab, connect(lab.station) as instruments:
        good = execute(compiled, instruments)  # the same program runs when nothing fails
        assert good.shots["q0"].shape == (3, 20)
        assert any(lo.output for lo in _twins_of(lab, "lo"))  # it leaves RF on, as it should
        name = target(instruments)
        faulty = {**instruments, name: _Faulty(instruments[name], method, error)}
        with pytest.raises(type(error)):
            execute(compiled, faulty)
        _assert_safe(lab)
        # and the instruments work again afterwards
        again = execute(compiled, instruments)
        assert np.isfinite(again.shots["q0"]).all()
