"""Fabrication: the device a simulated lab runs, drawn from the design a lab knows.

A chip file is the *design*. A real chip differs from it by fabrication spread, and the
calibration routines see only instrument data, never the device. :func:`fabricate` draws
an as-fabricated device in the same schema (:class:`~qneko_hw.config.chip.Chip`) from a
design and a seed; the simulated lab runs it, the routines start from the design.

The spread (:class:`Spread`, defaults from the literature):

- qubit frequency: normal, σ = 60 MHz. Untuned fixed-frequency transmons: the Josephson
  energy follows the junction's normal-state resistance (Ambegaokar–Baratoff), whose
  wafer-scale spread is 2–4 % for Al/AlOx junctions (Kreikebaum et al., Supercond. Sci.
  Technol. 33, 06LT02, 2020: 3.5 % over a 150 mm wafer, under 2 % within a die), and
  f₀₁ ∝ √E_J, so σ_f/f ≈ 1–2 %, 50–80 MHz at 5 GHz (Hertzberg et al., npj Quantum Inf. 7,
  129, 2021: 1.3 % before laser annealing).
- anharmonicity: uniform ±3 % (α ≈ −E_C, set by the shunt capacitance, i.e. geometry).
- readout resonator: normal, σ = 3 MHz (lithography and film thickness; 2–5 MHz).
- κ and χ: uniform ±25 % (coupling capacitances and the qubit–resonator detuning).
- Rabi rate per volt: uniform ±30 % (drive-line coupling and attenuation of the wiring).
- T1: log-uniform 10 µs … 200 µs, independent of the design's nominal value (two-level
  systems make T1 a property of the individual device: now and then a qubit near 10 µs,
  and one above 150 µs); T2 = T1 × U(0.3, 1.8), at most 2·T1.
- thermal population: uniform 0 … 5 %.
- dead qubit: with probability 2 %, T1 = 0.5 µs (a TLS on resonance, a broken junction).

A flux-tunable qubit moves as a whole: its sweet-spot frequency by the same offset as its
zero-bias frequency (the junctions' spread scales the SQUID), so it stays tunable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qneko_hw.config.chip import Chip

__all__ = ["Spread", "fabricate"]

_MIN_HZ, _MAX_HZ = 1.0e9, 15.0e9


@dataclass(frozen=True)
class Spread:
    """Fabrication spread (see the module docstring for the sources).

    Attributes:
        qubit_frequency_sigma_hz: σ of f₀₁ (Hz). anharmonicity_fraction: half-width of
        the uniform relative spread of α. resonator_sigma_hz: σ of the resonator frequency
        (Hz). kappa_fraction, chi_fraction, rabi_fraction: half-widths of the uniform
        relative spreads. t1_range_s: range (s) of the log-uniform T1. t2_ratio: range of
        T2/T1. thermal_range: range of the thermal population. dead_probability:
        probability that a qubit is dead (T1 = ``dead_t1_s``).
    """

    qubit_frequency_sigma_hz: float = 60e6
    anharmonicity_fraction: float = 0.03
    resonator_sigma_hz: float = 3e6
    kappa_fraction: float = 0.25
    chi_fraction: float = 0.25
    rabi_fraction: float = 0.30
    t1_range_s: tuple[float, float] = (10e-6, 200e-6)
    t2_ratio: tuple[float, float] = (0.3, 1.8)
    thermal_range: tuple[float, float] = (0.0, 0.05)
    dead_probability: float = 0.02
    dead_t1_s: float = 0.5e-6


def fabricate(design: Chip, seed: int, spread: Spread | None = None) -> Chip:
    """An as-fabricated device of ``design`` (same qubits, resonators and feedlines), drawn
    with ``spread`` from a generator seeded with ``seed``: the same design and seed give
    the same device."""
    s = spread or Spread()
    rng = np.random.default_rng(seed)
    qubits = {}
    for name, q in design.qubits.items():
        shift = float(rng.normal(0.0, s.qubit_frequency_sigma_hz))
        f = min(max(q.frequency_hz + shift, _MIN_HZ), _MAX_HZ)
        alpha = q.anharmonicity_hz * (1 + float(rng.uniform(-1, 1)) * s.anharmonicity_fraction)
        lo, hi = s.t1_range_s
        t1 = math.exp(float(rng.uniform(math.log(lo), math.log(hi))))
        if float(rng.uniform()) < s.dead_probability:
            t1 = s.dead_t1_s
        t2 = min(t1 * float(rng.uniform(*s.t2_ratio)), 2 * t1)
        data = q.model_dump()
        data.update(
            frequency_hz=round(f, -3),
            anharmonicity_hz=round(min(max(alpha, -500e6), -50e6), -3),
            t1_s=round(t1, 9),
            t2_s=round(min(t2, 2 * round(t1, 9)), 9),
            rabi_rate_hz_per_v=round(
                q.rabi_rate_hz_per_v * (1 + float(rng.uniform(-1, 1)) * s.rabi_fraction), -3
            ),
            thermal_population=round(float(rng.uniform(*s.thermal_range)), 4),
        )
        if q.flux is not None:
            data["flux"] = {
                **q.flux.model_dump(),
                "max_frequency_hz": q.flux.max_frequency_hz
                + (data["frequency_hz"] - q.frequency_hz),
            }
        qubits[name] = data
    resonators = {}
    for name, r in design.resonators.items():
        data = r.model_dump()
        data.update(
            frequency_hz=round(r.frequency_hz + float(rng.normal(0, s.resonator_sigma_hz)), -3),
            kappa_hz=round(r.kappa_hz * (1 + float(rng.uniform(-1, 1)) * s.kappa_fraction), -3),
            chi_hz=round(r.chi_hz * (1 + float(rng.uniform(-1, 1)) * s.chi_fraction), -3),
        )
        resonators[name] = data
    return Chip.model_validate(
        {"name": f"{design.name}-device-{seed}", "qubits": qubits, "resonators": resonators}
    )
