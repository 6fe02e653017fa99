"""Piecewise signals: a sequencer's entries kept as pieces give the physics of the samples.

The oracle is the sample-by-sample path (:func:`transmon.evolve` of the expanded batch),
which is itself checked against QuTiP in ``test_transmon``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qneko_hw.simulated_instruments.physics import pieces as P
from qneko_hw.simulated_instruments.physics import transmon

PARAMS = transmon.TransmonParams(
    frequency_hz=5.0e9,
    anharmonicity_hz=-210e6,
    t1_s=25e-6,
    t2_s=18e-6,
    rabi_rate_hz_per_v=60e6,
    thermal_population=0.03,
)
DT = 1e-9
RNG = np.random.default_rng(7)
PULSE = (
    0.2
    * np.exp(-0.5 * ((np.arange(40) - 19.5) / 8.0) ** 2)
    * np.exp(-2j * np.pi * 4e6 * DT * (np.arange(40) + 0.5))
)


def _piece(kind: int, size: int, value: complex) -> P.Piece:
    if kind == 0:  # a pulse, sample by sample
        return (PULSE[: max(size % 40, 1)] * value, 1)
    if kind == 1:  # an idle or a held DC value, as a sequencer repeats it
        return (np.full(256, value * 0.01), 1 + size)
    return (np.full(3, value * 0.01), size)  # a short repeated block


piece_lists = st.lists(
    st.builds(
        _piece,
        st.integers(0, 2),
        st.integers(1, 20),
        st.sampled_from([0.0, 1.0, 0.5j, -0.7 + 0.2j]),
    ),
    min_size=0,
    max_size=5,
)


@settings(max_examples=40, deadline=None)
@given(st.lists(piece_lists, min_size=1, max_size=4))
def test_evolve_pieces_is_the_evolution_of_the_samples(batch: list[list[P.Piece]]) -> None:
    n = max(P.length(p) for p in batch)
    dense = np.stack([P.expand(p, 0, n) for p in batch])
    expected = transmon.evolve(PARAMS, dense, DT, PARAMS.frequency_hz - 3e6)
    got = P.evolve_pieces(PARAMS, batch, DT, PARAMS.frequency_hz - 3e6)
    assert np.abs(got - expected).max() < 1e-9


def test_a_long_idle_costs_what_a_short_one_costs_and_relaxes_to_thermal() -> None:
    # a π pulse, then 1 ms of nothing: one closed-form step (a million samples would take
    # seconds sample by sample); the qubit ends in its thermal state (Γ↑ = Γ↓·p/(1−p))
    pi = PULSE / (2 * PARAMS.rabi_rate_hz_per_v * np.abs(PULSE).sum() * DT)  # area 1/(2k)
    frame = PARAMS.frequency_hz - 4e6  # the pulse's IF puts it on resonance
    excited = transmon.populations(P.evolve_pieces(PARAMS, [[(pi, 1)]], DT, frame))
    assert excited[0, 1] > 0.9
    # shorter steps of a batch are padded with nothing at the end, as in the lab
    batch = [[(pi, 1), (np.zeros(1, complex), k)] for k in (2_000, 1_000_000)]
    rho = P.evolve_pieces(PARAMS, batch, DT, frame)
    assert transmon.populations(rho)[1, 1] == pytest.approx(PARAMS.thermal_population, abs=1e-9)
    alone = transmon.populations(P.evolve_pieces(PARAMS, batch[:1], DT, frame))
    assert alone[0, 1] == pytest.approx(
        PARAMS.thermal_population
        + (excited[0, 1] - PARAMS.thermal_population) * np.exp(-2e-6 / PARAMS.t1_s),
        abs=2e-3,
    )
    # the 2 µs step equals the sample-by-sample evolution
    dense = P.expand(batch[0], 0, 2040)[None, :]
    ref = transmon.evolve(PARAMS, dense, DT, frame)
    assert np.abs(P.evolve_pieces(PARAMS, batch[:1], DT, frame) - ref).max() < 1e-10


def test_evolve_hold_of_a_drive_is_the_driven_evolution() -> None:
    values = np.array([0.0, 0.01, 0.003j])
    n = 600
    dense = np.repeat(values[:, None], n, axis=1)
    ref = transmon.evolve(PARAMS, dense, DT, PARAMS.frequency_hz)
    got = transmon.evolve_hold(PARAMS, values, n * DT, PARAMS.frequency_hz)
    assert np.abs(got - ref).max() < 1e-10
    assert transmon.populations(got)[1, 1] > 0.5  # the held drive really drives
    with pytest.raises(ValueError, match="duration"):
        transmon.evolve_hold(PARAMS, values, -1.0, 5e9)


@settings(max_examples=60, deadline=None)
@given(piece_lists, piece_lists)
def test_combine_expand_truncate_agree_with_the_samples(a: list[P.Piece], b: list[P.Piece]) -> None:
    n = max(P.length(a), P.length(b))
    da, db = P.expand(a, 0, n), P.expand(b, 0, n)
    both = P.combine(a, b, lambda x, y: x + 2j * y)
    assert P.length(both) == n
    np.testing.assert_array_equal(P.expand(both), da + 2j * db)
    cut = n // 3
    np.testing.assert_array_equal(P.expand(P.truncate(both, cut)), (da + 2j * db)[:cut])
    nz = np.flatnonzero(da)
    assert P.first_nonzero(a) == (int(nz[0]) if nz.size else P.length(a))
    assert P.is_zero(a) == (nz.size == 0)
    # canonical form: holds are one sample, nothing else repeats
    assert all(block.size == 1 or reps == 1 for block, reps in P.normalise(a))
