"""The instrument-model table: every entry's driver, twin, traits and QCoDeS classes hold."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from qneko_hw import instruments, roles
from qneko_hw.compiler.traits import AwgTraits, DigitizerTraits, awg_traits, digitizer_traits
from qneko_hw.config import InstrumentConfig, Station, default_station
from qneko_hw.config.station import qcodes_station_instruments
from qneko_hw.errors import ConfigError
from qneko_hw.instruments import MODELS, InstrumentModelSpec, models_with_role

SPECS = list(MODELS.values())
ROLE_PROTOCOLS: dict[str, type] = {
    "lo": roles.LOSource,
    "awg": roles.AWG,
    "digitizer": roles.Digitizer,
    "dc": roles.DCSource,
    "vna": roles.VNA,
}


def load(path: str) -> object:
    module, sep, name = path.partition(":")
    assert sep and module and name, path
    return getattr(importlib.import_module(module), name)


def test_the_table_is_keyed_by_name_in_a_fixed_order() -> None:
    assert list(MODELS) == [
        "qneko_sg1",
        "qneko_awg4",
        "qneko_dig2",
        "rs_sgs100a",
        "tek_awg5208",
        "yokogawa_gs200",
        "rs_znb20",
    ]
    assert all(name == spec.name for name, spec in MODELS.items())
    with pytest.raises(TypeError):
        MODELS["new"] = SPECS[0]  # type: ignore[index]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_driver_imports_is_a_class_and_fills_its_role(spec: InstrumentModelSpec) -> None:
    from qneko_hw.drivers.station import driver_class

    cls = load(spec.driver)
    assert isinstance(cls, type)
    assert cls.__module__.startswith("qneko_hw.drivers.")
    assert driver_class(spec.name) is cls
    protocol = ROLE_PROTOCOLS[spec.role]
    members = {n for n in vars(protocol) if not n.startswith("_")}
    assert members, protocol
    missing = sorted(m for m in members if not hasattr(cls, m))
    assert not missing, f"{spec.name}'s driver lacks {missing} of role {spec.role}"


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_twin_imports_and_is_a_scpi_instrument(spec: InstrumentModelSpec) -> None:
    from qneko_hw.simulated_instruments.lab import twin_class
    from qneko_hw.simulated_instruments.scpi.instrument import ScpiInstrument

    cls = load(spec.twin)
    assert isinstance(cls, type) and issubclass(cls, ScpiInstrument)
    assert cls.__module__.startswith("qneko_hw.simulated_instruments.")
    assert twin_class(spec.name) is cls


def test_no_two_models_share_a_driver_or_twin() -> None:
    assert len({s.driver for s in SPECS}) == len(SPECS)
    assert len({s.twin for s in SPECS}) == len(SPECS)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_qcodes_class_is_a_qcodes_instrument(spec: InstrumentModelSpec) -> None:
    from qcodes.instrument import InstrumentBase

    module, _, name = spec.qcodes_class.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    assert isinstance(cls, type) and issubclass(cls, InstrumentBase)


def test_every_awg_and_digitizer_has_traits_and_no_other_model_has() -> None:
    awgs = models_with_role("awg")
    digitizers = models_with_role("digitizer")
    assert awgs == ("qneko_awg4", "tek_awg5208")
    assert digitizers == ("qneko_dig2",)
    for name in awgs:
        traits = awg_traits(name)
        assert isinstance(traits, AwgTraits) and traits is MODELS[name].awg
        assert traits.sample_rate_hz > 0 and traits.channels >= 2 and traits.max_amplitude_v > 0
        assert traits.memory_samples >= traits.min_length_samples >= 1
    for name in digitizers:
        dig = digitizer_traits(name)
        assert isinstance(dig, DigitizerTraits) and dig is MODELS[name].digitizer
        assert dig.sample_rate_hz > 0 and dig.max_demodulators >= 1
    for spec in SPECS:
        if spec.role != "awg":
            assert spec.awg is None
            with pytest.raises(ConfigError, match=spec.name):
                awg_traits(spec.name)
        if spec.role != "digitizer":
            assert spec.digitizer is None
            with pytest.raises(ConfigError, match=spec.name):
                digitizer_traits(spec.name)


def test_an_entry_that_breaks_the_rules_is_refused() -> None:
    base = MODELS["qneko_awg4"]
    with pytest.raises(ValueError, match="AWG traits"):
        InstrumentModelSpec(
            base.name, "awg", base.driver, base.twin, base.qcodes_class, base.qcodes_types
        )
    with pytest.raises(ValueError, match="module:Class"):
        InstrumentModelSpec(
            "x", "lo", "qneko_hw.drivers.qneko_sg1.QnekoSG1", base.twin, base.qcodes_class, ()
        )


def test_roles_partition_the_models_and_wiring_keeps_the_role() -> None:
    by_role = {role: models_with_role(role) for role in instruments.ROLES}
    assert sorted(n for names in by_role.values() for n in names) == sorted(MODELS)
    assert by_role["vna"] == ("rs_znb20",)
    assert by_role["lo"] == ("qneko_sg1", "rs_sgs100a")
    with pytest.raises(ConfigError, match="scope"):
        models_with_role("scope")  # type: ignore[arg-type]
    assert MODELS["rs_sgs100a"].wiring == "qneko_sg1"
    assert MODELS["tek_awg5208"].wiring == "qneko_awg4"
    assert MODELS["rs_znb20"].wiring == "rs_znb20"  # the default: the model itself
    for spec in SPECS:
        assert MODELS[spec.wiring].role == spec.role, spec.name


def test_unknown_model_names_it_and_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="'qneko_frobnicator'") as err:
        instruments.model("qneko_frobnicator")
    assert all(name in str(err.value) for name in MODELS)
    with pytest.raises(ValueError, match="qneko_frobnicator"):
        InstrumentConfig(model="qneko_frobnicator")
    assert InstrumentConfig(model="tek_awg5208").model == "tek_awg5208"


def test_made_up_model_in_a_station_file_is_a_config_error(tmp_path: Path) -> None:
    data = default_station({"f0": ["q0"]}).model_dump(mode="json")
    data["instruments"]["dig"]["model"] = "qneko_frobnicator"
    text = yaml.safe_dump(data, sort_keys=False)
    path = tmp_path / "station.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="qneko_frobnicator") as err:
        Station.load(path)
    message = str(err.value)
    assert str(path) in message
    assert err.value.field == "instruments.dig.model"
    line = 1 + text.splitlines().index("    model: qneko_frobnicator")
    assert f"instruments.dig.model (line {line})" in message
    assert "known models: qneko_sg1, qneko_awg4" in message


def test_qcodes_types_round_trip_through_a_qcodes_station_file(tmp_path: Path) -> None:
    qcodes_instruments: dict[str, dict[str, str]] = {}
    expected: dict[str, str] = {}
    for spec in SPECS:
        assert spec.qcodes_class.rpartition(".")[2] in spec.qcodes_types, spec.name
        name = f"{spec.name}_default"
        qcodes_instruments[name] = {"type": spec.qcodes_class, "address": f"GPIB::{len(expected)}"}
        expected[name] = spec.name
        for alias in spec.qcodes_types:
            name = f"{spec.name}_{alias}"
            qcodes_instruments[name] = {"type": f"qcodes.instrument_drivers.some.{alias}"}
            expected[name] = spec.name
    path = tmp_path / "qcodes_station.yaml"
    path.write_text(yaml.safe_dump({"instruments": qcodes_instruments}))
    read = qcodes_station_instruments(path)
    assert {name: entry["model"] for name, entry in read.items()} == expected
    assert read["qneko_sg1_default"]["address"] == "GPIB::0"
    assert "address" not in read["qneko_sg1_QnekoSG1"]
    # no QCoDeS class name maps to two models
    assert len(instruments.QCODES_TYPES) == sum(len(s.qcodes_types) for s in SPECS)


def test_the_sim_cli_writes_each_models_qcodes_class() -> None:
    from qneko_hw.cli.sim import qcodes_station_config

    station = Station(instruments={spec.name: InstrumentConfig(model=spec.name) for spec in SPECS})
    config = qcodes_station_config(station)["instruments"]
    assert {n: c["type"] for n, c in config.items()} == {s.name: s.qcodes_class for s in SPECS}


def test_importing_the_table_and_the_config_imports_no_driver_twin_or_qcodes() -> None:
    code = (
        "import sys, qneko_hw.instruments, qneko_hw.config, qneko_hw.compiler.traits, "
        "qneko_hw.roles\n"
        "print('\\n'.join(sorted(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "qneko_hw.instruments" in out
    bad = re.compile(r"^(qcodes|pyvisa|qneko_hw\.(drivers|simulated_instruments|calibrations))\b")
    assert [m for m in out if bad.match(m)] == []
