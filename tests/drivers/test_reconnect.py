"""Reconnect: dropped connections, refused connections and twins restarted on the same port."""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator

import pytest
from qcodes.instrument import Instrument

from qneko_hw.drivers.qneko_sg1 import QnekoSG1
from qneko_hw.drivers.reconnect import ReconnectPolicy
from qneko_hw.drivers.rs_sgs100a import RsSgs100aSource
from qneko_hw.errors import InstrumentError
from qneko_hw.simulated_instruments.lo_twin import LoTwin
from qneko_hw.simulated_instruments.rs_sgs100a_twin import Sgs100aTwin
from qneko_hw.simulated_instruments.scpi.server import Fault, ScpiServer

FAST = ReconnectPolicy(attempts=3, backoff_s=0.01, max_backoff_s=0.05, open_timeout_s=0.5)
_names = itertools.count()


def name(prefix: str) -> str:
    return f"{prefix}{next(_names)}"


@pytest.fixture
def served() -> Iterator[tuple[LoTwin, ScpiServer]]:
    twin = LoTwin()
    server = ScpiServer(twin).start()
    yield twin, server
    Instrument.close_all()
    server.stop()


def restart(server: ScpiServer) -> ScpiServer:
    """Stop ``server`` and serve the same twin again on the same port."""
    port = server.port
    server.stop()
    return ScpiServer(server.instrument, port=port).start()


def test_dropped_query_is_reconnected_and_logged(served, caplog) -> None:
    _, server = served
    drv = QnekoSG1(name("sg"), server.address, timeout=2.0, reconnect=FAST)
    drv.frequency(5e9)
    server.fault = Fault("drop")
    t0 = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger="qneko_hw.drivers.reconnect"):
        assert drv.frequency() == 5e9
    assert time.perf_counter() - t0 < 1.0, "end of stream is found at once, not by timeout"
    assert drv.reconnect_count == 1
    assert any("connection lost" in r.message and "FREQ?" in r.message for r in caplog.records)


def test_dropped_write_is_sent_again_after_the_reconnect(served) -> None:
    twin, server = served
    drv = QnekoSG1(name("sg"), server.address, timeout=2.0, reconnect=FAST)
    server.fault = Fault("drop")  # the set is received, not executed, and the link closed
    drv.power(-3.0)
    assert twin.power_dbm == -3.0 and drv.reconnect_count == 1
    assert twin.errors == ()


def test_twin_restarted_on_the_same_port_mid_run(served) -> None:
    twin, server = served
    drv = QnekoSG1(name("sg"), server.address, timeout=2.0, reconnect=FAST)
    drv.frequency(4e9)
    server = restart(server)
    try:
        drv.frequency(4.5e9)
        assert drv.frequency() == 4.5e9 == twin.frequency_hz
        assert drv.reconnect_count == 1
        server = restart(server)
        assert drv.query_block is not None and drv.ask("*IDN?").startswith("QNeko,SG1")
        assert drv.reconnect_count == 2
    finally:
        server.stop()


def test_refused_connections_are_retried_with_backoff(served) -> None:
    twin, server = served
    drv = QnekoSG1(name("sg"), server.address, timeout=2.0, reconnect=FAST)
    server.fault = Fault("refuse", count=2)  # the next two connections are closed at once
    server = restart(server)
    server.fault = Fault("refuse", count=2)
    try:
        assert drv.power() == twin.power_dbm
        assert drv.reconnect_count == 3, "two connections closed at once, the third lasts"
    finally:
        server.stop()


def test_gives_up_after_the_bounded_retries_naming_command_and_error(served, caplog) -> None:
    twin, server = served
    drv = QnekoSG1(name("sg"), server.address, timeout=2.0, reconnect=FAST)
    server.stop()
    t0 = time.perf_counter()
    with (
        caplog.at_level(logging.WARNING, logger="qneko_hw.drivers.reconnect"),
        pytest.raises(InstrumentError) as err,
    ):
        drv.query_float("POW?")
    assert time.perf_counter() - t0 < 2.0
    assert err.value.fields["instrument"] == drv.name
    assert err.value.fields["command"] == "POW?"
    assert "3 attempts" in err.value.message and "refused" in err.value.message.lower()
    assert sum("reconnecting" in r.message for r in caplog.records) == 3
    server = restart(server)  # back: the next command reconnects from the closed handle
    try:
        assert drv.query_float("POW?") == twin.power_dbm
    finally:
        server.stop()


def test_a_slow_reply_on_a_live_connection_is_not_a_lost_connection(served) -> None:
    _, server = served
    drv = QnekoSG1(name("sg"), server.address, timeout=0.2, reconnect=FAST)
    server.fault = Fault("delay", delay_s=0.4)
    with pytest.raises(InstrumentError, match="no reply"):
        drv.query_float("POW?")
    assert drv.reconnect_count == 0


def test_qcodes_adapter_reconnects_the_qcodes_driver(caplog) -> None:
    twin = Sgs100aTwin()
    server = ScpiServer(twin).start()
    try:
        with RsSgs100aSource(name("lo"), server.address, timeout=2.0, reconnect=FAST) as lo:
            lo.set_frequency(6e9)
            server = restart(server)
            with caplog.at_level(logging.WARNING, logger="qneko_hw.drivers.reconnect"):
                lo.set_frequency(6.5e9)
            assert twin.frequency_hz == 6.5e9
            assert any("reconnected" in r.message for r in caplog.records)
            server.fault = Fault("drop")
            lo.set_power(1.0)  # the set is dropped; the error check reconnects, it is re-sent
            assert twin.power_dbm == 1.0 and lo.reconnect_count == 2
            server.stop()
            with pytest.raises(InstrumentError) as err:
                lo.set_output(True)
            assert err.value.fields["command"] == ":OUTP:STAT 1"
    finally:
        Instrument.close_all()
        server.stop()
