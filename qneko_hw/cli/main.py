"""The ``qneko`` command line.

Heavy libraries (qcodes, scipy, h5py) are imported inside the commands, so that
``qneko --help`` answers at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from qneko_hw.errors import QnekoError

__all__ = ["app", "main"]

app = typer.Typer(
    name="qneko",
    help=(
        "QNeko-HW: calibrate superconducting qubits, on a lab station "
        "or on the built-in simulated lab."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
chip_app = typer.Typer(help="Chip descriptions.", no_args_is_help=True)
app.add_typer(chip_app, name="chip")
from qneko_hw.cli.sim import sim_app  # noqa: E402

app.add_typer(sim_app, name="sim")
from qneko_hw.cli.state import state_app  # noqa: E402

app.add_typer(state_app, name="state")


@app.command()
def calibrate(
    *,
    chip: Annotated[
        Path | None, typer.Option(help="Chip YAML: the design (default: built-in 4-qubit chip).")
    ] = None,
    device: Annotated[
        Path | None,
        typer.Option(
            help="Device YAML the simulated lab runs (see `qneko chip fabricate`; default: "
            "the design fabricated with a fixed seed); the routines see only the design."
        ),
    ] = None,
    station: Annotated[
        Path | None, typer.Option(help="Station YAML (default: built-in simulated station).")
    ] = None,
    out: Annotated[
        Path,
        typer.Option(help="Output folder: run files, calibration store, report; rerun resumes."),
    ] = Path("qneko_out"),
    qubits: Annotated[
        str | None, typer.Option(help="Comma-separated qubits (default: all).")
    ] = None,
    shots: Annotated[
        int | None,
        typer.Option(
            min=10, help="At most this many shots per sweep point (default: each routine's)."
        ),
    ] = None,
    points: Annotated[
        int | None,
        typer.Option(min=5, help="At most this many sweep points (default: each routine's)."),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(help="Comma-separated nodes to bring up to date (default: the leaves)."),
    ] = None,
    nightly: Annotated[
        bool,
        typer.Option(
            "--nightly", help="Drift graph: check the leaves' data first, recalibrate what drifted."
        ),
    ] = False,
    sequential: Annotated[
        bool,
        typer.Option(
            "--sequential",
            help="One qubit at a time (default: qubits waiting for the same node run at once, "
            "readouts multiplexed on their feedlines).",
        ),
    ] = False,
    punch_out: Annotated[
        bool,
        typer.Option("--punch-out", help="Add the punch-out node (readout power; slow)."),
    ] = False,
    reset_check: Annotated[
        bool,
        typer.Option("--reset-check", help="Add the reset check (residual excitation after 5·T1)."),
    ] = False,
) -> None:
    """Calibrate the qubits along the calibration graph (on the simulated lab when the
    station's addresses are ``sim``). Ctrl-C stops after the current routine; rerun to resume."""
    from qneko_hw.cli.calibrate import EXIT_INTERRUPTED, run_calibrate
    from qneko_hw.cli.session import CalibrateOptions

    options = CalibrateOptions(
        chip=chip,
        device=device,
        station=station,
        out=out,
        qubits=qubits,
        shots=shots,
        points=points,
        target=target,
        nightly=nightly,
        sequential=sequential,
        punch_out=punch_out,
        reset_check=reset_check,
    )
    try:
        code = run_calibrate(options)
    except QnekoError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    raise typer.Exit(code)


@app.command()
def analyze(
    run_file: Annotated[Path, typer.Argument(help="A run file (runs/*.h5).")],
    *,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the re-fitted results as JSON.")
    ] = False,
) -> None:
    """Fit a run again from its file alone and compare with the results it committed
    (exit 0: identical, 1: different)."""
    from qneko_hw.cli.inspect import show_reanalysis

    try:
        code = show_reanalysis(run_file, json_out=json_out)
    except QnekoError as exc:
        _fail(exc)
    raise typer.Exit(code)


@app.command()
def report(
    out: Annotated[
        Path, typer.Argument(help="A calibration folder (runs/, calibration.db).")
    ] = Path("qneko_out"),
    *,
    station: Annotated[
        Path | None,
        typer.Option(help="Station YAML for the frequency plan (default: the latest run's)."),
    ] = None,
) -> None:
    """Draw every report page of a calibration folder again from its run files and store."""
    from qneko_hw.cli.inspect import rebuild_reports

    try:
        rebuild_reports(out, station)
    except QnekoError as exc:
        _fail(exc)


@chip_app.command("new")
def chip_new(
    qubits: Annotated[int, typer.Option(min=1, max=64, help="Number of qubits.")] = 4,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    out: Annotated[Path, typer.Option(help="Where to write the chip YAML.")] = Path("chip.yaml"),
) -> None:
    """Write a random but realistic chip description."""
    import yaml

    from qneko_hw.config.chip import random_chip

    c = random_chip(qubits, seed)
    out.write_text(yaml.safe_dump(c.model_dump(mode="json"), sort_keys=False), encoding="utf-8")
    typer.echo(f"wrote {out} ({qubits} qubits, seed {seed})")


@chip_app.command("fabricate")
def chip_fabricate(
    *,
    design: Annotated[
        Path | None, typer.Option(help="Design chip YAML (default: the built-in design).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the fabrication.")] = 0,
    out: Annotated[Path, typer.Option(help="Where to write the device YAML.")] = Path(
        "device.yaml"
    ),
) -> None:
    """Write an as-fabricated device of a design (realistic spread; see
    qneko_hw.simulated_instruments.fabrication) for the simulated lab to run."""
    import yaml

    from qneko_hw.cli.session import builtin_chip
    from qneko_hw.config.chip import Chip
    from qneko_hw.simulated_instruments.fabrication import fabricate

    try:
        base = Chip.load(design) if design else builtin_chip()
    except QnekoError as exc:
        _fail(exc)
    device = fabricate(base, seed)
    out.write_text(yaml.safe_dump(device.model_dump(mode="json"), sort_keys=False), "utf-8")
    typer.echo(f"wrote {out} (device {device.name} of design {base.name})")


@chip_app.command("drift")
def chip_drift(
    *,
    device: Annotated[Path, typer.Option(help="Device YAML to age.")],
    f01: Annotated[float, typer.Option(help="Move f01 by this much (Hz).")] = 0.0,
    t1: Annotated[float, typer.Option(help="Scale T1 by this factor (0.7: 30 % shorter).")] = 1.0,
    readout: Annotated[
        float, typer.Option(help="Move the readout resonators by this much (Hz).")
    ] = 0.0,
    qubits: Annotated[
        str | None, typer.Option(help="Comma-separated qubits (default: all).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Where to write the drifted device YAML.")] = Path(
        "drifted.yaml"
    ),
) -> None:
    """Write a drifted copy of a device (for testing a nightly run against a changed lab)."""
    import yaml

    from qneko_hw.config.chip import Chip
    from qneko_hw.simulated_instruments.fabrication import drifted

    chosen = [q.strip() for q in qubits.split(",") if q.strip()] if qubits else None
    try:
        aged = drifted(
            Chip.load(device), frequency_hz=f01, t1_factor=t1, readout_hz=readout, qubits=chosen
        )
    except QnekoError as exc:
        _fail(exc)
    out.write_text(yaml.safe_dump(aged.model_dump(mode="json"), sort_keys=False), "utf-8")
    typer.echo(f"wrote {out} (device {aged.name}, drifted)")


def _fail(exc: QnekoError) -> None:
    from rich.console import Console

    Console(stderr=True).print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(2)


def main() -> None:
    """Entry point of the ``qneko`` console script."""
    app()
