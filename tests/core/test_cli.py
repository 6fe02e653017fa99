"""The ``qneko`` command line, in process."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import yaml
from typer.testing import CliRunner

from qneko_hw.cli.main import app
from qneko_hw.config import Chip, default_station

runner = CliRunner()


def test_chip_new_writes_loadable_chip(tmp_path: Path) -> None:
    out = tmp_path / "chip.yaml"
    res = runner.invoke(app, ["chip", "new", "--qubits", "3", "--seed", "5", "--out", str(out)])
    assert res.exit_code == 0, res.output
    chip = Chip.load(out)
    assert len(chip.qubits) == 3


def test_calibrate_writes_runs_and_state(tmp_path: Path) -> None:
    chip = tmp_path / "chip.yaml"
    runner.invoke(app, ["chip", "new", "--qubits", "2", "--seed", "8", "--out", str(chip)])
    res = runner.invoke(
        app,
        [
            *("calibrate", "--chip", str(chip), "--out", str(tmp_path / "o")),
            *("--shots", "300", "--target", "rabi"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "design → found" in res.output and "Δ design" in res.output
    state = json.loads((tmp_path / "o" / "calibration.json").read_text())
    for q in ("q0", "q1"):
        assert state["qubits"][q]["pi_amplitude_v"]["run_id"] is not None
    rabi_runs = sorted((tmp_path / "o" / "runs").glob("*-rabi-*.h5"))
    assert len(rabi_runs) == 2
    for run in rabi_runs:  # both qubits in one multiplexed program
        with h5py.File(run) as f:
            assert f.attrs["multiplexed_with"] == ("q1" if f.attrs["qubit"] == "q0" else "q0")


def test_calibrate_sequential_runs_one_qubit_at_a_time(tmp_path: Path) -> None:
    chip = tmp_path / "chip.yaml"
    runner.invoke(app, ["chip", "new", "--qubits", "2", "--seed", "8", "--out", str(chip)])
    res = runner.invoke(
        app,
        [
            *("calibrate", "--chip", str(chip), "--out", str(tmp_path / "o")),
            *("--shots", "300", "--target", "resonator_spectroscopy", "--sequential"),
        ],
    )
    assert res.exit_code == 0, res.output
    runs = sorted((tmp_path / "o" / "runs").glob("*-resonator_spectroscopy-*.h5"))
    assert len(runs) == 2
    for run in runs:
        with h5py.File(run) as f:
            assert f.attrs["multiplexed_with"] == ""


def test_calibrate_bad_chip_is_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "chip.yaml"
    bad.write_text(
        "qubits:\n  q0: {frequency_hz: 99, resonator: r0}\nresonators:\n  r0: {frequency_hz: 7e9}\n"
    )
    res = runner.invoke(app, ["calibrate", "--chip", str(bad), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "qubits.q0.frequency_hz" in res.output and "chip.yaml" in res.output


def test_unknown_qubit(tmp_path: Path) -> None:
    res = runner.invoke(app, ["calibrate", "--qubits", "q42", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "q42" in res.output


def test_calibrate_hands_the_station_vna_to_its_node(tmp_path: Path) -> None:
    """A station with a VNA: the VNA resonator spectroscopy node is in the graph, gets the
    connected VNA and sets both qubits' readout frequencies."""
    chip = tmp_path / "chip.yaml"
    runner.invoke(app, ["chip", "new", "--qubits", "2", "--seed", "5", "--out", str(chip)])
    data = default_station({"f0": ["q0", "q1"]}, seed=5).model_dump(mode="json")
    data["instruments"]["vna"] = {"model": "rs_znb20"}
    for cfg in data["instruments"].values():
        cfg["address"] = "sim"
    station = tmp_path / "station.yaml"
    station.write_text(yaml.safe_dump(data))
    res = runner.invoke(
        app,
        [
            *("calibrate", "--chip", str(chip), "--station", str(station)),
            *("--out", str(tmp_path / "o"), "--target", "resonator_spectroscopy_vna"),
        ],
    )
    assert res.exit_code == 0, res.output
    state = json.loads((tmp_path / "o" / "calibration.json").read_text())
    for q in ("q0", "q1"):
        run_id = state["qubits"][q]["readout_frequency_hz"]["run_id"]
        assert run_id is not None and "resonator_spectroscopy_vna" in run_id


def test_calibrate_shows_nodes_that_do_not_apply_to_a_qubit(tmp_path: Path) -> None:
    """q0 is flux-tunable behind a bias line, q1 is not: the flux sweep runs on q0 and the
    live table marks it not applicable on q1 (not "fresh")."""
    from qneko_hw.config import random_chip
    from qneko_hw.config.chip import FluxTuning
    from qneko_hw.config.station import BiasLine, InstrumentConfig

    chip = random_chip(2, 5)
    q0 = chip.qubits["q0"]
    flux = FluxTuning(max_frequency_hz=q0.frequency_hz + 20e6, asymmetry=0.3, flux_per_amp=1000.0)
    chip = chip.replace(
        qubits={**chip.qubits, "q0": {**q0.model_dump(), "flux": flux.model_dump()}}
    )
    base = default_station({"f0": ["q0", "q1"]}, seed=5)
    station = base.model_copy(
        update={
            "instruments": {**base.instruments, "dc": InstrumentConfig(model="yokogawa_gs200")},
            "bias": {"q0": BiasLine(source="dc", resistance_ohm=1000.0)},
        }
    )
    data = station.model_dump(mode="json")
    for cfg in data["instruments"].values():
        cfg["address"] = "sim"
    (tmp_path / "station.yaml").write_text(yaml.safe_dump(data))
    (tmp_path / "chip.yaml").write_text(yaml.safe_dump(chip.model_dump(mode="json")))
    res = runner.invoke(
        app,
        [
            *("calibrate", "--chip", str(tmp_path / "chip.yaml")),
            *("--station", str(tmp_path / "station.yaml"), "--out", str(tmp_path / "o")),
            *("--target", "flux_sweep", "--shots", "300"),
        ],
    )
    assert res.exit_code == 0, res.output
    rows = [line for line in res.output.splitlines() if line.startswith("│ q1")]
    assert any("n/a" in row for row in rows), res.output
    assert list((tmp_path / "o" / "runs").glob("*-flux_sweep-q0-*.h5"))
    assert not list((tmp_path / "o" / "runs").glob("*-flux_sweep-q1-*.h5"))
