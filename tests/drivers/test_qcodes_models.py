"""QCoDeS's own SGS100A and AWG5208 drivers (unchanged) against our twins, and our adapters."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
import pytest
from qcodes.instrument import Instrument
from qcodes.instrument_drivers.rohde_schwarz import RohdeSchwarzSGS100A
from qcodes.instrument_drivers.tektronix import TektronixAWG5208

from qneko_hw.drivers import AWG, LOSource, SafetyLimits
from qneko_hw.drivers.rs_sgs100a import RsSgs100aSource
from qneko_hw.drivers.tek_awg5208 import TekAwg5208
from qneko_hw.errors import InstrumentError, SafetyLimitError
from qneko_hw.simulated_instruments.rs_sgs100a_twin import Sgs100aTwin
from qneko_hw.simulated_instruments.scpi import ScpiCommand, ScpiError, ScpiServer
from qneko_hw.simulated_instruments.tek_awg5208_twin import Awg5208Twin

_names = itertools.count()


def name(prefix: str) -> str:
    return f"{prefix}{next(_names)}"


@pytest.fixture
def sgs() -> Iterator[tuple[Sgs100aTwin, ScpiServer]]:
    twin = Sgs100aTwin()
    with ScpiServer(twin) as server:
        yield twin, server
        Instrument.close_all()


@pytest.fixture
def tek() -> Iterator[tuple[Awg5208Twin, ScpiServer]]:
    twin = Awg5208Twin()
    with ScpiServer(twin) as server:
        yield twin, server
        Instrument.close_all()


# -- SGS100A ----------------------------------------------------------------------------------


def test_sgs100a_qcodes_driver_init_snapshot_and_every_parameter(sgs) -> None:
    twin, server = sgs
    drv = RohdeSchwarzSGS100A(name("sgs"), server.address, visalib="@py")
    snap = drv.snapshot(update=True)
    assert twin.errors == ()
    assert drv.IDN()["model"] == "SGS100A"
    values = {
        "frequency": 5.5e9,
        "phase": 90.0,
        "power": 3.0,
        "status": True,
        "IQ_state": True,
        "pulsemod_state": True,
        "pulsemod_source": "EXT",
        "ref_osc_source": "EXT",
        "LO_source": "EXT",
        "ref_LO_out": "LO",
        "ref_osc_output_freq": "100MHz",
        "ref_osc_external_freq": "1000MHz",
        "IQ_impairments": True,
        "I_offset": 1.5,
        "Q_offset": -2.0,
        "IQ_gain_imbalance": 0.5,
        "IQ_angle": -4.0,
        "trigger_connector_mode": "PVO",
        "pulsemod_delay": 1e-6,
        "pulsemod_double_delay": 1e-6,
        "pulsemod_double_width": 1e-7,
        "pulsemod_mode": "DOUB",
        "pulsemod_period": 1e-5,
        "pulsemod_polarity": "INV",
        "pulsemod_trig_ext_gate_polarity": "INV",
        "pulsemod_trig_ext_impedance": "G10K",
        "pulsemod_trig_ext_slope": "NEG",
        "pulsemod_trig_mode": "EXT",
        "pulsemod_width": 2e-7,
        "operation_mode": "BBBYpass",
    }
    gettable = {k for k, p in drv.parameters.items() if p.gettable} - {"IDN", "timeout"}
    assert gettable == set(values), "every gettable parameter is exercised"
    for param, value in values.items():
        drv.parameters[param](value)
        got = drv.parameters[param]()
        if isinstance(value, float):
            assert got == pytest.approx(value), param
        elif isinstance(value, str):
            assert str(got).upper() == value.upper()[: len(str(got))], param
        else:
            assert got == value, param
    assert twin.errors == ()
    assert (twin.frequency_hz, twin.power_dbm, twin.output) == (5.5e9, 3.0, True)
    assert "frequency" in snap["parameters"]
    drv.write("SOUR:FREQ 30e9")
    drv.write("SOUR:BOGUS 1")
    drv.ask("*OPC?")  # writes are not acknowledged: wait until the twin has handled them
    assert [e.split(",")[0] for e in twin.errors] == ["-222", "-113"]


def test_sgs100a_adapter_role_and_power_limit(sgs) -> None:
    twin, server = sgs
    with RsSgs100aSource(name("lo"), server.address, SafetyLimits(max_power_dbm=10.0)) as lo:
        assert isinstance(lo, LOSource)
        lo.set_frequency(6e9)
        lo.set_power(10.0)
        lo.set_output(True)
        assert (twin.frequency_hz, twin.power_dbm, twin.output) == (6e9, 10.0, True)
        before = twin.received_count
        with pytest.raises(SafetyLimitError) as err:
            lo.set_power(10.5)
        assert err.value.fields["limit"] == 10.0 and err.value.fields["value"] == 10.5
        assert twin.received_count == before, "nothing was sent"
        with pytest.raises(InstrumentError, match="frequency"):
            lo.set_frequency(30e9)  # refused by QCoDeS's validator, named by us
        twin.add_command("[SOURce]:FREQuency[:CW]", on_set=_refuse)
        with pytest.raises(InstrumentError) as err2:
            lo.set_frequency(5e9)
        assert err2.value.fields["instrument"] == lo.name
        assert "-200" in err2.value.fields["reply"]


def _refuse(command: ScpiCommand) -> None:
    raise ScpiError.execution("refused by the test")


# -- AWG5208 ----------------------------------------------------------------------------------


def test_awg5208_qcodes_driver_init_snapshot_files_and_sequences(tek) -> None:
    twin, server = tek
    drv = TektronixAWG5208(name("tek"), server.address, visalib="@py")
    drv.snapshot(update=True)
    assert twin.errors == ()
    drv.sample_rate(1.2e9)
    drv.ch3.awg_amplitude(1.0)
    drv.ch3.offset(0.1)
    drv.ch3.state(1)
    drv.ch3.resolution(14)
    drv.ch3.marker2_high(1.2)
    drv.ch3.fgen_type("SQUARE")
    drv.ch3.fgen_signalpath("AC Direct")
    drv.ch3.fgen_frequency(2e6)
    assert drv.ch3.fgen_period() == pytest.approx(5e-7)
    assert (drv.ch3.awg_amplitude(), drv.ch3.offset(), drv.ch3.state()) == (1.0, 0.1, 1)
    assert (drv.ch3.fgen_type(), drv.ch3.fgen_signalpath()) == ("SQUARE", "AC Direct")
    assert drv.sample_rate() == 1.2e9 and drv.run_state() == "Stopped"
    # one waveform through MMEM:DATA (block with no terminator) and MMEM:OPEN
    wave = np.sin(np.linspace(0, 2 * np.pi, 2400))
    drv.sendWFMXFile(drv.makeWFMXFile(wave, 2.0), "sine.wfmx")
    drv.loadWFMXFile("sine.wfmx")
    assert drv.waveformList == ["sine"]
    np.testing.assert_allclose(twin.waveform_list["sine"], wave, atol=1e-6)
    drv.ch3.setWaveform("sine")
    assert drv.ch3.assigned_asset() == "sine"
    # a two-step, two-track SEQX
    ramp = np.linspace(-0.5, 0.5, 2400)
    seqx = drv.makeSEQXFile(
        trig_waits=[1, 0],
        nreps=[1, 3],
        event_jumps=[0, 0],
        event_jump_to=[0, 0],
        go_to=[0, 1],
        wfms=[[ramp, -ramp], [ramp * 0, ramp]],
        amplitudes=[1.0, 1.0],
        seqname="seq one",
    )
    drv.sendSEQXFile(seqx, "s.seqx")
    drv.loadSEQXFile("s.seqx")
    assert drv.sequenceList == ["seq_one"]
    drv.ch1.setSequenceTrack("seq_one", 1)
    drv.ch2.setSequenceTrack("seq_one", 2)
    drv.ch1.state(1)
    drv.ask("*OPC?")
    assert twin.errors == ()
    seq = twin.sequence_list["seq_one"]
    assert [s.repeat for s in seq.steps] == [1, 3] and seq.steps[0].wait == "TrigA"
    np.testing.assert_allclose(twin.step_samples(1, 1), -ramp * 2 * 0.25, atol=1e-6)
    drv.play(wait_for_running=False)
    assert drv.run_state() == "Waiting for trigger"
    drv.force_triggerA()
    drv.ask("*OPC?")  # the trigger is a write: wait until the twin has handled it
    assert twin.trigger_count == 1
    drv.stop()
    drv.force_triggerA()  # ignored while stopped
    drv.write('MMEMory:OPEN "C:\\nowhere\\x.wfmx"')
    drv.ask("*OPC?")
    assert [e.split(",")[0] for e in twin.errors] == ["-211", "-256"]


@pytest.fixture
def awg(tek) -> Iterator[tuple[Awg5208Twin, TekAwg5208]]:
    twin, server = tek
    with TekAwg5208(name("awg"), server.address, SafetyLimits(max_amplitude_v=0.5)) as adapter:
        yield twin, adapter


def test_awg5208_adapter_fills_the_role(awg) -> None:
    twin, adapter = awg
    assert isinstance(adapter, AWG)
    assert adapter.sample_rate_hz == 1e9
    adapter.stop()
    adapter.set_channel(1, 0.05, 0.01)  # below the 0.25 Vpp minimum: scaled in the sequence
    adapter.set_channel(2, 0.4)
    gauss = np.exp(-(((np.arange(40) - 20) / 8.0) ** 2))
    adapter.upload_waveforms({"g": gauss, "r": np.full(3000, 0.5)})
    assert set(twin.waveform_list) == {"g", "r"}
    assert twin.waveform_list["g"].size == 2400, "padded to the instrument's minimum"
    adapter.set_sequence([{1: "g"}, {1: "g", 2: "r"}])
    adapter.set_shots(100, 20e-6)
    adapter.run()
    assert twin.running and twin.repetition_time_s == 20e-6
    out1 = twin.step_samples(0, 1)
    assert out1.size == 2400
    np.testing.assert_allclose(out1[:40], 0.05 * gauss + 0.01, atol=1e-6)
    np.testing.assert_allclose(twin.step_samples(1, 2), 0.4 * 0.5, atol=1e-6)
    assert twin.step_samples(0, 2).max() == 0.0
    adapter.set_channel(1, 0.1, 0.0)  # re-sends the sequence with the new scaling
    np.testing.assert_allclose(twin.step_samples(0, 1)[:40], 0.1 * gauss, atol=1e-6)
    hits = []
    twin.on_trigger = hits.append
    adapter.trigger()
    assert hits == [twin]
    assert twin.errors == ()


def test_awg5208_adapter_safety_limits_before_any_write(awg) -> None:
    twin, adapter = awg
    before = twin.received_count
    with pytest.raises(SafetyLimitError):
        adapter.set_channel(1, 0.45, 0.1)  # 0.45 + 0.1 > 0.5
    with pytest.raises(InstrumentError, match="outside"):
        adapter.set_channel(1, 0.9)
    assert twin.received_count == before
    adapter.set_channel(1, 0.45)
    adapter.upload_waveforms({"w": np.full(10, 0.5)})
    before = twin.received_count
    with pytest.raises(SafetyLimitError):
        adapter.set_channel(1, 0.45, 0.3)  # 0.5 x 0.45 + 0.3 > 0.5
    with pytest.raises(InstrumentError, match="name"):
        adapter.upload_waveforms({'bad"name': np.zeros(4)})
    with pytest.raises(InstrumentError, match="finite"):
        adapter.upload_waveforms({"w": np.full(4, 1.5)})
    with pytest.raises(InstrumentError, match="was not"):
        adapter.set_sequence([{1: "nope"}])
    with pytest.raises(InstrumentError, match="one waveform per step"):
        adapter.set_sequence([{1: (("w", 1), ("w", 100))}])  # its traits do not repeat
    assert twin.received_count == before


def test_awg5208_adapter_reads_the_error_queue_after_uploads(awg) -> None:
    twin, adapter = awg

    def full(command: ScpiCommand) -> None:
        raise ScpiError(-225, "Out of memory", "test")

    twin.add_command("MMEMory:OPEN", on_set=full)
    with pytest.raises(InstrumentError) as err:
        adapter.upload_waveforms({"w": np.zeros(8)})
    assert err.value.fields["reply"].startswith("-225")
    assert "MMEMory:DATA" in err.value.fields["command"]
