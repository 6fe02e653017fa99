"""QCoDeS's own Yokogawa GS200 driver (unchanged) against our twin, and the DCSource adapter."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import pytest
from qcodes.instrument import Instrument
from qcodes.instrument_drivers.yokogawa import YokogawaGS200

from qneko_hw.config.station import InstrumentConfig
from qneko_hw.drivers import DCSource, SafetyLimits
from qneko_hw.drivers.station import driver_class
from qneko_hw.drivers.yokogawa_gs200 import YokogawaGs200Source, ramp_points
from qneko_hw.errors import InstrumentError, SafetyLimitError
from qneko_hw.simulated_instruments.scpi import ScpiServer
from qneko_hw.simulated_instruments.yokogawa_gs200_twin import Gs200Twin

_names = itertools.count()


def name(prefix: str) -> str:
    return f"{prefix}{next(_names)}"


@pytest.fixture
def gs() -> Iterator[tuple[Gs200Twin, ScpiServer]]:
    twin = Gs200Twin()
    with ScpiServer(twin) as server:
        yield twin, server
        Instrument.close_all()


def levels_sent(twin: Gs200Twin, since: int) -> list[float]:
    new = (
        list(twin.received)[-(twin.received_count - since) :] if twin.received_count > since else []
    )
    return [float(u.split()[1]) for u in new if u.upper().startswith(":SOUR:LEV:AUTO")]


def test_gs200_qcodes_driver_init_snapshot_and_parameters(gs) -> None:
    twin, server = gs
    drv = YokogawaGS200(name("gs"), server.address, visalib="@py")
    snap = drv.snapshot(update=True)
    assert twin.errors == ()
    assert drv.IDN()["vendor"] == "YOKOGAWA" and "voltage" in snap["parameters"]
    assert drv.measure.present and drv.line_freq() == 50
    drv.voltage_range(1.0)
    drv.voltage(0.5)
    drv.output("on")
    assert (drv.voltage(), drv.voltage_range(), drv.output()) == (0.5, 1.0, "on")
    assert twin.voltage_v == 0.5
    drv.voltage_limit(5)
    drv.current_limit(0.05)
    drv.four_wire("on")
    drv.guard("on")
    drv.BNC_out("ready")
    drv.BNC_in("output")
    assert (drv.voltage_limit(), drv.current_limit(), drv.four_wire(), drv.guard()) == (
        5,
        0.05,
        "on",
        "on",
    )
    assert (drv.BNC_out(), drv.BNC_in()) == ("READ", "OUTP")
    drv.measure.enabled("on")
    drv.measure.NPLC(10)
    drv.measure.delay(5)
    drv.measure.trigger("IMM")
    drv.measure.interval(0.2)
    assert drv.measure.measure() == pytest.approx(0.5 / twin.load_ohm)
    assert (drv.measure.NPLC(), drv.measure.delay(), drv.measure.interval()) == (10, 5, 0.2)
    assert drv.measure.trigger() == "IMM"
    # QCoDeS's hardware ramp: a one-step program, polled until the end-of-program bit
    drv.ramp_voltage(0.8, ramp_mode="HARDWARE")
    assert twin.level == pytest.approx(0.8)
    drv.program.interval(2.0)
    drv.program.slope(1.0)
    drv.program.trigger("normal")
    drv.program.repeat("ON")
    drv.program.count(3)
    drv.program.save("ramp.csv")
    drv.program.load("ramp.csv")
    assert (drv.program.interval(), drv.program.count(), drv.program.load()) == (
        2.0,
        3,
        '"ramp.csv"',
    )
    drv.output("off")
    drv.source_mode("CURR")
    drv.current_range(0.01)
    drv.current(0.002)
    assert (drv.current(), drv.current_range()) == (0.002, 0.01)
    assert drv.status_byte() == 0 and twin.errors == ()
    drv.write(":SOUR:LEV 0.5")  # above 120 % of the 10 mA range
    drv.write(":SOUR:BOGUS 1")
    drv.ask("*OPC?")
    assert [e.split(",")[0] for e in twin.errors] == ["-222", "-113"]
    assert drv.status_byte() & 4


@pytest.fixture
def source(gs) -> Iterator[tuple[Gs200Twin, YokogawaGs200Source]]:
    twin, server = gs
    limits = SafetyLimits(max_voltage_v=1.0, max_ramp_rate_v_per_s=2.0)
    with YokogawaGs200Source(name("dc"), server.address, limits, ramp_interval_s=0.02) as adapter:
        yield twin, adapter


def test_adapter_fills_the_role_and_ramps_at_the_allowed_rate(source) -> None:
    twin, dc = source
    assert isinstance(dc, DCSource)
    dc.set_output(True)
    assert twin.output and twin.mode == "VOLT"
    before = twin.received_count
    t0 = time.perf_counter()
    dc.set_voltage(0.2)  # 2 V/s x 20 ms = 40 mV per step
    elapsed = time.perf_counter() - t0
    assert levels_sent(twin, before) == pytest.approx([0.04, 0.08, 0.12, 0.16, 0.2])
    assert elapsed >= 4 * 0.02, "no faster than the rate limit"
    assert dc.voltage() == pytest.approx(0.2) == twin.voltage_v
    before = twin.received_count
    dc.set_voltage(0.1, rate_v_per_s=1.0)  # slower than the limit: 20 mV steps
    assert levels_sent(twin, before) == pytest.approx([0.18, 0.16, 0.14, 0.12, 0.1])
    before = twin.received_count
    dc.set_voltage(0.1)
    assert levels_sent(twin, before) == [], "already there: nothing written"
    assert twin.errors == ()


def test_adapter_limits_are_checked_before_any_write(source) -> None:
    twin, dc = source
    before = twin.received_count
    with pytest.raises(SafetyLimitError) as err:
        dc.set_voltage(-1.5)
    assert err.value.fields["limit"] == 1.0 and err.value.fields["value"] == -1.5
    with pytest.raises(SafetyLimitError) as err2:
        dc.set_voltage(0.5, rate_v_per_s=10.0)
    assert err2.value.fields["parameter"] == "ramp_rate_v_per_s"
    with pytest.raises(InstrumentError, match="finite"):
        dc.set_voltage(float("nan"))
    assert twin.received_count == before, "nothing reached the twin"


def test_adapter_without_a_rate_limit_jumps_and_station_knows_the_model(gs) -> None:
    twin, server = gs
    assert driver_class(InstrumentConfig(model="yokogawa_gs200").model) is YokogawaGs200Source
    twin.reset()
    twin.execute(b"SOUR:FUNC CURR")
    with YokogawaGs200Source(name("dc"), server.address) as dc:  # switched to voltage mode
        before = twin.received_count
        dc.set_voltage(5.0)
        assert levels_sent(twin, before) == [5.0] and twin.mode == "VOLT"
    twin.execute(b"SOUR:FUNC CURR;OUTP 1")
    with pytest.raises(InstrumentError, match="current mode"):
        YokogawaGs200Source(name("dc"), server.address)
    assert ramp_points(0.0, -0.1, 0.03) == pytest.approx([-0.025, -0.05, -0.075, -0.1])
