"""Fabrication: a device drawn from a design with the documented spread, and the simulated
lab running it while the routines see only the design."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from qneko_hw.cli.main import app
from qneko_hw.config import Chip, random_chip
from qneko_hw.config.chip import FluxTuning
from qneko_hw.errors import ConfigError
from qneko_hw.runfile import read_run
from qneko_hw.simulated_instruments.fabrication import Drift, Spread, drifted, fabricate


def test_a_device_differs_from_its_design_with_the_documented_spread() -> None:
    design = random_chip(64, seed=3)
    device = fabricate(design, seed=9)
    assert device == fabricate(design, seed=9) and device != fabricate(design, seed=10)
    assert set(device.qubits) == set(design.qubits)
    assert set(device.resonators) == set(design.resonators) and device.name != design.name
    q_shift = np.array(
        [device.qubits[q].frequency_hz - design.qubits[q].frequency_hz for q in design.qubits]
    )
    assert 45e6 < q_shift.std() < 80e6  # σ = 60 MHz
    r_shift = np.array(
        [
            device.resonators[r].frequency_hz - design.resonators[r].frequency_hz
            for r in design.resonators
        ]
    )
    assert 2e6 < r_shift.std() < 4.2e6  # σ = 3 MHz
    for q, spec in design.qubits.items():
        dev = device.qubits[q]
        assert abs(dev.anharmonicity_hz / spec.anharmonicity_hz - 1) <= 0.03 + 1e-3
        assert abs(dev.rabi_rate_hz_per_v / spec.rabi_rate_hz_per_v - 1) <= 0.30 + 1e-3
        assert dev.t2_s <= 2 * dev.t1_s and 0 <= dev.thermal_population <= 0.05
        res, dres = design.resonators[spec.resonator], device.resonators[spec.resonator]
        assert abs(dres.kappa_hz / res.kappa_hz - 1) <= 0.25 + 1e-3
        assert dres.feedline == res.feedline
    t1 = np.array([q.t1_s for q in device.qubits.values()])
    assert t1.min() < 20e-6 and t1.max() > 150e-6  # some short-lived, some long-lived


def test_dead_qubits_and_tunable_qubits() -> None:
    design = random_chip(4, seed=1)
    q0 = design.qubits["q0"]
    flux = FluxTuning(max_frequency_hz=q0.frequency_hz + 20e6)
    design = design.replace(
        qubits={
            **design.model_dump()["qubits"],
            "q0": {**q0.model_dump(), "flux": flux.model_dump()},
        }
    )
    dead = fabricate(design, seed=2, spread=Spread(dead_probability=1.0))
    assert all(q.t1_s == pytest.approx(0.5e-6) for q in dead.qubits.values())
    device = fabricate(design, seed=2)
    tuned = device.qubits["q0"]
    assert tuned.flux is not None  # it moved as a whole: still within its tuning range
    assert tuned.flux.max_frequency_hz - tuned.frequency_hz == pytest.approx(20e6, abs=1e3)


def _write(path: Path, chip: Chip) -> Path:
    path.write_text(yaml.safe_dump(chip.model_dump(mode="json")), encoding="utf-8")
    return path


def test_qneko_chip_fabricate_writes_a_loadable_device(tmp_path: Path) -> None:
    design = _write(tmp_path / "design.yaml", random_chip(3, seed=4))
    out = tmp_path / "device.yaml"
    res = CliRunner().invoke(
        app, ["chip", "fabricate", "--design", str(design), "--seed", "5", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert Chip.load(out) == fabricate(Chip.load(design), 5)


def test_calibrate_runs_the_device_and_records_only_its_name(tmp_path: Path) -> None:
    """A device a few MHz from its design (small spread, so that today's ±10 MHz qubit
    spectroscopy reaches it): the routines find the device's qubit frequency, not the
    design's, and the run files name the device without its values."""
    design = random_chip(2, seed=8)
    device = fabricate(
        design, seed=3, spread=Spread(qubit_frequency_sigma_hz=3e6, resonator_sigma_hz=0.4e6)
    )
    chip_file = _write(tmp_path / "design.yaml", design)
    device_file = _write(tmp_path / "device.yaml", device)
    out = tmp_path / "o"
    res = CliRunner().invoke(
        app,
        [
            *("calibrate", "--chip", str(chip_file), "--device", str(device_file)),
            *("--out", str(out), "--target", "qubit_spectroscopy", "--shots", "300"),
        ],
    )
    assert res.exit_code == 0, res.output
    state = json.loads((out / "calibration.json").read_text())
    for q in ("q0", "q1"):
        found = state["qubits"][q]["drive_frequency_hz"]["value"]
        true, known = device.qubits[q].frequency_hz, design.qubits[q].frequency_hz
        assert abs(found - true) < 0.2e6 < abs(true - known), (q, found, true, known)
    run = read_run(next((out / "runs").glob("*qubit_spectroscopy-q0*.h5")), signals=False)
    assert run.context["device"] == device.name
    assert str(device.qubits["q0"].frequency_hz) not in json.dumps(run.context)


def test_a_device_that_does_not_match_the_design_is_refused(tmp_path: Path) -> None:
    chip_file = _write(tmp_path / "design.yaml", random_chip(2, seed=8))
    other = _write(tmp_path / "device.yaml", fabricate(random_chip(3, seed=8), 1))
    res = CliRunner().invoke(
        app, ["calibrate", "--chip", str(chip_file), "--device", str(other), "--out", str(tmp_path)]
    )
    assert res.exit_code == 2 and "device" in res.output and "q2" in res.output


