"""The instrument models: one entry per model, in one table (:data:`MODELS`).

An entry says everything the stack needs to know about a model: the role it fills (see
:mod:`qneko_hw.roles`), the model whose place it takes in the station's wiring checks, the
driver and the simulated twin that serve it, its QCoDeS driver class, and the device traits
the compiler respects. Adding a model means adding its entry here, and its own driver and
twin modules.

Drivers and twins are named by ``"module:Class"`` strings and imported only by their users
(:func:`qneko_hw.drivers.station.driver_class`, the simulated lab), so that this module, and
the core with it, imports no driver, no twin and no qcodes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, get_args

from qneko_hw.errors import ConfigError

__all__ = [
    "MODELS",
    "QCODES_TYPES",
    "ROLES",
    "AwgTraits",
    "DigitizerTraits",
    "InstrumentModelSpec",
    "Role",
    "model",
    "models_with_role",
]

Role = Literal["lo", "awg", "digitizer", "dc", "vna"]
"""What an instrument is to the executor: LO source, AWG, digitizer, DC source or VNA (the
protocols of :mod:`qneko_hw.roles`)."""

ROLES: tuple[Role, ...] = get_args(Role)


@dataclass(frozen=True)
class AwgTraits:
    """Limits of an AWG model.

    Attributes: sample_rate_hz (Sa/s), channels, granularity_samples (waveform length must be
    a multiple), min_length_samples, memory_samples (per waveform), max_sequence_steps,
    max_amplitude_v (peak volts per channel), repeats (a sequence step plays a list of
    entries, each a waveform repeated a number of times, so an idle costs one short block
    of memory instead of a sample per nanosecond).
    """

    sample_rate_hz: float
    channels: int
    granularity_samples: int
    min_length_samples: int
    memory_samples: int
    max_sequence_steps: int
    max_amplitude_v: float
    repeats: bool = False


@dataclass(frozen=True)
class DigitizerTraits:
    """Limits of a digitizer model: sample rate (Sa/s), inputs, demodulators, window length."""

    sample_rate_hz: float
    channels: int
    max_demodulators: int
    max_window_samples: int


@dataclass(frozen=True)
class InstrumentModelSpec:
    """One instrument model (the ``model`` of a station file's instrument).

    Attributes:
        name: the model's name in station files, e.g. ``"qneko_awg4"``.
        role: the role it fills (see :mod:`qneko_hw.roles`).
        driver: ``"module:Class"`` of its driver (ours, or an adapter of QCoDeS's own).
        twin: ``"module:Class"`` of its simulated twin.
        qcodes_class: dotted path of the QCoDeS driver class written into a QCoDeS station
            file for it.
        qcodes_types: QCoDeS driver class names (no module) that map to this model when a
            QCoDeS station file is read; deprecated QCoDeS aliases included.
        wiring: the model whose place it takes in the station's wiring checks (an SGS100A
            is wired as a ``qneko_sg1``); empty means the model itself.
        awg: traits of an AWG model (required for, and only for, role ``"awg"``).
        digitizer: traits of a digitizer model (required for, and only for, role
            ``"digitizer"``).
        description: one line for people.
    """

    name: str
    role: Role
    driver: str
    twin: str
    qcodes_class: str
    qcodes_types: tuple[str, ...]
    wiring: str = ""
    awg: AwgTraits | None = None
    digitizer: DigitizerTraits | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not self.wiring:
            object.__setattr__(self, "wiring", self.name)
        if self.role not in ROLES:
            raise ValueError(f"model {self.name}: unknown role {self.role!r}")
        if (self.role == "awg") != (self.awg is not None):
            raise ValueError(f"model {self.name}: AWG traits go with, and only with, role 'awg'")
        if (self.role == "digitizer") != (self.digitizer is not None):
            raise ValueError(
                f"model {self.name}: digitizer traits go with, and only with, role 'digitizer'"
            )
        for path in (self.driver, self.twin):
            module, _, cls = path.partition(":")
            if not module or not cls:
                raise ValueError(f"model {self.name}: {path!r} is not 'module:Class'")


_DRIVERS = "qneko_hw.drivers"
_TWINS = "qneko_hw.simulated_instruments"
_QCODES = "qcodes.instrument_drivers"

MODELS: Mapping[str, InstrumentModelSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            InstrumentModelSpec(
                name="qneko_sg1",
                role="lo",
                driver=f"{_DRIVERS}.qneko_sg1:QnekoSG1",
                twin=f"{_TWINS}.lo_twin:LoTwin",
                qcodes_class=f"{_DRIVERS}.qneko_sg1.QnekoSG1",
                qcodes_types=("QnekoSG1",),
                description="QNeko SG1 microwave source (our QCoDeS driver)",
            ),
            InstrumentModelSpec(
                name="qneko_awg4",
                role="awg",
                driver=f"{_DRIVERS}.qneko_awg4:QnekoAWG4",
                twin=f"{_TWINS}.awg_twin:AwgTwin",
                qcodes_class=f"{_DRIVERS}.qneko_awg4.QnekoAWG4",
                qcodes_types=("QnekoAWG4",),
                awg=AwgTraits(
                    sample_rate_hz=1e9,
                    channels=4,
                    granularity_samples=1,
                    min_length_samples=1,
                    memory_samples=16 * 1024 * 1024,
                    max_sequence_steps=65536,
                    max_amplitude_v=1.5,
                    repeats=True,
                ),
                description="QNeko AWG4 sequencing AWG, 4 channels at 1 GS/s (our QCoDeS driver)",
            ),
            InstrumentModelSpec(
                name="qneko_dig2",
                role="digitizer",
                driver=f"{_DRIVERS}.qneko_dig2:QnekoDIG2",
                twin=f"{_TWINS}.digitizer_twin:DigitizerTwin",
                qcodes_class=f"{_DRIVERS}.qneko_dig2.QnekoDIG2",
                qcodes_types=("QnekoDIG2",),
                digitizer=DigitizerTraits(
                    sample_rate_hz=1e9, channels=2, max_demodulators=16, max_window_samples=2**20
                ),
                description="QNeko DIG2 digitizer with demodulators (our QCoDeS driver)",
            ),
            InstrumentModelSpec(
                name="rs_sgs100a",
                role="lo",
                wiring="qneko_sg1",
                driver=f"{_DRIVERS}.rs_sgs100a:RsSgs100aSource",
                twin=f"{_TWINS}.rs_sgs100a_twin:Sgs100aTwin",
                qcodes_class=f"{_QCODES}.rohde_schwarz.RohdeSchwarzSGS100A",
                qcodes_types=("RohdeSchwarzSGS100A", "RohdeSchwarz_SGS100A"),
                description="Rohde & Schwarz SGS100A source (QCoDeS's driver, adapted)",
            ),
            InstrumentModelSpec(
                name="tek_awg5208",
                role="awg",
                wiring="qneko_awg4",
                driver=f"{_DRIVERS}.tek_awg5208:TekAwg5208",
                twin=f"{_TWINS}.tek_awg5208_twin:Awg5208Twin",
                qcodes_class=f"{_QCODES}.tektronix.TektronixAWG5208",
                qcodes_types=("TektronixAWG5208", "AWG5208"),
                # run at 1 GS/s by its adapter; waveforms shorter than its minimum of 2400
                # samples are zero-padded by the adapter; peak amplitude = 1.5 Vpp / 2.
                awg=AwgTraits(
                    sample_rate_hz=1e9,
                    channels=8,
                    granularity_samples=1,
                    min_length_samples=1,
                    memory_samples=2_000_000_000,
                    max_sequence_steps=16383,
                    max_amplitude_v=0.75,
                ),
                description="Tektronix AWG5208, 8 channels (QCoDeS's driver, adapted)",
            ),
            InstrumentModelSpec(
                name="yokogawa_gs200",
                role="dc",
                driver=f"{_DRIVERS}.yokogawa_gs200:YokogawaGs200Source",
                twin=f"{_TWINS}.yokogawa_gs200_twin:Gs200Twin",
                qcodes_class=f"{_QCODES}.yokogawa.YokogawaGS200",
                qcodes_types=("YokogawaGS200", "GS200"),
                description="Yokogawa GS200 DC source in voltage mode (QCoDeS's driver, adapted)",
            ),
            InstrumentModelSpec(
                name="rs_znb20",
                role="vna",
                driver=f"{_DRIVERS}.rs_znb20:RsZnb20Vna",
                twin=f"{_TWINS}.rs_znb20_twin:ZnbTwin",
                qcodes_class=f"{_QCODES}.rohde_schwarz.RohdeSchwarzZNB20",
                qcodes_types=("RohdeSchwarzZNB20", "ZNB20"),
                description="Rohde & Schwarz ZNB20 network analyzer (QCoDeS's driver, adapted)",
            ),
        )
    }
)
"""Every instrument model by name, in a fixed order."""

QCODES_TYPES: Mapping[str, str] = MappingProxyType(
    {qcodes_type: spec.name for spec in MODELS.values() for qcodes_type in spec.qcodes_types}
)
"""Our model of each QCoDeS driver class name (derived from :data:`MODELS`)."""


def model(name: str) -> InstrumentModelSpec:
    """The entry of instrument model ``name``.

    Raises:
        ConfigError: no such model (the message lists the known ones).
    """
    spec = MODELS.get(name)
    if spec is None:
        known = ", ".join(MODELS)
        raise ConfigError(f"unknown instrument model {name!r} (known models: {known})")
    return spec


def models_with_role(role: Role) -> tuple[str, ...]:
    """The names of the models that fill ``role``, in table order.

    Raises:
        ConfigError: ``role`` is not one of :data:`ROLES`.
    """
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r} (roles: {', '.join(ROLES)})")
    return tuple(name for name, spec in MODELS.items() if spec.role == role)
