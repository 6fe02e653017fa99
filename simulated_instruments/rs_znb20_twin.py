r"""Simulated Rohde & Schwarz ZNB20 vector network analyzer (2 ports) on the chip's feedline.

Implements the SCPI that :class:`qcodes.instrument_drivers.rohde_schwarz.RohdeSchwarzZNB20`
sends in ``__init__`` (reset, trace deletion, one channel and trace per S-parameter, display
layout, autoscale), ``snapshot(update=True)`` and for its parameters: per channel source
power, IF bandwidth, averaging, start/stop/center/span, points, sweep type and time, CW
frequency, electrical delay, trace format and the measured S-parameter; the RF output, the
reference oscillator, and the sweeps (``INIT<n>:IMM``, ``CALC<n>:DATA? SDAT|FDAT``).
Replies end with ``\n`` (as over VXI-11/HiSLIP, the QCoDeS driver's value maps include it).

Response (linear regime): the feedline passes port 1 to port 2; each readout resonator
hangs off it, so with the qubit in level n it removes a Lorentzian of FWHM κ at
``f_r + S_n`` (:func:`~qneko_hw.simulated_instruments.physics.readout.level_shifts_hz`),
averaged over the qubit's thermal populations::

    S21(f) = S12(f) = 1 − η · Σ_r Σ_n p_n · (κ/2) / (κ/2 + i·(f_r + S_n − f))

with η = :attr:`ZnbTwin.coupling_ratio` (κ_ext/κ); ``S11 = S22 = S21 − 1``. White noise of
:attr:`ZnbTwin.noise_per_sqrt_hz` · sqrt(IF bandwidth / averages) is added per quadrature.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np
from numpy.typing import NDArray

from qneko_hw.simulated_instruments.physics import readout, transmon
from qneko_hw.simulated_instruments.scpi.instrument import ScpiCommand, ScpiError, ScpiInstrument
from qneko_hw.simulated_instruments.scpi.settings import Setting, add_settings

__all__ = ["ZNB20_SETTINGS", "ZnbTwin"]

MIN_FREQUENCY_HZ = 100e3
MAX_FREQUENCY_HZ = 20e9
PORTS = 2
_FORMATS = (
    "MLOGarithmic",
    "MLINear",
    "PHASe",
    "UPHase",
    "POLar",
    "SMITh",
    "ISMith",
    "SWR",
    "REAL",
    "IMAGinary",
    "GDELay",
    "COMPlex",
)

ZNB20_SETTINGS: dict[str, Setting] = {
    "SOURce#:POWer[:LEVel][:IMMediate][:AMPLitude]": Setting("float", -10.0, -150.0, 25.0),
    "SENSe#:BANDwidth[:RESolution]": Setting("int", 10000, 1, 10_000_000),
    "SENSe#:AVERage:COUNt": Setting("int", 1, 1, 5000),
    "SENSe#:AVERage[:STATe]": Setting("bool", False),
    "SENSe#:SWEep:POINts": Setting("int", 201, 1, 100001),
    "SENSe#:SWEep:TIME:AUTO": Setting("bool", True),
    "SENSe#:SWEep:TYPE": Setting(
        "enum", "LIN", choices=("LINear", "LOGarithmic", "POWer", "CW", "POINt", "SEGMent")
    ),
    "SENSe#:FREQuency:CW": Setting("float", 1e9, MIN_FREQUENCY_HZ, MAX_FREQUENCY_HZ),
    "SENSe#:CORRection:EDELay#:TIME": Setting("float", 0.0, -10.0, 10.0),
    "CONFigure:CHANnel#:MEASure": Setting("bool", True),
    "CALCulate#:FORMat": Setting("enum", "MLOG", choices=_FORMATS),
    "TRIGger#[:SEQuence]:SOURce": Setting(
        "enum", "IMM", choices=("IMMediate", "EXTernal", "MANual", "MULTiple")
    ),
    "OUTPut#[:STATe]": Setting("bool", True),
    "INITiate:CONTinuous:ALL": Setting("bool", True),
    "ROSCillator[:SOURce]": Setting("enum", "INT", choices=("INTernal", "EXTernal")),
    "SYSTem:DISPlay:UPDate": Setting("enum", "OFF", choices=("ON", "OFF", "ONCE")),
    "SYSTem:ERRor:DISPlay": Setting("bool", False),
}


@dataclass
class _Channel:
    start_hz: float = MIN_FREQUENCY_HZ
    stop_hz: float = MAX_FREQUENCY_HZ
    traces: dict[str, str] = field(default_factory=dict)  # trace name -> S-parameter
    selected: str = ""


class ZnbTwin(ScpiInstrument):
    """Simulated ZNB20.

    Args:
        name: name in logs.
        serial: goes into ``*IDN?``.
        seed: seed of the trace noise.

    Attributes:
        resonators: (qubit, resonator) physics parameters of every resonator on the
            feedline; the simulated lab fills it from the chip.
        coupling_ratio: κ_ext/κ, the depth of each resonance dip.
        noise_per_sqrt_hz: trace noise per quadrature (1/√Hz of IF bandwidth).
        sweeps: number of sweeps run (``INIT<n>:IMM``).
    """

    def __init__(self, *, name: str | None = None, serial: str = "101234", seed: int = 0) -> None:
        super().__init__(
            manufacturer="Rohde-Schwarz",
            model=f"ZNB20-{PORTS}Port",
            serial=f"1311601062{serial}",
            firmware="3.45",
            name=name,
        )
        self.resonators: list[tuple[transmon.TransmonParams, readout.ResonatorParams]] = []
        self.coupling_ratio = 0.9
        self.noise_per_sqrt_hz = 1e-5
        self.sweeps = 0
        self.rng = np.random.default_rng(seed)
        self.settings = add_settings(self, ZNB20_SETTINGS)
        self.channels: dict[int, _Channel] = {}
        self.ref_external_hz = 10e6
        self.reset()
        self.add_command("INSTrument:PORT:COUNt", on_query=lambda c: str(PORTS))
        self.add_command("STATus:QUEStionable:INTegrity:HARDware[:EVENt]", on_query=lambda c: "0")
        self.add_command(
            "ROSCillator:EXTernal:FREQuency", on_set=self._set_ref, on_query=self._get_ref
        )
        for which in ("STARt", "STOP", "CENTer", "SPAN"):
            self.add_command(
                f"SENSe#:FREQuency:{which}",
                on_set=partial(self._set_freq, which=which),
                on_query=partial(self._get_freq, which=which),
            )
        self.add_command("SENSe#:SWEep:TIME", on_query=self._sweep_time)
        self.add_command("SENSe#:AVERage:CLEar", on_set=lambda c: None)
        self.add_command("SENSe#:CORRection:EDELay#:AUTO", on_set=lambda c: None)
        self.add_command("CALCulate#:PARameter:SDEFine", on_set=self._define)
        self.add_command("CALCulate#:PARameter:DELete:ALL", on_set=self._delete_all)
        self.add_command("CALCulate#:PARameter:SELect", on_set=self._select)
        self.add_command("CALCulate#:PARameter:MEASure", on_query=self._measured)
        self.add_command("CONFigure:TRACe:CATalog", on_query=self._catalog)
        self.add_command("CALCulate#:DATA", on_query=self._data)
        self.add_command("INITiate#[:IMMediate]", on_set=self._sweep)
        self.add_command("DISPlay:LAYout", on_set=lambda c: None)
        self.add_command("DISPlay:LAYout:GRID", on_set=lambda c: None)
        self.add_command("DISPlay[:WINDow#]:TRACe#:Y[:SCALe]:AUTO", on_set=lambda c: None)

    def reset(self) -> None:
        """``*RST``: one channel with trace ``Trc1`` measuring S21, full span, output on."""
        with self.lock:
            self.settings.reset()
            self.channels = {1: _Channel(traces={"Trc1": "S21"}, selected="Trc1")}

    # -- physics ---------------------------------------------------------------------------

    def s_parameter(
        self, which: str, frequencies_hz: NDArray[np.float64]
    ) -> NDArray[np.complex128]:
        """Noise-free S-parameter ``which`` (``S21`` ...) at ``frequencies_hz``."""
        f = np.asarray(frequencies_hz, dtype=np.float64)
        loss = np.zeros(f.shape, dtype=np.complex128)
        for qubit, res in self.resonators:
            shifts = readout.level_shifts_hz(qubit, res)
            pops = np.clip(np.real(np.diag(transmon.thermal_state(qubit))), 0.0, None)
            pops = pops / pops.sum()
            half = res.kappa_hz / 2.0
            for p, shift in zip(pops, shifts, strict=True):
                loss += p * half / (half + 1j * (res.frequency_hz + shift - f))
        s21 = 1.0 - self.coupling_ratio * loss
        return np.asarray(s21 if which in ("S21", "S12") else s21 - 1.0, dtype=np.complex128)

    # -- handlers --------------------------------------------------------------------------

    def _channel(self, n: int) -> _Channel:
        return self.channels.setdefault(n, _Channel())

    def _freq(self, n: int, which: str) -> float:
        ch = self._channel(n)
        return {
            "STARt": ch.start_hz,
            "STOP": ch.stop_hz,
            "CENTer": (ch.start_hz + ch.stop_hz) / 2,
            "SPAN": ch.stop_hz - ch.start_hz,
        }[which]

    def _get_freq(self, command: ScpiCommand, which: str) -> str:
        return repr(self._freq(command.suffix(0, 1, 64), which))

    def _set_freq(self, command: ScpiCommand, which: str) -> None:
        command.expect_args(1)
        ch = self._channel(command.suffix(0, 1, 64))
        value = command.float_arg(0, 0.0, MAX_FREQUENCY_HZ)
        start, stop = ch.start_hz, ch.stop_hz
        if which == "STARt":
            start, stop = value, max(stop, value)
        elif which == "STOP":
            start, stop = min(start, value), value
        elif which == "CENTer":
            half = min((stop - start) / 2, value - MIN_FREQUENCY_HZ, MAX_FREQUENCY_HZ - value)
            start, stop = value - half, value + half
        else:
            center = (start + stop) / 2
            half = min(value / 2, center - MIN_FREQUENCY_HZ, MAX_FREQUENCY_HZ - center)
            start, stop = center - half, center + half
        if not MIN_FREQUENCY_HZ <= start <= stop <= MAX_FREQUENCY_HZ:
            raise ScpiError.out_of_range(f"SENS:FREQ:{which} {value}")
        ch.start_hz, ch.stop_hz = start, stop

    def _sweep_time(self, command: ScpiCommand) -> str:
        n = command.suffix(0, 1, 64)
        points = int(self.settings.get("SENSe#:SWEep:POINts", n))
        bandwidth = int(self.settings.get("SENSe#:BANDwidth[:RESolution]", n))
        return repr(points / bandwidth)

    def _set_ref(self, command: ScpiCommand) -> None:
        command.expect_args(1)
        raw = command.text(0).upper().removesuffix("HZ")
        try:
            self.ref_external_hz = float(raw)
        except ValueError:
            raise ScpiError.data_type(f"ROSC:EXT:FREQ {raw}") from None

    def _get_ref(self, command: ScpiCommand) -> str:
        return f"{self.ref_external_hz:.0f}Hz"

    def _define(self, command: ScpiCommand) -> None:
        command.expect_args(2)
        trace, param = command.string_arg(0), command.string_arg(1).upper()
        if param not in {f"S{i}{j}" for i in range(1, PORTS + 1) for j in range(1, PORTS + 1)}:
            raise ScpiError(-224, "Illegal parameter value", param)
        for ch in self.channels.values():
            ch.traces.pop(trace, None)
        ch = self._channel(command.suffix(0, 1, 64))
        ch.traces[trace] = param
        ch.selected = trace

    def _delete_all(self, command: ScpiCommand) -> None:
        self.channels = {}

    def _trace(self, command: ScpiCommand) -> tuple[_Channel, str]:
        ch = self._channel(command.suffix(0, 1, 64))
        name = command.string_arg(0) if command.args else ch.selected
        if name not in ch.traces:
            raise ScpiError.execution(f"no trace {name!r} in channel {command.suffixes[0]}")
        return ch, name

    def _select(self, command: ScpiCommand) -> None:
        command.expect_args(1)
        ch, name = self._trace(command)
        ch.selected = name

    def _measured(self, command: ScpiCommand) -> str:
        ch, name = self._trace(command)
        return f"'{ch.traces[name]}'"

    def _catalog(self, command: ScpiCommand) -> str:
        items = [f"{n},{trace}" for n, ch in sorted(self.channels.items()) for trace in ch.traces]
        return "'" + ",".join(items) + "'"

    def _sweep(self, command: ScpiCommand) -> None:
        self.sweeps += 1

    def _frequencies(self, n: int) -> NDArray[np.float64]:
        points = int(self.settings.get("SENSe#:SWEep:POINts", n))
        kind = str(self.settings.get("SENSe#:SWEep:TYPE", n))
        if kind in ("CW", "POIN"):
            return np.full(points, float(self.settings.get("SENSe#:FREQuency:CW", n)))
        ch = self._channel(n)
        if kind == "LOG" and ch.start_hz > 0:
            return np.geomspace(ch.start_hz, ch.stop_hz, points)
        return np.linspace(ch.start_hz, ch.stop_hz, points)

    def _data(self, command: ScpiCommand) -> str:
        n = command.suffix(0, 1, 64)
        kind = command.text(0).upper() if command.args else "FDAT"
        if kind not in ("SDAT", "FDAT"):
            raise ScpiError(-224, "Illegal parameter value", f"CALC:DATA? {kind}")
        ch = self._channel(n)
        if ch.selected not in ch.traces:
            raise ScpiError.execution("no trace selected")
        s = self.s_parameter(ch.traces[ch.selected], self._frequencies(n))
        bandwidth = int(self.settings.get("SENSe#:BANDwidth[:RESolution]", n))
        averages = int(self.settings.get("SENSe#:AVERage:COUNt", n))
        std = self.noise_per_sqrt_hz * math.sqrt(bandwidth / averages)
        noise = std * (self.rng.standard_normal(s.shape) + 1j * self.rng.standard_normal(s.shape))
        s = np.asarray((s if self.settings.get("OUTPut#[:STATe]", 1) else 0.0) + noise)
        fmt = str(self.settings.get("CALCulate#:FORMat", n))
        values = _formatted(s, "COMP" if kind == "SDAT" else fmt)
        return ",".join(f"{v:.9e}" for v in values)


def _formatted(s: NDArray[np.complex128], fmt: str) -> Sequence[float]:
    """The trace values of format ``fmt`` (short form); complex formats interleave re, im."""
    if fmt in ("COMP", "POL", "SMIT", "ISM"):
        out = np.empty(2 * s.size)
        out[0::2], out[1::2] = s.real, s.imag
        pairs: list[float] = out.tolist()
        return pairs
    mag = np.abs(s)
    table = {
        "MLOG": 20 * np.log10(np.maximum(mag, 1e-15)),
        "MLIN": mag,
        "PHAS": np.degrees(np.angle(s)),
        "UPH": np.degrees(np.unwrap(np.angle(s))),
        "SWR": (1 + np.minimum(mag, 0.999999)) / (1 - np.minimum(mag, 0.999999)),
        "REAL": s.real,
        "IMAG": s.imag,
        "GDEL": np.zeros(s.size),
    }
    values: list[float] = np.asarray(table[fmt], dtype=np.float64).tolist()
    return values
