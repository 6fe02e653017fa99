"""Configuration models: loading, validation and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from qneko_hw.config import CalibrationState, CalValue, Chip, Station, default_station, random_chip
from qneko_hw.config.initial import design_state
from qneko_hw.errors import ConfigError, QnekoError


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_random_chip_is_realistic_and_reproducible() -> None:
    for seed in range(5):
        chip = random_chip(6, seed)
        assert chip == random_chip(6, seed)
        for q in chip.qubits.values():
            assert 4e9 <= q.frequency_hz <= 6e9
            assert -350e6 <= q.anharmonicity_hz <= -180e6
            assert 10e-6 <= q.t1_s <= 200e-6
            assert q.t2_s <= 2 * q.t1_s
            assert 6.5e9 <= chip.resonators[q.resonator].frequency_hz <= 7.5e9
    assert random_chip(3, 1) != random_chip(3, 2)


def test_chip_yaml_round_trip(tmp_path: Path) -> None:
    chip = random_chip(2, 5)
    p = write(tmp_path, "chip.yaml", yaml.safe_dump(chip.model_dump(mode="json")))
    assert Chip.load(p) == chip


def test_bad_chip_value_names_file_line_and_field(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "chip.yaml",
        "qubits:\n  q0:\n    frequency_hz: 5.0e9\n    t1_s: -3\n    resonator: r0\n"
        "resonators:\n  r0:\n    frequency_hz: 7.0e9\n",
    )
    with pytest.raises(ConfigError) as err:
        Chip.load(p)
    msg = str(err.value)
    assert "chip.yaml" in msg and "qubits.q0.t1_s" in msg and "line 4" in msg
    assert "greater than 0" in msg
    assert err.value.field == "qubits.q0.t1_s"


def test_bad_yaml_syntax_names_line(tmp_path: Path) -> None:
    p = write(tmp_path, "chip.yaml", "qubits:\n  q0: [1, 2\n")
    with pytest.raises(ConfigError, match=r"chip\.yaml.*line \d+.*not valid YAML"):
        Chip.load(p)


def test_unknown_field_and_dangling_resonator(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "c.yaml",
        "qubits:\n  q0: {frequency_hz: 5e9, resonator: r9, colour: red}\nresonators: {}\n",
    )
    with pytest.raises(ConfigError, match="colour"):
        Chip.load(p)
    p2 = write(
        tmp_path, "d.yaml", "qubits:\n  q0: {frequency_hz: 5e9, resonator: r9}\nresonators: {}\n"
    )
    with pytest.raises(ConfigError, match="r9"):
        Chip.load(p2)


def test_t2_bound() -> None:
    with pytest.raises(QnekoError):
        from qneko_hw.config.base import model_from_data

        model_from_data(
            Chip,
            {
                "qubits": {
                    "q0": {"frequency_hz": 5e9, "t1_s": 1e-5, "t2_s": 3e-5, "resonator": "r"}
                },
                "resonators": {"r": {"frequency_hz": 7e9}},
            },
        )


def test_missing_file_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        Station.load(tmp_path / "nope.yaml")


@pytest.mark.parametrize("bad", [".nan", ".inf", "-.inf"])
@pytest.mark.parametrize(
    "field", ["max_power_dbm", "max_amplitude_v", "max_voltage_v", "max_ramp_rate_v_per_s"]
)
def test_a_safety_limit_that_is_not_a_finite_number_is_refused(
    tmp_path: Path, field: str, bad: str
) -> None:
    # NaN compares false with every value (the check would switch off), inf says "no
    # limit" without saying so: both are refused at load, naming the file and the field
    good = default_station({"f0": ["q0"]})
    data = good.model_dump(mode="json")
    lo = good.drive["q0"].lo
    data["instruments"][lo]["limits"][field] = 123.25
    text = yaml.safe_dump(data).replace(f"{field}: 123.25", f"{field}: {bad}")
    assert f"{field}: {bad}" in text
    with pytest.raises(ConfigError) as err:
        Station.load(write(tmp_path, "s.yaml", text))
    assert "s.yaml" in str(err.value) and field in str(err.value)
    assert err.value.field == f"instruments.{lo}.limits.{field}"
    data["instruments"][lo]["limits"][field] = None  # null: no limit, said so
    assert (
        Station.load(write(tmp_path, "ok.yaml", yaml.safe_dump(data)))
        .instruments[lo]
        .limits.model_dump()[field]
        is None
    )


def test_station_wiring_checked(tmp_path: Path) -> None:
    good = default_station({"f0": ["q0", "q1"]})
    text = yaml.safe_dump(good.model_dump(mode="json"))
    assert Station.load(write(tmp_path, "s.yaml", text)) == good
    bad = good.model_dump(mode="json")
    bad["drive"]["q1"]["channel_i"] = bad["drive"]["q0"]["channel_i"]
    with pytest.raises(ConfigError, match="already used"):
        Station.load(write(tmp_path, "b.yaml", yaml.safe_dump(bad)))
    bad2 = good.model_dump(mode="json")
    bad2["drive"]["q0"]["lo"] = "nonexistent"
    with pytest.raises(ConfigError, match="nonexistent"):
        Station.load(write(tmp_path, "b2.yaml", yaml.safe_dump(bad2)))
    bad3 = good.model_dump(mode="json")
    bad3["drive"]["q0"]["lo"] = "dig"
    with pytest.raises(ConfigError, match="expected qneko_sg1"):
        Station.load(write(tmp_path, "b3.yaml", yaml.safe_dump(bad3)))


def test_calibration_state_versioning_and_save(tmp_path: Path) -> None:
    chip = random_chip(2, 1)
    state = design_state(chip, default_station({"f0": ["q0", "q1"]}))
    new = state.with_qubit("q0", pi_amplitude_v=CalValue.measured(0.3, 0.001, "run-1"))
    assert new.version == state.version + 1
    assert new.qubit("q0").pi_amplitude_v.run_id == "run-1"
    assert state.qubit("q0").pi_amplitude_v.run_id is None
    p = tmp_path / "cal.json"
    new.save(p)
    assert CalibrationState.load(p) == new
    with pytest.raises(ConfigError, match="no calibration for qubit 'q7'"):
        new.qubit("q7")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ConfigError, match=r"bad\.json"):
        CalibrationState.load(tmp_path / "bad.json")


def test_design_pi_amplitude_scales_with_attenuation() -> None:
    from qneko_hw.config.initial import estimated_pi_amplitude_v

    a20 = estimated_pi_amplitude_v(700e6, 20.0)
    a26 = estimated_pi_amplitude_v(700e6, 26.0)
    assert a26 / a20 == pytest.approx(10 ** (6 / 20), rel=1e-9)
    assert estimated_pi_amplitude_v(350e6, 20.0) == pytest.approx(2 * a20)


def test_measured_value_with_an_unusable_uncertainty_keeps_it_unknown() -> None:
    """A fit whose covariance is singular reports a NaN standard error; the stored value
    then has no uncertainty instead of failing validation."""
    import math

    for bad in (math.nan, math.inf):
        v = CalValue.measured(5e9, bad, "run-1")
        assert v.value == 5e9 and v.uncertainty is None
    assert CalValue.measured(5e9, 2.0, "run-1").uncertainty == 2.0
    with pytest.raises(ValidationError):
        CalValue(value=1.0, uncertainty=-1.0)
