"""The README's Python examples run as written (in a fresh folder)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_station_script_run_file_and_routine_examples(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script, multiplexed, open_file, routine, circuit = _blocks()
    monkeypatch.chdir(tmp_path)
    scope: dict[str, object] = {}
    # the station script, with the multiplexed call inside the lab's `with`
    body, _, tail = script.partition("state.save(")
    indented = "\n".join("    " + line for line in multiplexed.splitlines())
    exec(body + indented + "\nstate.save(" + tail, scope)
    outcomes = scope["outcomes"]
    assert isinstance(outcomes, dict) and set(outcomes) == {"q0", "q1"}
    assert (tmp_path / "out" / "calibration.json").exists()
    run = sorted((tmp_path / "out" / "runs").glob("*.h5"))[0]
    exec(open_file.replace("qneko_out/runs/<run id>.h5", str(run)), {})
    # the script's chain found the device's qubit: every routine good, f01 off the design
    device, chip, state = scope["device"], scope["chip"], scope["state"]
    f_found = state.qubit("q0").drive_frequency_hz.value  # type: ignore[attr-defined]
    f_true = device.qubits["q0"].frequency_hz  # type: ignore[attr-defined]
    assert f_found == pytest.approx(f_true, abs=100e3)
    assert abs(f_true - chip.qubits["q0"].frequency_hz) > 1e6  # type: ignore[attr-defined]
    # the routine of "Writing a routine", run on the same lab
    exec(routine, scope)
    exec(
        "with SimulatedLab(device, station) as lab, connect(lab.station) as instruments:\n"
        "    got = run_routine(MyRabi(), 'q0', state, lab.station, instruments,\n"
        "                      out_dir=Path('mine'))\n",
        scope,
    )
    got = scope["got"]
    assert got.results.verdict == "good", got.results.message  # type: ignore[attr-defined]
    assert got.state.qubit("q0").pi_amplitude_v.run_id == got.run_id  # type: ignore[attr-defined]
    exec(circuit, {})
    assert os.listdir(tmp_path / "mine" / "runs")
