"""The pyvisa-sim YAML twins shipped as package data: plain PyVISA and our QCoDeS drivers."""

from __future__ import annotations

import itertools
from importlib.resources import as_file, files

import pytest
import pyvisa
from qcodes.instrument import Instrument

from qneko_hw.drivers.qneko_awg4 import QnekoAWG4
from qneko_hw.drivers.qneko_dig2 import QnekoDIG2
from qneko_hw.drivers.qneko_sg1 import QnekoSG1
from qneko_hw.drivers.rs_sgs100a import RsSgs100aSource
from qneko_hw.drivers.rs_znb20 import RsZnb20Vna
from qneko_hw.drivers.tek_awg5208 import TekAwg5208
from qneko_hw.drivers.yokogawa_gs200 import YokogawaGs200Source
from qneko_hw.errors import InstrumentError, SafetyLimitError
from qneko_hw.roles import SafetyLimits

ADDRESS = "TCPIP::127.0.0.1::5025::SOCKET"
_names = itertools.count()


def sim_lib(model: str) -> str:
    with as_file(files("qneko_hw.drivers.sim") / f"{model}.yaml") as path:
        assert path.is_file(), f"{model}.yaml is shipped"
        return f"{path}@sim"


@pytest.fixture(autouse=True)
def _close() -> object:
    yield None
    Instrument.close_all()


@pytest.mark.parametrize(
    ("model", "idn"),
    [("qneko_sg1", "QNeko,SG1"), ("qneko_awg4", "QNeko,AWG4"), ("qneko_dig2", "QNeko,DIG2")],
)
def test_each_yaml_loads_in_pyvisa(model: str, idn: str) -> None:
    rm = pyvisa.ResourceManager(sim_lib(model))
    try:
        res = rm.open_resource(ADDRESS, read_termination="\n", write_termination="\n")
        assert res.query("*IDN?").startswith(idn)
        assert res.query("SYST:ERR?") == '0,"No error"'
        res.close()
    finally:
        rm.close()


def test_sg1_driver_on_pyvisa_sim() -> None:
    lo = QnekoSG1(f"sim_lo{next(_names)}", ADDRESS, visalib=sim_lib("qneko_sg1"))
    assert lo.IDN()["model"] == "SG1"
    lo.frequency(5.5e9)
    lo.power(-3.0)
    lo.output(True)
    assert (lo.frequency(), lo.power(), lo.output()) == (5.5e9, -3.0, True)


def test_awg4_driver_on_pyvisa_sim() -> None:
    awg = QnekoAWG4(f"sim_awg{next(_names)}", ADDRESS, visalib=sim_lib("qneko_awg4"))
    awg.sample_rate(2e9)
    awg.shots(100)
    awg.repetition_time(2e-5)
    awg.ch2.amplitude(0.3)
    awg.ch2.offset(0.05)
    awg.ch2.output(True)
    assert (awg.sample_rate(), awg.shots(), awg.repetition_time()) == (2e9, 100, 2e-5)
    assert (awg.ch2.amplitude(), awg.ch2.offset(), awg.ch2.output()) == (0.3, 0.05, True)
    assert awg.running() is False and awg.sequence_length() == 0


def test_dig2_driver_on_pyvisa_sim() -> None:
    dig = QnekoDIG2(f"sim_dig{next(_names)}", ADDRESS, visalib=sim_lib("qneko_dig2"))
    dig.shots(500)
    dig.steps(11)
    assert (dig.shots(), dig.steps(), dig.sample_rate()) == (500, 11, 1e9)
    assert dig.acquisition_state() == "IDLE"


# -- real models: our adapters around QCoDeS's own drivers, on the shipped YAML ----------


