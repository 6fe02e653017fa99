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

A device also ages. :func:`drifted` moves chosen values of a device by given amounts (a drifted
device file for a nightly test: ``qneko chip drift``), and :class:`Drift` is how a device
ages on the simulated lab's clock (``qneko sim up --drift-per-hour``): per hour of lab time,
a linear drift of f₀₁ and of the resonators, a random walk of f₀₁ (two-level systems near
the qubit move it by tens of kHz in hours: Burnett et al., npj Quantum Inf. 5, 54, 2019),
and a relative change of T1.

A flux-tunable qubit moves as a whole: its sweet-spot frequency by the same offset as its
zero-bias frequency (the junctions' spread scales the SQUID), so it stays tunable.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from qneko_hw.config.chip import Chip
from qneko_hw.errors import ConfigError

__all__ = ["Drift", "Spread", "drifted", "fabricate"]

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


def drifted(
    device: Chip,
    *,
    frequency_hz: float | Mapping[str, float] = 0.0,
    t1_factor: float | Mapping[str, float] = 1.0,
    readout_hz: float | Mapping[str, float] = 0.0,
    qubits: Collection[str] | None = None,
    name: str | None = None,
) -> Chip:
    """``device`` aged: f₀₁ moved by ``frequency_hz`` (a flux-tunable qubit as a whole),
    T1 scaled by ``t1_factor`` (T2 kept at most 2·T1), each qubit's readout resonator
    moved by ``readout_hz``; each a number for every qubit of ``qubits`` (default: all) or
    a qubit → value mapping.

    Raises:
        ConfigError: an unknown qubit, or a T1 factor that is not positive.
    """
    chosen = set(device.qubits) if qubits is None else set(qubits)
    for m in (frequency_hz, t1_factor, readout_hz):
        if isinstance(m, Mapping):
            chosen |= set(m)
    unknown = sorted(chosen - set(device.qubits))
    if unknown:
        raise ConfigError(f"no qubit {', '.join(unknown)} on device {device.name}", field="qubits")

    def of(m: float | Mapping[str, float], q: str, default: float) -> float:
        if isinstance(m, Mapping):
            return float(m.get(q, default))
        return float(m) if q in chosen else default

    qubit_data = {}
    resonator_data = {n: r.model_dump() for n, r in device.resonators.items()}
    for q, spec in device.qubits.items():
        df, factor, dr = of(frequency_hz, q, 0.0), of(t1_factor, q, 1.0), of(readout_hz, q, 0.0)
        if not factor > 0:
            raise ConfigError(f"T1 factor of {q} must be > 0, got {factor}", field="t1_factor")
        data = spec.model_dump()
        t1 = spec.t1_s * factor
        data.update(frequency_hz=spec.frequency_hz + df, t1_s=t1, t2_s=min(spec.t2_s, 2 * t1))
        if spec.flux is not None:
            data["flux"] = {
                **spec.flux.model_dump(),
                "max_frequency_hz": spec.flux.max_frequency_hz + df,
            }
        qubit_data[q] = data
        resonator_data[spec.resonator]["frequency_hz"] += dr
    return Chip.model_validate(
        {"name": name or device.name, "qubits": qubit_data, "resonators": resonator_data}
    )


@dataclass
class Drift:
    """How a device ages per hour of the simulated lab's clock (see the module docstring).

    Attributes:
        frequency_hz: linear drift of every f₀₁ (Hz/h). frequency_walk_hz: σ of a random
        walk of each f₀₁ (Hz/√h). readout_hz: linear drift of every resonator (Hz/h).
        t1_fraction: relative change of T1 per hour (−0.05: 5 % shorter each hour, linear,
        at most down to 5 % of the start). seed: of the random walk.
    """

    frequency_hz: float = 0.0
    frequency_walk_hz: float = 0.0
    readout_hz: float = 0.0
    t1_fraction: float = 0.0
    seed: int = 0
    _walk: dict[str, float] = field(default_factory=dict, repr=False)
    _hours: float = field(default=0.0, repr=False)

    KEYS: ClassVar[dict[str, str]] = {
        "f01": "frequency_hz",
        "walk": "frequency_walk_hz",
        "readout": "readout_hz",
        "t1": "t1_fraction",
    }

    @classmethod
    def parse(cls, text: str, seed: int = 0) -> Drift:
        """From ``"f01=20e3,walk=10e3,readout=-5e3,t1=-0.02"`` (any subset; Hz/h, Hz/√h,
        1/h).

        Raises:
            ConfigError: an unknown key or a value that is not a finite number.
        """
        values: dict[str, float] = {}
        for item in filter(None, (p.strip() for p in text.split(","))):
            key, sep, raw = item.partition("=")
            if not sep or key.strip() not in cls.KEYS:
                raise ConfigError(
                    f"drift item '{item}': expected KEY=VALUE with KEY one of "
                    f"{', '.join(cls.KEYS)}",
                    field="--drift-per-hour",
                )
            try:
                v = float(raw)
            except ValueError:
                v = math.nan
            if not math.isfinite(v):
                raise ConfigError(
                    f"drift item '{item}': not a finite number", field="--drift-per-hour"
                )
            values[cls.KEYS[key.strip()]] = v
        return cls(
            frequency_hz=values.get("frequency_hz", 0.0),
            frequency_walk_hz=values.get("frequency_walk_hz", 0.0),
            readout_hz=values.get("readout_hz", 0.0),
            t1_fraction=values.get("t1_fraction", 0.0),
            seed=seed,
        )

    @property
    def active(self) -> bool:
        """Whether the device changes at all."""
        return any((self.frequency_hz, self.frequency_walk_hz, self.readout_hz, self.t1_fraction))

    def at(self, device: Chip, hours: float) -> Chip:
        """``device`` (as it was at hour 0) after ``hours`` of lab time; the random walk
        continues from the last call (call with non-decreasing ``hours``)."""
        step = max(hours - self._hours, 0.0)
        self._hours = max(hours, self._hours)
        if self.frequency_walk_hz and step > 0:
            rng = np.random.default_rng([self.seed, int(self._hours * 3.6e6)])
            for q in device.qubits:
                dw = float(rng.normal(0.0, self.frequency_walk_hz * math.sqrt(step)))
                self._walk[q] = self._walk.get(q, 0.0) + dw
        h = self._hours
        return drifted(
            device,
            frequency_hz={q: self.frequency_hz * h + self._walk.get(q, 0.0) for q in device.qubits},
            t1_factor=max(0.05, 1.0 + self.t1_fraction * h),
            readout_hz=self.readout_hz * h,
        )
