"""QCoDeS drivers against the simulated twins over TCP (pyvisa-py)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from qcodes.instrument import Instrument

from qneko_hw.drivers import AWG, DemodulatorConfig, Digitizer, LOSource, SafetyLimits
from qneko_hw.drivers.qneko_awg4 import QnekoAWG4
from qneko_hw.drivers.qneko_dig2 import QnekoDIG2
from qneko_hw.drivers.qneko_sg1 import QnekoSG1
from qneko_hw.errors import InstrumentError, SafetyLimitError
from qneko_hw.simulated_instruments.awg_twin import AwgTwin
from qneko_hw.simulated_instruments.digitizer_twin import DigitizerTwin
from qneko_hw.simulated_instruments.lo_twin import LoTwin
from qneko_hw.simulated_instruments.scpi import ScpiCommand, ScpiInstrument, ScpiServer

_names = itertools.count()


@dataclass
class Lab:
    lo: LoTwin
    awg: AwgTwin
    dig: DigitizerTwin
    lo_server: ScpiServer
    awg_server: ScpiServer
    dig_server: ScpiServer


@pytest.fixture
def lab() -> Iterator[Lab]:
    lo, awg, dig = LoTwin(), AwgTwin(), DigitizerTwin()
    servers = [ScpiServer(twin).start() for twin in (lo, awg, dig)]
    try:
        yield Lab(lo, awg, dig, *servers)
    finally:
        Instrument.close_all()
        for server in servers:
            server.stop()


def name(prefix: str) -> str:
    return f"{prefix}{next(_names)}"


def writes_since(twin: ScpiInstrument, count_before: int) -> list[str]:
    """Set commands (not queries) the twin received after it had received ``count_before``."""
    new = twin.received_count - count_before
    recent = list(twin.received)[-new:] if new else []
    return [unit for unit in recent if not unit.split(" ")[0].endswith("?")]


# -- LO ---------------------------------------------------------------------------------------


def test_lo_parameters_and_role(lab: Lab) -> None:
    lo = QnekoSG1(name("lo"), lab.lo_server.address)
    assert isinstance(lo, LOSource)
    assert lo.IDN()["model"] == "SG1"
    lo.frequency(5.1e9)
    lo.power(-7.5)
    lo.output(True)
    assert (lab.lo.frequency_hz, lab.lo.power_dbm, lab.lo.output) == (5.1e9, -7.5, True)
    assert (lo.frequency(), lo.power(), lo.output()) == (5.1e9, -7.5, True)
    lo.set_frequency(np.float64(6e9))
    lo.set_power(0)
    lo.set_output(False)
    assert (lab.lo.frequency_hz, lab.lo.power_dbm, lab.lo.output) == (6e9, 0.0, False)


def test_lo_power_limit_blocks_parameter_and_role(lab: Lab) -> None:
    lo = QnekoSG1(name("lo"), lab.lo_server.address, limits=SafetyLimits(max_power_dbm=10.0))
    lo.power(10.0)
    before = lab.lo.received_count
    with pytest.raises(SafetyLimitError) as info:
        lo.power(10.5)
    assert (info.value.parameter, info.value.limit, info.value.value) == ("power_dbm", 10.0, 10.5)
    assert info.value.instrument == lo.name
    with pytest.raises(SafetyLimitError):
        lo.set_power(20)
    assert lab.lo.received_count == before
    assert lab.lo.power_dbm == 10.0


def test_garbled_reply_raises_instrument_error(lab: Lab) -> None:
    lo = QnekoSG1(name("lo"), lab.lo_server.address)
    lab.lo.add_command("FREQuency", on_query=lambda c: "5 GHz-ish")
    with pytest.raises(InstrumentError) as info:
        lo.frequency()
    assert info.value.command == "FREQ?"
    assert info.value.reply == "5 GHz-ish"
    assert info.value.instrument == lo.name


def test_instrument_error_from_queue_and_timeout(lab: Lab) -> None:
    lo = QnekoSG1(name("lo"), lab.lo_server.address, timeout=0.2)

    def refuse(command: ScpiCommand) -> None:
        raise ValueError("no")

    def needs_argument(command: ScpiCommand) -> str:
        return str(command.float_arg(0, 0, 1))

    lab.lo.add_command("OUTPut", on_set=refuse)
    with pytest.raises(InstrumentError) as info:
        lo.output(True)
    assert info.value.command == "OUTP ON"
    assert info.value.reply is not None and info.value.reply.startswith("-300,")
    lab.lo.add_command("FREQuency", on_query=needs_argument)
    with pytest.raises(InstrumentError) as timeout:
        lo.frequency()  # the twin replies nothing: timeout, then SYST:ERR? names the error
    assert timeout.value.command == "FREQ?"
    assert timeout.value.reply is not None and timeout.value.reply.startswith("-109,")


def test_driver_lock_serialises_threads(lab: Lab) -> None:
    lo = QnekoSG1(name("lo"), lab.lo_server.address)
    lo.frequency(2e9)
    lo.power(-20)
    failures: list[str] = []

    def work(query: str, expected: str) -> None:
        for _ in range(80):
            reply = lo.ask(query)
            if reply != expected:
                failures.append(f"{query} -> {reply}")

    jobs = [("*IDN?", "QNeko,SG1,0,1.0"), ("FREQ?", "2000000000.0"), ("POW?", "-20.0")]
    threads = [threading.Thread(target=work, args=job) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


# -- AWG --------------------------------------------------------------------------------------


def test_awg_upload_sequence_run_trigger(lab: Lab) -> None:
    awg = QnekoAWG4(name("awg"), lab.awg_server.address)
    assert isinstance(awg, AWG)
    assert awg.sample_rate_hz == 1e9
    seen: list[tuple[int, float, list[dict[int, str]]]] = []
    lab.awg.on_trigger = lambda twin: seen.append(
        (twin.shots, twin.repetition_time_s, twin.sequence)
    )
    ramp = np.linspace(-1, 1, 64)
    newline_bytes = np.full(32, np.array([0x3A0A0A0A], "<u4").view("<f4")[0])
    awg.upload_waveforms({"ramp": ramp, "nl": newline_bytes})
    np.testing.assert_array_equal(lab.awg.waveforms["ramp"], ramp.astype(np.float32))
    np.testing.assert_array_equal(lab.awg.waveforms["nl"], newline_bytes)
    awg.set_sequence([{1: "ramp", 2: "nl"}, {2: "ramp"}])
    awg.set_channel(1, 0.5, offset_v=0.1)
    awg.set_channel(2, 0.25, output=False)
    awg.set_shots(100, 50e-6)
    awg.run()
    assert awg.running()
    awg.trigger()
    assert seen == [(100, 50e-6, [{1: "ramp", 2: "nl"}, {2: "ramp"}])]
    assert lab.awg.channel_output(1) and not lab.awg.channel_output(2)
    np.testing.assert_allclose(lab.awg.step_samples(0, 1), ramp * 0.5 + 0.1, rtol=1e-6)
    assert awg.ch1.amplitude() == 0.5 and awg.ch1.offset() == 0.1
    awg.upload_waveforms({"only": np.zeros(8)})  # replaces the list
    assert set(lab.awg.waveforms) == {"only"}
    awg.stop()
    assert not awg.running()
    with pytest.raises(InstrumentError) as info:
        awg.trigger()
    assert info.value.reply == '-211,"Trigger ignored"'


def test_awg_sequence_entries_through_the_driver(lab: Lab) -> None:
    awg = QnekoAWG4(name("awg"), lab.awg_server.address)
    awg.upload_waveforms({"x": np.full(16, 0.5), "idle": np.zeros(256)})
    awg.set_sequence([{1: (("x", 1), ("idle", 4000), ("x", 1))}, {1: "x"}])
    assert lab.awg.sequence == [{1: "x,idle*4000,x"}, {1: "x"}]
    assert lab.awg.step_length_samples(0) == 16 + 256 * 4000 + 16
    for bad in ([("x", 0)], [("x", 1)] * 4097, []):
        with pytest.raises(InstrumentError, match="step 1 channel 1"):
            awg.set_sequence([{1: tuple(bad)}])
    with pytest.raises(InstrumentError, match="'\\*'"):
        awg.upload_waveforms({"a*2": np.zeros(4)})
    assert lab.awg.sequence == [{1: "x,idle*4000,x"}, {1: "x"}]  # nothing was written


def test_awg_errors_become_instrument_errors(lab: Lab) -> None:
    awg = QnekoAWG4(name("awg"), lab.awg_server.address)
    awg.upload_waveforms({"a": np.ones(4)})
    with pytest.raises(InstrumentError) as info:
        awg.set_sequence([{1: "missing"}])
    assert info.value.reply is not None and info.value.reply.startswith("-224,")
    with pytest.raises(InstrumentError):
        awg.upload_waveforms({"bad": np.array([0.0, 1.5])})  # refused before writing
    awg.set_sequence([{1: "a"}])
    awg.run()

    def broken(twin: AwgTwin) -> None:
        raise RuntimeError("boom")

    lab.awg.on_trigger = broken
    with pytest.raises(InstrumentError) as hook:
        awg.trigger()
    assert hook.value.reply == '-200,"Execution error;trigger hook: boom"'


def test_awg_amplitude_limit(lab: Lab) -> None:
    limits = SafetyLimits(max_amplitude_v=0.8)
    awg = QnekoAWG4(name("awg"), lab.awg_server.address, limits=limits)
    before = lab.awg.received_count
    with pytest.raises(SafetyLimitError) as info:
        awg.ch1.amplitude(0.9)
    assert info.value.limit == 0.8 and info.value.value == 0.9
    with pytest.raises(SafetyLimitError):
        awg.set_channel(2, 1.0)
    # no waveform known yet: the peak is taken as 1, so amplitude + |offset| counts
    with pytest.raises(SafetyLimitError):
        awg.set_channel(3, 0.7, offset_v=-0.2)
    assert writes_since(lab.awg, before) == []
    assert lab.awg.channel_amplitude_v(1) == 0.5


def test_awg_waveform_limit_at_upload_and_at_amplitude_change(lab: Lab) -> None:
    limits = SafetyLimits(max_amplitude_v=0.8)
    awg = QnekoAWG4(name("awg"), lab.awg_server.address, limits=limits)
    awg.set_channel(1, 0.6, offset_v=0.1)
    awg.upload_waveforms({"half": np.full(16, 0.5)})  # ch1: 0.5*0.6+0.1 = 0.4 V
    awg.set_channel(1, 0.6, offset_v=0.25)  # 0.55 V
    before = lab.awg.received_count
    with pytest.raises(SafetyLimitError) as info:
        awg.upload_waveforms({"ok": np.full(4, 0.1), "full": np.ones(16)})  # ch1: 0.85 V
    assert info.value.parameter == "ch1.peak_output_v"
    assert info.value.value == pytest.approx(0.85)
    assert writes_since(lab.awg, before) == []
    assert set(lab.awg.waveforms) == {"half"}

    awg.ch1.offset(0.0)
    awg.upload_waveforms({"full": np.ones(16)})  # ch1: 0.6 V, ch2..4: 0.5 V
    awg.ch2.offset(0.3)  # ch2: 0.8 V, at the limit
    before = lab.awg.received_count
    with pytest.raises(SafetyLimitError) as info:
        awg.ch2.amplitude(0.6)  # 1*0.6+0.3 = 0.9 V
    assert info.value.parameter == "ch2.peak_output_v"
    with pytest.raises(SafetyLimitError):
        awg.ch1.offset(0.25)  # 1*0.6+0.25 = 0.85 V
    with pytest.raises(SafetyLimitError):
        awg.set_channel(4, 0.7, offset_v=0.2)
    assert writes_since(lab.awg, before) == []
    assert lab.awg.channel_amplitude_v(2) == 0.5
    assert lab.awg.channel_offset_v(1) == 0.0


def test_awg_set_channel_orders_writes_safely(lab: Lab) -> None:
    awg = QnekoAWG4(name("awg"), lab.awg_server.address, limits=SafetyLimits(max_amplitude_v=1.0))
    awg.upload_waveforms({"w": np.ones(4)})
    awg.set_channel(1, 0.5, offset_v=0.4)
    before = lab.awg.received_count
    awg.set_channel(1, 0.9, offset_v=0.0)  # offset first, else 0.9 + 0.4 on the way
    assert writes_since(lab.awg, before)[:2] == ["SOUR1:VOLT:OFFS 0.0", "SOUR1:VOLT 0.9"]
    before = lab.awg.received_count
    awg.set_channel(1, 0.5, offset_v=0.4)  # amplitude first
    assert writes_since(lab.awg, before)[:2] == ["SOUR1:VOLT 0.5", "SOUR1:VOLT:OFFS 0.4"]


# -- digitizer --------------------------------------------------------------------------------


def test_digitizer_configure_arm_deliver_fetch(lab: Lab) -> None:
    dig = QnekoDIG2(name("dig"), lab.dig_server.address)
    assert isinstance(dig, Digitizer)
    assert dig.sample_rate_hz == 1e9
    weights = np.exp(1j * np.linspace(0, 1, 200)).astype(np.complex64)
    demods = [
        DemodulatorConfig(
            channel=1, frequency_hz=40e6, start_samples=16, length_samples=200, weights=weights
        ),
        DemodulatorConfig(channel=2, frequency_hz=-75e6, start_samples=0, length_samples=64),
        DemodulatorConfig(channel=1, frequency_hz=0.0, start_samples=8, length_samples=8),
    ]
    dig.configure(shots=50, steps=4, demodulators=demods)
    config = lab.dig.config
    assert config.shape == (4, 50, 3)
    assert [d.channel for d in config.demodulators] == [1, 2, 1]
    assert [d.frequency_hz for d in config.demodulators] == [40e6, -75e6, 0.0]
    assert [d.start_samples for d in config.demodulators] == [16, 0, 8]
    np.testing.assert_array_equal(config.demodulators[0].weights, weights)
    np.testing.assert_array_equal(config.demodulators[1].weights, np.ones(64))
    with pytest.raises(InstrumentError):
        dig.fetch()  # IDLE: nothing to wait for
    dig.arm()
    assert dig.acquisition_state() == "ARMED" and lab.dig.armed
    rng = np.random.default_rng(1)
    data = (rng.normal(size=(4, 50, 3)) + 1j * rng.normal(size=(4, 50, 3))).astype(np.complex64)
    with pytest.raises(InstrumentError):
        lab.dig.deliver(data[:, :, :2])
    lab.dig.deliver(data)
    out = dig.fetch()
    assert out.dtype == np.complex64 and out.shape == (4, 50, 3)
    np.testing.assert_array_equal(out, data)


def test_digitizer_fetch_waits_for_delivery_and_times_out(lab: Lab) -> None:
    dig = QnekoDIG2(name("dig"), lab.dig_server.address)
    dig.configure(2, 1, [DemodulatorConfig(1, 0.0, 0, 4)])
    dig.arm()
    with pytest.raises(InstrumentError) as info:
        dig.fetch(timeout_s=0.05)
    assert info.value.reply == "ARMED"
    timer = threading.Timer(0.05, lab.dig.deliver, args=(np.ones((1, 2, 1), np.complex64),))
    timer.start()
    np.testing.assert_array_equal(dig.fetch(timeout_s=5), np.ones((1, 2, 1)))
    timer.join()


def test_digitizer_rejects_bad_configuration(lab: Lab) -> None:
    dig = QnekoDIG2(name("dig"), lab.dig_server.address)
    before = lab.dig.received_count
    with pytest.raises(InstrumentError):
        dig.configure(1, 1, [DemodulatorConfig(1, 0.0, 0, 4, weights=np.ones(5))])
    with pytest.raises(InstrumentError):
        dig.configure(1, 1, [DemodulatorConfig(3, 0.0, 0, 4)])
    with pytest.raises(InstrumentError):
        dig.configure(1, 1, [])
    assert lab.dig.received_count == before
    with pytest.raises(InstrumentError) as info:
        dig.configure(1, 1, [DemodulatorConfig(1, 900e6, 0, 4)])  # refused by the twin
    assert info.value.reply is not None and info.value.reply.startswith("-222,")


def test_drivers_are_context_managers(lab: Lab) -> None:
    with QnekoSG1(name("lo"), lab.lo_server.address) as lo:
        assert lo.IDN()["vendor"] == "QNeko"
    assert not Instrument.exist(lo.name)
