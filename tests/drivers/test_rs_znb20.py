"""QCoDeS's own ZNB20 driver (unchanged) against our VNA twin on the chip's feedline."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
import pytest
from qcodes.instrument import Instrument
from qcodes.instrument_drivers.rohde_schwarz import RohdeSchwarzZNB20

from qneko_hw.config.chip import Chip, random_chip
from qneko_hw.config.station import InstrumentConfig
from qneko_hw.drivers import VNA, SafetyLimits
from qneko_hw.drivers.rs_znb20 import RsZnb20Vna, open_vna_resource
from qneko_hw.errors import SafetyLimitError
from qneko_hw.simulated_instruments.lab import resonator_params, transmon_params
from qneko_hw.simulated_instruments.physics.readout import level_shifts_hz
from qneko_hw.simulated_instruments.rs_znb20_twin import ZnbTwin
from qneko_hw.simulated_instruments.scpi import ScpiServer

_names = itertools.count()


def name(prefix: str) -> str:
    return f"{prefix}{next(_names)}"


@pytest.fixture(scope="module")
def chip() -> Chip:
    return random_chip(2, seed=7)


@pytest.fixture
def vna(chip) -> Iterator[tuple[ZnbTwin, ScpiServer]]:
    twin = ZnbTwin(seed=3)
    twin.resonators = [(transmon_params(chip, q), resonator_params(chip, q)) for q in chip.qubits]
    with ScpiServer(twin) as server:
        yield twin, server
        Instrument.close_all()


def test_znb20_qcodes_driver_init_snapshot_and_parameters(vna) -> None:
    twin, server = vna
    drv = RohdeSchwarzZNB20(name("znb"), None, resource=open_vna_resource(server.address))
    assert [ch.short_name for ch in drv.channels] == ["S11", "S12", "S21", "S22"]
    snap = drv.snapshot(update=True)
    assert twin.errors == ()
    assert any(k.endswith("S21") for k in snap["submodules"]["channels"]["channels"])
    assert drv.num_ports() == 2 and drv.rf_power() is False and drv.ref_osc_PLL_locked()
    drv.ref_osc_source("EXT")
    drv.ref_osc_external_freq(10e6)
    # (its get parser strips "Hz" but not the reply's newline, so only the set is used)
    assert drv.ref_osc_source() == "EXT" and twin.ref_external_hz == 10e6
    s21 = drv.S21
    assert s21.vna_parameter() == "S21"
    s21.power(-20)
    s21.bandwidth(1000)
    s21.avg(2)
    s21.center(5e9)
    s21.span(20e6)
    s21.npts(101)
    s21.electrical_delay(1e-9)
    s21.format("Complex")
    assert (s21.power(), s21.bandwidth(), s21.avg(), s21.npts()) == (-20.0, 1000, 2, 101)
    assert (s21.start(), s21.stop(), s21.center(), s21.span()) == (4.99e9, 5.01e9, 5e9, 20e6)
    assert s21.sweep_time() == pytest.approx(0.101) and s21.format() == "Complex"
    s21.sweep_type("CW_Point")
    s21.cw_frequency(5.001e9)
    i, q = s21.trace_fixed_frequency()
    assert len(i) == len(q) == 101 and s21.cw_frequency() == 5.001e9
    s21.setup_lin_sweep()
    assert s21.sweep_type() == "Linear"
    drv.rf_on()
    mag, phase = s21.trace_mag_phase()
    assert mag.shape == phase.shape == (101,)
    assert twin.errors == ()
    drv.write("SENS1:FREQ:STAR 30e9")
    drv.write("CALC1:BOGUS 1")
    drv.ask("*OPC?")
    assert [e.split(",")[0] for e in twin.errors] == ["-222", "-113"]


def test_s21_dip_from_the_chip_found_by_qcodes_sweep(vna, chip) -> None:
    _, server = vna
    drv = RohdeSchwarzZNB20(
        name("znb"), None, resource=open_vna_resource(server.address), init_s_params=False
    )
    drv.add_channel("S21")
    drv.rf_on()
    q = next(iter(chip.qubits))
    res = resonator_params(chip, q)
    pops = np.diag(np.asarray(_thermal(chip, q))).real
    truth = res.frequency_hz + float(pops @ level_shifts_hz(transmon_params(chip, q), res))
    ch = drv.S21
    ch.npts(401)
    ch.stop(truth + 5 * res.kappa_hz)
    ch.start(truth - 5 * res.kappa_hz)
    mag, _ = ch.trace_mag_phase()
    f = np.linspace(ch.start(), ch.stop(), ch.npts())
    assert abs(f[np.argmin(mag)] - truth) < res.kappa_hz / 4
    assert mag.min() < 0.3 and mag[0] > 0.9


def _thermal(chip: Chip, q: str) -> object:
    from qneko_hw.simulated_instruments.physics import transmon

    return transmon.thermal_state(transmon_params(chip, q))


def test_vna_adapter_fills_the_role(vna, chip) -> None:
    twin, server = vna
    with pytest.raises(SafetyLimitError):
        RsZnb20Vna(name("vna"), server.address, SafetyLimits(max_power_dbm=-40), power_dbm=-30)
    assert twin.received_count == 0
    with RsZnb20Vna(name("vna"), server.address, SafetyLimits(max_power_dbm=-20)) as vna_:
        assert isinstance(vna_, VNA)
        res = resonator_params(chip, next(iter(chip.qubits)))
        f, s21 = vna_.sweep(res.frequency_hz - 4 * res.kappa_hz, res.frequency_hz + 4e6, 201)
        assert f.shape == s21.shape == (201,)
        assert abs(f[np.argmin(np.abs(s21))] - res.frequency_hz) < res.kappa_hz / 2
        assert twin.errors == ()


def test_station_model_and_lab_twin(chip) -> None:
    from qneko_hw.drivers.station import driver_class
    from qneko_hw.simulated_instruments.lab import twin_class

    assert driver_class("rs_znb20") is RsZnb20Vna and twin_class("rs_znb20") is ZnbTwin
    assert InstrumentConfig(model="rs_znb20").model == "rs_znb20"
