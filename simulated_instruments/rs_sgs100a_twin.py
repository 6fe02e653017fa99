"""Simulated Rohde & Schwarz SGS100A microwave source.

Implements the SCPI that :class:`qcodes.instrument_drivers.rohde_schwarz.RohdeSchwarzSGS100A`
sends in ``__init__``, ``snapshot(update=True)`` and for every one of its parameters:
frequency, phase, power, RF output, IQ modulation and impairments, pulse modulation, the
reference and LO oscillators, the trigger connector and the operation mode, plus ``*TST?``.
Unknown commands go to the error queue (``-113``), out-of-range values give ``-222``.

The lab reads :attr:`frequency_hz`, :attr:`power_dbm` and :attr:`output`, as of
:class:`~qneko_hw.simulated_instruments.lo_twin.LoTwin`.
"""

from __future__ import annotations

from qneko_hw.simulated_instruments.scpi.instrument import ScpiInstrument
from qneko_hw.simulated_instruments.scpi.settings import Setting, add_settings

__all__ = ["SGS100A_SETTINGS", "Sgs100aTwin"]

MIN_FREQUENCY_HZ = 1e6
MAX_FREQUENCY_HZ = 20e9
MIN_POWER_DBM = -120.0
MAX_POWER_DBM = 25.0

_FREQ = "[SOURce]:FREQuency[:CW]"
_POW = "[SOURce]:POWer[:LEVel][:IMMediate][:AMPLitude]"
_OUTP = "OUTPut[:STATe]"
_NORM_INV = ("NORMal", "INVerted")
_ROSC_FREQ = ("10MHz", "100MHz", "1000MHz")

SGS100A_SETTINGS: dict[str, Setting] = {
    _FREQ: Setting("float", 1e9, MIN_FREQUENCY_HZ, MAX_FREQUENCY_HZ),
    "[SOURce]:PHASe": Setting("float", 0.0, 0.0, 360.0),
    _POW: Setting("float", -10.0, MIN_POWER_DBM, MAX_POWER_DBM),
    _OUTP: Setting("bool", False),
    "[SOURce]:IQ:STATe": Setting("bool", False),
    "[SOURce]:PULM:STATe": Setting("bool", False),
    "[SOURce]:PULM:SOURce": Setting("enum", "INT", choices=("INTernal", "EXTernal")),
    "[SOURce]:ROSCillator:SOURce": Setting("enum", "INT", choices=("INTernal", "EXTernal")),
    "[SOURce]:LOSCillator:SOURce": Setting("enum", "INT", choices=("INTernal", "EXTernal")),
    "CONNector:REFLo:OUTPut": Setting("enum", "REF", choices=("REF", "LO", "OFF")),
    "[SOURce]:ROSCillator:OUTPut:FREQuency": Setting("enum", "10MHz", choices=_ROSC_FREQ),
    "[SOURce]:ROSCillator:EXTernal:FREQuency": Setting("enum", "10MHz", choices=_ROSC_FREQ),
    "[SOURce]:IQ:IMPairment[:STATe]": Setting("bool", False),
    "[SOURce]:IQ:IMPairment:LEAKage:I": Setting("float", 0.0, -10.0, 10.0),
    "[SOURce]:IQ:IMPairment:LEAKage:Q": Setting("float", 0.0, -10.0, 10.0),
    "[SOURce]:IQ:IMPairment:IQRatio[:MAGNitude]": Setting("float", 0.0, -1.0, 1.0),
    "[SOURce]:IQ:IMPairment:QUADrature[:ANGLe]": Setting("float", 0.0, -8.0, 8.0),
    "CONNector:TRIGger:OMODe": Setting(
        "enum", "SVAL", choices=("SVALid", "SNVALid", "PVOut", "PETrigger", "PEMSource")
    ),
    "[SOURce]:PULM:DELay": Setting("float", 0.0, 0.0, 100.0),
    "[SOURce]:PULM:DOUBle:DELay": Setting("float", 40e-9, 40e-9, 100.0),
    "[SOURce]:PULM:DOUBle:WIDTh": Setting("float", 20e-9, 20e-9, 100.0),
    "[SOURce]:PULM:MODE": Setting("enum", "SING", choices=("SINGle", "DOUBle")),
    "[SOURce]:PULM:PERiod": Setting("float", 1e-6, 100e-9, 100.0),
    "[SOURce]:PULM:POLarity": Setting("enum", "NORM", choices=_NORM_INV),
    "[SOURce]:PULM:TRIGger:EXTernal:GATE:POLarity": Setting("enum", "NORM", choices=_NORM_INV),
    "[SOURce]:PULM:TRIGger:EXTernal:IMPedance": Setting("enum", "G50", choices=("G50", "G10K")),
    "[SOURce]:PULM:TRIGger:EXTernal:SLOPe": Setting(
        "enum", "POS", choices=("NEGative", "POSitive")
    ),
    "[SOURce]:PULM:TRIGger:MODE": Setting("enum", "AUTO", choices=("AUTO", "EXTernal", "EGATe")),
    "[SOURce]:PULM:WIDTh": Setting("float", 500e-9, 20e-9, 100.0),
    "[SOURce]:OPMode": Setting("enum", "NORM", choices=("NORMal", "BBBYpass")),
}


class Sgs100aTwin(ScpiInstrument):
    """Simulated SGS100A; ``name`` is used in logs, ``serial`` goes into ``*IDN?``."""

    def __init__(self, *, name: str | None = None, serial: str = "100001") -> None:
        super().__init__(
            manufacturer="Rohde&Schwarz",
            model="SGS100A",
            serial=f"1416.0505k02/{serial}",
            firmware="4.2.76.0-4.30.046.295",
            name=name,
        )
        self.settings = add_settings(self, SGS100A_SETTINGS)
        self.add_command("*TST", on_query=lambda c: "0")

    @property
    def frequency_hz(self) -> float:
        """Output frequency (Hz)."""
        return float(self.settings.get(_FREQ))

    @property
    def power_dbm(self) -> float:
        """Output power (dBm)."""
        return float(self.settings.get(_POW))

    @property
    def output(self) -> bool:
        """Whether the RF output is on."""
        return bool(self.settings.get(_OUTP))

    def reset(self) -> None:
        """``*RST``: power-on settings, output off."""
        self.settings.reset()
