"""``qneko sim up`` / ``qneko sim down``: serve a station's simulated twins in the background.

``up`` starts a background process that runs a :class:`SimulatedLab` for the station (every
instrument's twin on a loopback port, the chip model behind them) and writes, into the state
folder, ``station.yaml`` (our station file with the real addresses), ``qcodes_station.yaml``
(a QCoDeS ``Station`` config for the same instruments, usable by a plain QCoDeS script),
``sim.pid`` and ``sim.log``. ``down`` stops that process. Heavy imports happen inside the
commands, so that ``qneko --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from qneko_hw import instruments

__all__ = ["qcodes_station_config", "sim_app"]

sim_app = typer.Typer(help="Simulated instruments served on loopback ports.", no_args_is_help=True)

DEFAULT_STATE_DIR = Path(".qneko_sim")
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0

StateDir = Annotated[Path, typer.Option(help="Folder for the pid, log and station files.")]


def qcodes_station_config(station: Any) -> dict[str, Any]:
    """A QCoDeS ``Station`` config (``instruments:`` section) for ``station``'s instruments;
    each instrument's driver class is the ``qcodes_class`` of its model in
    :data:`qneko_hw.instruments.MODELS`."""
    entries: dict[str, Any] = {}
    for name, cfg in station.instruments.items():
        entries[name] = {
            "type": instruments.model(cfg.model).qcodes_class,
            "address": cfg.address,
            "init": {"visalib": "@py"},
        }
    return {"instruments": entries}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - someone else's process
        return True
    return True


@sim_app.command("up")
def up(
    station: Annotated[Path, typer.Option(help="Station YAML whose instruments to serve.")],
    chip: Annotated[
        Path | None, typer.Option(help="Chip YAML (default: the built-in chip).")
    ] = None,
    device: Annotated[
        Path | None,
        typer.Option(
            help="Device YAML the twins run (default: the chip fabricated with a fixed seed)."
        ),
    ] = None,
    drift_per_hour: Annotated[
        str | None,
        typer.Option(
            help="Age the device on the lab clock, per hour of lab time: "
            "'f01=HZ,walk=HZ,readout=HZ,t1=FRACTION' (any subset; e.g. 'f01=50e3,t1=-0.05')."
        ),
    ] = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Start every twin of the station in a background process; print the addresses."""
    if drift_per_hour is not None:
        from qneko_hw.errors import QnekoError
        from qneko_hw.simulated_instruments.fabrication import Drift

        try:
            Drift.parse(drift_per_hour)
        except QnekoError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
    pid_file = state_dir / "sim.pid"
    if pid_file.exists() and _pid_alive(int(pid_file.read_text())):
        typer.echo(f"already running (pid {pid_file.read_text().strip()}); run 'qneko sim down'")
        raise typer.Exit(1)
    state_dir.mkdir(parents=True, exist_ok=True)
    served = state_dir / "station.yaml"
    served.unlink(missing_ok=True)
    # -P: do not put the working directory on sys.path (a source checkout would shadow the
    # installed package)
    command = [sys.executable, "-P", "-m", "qneko_hw.cli.sim", "serve", "--station", str(station)]
    command += ["--state-dir", str(state_dir)] + (["--chip", str(chip)] if chip else [])
    command += ["--device", str(device)] if device else []
    command += ["--drift-per-hour", drift_per_hour] if drift_per_hour else []
    log = str(state_dir / "sim.log")
    pid = os.posix_spawn(
        sys.executable,
        command,
        dict(os.environ),
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 1, log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
        setsid=True,
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while not served.exists():
        exited = os.waitpid(pid, os.WNOHANG)[0] == pid
        if exited or time.monotonic() > deadline:
            if not exited:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            typer.echo((state_dir / "sim.log").read_text(), err=True)
            typer.echo("error: the simulated lab did not start", err=True)
            raise typer.Exit(2)
        time.sleep(0.05)
    pid_file.write_text(str(pid))
    from qneko_hw.config.station import Station

    for name, cfg in Station.load(served).instruments.items():
        typer.echo(f"{name:16s} {cfg.model:12s} {cfg.address}")
    typer.echo(f"station: {served}\nqcodes station: {state_dir / 'qcodes_station.yaml'}")


@sim_app.command("down")
def down(state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """Stop the twins started by ``qneko sim up``."""
    pid_file = state_dir / "sim.pid"
    if not pid_file.exists():
        typer.echo("nothing is running")
        raise typer.Exit(0)
    pid = int(pid_file.read_text())
    if _pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
            with contextlib.suppress(ChildProcessError):  # reap it if it is our child
                os.waitpid(pid, os.WNOHANG)
    for name in ("sim.pid", "station.yaml", "qcodes_station.yaml"):
        (state_dir / name).unlink(missing_ok=True)
    typer.echo(f"stopped (pid {pid})")


@sim_app.command("serve", hidden=True)
def serve(
    station: Annotated[Path, typer.Option()],
    state_dir: Annotated[Path, typer.Option()],
    chip: Annotated[Path | None, typer.Option()] = None,
    device: Annotated[Path | None, typer.Option()] = None,
    drift_per_hour: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Run the simulated lab in the foreground until SIGTERM (used by ``up``)."""
    import logging
    import threading

    import yaml

    from qneko_hw.cli.session import builtin_chip
    from qneko_hw.config.chip import Chip
    from qneko_hw.config.station import Station
    from qneko_hw.simulated_instruments.lab import SimulatedLab

    logging.basicConfig(level=logging.INFO)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    from qneko_hw.cli.session import FABRICATION_SEED
    from qneko_hw.simulated_instruments.fabrication import Drift, fabricate

    design = Chip.load(chip) if chip else builtin_chip()
    # the design is never the device: without a device file, one fabricated with a fixed seed
    lab_chip = Chip.load(device) if device else fabricate(design, FABRICATION_SEED)
    drift = Drift.parse(drift_per_hour) if drift_per_hour else None
    lab = SimulatedLab(lab_chip, Station.load(station), drift=drift)
    with lab:
        qcodes_cfg = yaml.safe_dump(qcodes_station_config(lab.station), sort_keys=False)
        (state_dir / "qcodes_station.yaml").write_text(qcodes_cfg)
        text = yaml.safe_dump(lab.station.model_dump(mode="json"), sort_keys=False)
        tmp = state_dir / "station.yaml.tmp"
        tmp.write_text(text)
        tmp.replace(state_dir / "station.yaml")
        stop.wait()


if __name__ == "__main__":
    sim_app()
