"""SCPI server framework and twins, with PyVISA (pyvisa-py) as the client."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import pyvisa
import pyvisa.errors

from qneko_hw.simulated_instruments.awg_twin import AwgTwin
from qneko_hw.simulated_instruments.digitizer_twin import DigitizerTwin
from qneko_hw.simulated_instruments.lo_twin import LoTwin
from qneko_hw.simulated_instruments.scpi import (
    ERROR_QUEUE_SIZE,
    BlockError,
    ScpiInstrument,
    ScpiServer,
    decode_block,
    encode_block,
)
from qneko_hw.simulated_instruments.scpi.blocks import split_outside, take_messages

Resource = Any  # pyvisa MessageBasedResource


@pytest.fixture
def rm() -> Iterator[pyvisa.ResourceManager]:
    manager = pyvisa.ResourceManager("@py")
    yield manager
    manager.close()


@pytest.fixture
def serve() -> Iterator[Callable[[ScpiInstrument], ScpiServer]]:
    servers: list[ScpiServer] = []

    def start(instrument: ScpiInstrument) -> ScpiServer:
        server = ScpiServer(instrument).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def connect(
    rm: pyvisa.ResourceManager,
) -> Iterator[Callable[[ScpiServer], Resource]]:
    opened: list[Resource] = []

    def open_(server: ScpiServer, timeout_ms: int = 2000) -> Resource:
        resource = rm.open_resource(
            server.address, read_termination="\n", write_termination="\n", timeout=timeout_ms
        )
        opened.append(resource)
        return resource

    yield open_
    for resource in opened:
        resource.close()


def scpi_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("scpi-")]


# -- byte-level helpers ---------------------------------------------------------------------


def test_block_round_trip_and_errors() -> None:
    payload = bytes(range(256)) * 3
    assert decode_block(encode_block(payload)) == payload
    assert encode_block(b"") == b"#10"
    assert decode_block(b"#10\n") == b""
    for bad in (b"#", b"#3ab", b"#15abc", b"#13abcdef", b"x13abc"):
        with pytest.raises(BlockError):
            decode_block(bad)


def test_framing_reads_blocks_by_length_even_byte_by_byte() -> None:
    stream = b"A 1\r\nB " + encode_block(b"x\ny;z,\n") + b',"q;\n"\nC\n'
    buffer = bytearray()
    messages: list[bytes] = []
    for byte in stream:
        buffer.append(byte)
        messages += take_messages(buffer)
    assert messages[0] == b"A 1\r"
    assert messages[1].startswith(b"B #17x\ny;z,\n")
    assert messages[1].endswith(b',"q;')  # a newline inside an unclosed string ends it
    assert messages[2:] == [b'"', b"C"]
    assert split_outside(b"W " + encode_block(b"a;b") + b";X 1", b";") == [b"W #13a;b", b"X 1"]


# -- common commands and errors ----------------------------------------------------------


def test_idn_rst_opc(serve: Any, connect: Any) -> None:
    lo = LoTwin(serial="42")
    r = connect(serve(lo))
    assert r.query("*IDN?") == "QNeko,SG1,42,1.0"
    r.write("FREQ 5e9")
    assert float(r.query("FREQ?")) == 5e9
    r.write("*RST")
    assert float(r.query("FREQ?")) == 1e9
    assert r.query("*OPC?") == "1"
    r.write("*OPC")
    assert r.query("*ESR?") == "1"
    assert r.query("*ESR?") == "0"
    r.write("*WAI")
    assert r.query("SYST:ERR?") == '0,"No error"'


def test_header_forms_and_several_units_per_line(serve: Any, connect: Any) -> None:
    lo = LoTwin()
    r = connect(serve(lo))
    r.write(":SOURce:FREQuency:CW 2e9;pow -3.5;OUTPUT:STAT ON")
    assert r.query("frequency?;SOUR:POW:LEV?;outp?") == "2000000000.0;-3.5;1"
    assert (lo.frequency_hz, lo.power_dbm, lo.output) == (2e9, -3.5, True)
    r.write("OUTP 0;*WAI")
    assert r.query("*OPC?") == "1"
    assert lo.output is False


def test_bad_line_is_queued_and_server_keeps_serving(serve: Any, connect: Any) -> None:
    lo = LoTwin()
    r = connect(serve(lo))
    r.write("FOO:BAR 1")
    r.write_raw(b"\xff\xfe garbage\n")
    r.write("FREQ")  # missing parameter
    assert r.query("SYST:ERR?") == '-113,"Undefined header;FOO:BAR"'
    assert r.query("SYSTem:ERRor:NEXT?").startswith("-113,")
    assert r.query("SYST:ERR?") == '-109,"Missing parameter;FREQ"'
    assert r.query("SYST:ERR?") == '0,"No error"'
    assert r.query("*IDN?").startswith("QNeko,SG1")


def test_out_of_range_and_type_errors(serve: Any, connect: Any) -> None:
    lo = LoTwin()
    r = connect(serve(lo))
    r.write("FREQ 3e10")
    r.write("POW abc")
    r.write("OUTP maybe")
    assert r.query("SYST:ERR?") == '-222,"Data out of range;FREQ 3e10"'
    assert r.query("SYST:ERR?").startswith("-104,")
    assert r.query("SYST:ERR?").startswith("-104,")
    assert lo.frequency_hz == 1e9
    assert r.query("*ESR?") == "48"  # command error and execution error bits


def test_failed_query_replies_nothing(serve: Any, connect: Any) -> None:
    awg = AwgTwin()
    r = connect(serve(awg), timeout_ms=200)
    with pytest.raises(pyvisa.errors.VisaIOError):
        r.query('WLIS:WAV:LENG? "missing"')
    r.timeout = 2000
    assert r.query("SYST:ERR?").startswith("-224,")


def test_error_queue_overflow(serve: Any, connect: Any) -> None:
    lo = LoTwin()
    r = connect(serve(lo))
    r.write(";".join(["NOPE"] * (ERROR_QUEUE_SIZE + 5)))
    errors = [r.query("SYST:ERR?") for _ in range(ERROR_QUEUE_SIZE + 1)]
    assert errors[: ERROR_QUEUE_SIZE - 1] == ['-113,"Undefined header;NOPE"'] * (
        ERROR_QUEUE_SIZE - 1
    )
    assert errors[ERROR_QUEUE_SIZE - 1] == '-350,"Queue overflow"'
    assert errors[ERROR_QUEUE_SIZE] == '0,"No error"'
    r.write("NOPE;*CLS")
    assert r.query("SYST:ERR:COUN?") == "0"


# -- binary blocks ---------------------------------------------------------------------------


def test_waveform_block_with_newlines_round_trips(serve: Any, connect: Any) -> None:
    awg = AwgTwin()
    r = connect(serve(awg))
    # 0x3A0A0A0A and friends: every float32 holds '\n' bytes; some hold ';' and ','.
    raw = np.array([0x3A0A0A0A, 0x0A0A0A0A, 0x3B2C0A3B, 0xBA0A0D0A], dtype="<u4")
    samples = np.tile(raw.view("<f4"), 25)
    assert b"\n" in samples.tobytes()
    r.write_raw(b'WLIS:WAV:DATA "nl",' + encode_block(samples.tobytes()) + b"\r\n")
    assert r.query("SYST:ERR?") == '0,"No error"'
    assert r.query('WLIS:WAV:LENG? "nl"') == "100"
    np.testing.assert_array_equal(awg.waveforms["nl"], samples)
    back = r.query_binary_values('WLIS:WAV:DATA? "nl"', datatype="f", container=np.array)
    np.testing.assert_array_equal(back, samples)
    assert r.query("WLIS:SIZE?;WLIS:NAME? 0") == '1;"nl"'


def test_waveform_out_of_range_is_not_stored(serve: Any, connect: Any) -> None:
    awg = AwgTwin()
    r = connect(serve(awg))
    r.write_binary_values('WLIS:WAV:DATA "big",', [0.5, 1.5], datatype="f")
    assert r.query("SYST:ERR?").startswith("-222,")
    assert r.query("WLIS:SIZE?") == "0"


def test_awg_sequence_channels_and_step_samples(serve: Any, connect: Any) -> None:
    awg = AwgTwin()
    r = connect(serve(awg))
    r.write_binary_values('WLIS:WAV:DATA "a",', [0.5, -1.0, 1.0], datatype="f")
    r.write_binary_values('WLIS:WAV:DATA "b",', [1.0] * 5, datatype="f")
    r.write('SEQ:LENG 2;SEQ:STEP1:WAV1 "a";SEQ:STEP1:WAV2 "b";SEQ:STEP2:WAV2 "a"')
    r.write("SOUR1:VOLT 0.4;SOUR1:VOLT:OFFS 0.1;OUTP1 ON;OUTP2 ON;SOUR2:VOLT 1")
    r.write('SEQ:STEP3:WAV1 "a"')  # no step 3
    r.write('SEQ:STEP1:WAV1 "zz"')  # unknown waveform
    assert r.query("SYST:ERR?").startswith("-114,")
    assert r.query("SYST:ERR?").startswith("-224,")
    assert r.query("SEQ:LENG?;SEQ:STEP1:WAV2?;SEQ:STEP2:WAV1?") == '2;"b";""'
    assert awg.sequence == [{1: "a", 2: "b"}, {2: "a"}]
    np.testing.assert_allclose(awg.step_samples(0, 1), [0.3, -0.3, 0.5, 0.1, 0.1])
    np.testing.assert_allclose(awg.step_samples(1, 1), [0.1, 0.1, 0.1])
    np.testing.assert_allclose(awg.step_samples(0, 3), np.zeros(5))  # output off
    assert awg.step_samples(5, 1).shape == (0,)  # past the sequence: nothing plays
    assert awg.channel_amplitude_v(2) == 1.0 and awg.channel_output(1)
    r.write('WLIS:WAV:DEL "a"')
    assert r.query("*OPC?") == "1"
    assert awg.sequence == [{2: "b"}, {}]
    r.write("WLIS:WAV:DEL ALL")
    assert r.query("*OPC?") == "1"
    assert awg.waveforms == {}


def test_awg_step_entries_repeat_a_block(serve: Any, connect: Any) -> None:
    # a step plays its entries one after another; "name*n" plays a block n times
    awg = AwgTwin()
    r = connect(serve(awg))
    r.write_binary_values('WLIS:WAV:DATA "p",', [0.5, -0.5], datatype="f")
    r.write_binary_values('WLIS:WAV:DATA "z",', [0.0] * 4, datatype="f")
    r.write('SEQ:LENG 1;SEQ:STEP1:WAV1 "p,z*250000,p";OUTP1 ON;SOUR1:VOLT 1;SOUR1:VOLT:OFFS 0.1')
    assert r.query("SYST:ERR?") == '0,"No error"'
    assert r.query("SEQ:STEP1:WAV1?") == '"p,z*250000,p"'
    assert awg.step_length_samples(0) == 1_000_004
    pieces = awg.step_pieces(0, 1)
    assert [(b.size, n) for b, n in pieces] == [(2, 1), (4, 250_000), (2, 1)]
    np.testing.assert_allclose(pieces[1][0], 0.1)  # the offset plays through the idle
    samples = awg.step_samples(0, 1)
    np.testing.assert_allclose(samples[[0, 1, 2, -2, -1]], [0.6, -0.4, 0.1, 0.6, -0.4])
    np.testing.assert_allclose(awg.step_pieces(0, 2)[0][0], 0.0)  # off: zeros, as long
    assert awg.step_pieces(0, 2)[0][1] == 1_000_004
    for bad, code in [('"p*0"', "-222,"), ('"p*x"', "-224,"), ('"p,q"', "-224,")]:
        r.write(f"SEQ:STEP1:WAV1 {bad}")
        assert r.query("SYST:ERR?").startswith(code), bad
    assert awg.sequence == [{1: "p,z*250000,p"}]  # a refused entry list changes nothing


def test_awg_trigger_hook(serve: Any, connect: Any) -> None:
    awg = AwgTwin()
    r = connect(serve(awg))
    seen: list[int] = []
    awg.on_trigger = lambda twin: seen.append(twin.shots)
    r.write("*TRG")
    assert r.query("SYST:ERR?") == '-211,"Trigger ignored"'
    r.write("AWGC:RUN")
    assert r.query("SYST:ERR?").startswith("-221,")  # empty sequence
    r.write("SEQ:LENG 1;AWGC:SHOT 7;AWGC:REPT 2e-4;AWGC:RUN")
    assert r.query("AWGC:RST?;AWGC:SHOT?;AWGC:REPT?") == "1;7;0.0002"
    r.write("*TRG")
    assert r.query("*OPC?") == "1"
    assert seen == [7]

    def broken(twin: AwgTwin) -> None:
        raise RuntimeError("lab exploded")

    awg.on_trigger = broken
    r.write("*TRG")
    assert r.query("SYST:ERR?") == '-200,"Execution error;trigger hook: lab exploded"'
    r.write("AWGC:STOP")
    assert r.query("AWGC:RST?") == "0"


# -- digitizer ------------------------------------------------------------------------------


def test_digitizer_fetch_before_done_and_after_delivery(serve: Any, connect: Any) -> None:
    dig = DigitizerTwin()
    r = connect(serve(dig))
    r.write("FETC?")
    assert r.read_raw() == b"#10\n"
    assert r.query("SYST:ERR?").startswith("-230,")
    r.write("ACQ:SHOT 3;ACQ:STEP 2;DEM:COUN 2;DEM2:CHAN 2;DEM2:FREQ -25e6;DEM2:LENG 4")
    r.write_raw(b"DEM2:WEIG " + encode_block(np.full(4, 1j, dtype="<c8").tobytes()) + b"\n")
    r.write_raw(b"DEM1:WEIG " + encode_block(np.ones(3, dtype="<c8").tobytes()) + b"\n")
    assert r.query("SYST:ERR?").startswith("-222,")  # 3 weights for 1024 samples
    assert r.query("ACQ:DATA:SHAP?;ACQ:STAT?") == "2,3,2;IDLE"
    config = dig.config
    assert config.shape == (2, 3, 2)
    assert config.demodulators[1].channel == 2
    assert config.demodulators[1].frequency_hz == -25e6
    np.testing.assert_array_equal(config.demodulators[1].weights, np.full(4, 1j))
    r.write("ACQ:ARM")
    assert r.query("*OPC?") == "1"
    assert dig.armed and r.query("ACQ:STAT?") == "ARMED"
    data = (np.arange(12) * (1 - 2j)).astype(np.complex64).reshape(2, 3, 2)
    dig.deliver(data)
    assert r.query("ACQ:STAT?") == "DONE"
    back = r.query_binary_values("FETC?", datatype="f", container=np.array)
    np.testing.assert_array_equal(back.view(np.complex64).reshape(2, 3, 2), data)


# -- concurrency and lifecycle -----------------------------------------------------------


def test_two_concurrent_clients(serve: Any, connect: Any) -> None:
    awg = AwgTwin()
    server = serve(awg)
    clients = [connect(server), connect(server)]
    failures: list[str] = []

    def work(r: Resource, ch: int) -> None:
        for i in range(150):
            value = round(0.001 * (i + 1) * ch, 6)
            reply = r.query(f"SOUR{ch}:VOLT {value};SOUR{ch}:VOLT?")
            if float(reply) != value:
                failures.append(f"ch{ch}: sent {value} read {reply}")

    threads = [threading.Thread(target=work, args=(r, ch)) for ch, r in enumerate(clients, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert len([t for t in scpi_threads() if "conn" in t.name]) == 2


def test_stop_releases_port_and_threads(connect: Any) -> None:
    lo = LoTwin()
    server = ScpiServer(lo)
    with server:
        r = connect(server)
        assert r.query("*IDN?").startswith("QNeko")
        port = server.port
        assert len(scpi_threads()) == 2
    assert scpi_threads() == []
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 1):
        pass
    with ScpiServer(LoTwin(name="lo_q0"), port=port) as again:  # the port is free again
        assert again.port == port
        assert [t.name for t in scpi_threads()] == ["scpi-lo_q0-accept"]
    assert scpi_threads() == []


def test_server_lifecycle_errors() -> None:
    server = ScpiServer(LoTwin())
    with pytest.raises(RuntimeError):
        _ = server.address
    server.stop()  # stopping a server that never started is harmless
    with server:
        with pytest.raises(RuntimeError):
            server.start()
        assert server.running
    assert not server.running
