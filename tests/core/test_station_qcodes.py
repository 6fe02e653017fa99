"""A station file that takes its instruments from a QCoDeS Station YAML (``qcodes_station``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from qneko_hw.config import Station
from qneko_hw.errors import ConfigError

QCODES_STATION = {
    "instruments": {
        "lo_q0": {
            "type": "qcodes.instrument_drivers.rohde_schwarz.RohdeSchwarzSGS100A",
            "address": "TCPIP::192.168.1.20::inst0::INSTR",
        },
        "awg": {
            "type": "qcodes.instrument_drivers.tektronix.TektronixAWG5208",
            "address": "TCPIP::192.168.1.21::inst0::INSTR",
            "init": {"timeout": 20},
        },
        "bias": {
            "type": "qcodes.instrument_drivers.yokogawa.YokogawaGS200",
            "address": "GPIB::1::INSTR",
        },
        "vna": {
            "type": "qcodes.instrument_drivers.rohde_schwarz.RohdeSchwarzZNB20",
            "address": "TCPIP::192.168.1.22::inst0::INSTR",
        },
    }
}

STATION = {
    "name": "lab",
    "qcodes_station": "qcodes/station.yaml",
    "instruments": {
        # ours win, field by field: limits added, address replaced
        "lo_q0": {"limits": {"max_power_dbm": 16.0}},
        "bias": {"address": "GPIB::5::INSTR", "limits": {"max_voltage_v": 1.0}},
        "lo_q1": {"model": "qneko_sg1", "address": "sim"},
    },
    "drive": {"q0": {"awg": "awg", "channel_i": 1, "channel_q": 2, "lo": "lo_q0"}},
    "bias": {"q0": {"source": "bias"}},
}


def write_files(tmp_path: Path, qcodes: object, station: object) -> Path:
    (tmp_path / "qcodes").mkdir()
    (tmp_path / "qcodes" / "station.yaml").write_text(yaml.safe_dump(qcodes))
    path = tmp_path / "station.yaml"
    path.write_text(yaml.safe_dump(station))
    return path


def test_instruments_read_from_the_qcodes_station(tmp_path: Path) -> None:
    station = Station.load(write_files(tmp_path, QCODES_STATION, STATION))
    inst = station.instruments
    assert station.qcodes_station == "qcodes/station.yaml"
    assert {name: cfg.model for name, cfg in inst.items()} == {
        "lo_q0": "rs_sgs100a",
        "awg": "tek_awg5208",
        "bias": "yokogawa_gs200",
        "vna": "rs_znb20",
        "lo_q1": "qneko_sg1",
    }
    assert inst["lo_q0"].address == "TCPIP::192.168.1.20::inst0::INSTR"
    assert inst["lo_q0"].limits.max_power_dbm == 16.0
    assert inst["awg"].address == "TCPIP::192.168.1.21::inst0::INSTR"
    assert inst["bias"].address == "GPIB::5::INSTR"
    assert inst["bias"].limits.max_voltage_v == 1.0
    assert station.drive["q0"].lo == "lo_q0"


def test_the_qcodes_station_file_is_one_qcodes_loads(tmp_path: Path) -> None:
    from qcodes.station import Station as QcodesStation

    write_files(tmp_path, QCODES_STATION, STATION)
    previous = QcodesStation.default
    qc = QcodesStation(config_file=str(tmp_path / "qcodes" / "station.yaml"), default=False)
    try:
        assert qc.config is not None
        assert set(qc.config["instruments"]) == set(QCODES_STATION["instruments"])
    finally:
        qc.close_all_registered_instruments()
        QcodesStation.default = previous


def test_unknown_driver_type_names_file_and_instrument(tmp_path: Path) -> None:
    bad = {"instruments": {"scope": {"type": "qcodes.instrument_drivers.foo.Scope"}}}
    path = write_files(tmp_path, bad, {"qcodes_station": "qcodes/station.yaml"})
    with pytest.raises(ConfigError, match="scope") as info:
        Station.load(path)
    assert "qcodes/station.yaml" in str(info.value)
    assert info.value.field == "instruments.scope.type"


def test_merged_station_checked_by_the_wiring_rules(tmp_path: Path) -> None:
    station = {
        "qcodes_station": "qcodes/station.yaml",
        "instruments": {},
        "bias": {"q0": {"source": "lo_q0"}},  # an SGS100A is no DC source
    }
    with pytest.raises(ConfigError, match="expected yokogawa_gs200"):
        Station.load(write_files(tmp_path, QCODES_STATION, station))


def test_missing_qcodes_station_file(tmp_path: Path) -> None:
    path = tmp_path / "station.yaml"
    path.write_text(yaml.safe_dump({"qcodes_station": "absent.yaml"}))
    with pytest.raises(ConfigError, match="cannot read QCoDeS station file"):
        Station.load(path)
