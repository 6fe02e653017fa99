"""Re-analysis from the run files alone: a default tune-up, then every run file it wrote fits
again to exactly the results it stored, and every committed value is what the re-fit says
it should be; ``qneko analyze`` prints the same results."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import pytest
from typer.testing import CliRunner

from qneko_hw.calibrations import ROUTINES
from qneko_hw.calibrations.analyze import reanalyze
from qneko_hw.calibrations.default_graph import default_graph
from qneko_hw.cli.main import app
from qneko_hw.config.calibration import CalValue
from qneko_hw.errors import QnekoError
from qneko_hw.report import invocations
from qneko_hw.store import Store


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``qneko calibrate`` (the default graph, to RB) on a 2-qubit random chip."""
    tmp = tmp_path_factory.mktemp("tuneup")
    chip = tmp / "chip.yaml"
    cli = CliRunner()
    assert cli.invoke(app, ["chip", "new", "--qubits", "2", "--seed", "21", "--out", str(chip)])
    res = cli.invoke(app, ["calibrate", "--chip", str(chip), "--out", str(tmp / "o")])
    assert res.exit_code == 0, res.output
    return tmp / "o"


def test_every_run_file_of_a_tune_up_refits_to_what_was_committed(tuned: Path) -> None:
    (record,) = invocations(tuned)
    files = {p.stem: p for p in (tuned / "runs").glob("*.h5")}
    assert set(record.runs) == set(files)
    kinds = set()
    with Store(tuned / "calibration.db") as store:
        for run_id in record.runs:
            again = reanalyze(files[run_id])
            assert again.same, (run_id, again.results, again.stored)
            kinds.add(again.run.kind)
            version = record.versions.get(run_id)
            if version is None:
                continue  # a check, or in spec: nothing committed
            committed = store.get(version).qubit(again.run.qubit)
            assert again.results.changes, run_id
            for field, change in again.results.changes.items():
                value = getattr(committed, field)
                if change.samples is not None:
                    assert value == change.samples
                    continue
                assert isinstance(value, CalValue) and value.run_id == run_id
                assert value.value == change.value, (run_id, field)  # exactly
                assert value.uncertainty == change.uncertainty, (run_id, field)
    graph_kinds = {n.routine.kind for n in default_graph().nodes.values()}
    assert graph_kinds <= kinds  # every routine of the default graph was re-fitted
    assert kinds <= set(ROUTINES)


def test_qneko_analyze_prints_the_stored_results(tuned: Path) -> None:
    run = next((tuned / "runs").glob("*-rabi-q0-*.h5"))
    res = CliRunner().invoke(app, ["analyze", str(run)])
    assert res.exit_code == 0, res.output
    assert "identical to the results the run stored" in res.output
    assert "pi_amplitude_v" in res.output and "would set pi_amplitude_v" in res.output
    res = CliRunner().invoke(app, ["analyze", "--json", str(run)])
    assert res.exit_code == 0
    assert json.loads(res.output)["values"]["pi_amplitude_v"] > 0


def test_a_run_file_whose_results_differ_is_reported(tuned: Path, tmp_path: Path) -> None:
    """Tampered stored results (another π amplitude): analyze says so and exits 1."""
    import numpy as np

    from qneko_hw.runfile import add_results, read_run

    src = next((tuned / "runs").glob("*-rabi-q1-*.h5"))
    copy = tmp_path / src.name
    copy.write_bytes(src.read_bytes())
    stored = read_run(copy, signals=False).results
    assert stored is not None
    values = {**stored.values, "pi_amplitude_v": stored.values["pi_amplitude_v"] * 1.01}
    add_results(copy, stored.model_copy(update={"values": values}))
    assert not reanalyze(copy).same
    res = CliRunner().invoke(app, ["analyze", str(copy)])
    assert res.exit_code == 1 and "differs" in res.output
    with h5py.File(copy) as f, h5py.File(src) as g:  # the raw data are untouched
        assert np.array_equal(f["q1"][()], g["q1"][()])


def test_analyze_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    bad = tmp_path / "x.h5"
    bad.write_bytes(b"no")
    with pytest.raises(QnekoError, match=r"x\.h5"):
        reanalyze(bad)
    res = CliRunner().invoke(app, ["analyze", str(bad)])
    assert res.exit_code == 2 and "x.h5" in res.output