def test_a_dead_qubit_fails_with_its_reason_while_the_others_finish(tmp_path: Path) -> None:
    """q1 of the device is dead (T1 = 0.5 µs): it ends "failed" at the node that cannot
    find it, with the reason; q0 is calibrated; the exit code is 1."""
    design = random_chip(2, seed=8)
    device = fabricate(design, seed=1)
    q1 = device.qubits["q1"].model_dump()
    q1.update(t1_s=0.5e-6, t2_s=0.5e-6)
    device = device.replace(qubits={**device.model_dump()["qubits"], "q1": q1})
    out = tmp_path / "o"
    res = CliRunner().invoke(
        app,
        [
            *("calibrate", "--chip", str(_write(tmp_path / "design.yaml", design))),
            *("--device", str(_write(tmp_path / "device.yaml", device)), "--out", str(out)),
            *("--target", "rabi", "--shots", "300"),
        ],
    )
    assert res.exit_code == 1, res.output
    assert "q1 not calibrated: node" in res.output and "q0 not calibrated" not in res.output
    state = json.loads((out / "calibration.json").read_text())
    assert state["qubits"]["q0"]["pi_amplitude_v"]["run_id"] is not None
    assert state["qubits"]["q1"]["pi_amplitude_v"]["run_id"] is None


# --- drift -----------------------------------------------------------------------------


def test_drifted_moves_only_what_it_is_told() -> None:
    device = fabricate(random_chip(3, seed=4), seed=2)
    aged = drifted(device, frequency_hz={"q0": 200e3}, t1_factor=0.7, readout_hz=-500e3,
                   qubits=["q1"])  # fmt: skip
    for q, spec in device.qubits.items():
        new = aged.qubits[q]
        assert new.frequency_hz - spec.frequency_hz == pytest.approx(200e3 if q == "q0" else 0)
        assert new.t1_s == pytest.approx(spec.t1_s * (0.7 if q in ("q0", "q1") else 1.0))
        assert new.t2_s <= 2 * new.t1_s
        res = spec.resonator
        moved = aged.resonators[res].frequency_hz - device.resonators[res].frequency_hz
        assert moved == pytest.approx(-500e3 if q in ("q0", "q1") else 0.0)
    with pytest.raises(ConfigError, match="no qubit q9"):
        drifted(device, qubits=["q9"])
    with pytest.raises(ConfigError, match="T1 factor"):
        drifted(device, t1_factor=0.0)


def test_drift_parse_refuses_what_it_does_not_know() -> None:
    d = Drift.parse("f01=50e3, walk=10e3,readout=-5e3,t1=-0.02")
    assert (d.frequency_hz, d.frequency_walk_hz, d.readout_hz, d.t1_fraction) == (
        50e3, 10e3, -5e3, -0.02
    )  # fmt: skip
    for bad, why in [("f02=1", "KEY=VALUE"), ("f01", "KEY=VALUE"), ("f01=nan", "finite"),
                     ("t1=x", "finite")]:  # fmt: skip
        with pytest.raises(ConfigError, match=why):
            Drift.parse(bad)
    assert not Drift.parse("").active


def test_the_lab_ages_on_its_clock(tmp_path: Path) -> None:
    """A lab with a drift moves f01 (linear, per hour of lab time, and a random walk), the
    resonators and T1 as its clock advances with the shots: measured by running programs."""
    from qneko_hw.calibrations import run_routine
    from qneko_hw.calibrations.discrimination import Discrimination
    from qneko_hw.config import default_station
    from qneko_hw.config.initial import design_state
    from qneko_hw.drivers.station import connect
    from qneko_hw.simulated_instruments.lab import SimulatedLab

    design = random_chip(1, seed=5)
    device = fabricate(design, seed=3)
    station = default_station({"f0": ["q0"]})
    drift = Drift(frequency_hz=3.6e9, readout_hz=-3.6e9, t1_fraction=-100.0)  # per hour
    with SimulatedLab(device, station, drift=drift) as lab, connect(lab.station) as inst:
        assert lab.chip == device
        run_routine(Discrimination(shots=500), "q0", design_state(design, station),
                    lab.station, inst, out_dir=tmp_path)  # fmt: skip
        hours = lab.clock_s / 3600
        assert hours > 0
        q, r = lab.chip.qubits["q0"], lab.chip.resonators[device.qubits["q0"].resonator]
        assert q.frequency_hz - device.qubits["q0"].frequency_hz == pytest.approx(3.6e9 * hours)
        r0 = device.resonators[device.qubits["q0"].resonator].frequency_hz
        assert r.frequency_hz - r0 == pytest.approx(-3.6e9 * hours)
        assert q.t1_s == pytest.approx(device.qubits["q0"].t1_s * max(0.05, 1 - 100 * hours))
    walk = Drift(frequency_walk_hz=1e6, seed=1)
    steps = [walk.at(device, h).qubits["q0"].frequency_hz for h in (0.25, 0.5, 1.0, 2.0)]
    moves = np.diff([device.qubits["q0"].frequency_hz, *steps])
    assert np.all(moves != 0) and np.abs(moves).max() < 5e6  # σ = 1 MHz √h per step


def test_sim_up_refuses_a_bad_drift_before_starting(tmp_path: Path) -> None:
    args = ["sim", "up", "--station", str(tmp_path / "none.yaml")]
    args += ["--drift-per-hour", "f01=fast", "--state-dir", str(tmp_path)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2 and "finite" in res.output, res.output
    assert not (tmp_path / "sim.pid").exists()
