"""``qneko sim up`` serves a station in the background; plain QCoDeS scripts use it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from qcodes.instrument import Instrument
from qcodes.instrument_drivers.rohde_schwarz import RohdeSchwarzSGS100A
from qcodes.station import Station as QcodesStation
from typer.testing import CliRunner

from qneko_hw.cli.main import app
from qneko_hw.cli.session import builtin_chip, builtin_station
from qneko_hw.config import Station

runner = CliRunner()


def test_sim_up_serves_a_station_that_plain_qcodes_scripts_use(tmp_path: Path) -> None:
    chip = builtin_chip()
    data = builtin_station(chip).model_dump(mode="json")
    swap = {"qneko_sg1": "rs_sgs100a", "qneko_awg4": "tek_awg5208"}
    for cfg in data["instruments"].values():
        cfg["model"] = swap.get(cfg["model"], cfg["model"])
    station_file = tmp_path / "station.yaml"
    station_file.write_text(yaml.safe_dump(data))
    state = tmp_path / "state"
    up = ["sim", "up", "--station", str(station_file), "--state-dir", str(state)]
    res = runner.invoke(app, up)
    assert res.exit_code == 0, res.output
    try:
        served = Station.load(state / "station.yaml")
        assert all(c.address.startswith("TCPIP::127.0.0.1::") for c in served.instruments.values())
        assert "lo_q0" in res.output and served.instruments["lo_q0"].address in res.output
        again = runner.invoke(app, up)
        assert again.exit_code == 1 and "already running" in again.output
        # a plain QCoDeS script: qcodes.Station from the written config
        qc = QcodesStation(config_file=str(state / "qcodes_station.yaml"))
        lo = qc.load_instrument("lo_q0")
        awg = qc.load_instrument("awg_drive0")
        lo.frequency(5.1e9)
        lo.status(True)
        assert lo.frequency() == 5.1e9 and lo.status() is True
        awg.ch2.awg_amplitude(0.5)
        assert awg.ch2.awg_amplitude() == 0.5
        # or direct instantiation with the address from our station file
        direct = RohdeSchwarzSGS100A(
            "direct_lo", served.instruments["lo_q1"].address, visalib="@py"
        )
        assert direct.IDN()["model"] == "SGS100A"
        Instrument.close_all()
    finally:
        down = runner.invoke(app, ["sim", "down", "--state-dir", str(state)])
    assert down.exit_code == 0, down.output
    assert not (state / "sim.pid").exists()
    with pytest.raises(Exception):  # noqa: B017 - the twins are gone
        RohdeSchwarzSGS100A("gone", served.instruments["lo_q1"].address, visalib="@py")
    Instrument.close_all()
    assert runner.invoke(app, ["sim", "down", "--state-dir", str(state)]).output.startswith(
        "nothing"
    )