def test_rs_sgs100a_adapter_on_pyvisa_sim() -> None:
    lo = RsSgs100aSource(
        f"sim_sgs{next(_names)}",
        ADDRESS,
        SafetyLimits(max_power_dbm=10.0),
        visalib=sim_lib("rs_sgs100a"),
    )
    assert lo.driver.IDN()["model"] == "SGS100A"
    lo.set_frequency(5.5e9)
    lo.set_power(-3.0)
    lo.set_output(True)
    assert (lo.driver.frequency(), lo.driver.power(), lo.driver.status()) == (5.5e9, -3.0, True)
    lo.driver.snapshot(update=True)
    with pytest.raises(SafetyLimitError):
        lo.set_power(12.0)
    assert lo.driver.power() == -3.0
    lo.driver.write("SOUR:FREQ 3e10")  # outside the YAML's specs: queued as an error
    with pytest.raises(InstrumentError, match="Command error"):
        lo.check_errors("SOUR:FREQ 3e10")
    lo.check_errors("nothing")  # the queue was drained


def test_yokogawa_gs200_adapter_on_pyvisa_sim() -> None:
    dc = YokogawaGs200Source(
        f"sim_gs{next(_names)}",
        "TCPIP::127.0.0.1::7655::SOCKET",
        SafetyLimits(max_voltage_v=1.0, max_ramp_rate_v_per_s=50.0),
        visalib=sim_lib("yokogawa_gs200"),
        ramp_interval_s=0.001,
    )
    assert dc.driver.source_mode() == "VOLT"
    dc.set_voltage(0.25)
    dc.set_output(True)
    assert dc.voltage() == 0.25 and dc.driver.output() == "on"
    dc.set_voltage(-0.1, rate_v_per_s=20.0)
    assert dc.voltage() == -0.1
    dc.driver.snapshot(update=True)
    with pytest.raises(SafetyLimitError):
        dc.set_voltage(2.0)
    with pytest.raises(SafetyLimitError):
        dc.set_voltage(0.1, rate_v_per_s=100.0)
    assert dc.voltage() == -0.1


def test_tek_awg5208_adapter_on_pyvisa_sim() -> None:
    awg = TekAwg5208(
        f"sim_awg5208_{next(_names)}",
        "TCPIP::127.0.0.1::4000::SOCKET",
        SafetyLimits(max_amplitude_v=0.5),
        sample_rate_hz=1.2e9,
        visalib=sim_lib("tek_awg5208"),
    )
    assert awg.driver.IDN()["model"] == "AWG5208"
    assert awg.sample_rate_hz == 1.2e9
    awg.set_channel(2, 0.3, 0.05, True)
    ch2 = awg.driver.ch2
    assert (ch2.awg_amplitude(), ch2.offset(), ch2.state()) == (0.6, 0.05, 1)
    awg.set_shots(100, 2e-5)
    assert awg.shots == 100
    awg.run()
    awg.trigger()
    awg.stop()
    awg.driver.snapshot(update=True)
    with pytest.raises(SafetyLimitError):
        awg.set_channel(1, 0.6)
    assert awg.driver.ch1.state() == 0


def test_rs_znb20_adapter_on_pyvisa_sim() -> None:
    limits = SafetyLimits(max_power_dbm=0.0)
    with pytest.raises(SafetyLimitError):
        RsZnb20Vna("sim_vna_hot", ADDRESS, limits, power_dbm=5.0, visalib=sim_lib("rs_znb20"))
    vna = RsZnb20Vna(
        f"sim_vna{next(_names)}",
        ADDRESS,
        limits,
        power_dbm=-30.0,
        bandwidth_hz=1000,
        visalib=sim_lib("rs_znb20"),
    )
    assert vna.driver.get_idn()["model"] == "ZNB20-2Port"
    assert (vna.channel.power(), vna.channel.bandwidth()) == (-30.0, 1000)
    freqs, s21 = vna.sweep(7.0e9, 7.1e9, 5)  # the YAML's trace has 5 points
    assert freqs[0] == 7.0e9 and freqs[-1] == 7.1e9 and freqs.size == 5
    assert s21.shape == (5,) and s21[2] == pytest.approx(0.1)
    assert vna.channel.format() == "dB"  # restored after the complex read
