"""Chip description: transmon qubits and their readout resonators.

All quantities in SI units (Hz, s, V). Frequencies are ordinary frequencies (f, not ω).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, model_validator

from qneko_hw.config.base import Frozen, load_yaml_model

__all__ = ["Chip", "FluxTuning", "Qubit", "Resonator", "random_chip"]

PosFloat = Annotated[float, Field(gt=0)]


class FluxTuning(Frozen):
    """Flux tuning of an asymmetric SQUID transmon.

    f(Φ) = (f_max + |α|)·(cos²(πΦ) + d²·sin²(πΦ))^{1/4} − |α|, with Φ = M·I + Φ_offset in flux
    quanta. Φ_offset is not given: it is the one in [0, 1/2] that puts the qubit at its
    ``frequency_hz`` with no bias current.

    Attributes:
        max_frequency_hz: f_max, the sweet-spot frequency (Hz).
        asymmetry: d, junction asymmetry (0 … 1).
        flux_per_amp: M, flux quanta per ampere of bias current (Φ₀/A).
    """

    max_frequency_hz: Annotated[float, Field(ge=1e9, le=15e9)]
    asymmetry: Annotated[float, Field(ge=0, le=1)] = 0.3
    flux_per_amp: Annotated[float, Field(gt=0, le=1e6)] = 1000.0

    def frequency_hz(self, flux: float, anharmonicity_hz: float) -> float:
        """Qubit frequency (Hz) at ``flux`` (Φ₀)."""
        import math

        a = abs(anharmonicity_hz)
        c, s = math.cos(math.pi * flux), math.sin(math.pi * flux)
        return (self.max_frequency_hz + a) * float((c * c + self.asymmetry**2 * s * s) ** 0.25) - a

    def offset(self, frequency_hz: float, anharmonicity_hz: float) -> float:
        """Φ_offset in [0, 1/2] giving ``frequency_hz`` at zero current."""
        import math

        a = abs(anharmonicity_hz)
        low = self.frequency_hz(0.5, anharmonicity_hz)
        if not low - 1e-6 <= frequency_hz <= self.max_frequency_hz + 1e-6:
            raise ValueError(
                f"frequency {frequency_hz:g} Hz is outside the tuning range "
                f"[{low:g}, {self.max_frequency_hz:g}] Hz"
            )
        if self.asymmetry >= 1.0:
            return 0.0  # with d = 1 the SQUID does not tune
        # (f + |α|)/(f_max + |α|) = r, r⁴ = 1 − (1 − d²)·sin²(πΦ)
        r4 = ((frequency_hz + a) / (self.max_frequency_hz + a)) ** 4
        s2 = min(max((1.0 - r4) / (1.0 - self.asymmetry**2), 0.0), 1.0)
        return math.asin(math.sqrt(s2)) / math.pi


class Qubit(Frozen):
    """One fixed-frequency transmon.

    Attributes:
        frequency_hz: 0→1 transition frequency (Hz), 1–15 GHz.
        anharmonicity_hz: f_12 − f_01 (Hz), negative, −500 … −50 MHz.
        t1_s: energy relaxation time (s).
        t2_s: Ramsey coherence time (s), at most 2·T1.
        rabi_rate_hz_per_v: Rabi frequency (Hz) per volt of resonant drive at the chip.
        thermal_population: excited-state population at rest (0 … 0.3).
        resonator: name of its readout resonator.
        flux: flux tuning, for a tunable qubit; ``frequency_hz`` is then its frequency with
            no bias current.
    """

    frequency_hz: Annotated[float, Field(ge=1e9, le=15e9)]
    anharmonicity_hz: Annotated[float, Field(ge=-500e6, le=-50e6)] = -250e6
    t1_s: Annotated[float, Field(gt=0, le=10.0)] = 50e-6
    t2_s: Annotated[float, Field(gt=0, le=20.0)] = 40e-6
    rabi_rate_hz_per_v: Annotated[float, Field(gt=0, le=1e11)] = 700e6
    thermal_population: Annotated[float, Field(ge=0, le=0.3)] = 0.01
    resonator: str
    flux: FluxTuning | None = None

    @model_validator(mode="after")
    def _t2_bound(self) -> Qubit:
        if self.flux is not None:
            self.flux.offset(self.frequency_hz, self.anharmonicity_hz)
        if self.t2_s > 2 * self.t1_s * (1 + 1e-12):
            raise ValueError(f"t2_s={self.t2_s:g} exceeds 2*t1_s={2 * self.t1_s:g} (T2 <= 2 T1)")
        return self


class Resonator(Frozen):
    """A readout resonator on a feedline.

    Attributes:
        frequency_hz: resonance with the qubit in |0⟩ (Hz).
        kappa_hz: linewidth κ/2π, full width at half maximum (Hz).
        chi_hz: dispersive shift χ/2π (Hz); the |1⟩ resonance lies at f_r + 2χ.
        feedline: name of the feedline (shared by multiplexed resonators).
        drive_per_v: field drive rate per volt at the chip (√photon/s/V over 2π).
        output_gain_v: digitizer volts per √(photon/s) of output field.
        noise_v_per_sqrt_hz: white-noise amplitude density at the digitizer (V/√Hz).
    """

    frequency_hz: Annotated[float, Field(ge=1e9, le=15e9)]
    kappa_hz: Annotated[float, Field(gt=0, le=100e6)] = 2e6
    chi_hz: Annotated[float, Field(ge=-20e6, le=20e6)] = -0.5e6
    feedline: str = "f0"
    drive_per_v: PosFloat = 3.16e8
    output_gain_v: PosFloat = 1e-6
    noise_v_per_sqrt_hz: Annotated[float, Field(ge=0)] = 1.5e-6


class Chip(Frozen):
    """A chip: qubits by name and their resonators by name."""

    name: str = "chip"
    qubits: dict[str, Qubit]
    resonators: dict[str, Resonator]

    @model_validator(mode="after")
    def _links(self) -> Chip:
        if not self.qubits:
            raise ValueError("a chip needs at least one qubit")
        for qname, q in self.qubits.items():
            if q.resonator not in self.resonators:
                known = ", ".join(sorted(self.resonators)) or "none"
                raise ValueError(
                    f"qubit {qname} names resonator '{q.resonator}', which is not defined "
                    f"(defined: {known})"
                )
        return self

    @classmethod
    def load(cls, path: str | Path) -> Chip:
        """Load a chip YAML file; errors name the file, line and field."""
        return load_yaml_model(cls, path)


def random_chip(n_qubits: int, seed: int, name: str | None = None) -> Chip:
    """A random but realistic chip.

    Qubits 4–6 GHz, anharmonicity −350…−180 MHz, T1 and T2 10–200 µs (T2 ≤ 2·T1),
    resonators 6.5–7.5 GHz, 60–120 MHz apart, all on feedline ``f0``. More qubits than fit
    the band at that spacing go above 7.5 GHz.
    """
    import numpy as np

    if n_qubits < 1:
        raise ValueError("n_qubits must be >= 1")
    rng = np.random.default_rng(seed)
    qubits: dict[str, Qubit] = {}
    resonators: dict[str, Resonator] = {}
    q_freqs = np.sort(rng.uniform(4.0e9, 6.0e9, n_qubits))
    # multiplexed resonators sit 60-120 MHz apart in a band that one readout LO covers
    spacing = rng.uniform(60e6, 120e6, n_qubits)
    span = float(spacing[1:].sum())
    base = rng.uniform(6.5e9, max(6.5e9, 7.5e9 - span))
    r_freqs = base + np.concatenate([[0.0], np.cumsum(spacing[1:])])
    for i in range(n_qubits):
        t1 = round(float(rng.uniform(10e-6, 200e-6)), 8)
        t2 = min(round(float(rng.uniform(10e-6, 200e-6)), 8), 2 * t1)
        resonators[f"r{i}"] = Resonator(
            frequency_hz=round(float(r_freqs[i]), -3),
            kappa_hz=round(float(rng.uniform(1.0e6, 3.0e6)), -3),
            chi_hz=round(float(rng.uniform(-1.0e6, -0.4e6)), -3),
        )
        qubits[f"q{i}"] = Qubit(
            frequency_hz=round(float(q_freqs[i]), -3),
            anharmonicity_hz=round(float(rng.uniform(-350e6, -180e6)), -3),
            t1_s=t1,
            t2_s=t2,
            rabi_rate_hz_per_v=round(float(rng.uniform(500e6, 900e6)), -4),
            thermal_population=round(float(rng.uniform(0.0, 0.03)), 4),
            resonator=f"r{i}",
        )
    return Chip(name=name or f"random-{n_qubits}q-seed{seed}", qubits=qubits, resonators=resonators)
