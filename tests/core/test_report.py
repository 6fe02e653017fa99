"""Calibration reports: diffs, figures, the pages of a real calibration, every image loaded
in a real headless browser, a page per invocation, and the pages rebuilt from the files."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread
from typer.testing import CliRunner

from qneko_hw.analysis import Results
from qneko_hw.cli.main import app
from qneko_hw.config import random_chip
from qneko_hw.config.calibration import CalibrationState, CalValue
from qneko_hw.config.initial import design_state
from qneko_hw.plot.figures import Figure, Panel, Series, render_png, si_scale
from qneko_hw.report import (
    Invocation,
    ReportEntry,
    calibration_diff,
    format_quantity,
    invocations,
    render_invocation,
)
from qneko_hw.runfile import read_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DATA_BLUE = np.array([0x1F, 0x77, 0xB4]) / 255  # matplotlib's C0: the data points


def _state() -> CalibrationState:
    from qneko_hw.cli.session import builtin_station

    chip = random_chip(2, seed=3)
    return design_state(chip, builtin_station(chip))


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


def test_quantities_read_well() -> None:
    assert format_quantity(4.35787e9, "Hz", 390.2) == "4.35787 GHz ± 390 Hz"
    assert format_quantity(0.33579, "V", 3.4e-4) == "335.79 mV ± 340 µV"
    assert format_quantity(6.68e-5, "s", 8.5e-7) == "66.8 µs ± 850 ns"
    assert format_quantity(None) == "—"
    assert si_scale([2e-6, 5e-5], "s") == (1e-6, "µs")
    assert si_scale([3.0], "rad") == (1.0, "rad")


def test_figures_render_with_their_units() -> None:
    x = np.linspace(0, 2e-6, 21)
    fig = Figure(
        panels=(
            Panel(
                x_label="delay",
                x_unit="s",
                y_label="P(|1⟩)",
                series=(Series.points(x, np.exp(-x / 1e-6)), Series.line(x, np.exp(-x / 1e-6))),
                r_squared=0.99,
            ),
        )
    )
    for figure in (fig, None):
        png = render_png(figure, title="t")
        assert png.startswith(PNG_MAGIC)
        assert min(imread(io.BytesIO(png)).shape[:2]) > 100


# --- the pages of a real calibration ---------------------------------------------------


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``qneko calibrate`` on a 2-qubit chip up to discrimination, then a resumed run, then
    a nightly check."""
    tmp = tmp_path_factory.mktemp("report")
    chip = tmp / "chip.yaml"
    cli = CliRunner()
    assert cli.invoke(app, ["chip", "new", "--qubits", "2", "--seed", "8", "--out", str(chip)])
    args = ["calibrate", "--chip", str(chip), "--out", str(tmp / "o"), "--shots", "300"]
    res = cli.invoke(app, [*args, "--target", "discrimination"])
    assert res.exit_code == 0, res.output
    res = cli.invoke(app, [*args, "--target", "ramsey"])  # resumes: only Ramsey runs
    assert res.exit_code == 0, res.output
    res = cli.invoke(app, [*args, "--target", "ramsey", "--nightly"])
    assert res.exit_code == 0, res.output
    return tmp / "o"


def test_every_invocation_keeps_its_page_and_the_index_lists_them(calibrated: Path) -> None:
    records = invocations(calibrated)
    assert [r.kind for r in records] == ["calibrate", "resume", "nightly"]
    first, second, nightly = records
    # its checks: the watched nodes up to Ramsey (readout, discriminator, Ramsey frequency)
    checked = {r.split("-")[1] for r in nightly.runs}
    assert checked == {"resonator_spectroscopy_check", "discrimination_check", "ramsey_check"}
    assert all(s.status == "ok" for s in first.qubits.values())
    pages = sorted((calibrated / "reports").glob("*.html"))
    assert [p.stem for p in pages] == [first.id, second.id, nightly.id]
    first_page = pages[0].read_text(encoding="utf-8")
    assert first_page.count('<section class="run"') == len(first.runs) == 12  # 6 nodes × 2
    second_page = pages[1].read_text(encoding="utf-8")
    assert "ramsey" in second_page and "discrimination —" not in second_page
    index = (calibrated / "report.html").read_text(encoding="utf-8")
    for rec in records:
        assert f'href="reports/{rec.id}.html"' in index
    assert not re.search(r"(src|href)=\"(?!data:|#|reports/|\.\./report\.html)", first_page)
    assert "<script" not in first_page and "<link" not in first_page


def test_a_page_shows_what_a_physicist_looks_for(calibrated: Path) -> None:
    page = sorted((calibrated / "reports").glob("*.html"))[0].read_text(encoding="utf-8")
    # one summary row per qubit, with values ± σ and what they were before
    rows = re.findall(r'<tr class="qubit-row" data-qubit="([^"]+)">', page)
    assert rows == ["q0", "q1"]
    assert "± " in page and "was " in page
    # the frequency plan: LOs and IFs per line
    assert "Frequency plan" in page and "readout LO" in page and "drive IF" in page
    # a routine's own plot and its pulse sheet, R² printed, the committed version named
    assert page.count('class="plot"') == 12
    # a program's pulse sheet once: both qubits of a multiplexed run link to one sheet
    assert page.count('class="sheet"') == 6 and page.count("pulse sheet: the same program") == 6
    assert re.search(r"R² = 0\.\d{4}", page)
    assert "committed as version" in page
    for b64 in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page):
        assert base64.b64decode(b64).startswith(PNG_MAGIC)


