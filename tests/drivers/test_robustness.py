"""Locks, reconnect and fault injection: the QNeko drivers against misbehaving twins."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import pyvisa
from qcodes.instrument import Instrument

from qneko_hw.drivers.qneko_sg1 import QnekoSG1
from qneko_hw.errors import InstrumentError
from qneko_hw.simulated_instruments.lo_twin import LoTwin
from qneko_hw.simulated_instruments.scpi.server import Fault, ScpiServer


@pytest.fixture
def served() -> Iterator[tuple[LoTwin, ScpiServer]]:
    twin = LoTwin()
    server = ScpiServer(twin).start()
    yield twin, server
    Instrument.close_all()
    server.stop()


def test_concurrent_clients_never_interleave(served) -> None:
    """Each client sets and reads back in one message; replies always match its own set."""
    _, server = served
    rm = pyvisa.ResourceManager("@py")
    bad: list[str] = []

    def client(k: int) -> None:
        res = rm.open_resource(server.address, read_termination="\n", write_termination="\n")
        try:
            for i in range(150):
                f, p = 1e9 + 1e6 * k + i, -float(k)
                reply = res.query(f"FREQ {f!r};POW {p!r};FREQ?;POW?")
                if reply != f"{f!r};{p!r}":
                    bad.append(reply)
        finally:
            res.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rm.close()
    assert bad == []


def test_delayed_reply_times_out_with_instrument_error(served) -> None:
    _, server = served
    drv = QnekoSG1("sg_slow", server.address, timeout=0.2)
    server.fault = Fault("delay", delay_s=0.5)
    with pytest.raises(InstrumentError, match="no reply") as err:
        drv.query_float("POW?")
    assert err.value.fields["command"] == "POW?"


def test_garbled_reply_and_full_error_queue_faults(served) -> None:
    _, server = served
    drv = QnekoSG1("sg_faults", server.address, timeout=0.3)
    server.fault = Fault("garble")
    with pytest.raises(InstrumentError) as err:
        drv.frequency()
    assert err.value.fields["command"] == "FREQ?" and "\xff" in err.value.fields["reply"]
    server.fault = Fault("full_error_queue")
    with pytest.raises(InstrumentError) as err2:
        drv.write_checked("OUTP ON")
    assert "-350" in err2.value.message


def test_late_reply_is_not_taken_for_the_next_answer(served) -> None:
    """After a query times out, its late reply must not answer the following query."""
    _, server = served
    lo = QnekoSG1("lo_late", server.address, timeout=0.3)
    lo.frequency(2e9)
    lo.power(-10.0)
    server.fault = Fault("delay", delay_s=0.6, count=1)
    with pytest.raises(InstrumentError, match="no reply"):
        lo.ask("FREQ?")
    assert lo.power() == -10.0
    assert lo.frequency() == 2e9
