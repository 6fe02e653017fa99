"""Calibration report: diff, plots, self-contained HTML, rendered by a real headless browser."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread
from typer.testing import CliRunner

from qneko_hw.analysis import Fit
from qneko_hw.cli.main import app
from qneko_hw.config import random_chip
from qneko_hw.config.calibration import CalibrationState, CalValue
from qneko_hw.config.initial import design_state
from qneko_hw.errors import CalibrationError
from qneko_hw.report import (
    DiffRow,
    ReportEntry,
    calibration_diff,
    plot_fit,
    render_report,
    write_report,
)
from qneko_hw.runfile import write_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DATA_BLUE = np.array([0x1F, 0x77, 0xB4]) / 255  # colour of the data points in plot_fit


def _state() -> CalibrationState:
    from qneko_hw.cli.calibrate import builtin_station

    chip = random_chip(2, seed=3)
    return design_state(chip, builtin_station(chip))


def _fit(qubit: str, quality: str = "good", data: bool = True) -> Fit:
    x = np.linspace(0.0, 0.8, 41)
    model = 0.5 - 0.5 * np.cos(np.pi * x / 0.31)
    noisy = model + 0.02 * np.random.default_rng(0).normal(size=x.size)
    return Fit(
        routine="rabi",
        qubit=qubit,
        values={"pi_amplitude_v": 0.31} if data else {},
        uncertainties={"pi_amplitude_v": 0.0012} if data else {},
        quality=quality,  # type: ignore[arg-type]
        r_squared=0.993 if data else 0.0,
        message="fit <converged> & sane" if data else "no usable signal",
        x=tuple(x) if data else (),
        y=tuple(noisy) if data else (),
        y_fit=tuple(model) if data else (),
    )


def test_calibration_diff() -> None:
    old = _state()
    new = old.with_qubit("q1", pi_amplitude_v=CalValue.measured(0.3, 0.001, "run-1"))
    new = new.with_qubit("q1", t1_s=CalValue.measured(3e-5, 1e-6, "run-1"))
    rows = calibration_diff(old, new)
    assert [r.parameter for r in rows] == ["q1.pi_amplitude_v", "q1.t1_s"]
    amp, t1 = rows
    assert amp.old == old.qubits["q1"].pi_amplitude_v.value and amp.new == 0.3
    assert amp.new_uncertainty == 0.001
    assert t1.old is None and t1.new == 3e-5
    assert calibration_diff(old, old) == ()


def test_plot_fit_is_png() -> None:
    for fit in (_fit("q0"), _fit("q1", "bad", data=False)):
        png = plot_fit(fit, x_label="amplitude_v (V)")
        assert png.startswith(PNG_MAGIC)
        img = imread(io.BytesIO(png))
        assert img.shape[0] > 100 and img.shape[1] > 100


@dataclass(frozen=True)
class _Outcome:
    fit: Fit
    state: CalibrationState
    run_file: Path
    run_id: str
    error: CalibrationError | None = None


def test_entry_from_outcome_reads_previous_state_from_run_file(tmp_path: Path) -> None:
    old = _state()
    run_file = write_run(
        tmp_path / "runs" / "r1.h5",
        shots={"q0": np.zeros((3, 4), dtype=np.complex64)},
        sweep_parameter="amplitude_v",
        sweep_values=np.array([0.0, 0.1, 0.2]),
        context={"run_id": "r1", "calibration_state": old.to_json()},
    )
    new = old.with_qubit("q0", pi_amplitude_v=CalValue.measured(0.31, 0.0012, "r1"))
    entry = ReportEntry.from_outcome(_Outcome(_fit("q0"), new, run_file, "r1"))
    assert entry.x_label == "amplitude_v (V)"
    assert [r.parameter for r in entry.diff] == ["q0.pi_amplitude_v"]
    assert entry.run_file == "r1.h5" and entry.error is None
    failed = ReportEntry.from_outcome(
        _Outcome(_fit("q0", "bad"), old, run_file, "r1", CalibrationError("fit is bad"))
    )
    assert failed.diff == () and failed.error == "fit is bad"


def _entries() -> list[ReportEntry]:
    return [
        ReportEntry(
            _fit("q0"),
            run_id="r-q0",
            run_file="r-q0.h5",
            x_label="amplitude_v (V)",
            diff=(DiffRow("q0.pi_amplitude_v", 0.35, 0.31, None, 0.0012),),
        ),
        ReportEntry(_fit("q1", "poor"), run_id="r-q1", run_file="r-q1.h5"),
        ReportEntry(_fit("q2", "bad", data=False), run_id="r-q2", error="fit is bad"),
    ]


def test_report_is_self_contained_and_escaped(tmp_path: Path) -> None:
    path = write_report(tmp_path / "out", _entries())
    assert path == tmp_path / "out" / "report.html"
    text = path.read_text(encoding="utf-8")
    rendered = render_report(_entries())
    stamp = re.compile(r"generated [^·]+")
    assert stamp.sub("", text) == stamp.sub("", rendered)
    assert not re.search(r"(src|href)=\"(?!data:|#)", text)  # nothing loaded from elsewhere
    assert "<script" not in text and "<link" not in text
    assert "fit &lt;converged&gt; &amp; sane" in text
    assert "0.31 ± 0.0012 V" in text and "0.35 V" in text
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(images) == 3
    for b64 in images:
        assert base64.b64decode(b64).startswith(PNG_MAGIC)


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail(
            "chromium is not installed: `apt-get install -y chromium` (.ci/run does this); "
            "the report must be checked in a real browser"
        )
    return exe


def _browser(exe: str, profile: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    cmd = [
        exe,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *args,
    ]
    res = subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr.decode(errors="replace")[-2000:]
    return res


def _check_in_browser(report: Path, qubits: list[str], tmp_path: Path) -> None:
    """Every qubit has a section, and every section's plot is an embedded image."""
    exe = _chromium()
    url = report.resolve().as_uri()
    dom = _browser(exe, tmp_path / "profile-dom", "--dump-dom", url).stdout.decode()
    sections = re.findall(
        r'<section class="run" id="run-\d+" data-routine="[^"]+" '
        r'data-qubit="([^"]+)"',
        dom,
    )
    assert sorted(set(sections)) == sorted(qubits)
    for q in qubits:
        assert f"<h2>{q} — " in dom
    imgs = re.findall(r'<img [^>]*src="data:image/png;base64,[^"]+"', dom)
    assert len(imgs) == len(sections)
    shot = tmp_path / "screenshot.png"
    height = 400 + 1100 * len(sections)
    _browser(
        exe,
        tmp_path / "profile-shot",
        "--hide-scrollbars",
        f"--window-size=1200,{height}",
        f"--screenshot={shot}",
        url,
    )
    assert shot.stat().st_size > 0 and shot.read_bytes().startswith(PNG_MAGIC)
    pixels = imread(shot)[..., :3]
    # the plots' data points are drawn only if the embedded PNGs were decoded and painted
    blue = np.all(np.abs(pixels - DATA_BLUE) < 0.08, axis=-1).sum()
    assert blue > 200, f"only {blue} data-coloured pixels in the screenshot"


def test_report_in_headless_browser(tmp_path: Path) -> None:
    report = write_report(tmp_path / "out", _entries())
    _check_in_browser(report, ["q0", "q1", "q2"], tmp_path)


def test_qneko_calibrate_writes_report(tmp_path: Path) -> None:
    chip = tmp_path / "chip.yaml"
    CliRunner().invoke(app, ["chip", "new", "--qubits", "2", "--seed", "8", "--out", str(chip)])
    res = CliRunner().invoke(
        app,
        [
            *("calibrate", "--chip", str(chip), "--out", str(tmp_path / "o")),
            *("--shots", "300", "--target", "rabi"),
        ],
    )
    assert res.exit_code == 0, res.output
    report = tmp_path / "o" / "report.html"
    assert "pi_amplitude_v" in report.read_text(encoding="utf-8")
    _check_in_browser(report, ["q0", "q1"], tmp_path)