def test_the_stored_figures_are_the_routines_own(calibrated: Path) -> None:
    """Discrimination shows IQ blobs with the threshold and both fidelities; x axes carry
    the routine's units; fit curves are drawn on a dense grid."""
    runs = {read_run(p, signals=False).routine_name: p for p in (calibrated / "runs").glob("*")}
    disc = read_run(runs["discrimination"], signals=False).results
    assert disc is not None and disc.figure is not None and disc.r_squared is not None
    iq, hist = disc.figure.panels
    assert iq.x_unit == "V" and iq.y_unit == "V"
    assert {s.kind for s in iq.series} >= {"scatter", "line"}  # blobs and threshold
    assert any(s.kind == "vline" for s in hist.series) and "F_gauss" in hist.note
    rabi = read_run(runs["rabi"], signals=False).results
    assert rabi is not None and rabi.figure is not None
    (panel,) = rabi.figure.panels
    assert panel.x_unit == "V" and panel.x_label == "drive amplitude"
    line = next(s for s in panel.series if s.kind == "line")
    points = next(s for s in panel.series if s.kind == "points")
    assert len(line.x) > 5 * len(points.x)  # dense, not the data joined


def test_qneko_report_rebuilds_the_same_pages(calibrated: Path, tmp_path: Path) -> None:
    copy = tmp_path / "o"
    shutil.copytree(calibrated, copy)
    before = {p.name: p.read_text(encoding="utf-8") for p in (copy / "reports").glob("*.html")}
    for p in (copy / "reports").glob("*.html"):
        p.unlink()
    (copy / "report.html").unlink()
    res = CliRunner().invoke(app, ["report", str(copy)])
    assert res.exit_code == 0, res.output
    drawn = re.compile(r"page drawn [^·]+·")
    for name, text in before.items():
        again = (copy / "reports" / name).read_text(encoding="utf-8")
        assert drawn.sub("", again) == drawn.sub("", text), name
    assert (copy / "report.html").exists()


def test_a_page_of_hand_made_entries_is_escaped(calibrated: Path) -> None:
    run = read_run(next((calibrated / "runs").glob("*-rabi-q0-*.h5")), signals=False)
    res = Results(routine="rabi", qubit="q0", verdict="bad", message="fit <broke> & more")
    entry = ReportEntry.from_run(run)
    entry = ReportEntry(
        run_id=entry.run_id, run_file=entry.run_file, qubit="q0", routine="rabi", results=res
    )
    page = render_invocation(
        Invocation(id="x", kind="calibrate", started="now", runs=(entry.run_id,)),
        [entry],
        state=_state(),
        before=None,
        station=None,
    )
    assert "fit &lt;broke&gt; &amp; more" in page and "fit <broke>" not in page


# --- in a real browser -----------------------------------------------------------------


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
    res = subprocess.run(cmd, capture_output=True, timeout=180, check=False)
    assert res.returncode == 0, res.stderr.decode(errors="replace")[-2000:]
    return res


#: Appended to a copy of the page: counts the images the browser decoded.
_PROBE = """<script>
window.addEventListener("load", () => {
  const imgs = [...document.images];
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  const rows = document.querySelectorAll("table.summary tr.qubit-row").length;
  const p = document.createElement("pre");
  p.id = "probe";
  p.textContent = `images ${imgs.length} loaded ${ok} rows ${rows}`;
  document.body.appendChild(p);
});
</script>"""


def test_report_in_headless_browser(calibrated: Path, tmp_path: Path) -> None:
    """Every image of the page loads in Chromium, the summary has a row per qubit, and the
    plots' data points are painted (the screenshot has their colour)."""
    exe = _chromium()
    page = sorted((calibrated / "reports").glob("*.html"))[0]
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>"))
    dom = _browser(
        exe, tmp_path / "p1", "--virtual-time-budget=20000", "--dump-dom", probed.as_uri()
    ).stdout.decode()
    found = re.search(r'<pre id="probe">images (\d+) loaded (\d+) rows (\d+)</pre>', dom)
    assert found is not None, dom[-2000:]
    images, loaded, rows = map(int, found.groups())
    assert images == 12 + 6 and loaded == images and rows == 2
    shot = tmp_path / "screenshot.png"
    _browser(
        exe,
        tmp_path / "p2",
        "--hide-scrollbars",
        "--window-size=1280,6000",
        f"--screenshot={shot}",
        page.as_uri(),
    )
    pixels = imread(shot)[..., :3]
    blue = np.all(np.abs(pixels - DATA_BLUE) < 0.08, axis=-1).sum()
    assert blue > 200, f"only {blue} data-coloured pixels in the screenshot"
