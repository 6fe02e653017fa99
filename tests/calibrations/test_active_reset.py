"""Reset check (measure–wait–measure, no feedback pulse) on the perturbed chips.

After a wait of 5·T1 an excited qubit has decayed to e^{−5} ≈ 0.7 % (plus the thermal
population and the readout's assignment errors, a few %): the check is good. After a wait of
0.1·T1 most is still excited (e^{−0.1}, less the decay during the readout and the
assignment errors): the check reports it as poor.
"""

from __future__ import annotations

import math

from conftest import Bench

from qneko_hw.calibrations.active_reset import ResetCheck


def test_long_wait_leaves_little_short_wait_much(bench: Bench) -> None:
    state = bench.discriminated_state("q0")
    t1 = bench.truth.qubits["q0"].t1_s
    long = bench.run(ResetCheck(shots=1000, wait_s=5 * t1), "q0", state)
    assert long.fit.quality == "good", long.fit.message
    assert long.fit.values["excited_first"] > 0.8
    assert long.fit.values["residual_after_excited"] < 0.05
    assert long.state == state
    short = bench.run(ResetCheck(shots=1000, wait_s=0.1 * t1), "q0", state)
    assert short.fit.quality == "poor", short.fit.message
    # left in |1⟩ after an excited first outcome: decay over the wait and (about) one
    # readout, e^{−(wait + t_ro)/T1}; within 0.1 for the assignment errors (~5 %), the
    # unknown instant the first readout projects, and the binomial noise (σ ≈ 0.015)
    t_ro = state.qubit("q0").readout_duration_s.value
    expected = math.exp(-(0.1 * t1 + t_ro) / t1)
    assert abs(short.fit.values["residual_after_excited"] - expected) < 0.1, (
        short.fit.values,
        expected,
    )
    assert short.fit.values["residual_excited_population"] > 0.3
