"""``qneko calibrate``: the simulated lab (or a real station), drivers, routines, summary."""

from __future__ import annotations

import logging
from contextlib import ExitStack
from pathlib import Path

from qneko_hw.config.calibration import CalibrationState
from qneko_hw.config.chip import Chip, random_chip
from qneko_hw.config.station import Station, default_station
from qneko_hw.errors import ConfigError
from qneko_hw.store import DEFAULT_DB_NAME, Store

__all__ = ["builtin_chip", "builtin_station", "run_calibrate", "start_state"]

log = logging.getLogger(__name__)


def builtin_chip() -> Chip:
    """The built-in 4-qubit chip (fixed seed)."""
    from qneko_hw.cli.main import BUILTIN_CHIP_SEED, BUILTIN_QUBITS

    return random_chip(BUILTIN_QUBITS, BUILTIN_CHIP_SEED, name="builtin-4q")


def builtin_station(chip: Chip) -> Station:
    """A simulated station wired to every qubit and feedline of ``chip``."""
    feeds: dict[str, list[str]] = {}
    for q, spec in chip.qubits.items():
        feeds.setdefault(chip.resonators[spec.resonator].feedline, []).append(q)
    return default_station(feeds)


def start_state(store: Store, legacy_json: Path, design: CalibrationState) -> CalibrationState:
    """The store's current state; an empty store first gets version 1.

    Version 1 is ``legacy_json`` (a ``calibration.json`` written before the store
    existed) when that file exists, else ``design`` (the design values).
    """
    state = store.current()
    if state is not None:
        return state
    if legacy_json.exists():
        state, message = CalibrationState.load(legacy_json), f"imported from {legacy_json.name}"
    else:
        state, message = design, "design values"
    return state.model_copy(update={"version": store.commit(state, message)})


def _content(state: CalibrationState) -> dict[str, object]:
    return state.model_dump(exclude={"version"})


def run_calibrate(
    chip_path: Path | None,
    station_path: Path | None,
    out: Path,
    qubits: str | None,
    shots: int,
) -> int:
    """Run the calibration; returns the process exit code (0 when every qubit succeeded)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from qneko_hw.calibrations import AmplitudeRabi, run_routine
    from qneko_hw.config.initial import design_state
    from qneko_hw.drivers.station import connect
    from qneko_hw.simulated_instruments.lab import SimulatedLab

    console = Console()
    chip = Chip.load(chip_path) if chip_path else builtin_chip()
    station = Station.load(station_path) if station_path else builtin_station(chip)
    names = (
        list(chip.qubits) if qubits is None else [q.strip() for q in qubits.split(",") if q.strip()]
    )
    for q in names:
        if q not in chip.qubits:
            raise ConfigError(
                f"unknown qubit '{q}' (chip has {', '.join(chip.qubits)})", field="--qubits"
            )
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / "calibration.json"
    routine = AmplitudeRabi(shots=shots)
    failures: dict[str, str] = {}
    results = {}
    chip_yaml = chip.model_dump_json()
    simulated = {cfg.address == "sim" for cfg in station.instruments.values()}
    if len(simulated) > 1:
        raise ConfigError(
            "mixed station: either every instrument address is 'sim' (simulated lab) "
            "or none is (real instruments)",
            source=str(station_path) if station_path else None,
        )
    with ExitStack() as stack:
        store = stack.enter_context(Store(out / DEFAULT_DB_NAME, create=True))
        state = start_state(store, state_path, design_state(chip, station))
        if simulated == {True}:
            lab = stack.enter_context(SimulatedLab(chip, station))
            station = lab.station
            console.print(f"[bold]simulated lab[/] up: {len(lab.servers)} instruments on loopback")
        instruments = stack.enter_context(connect(station))
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("calibrating", total=len(names))
            for q in names:

                def say(msg: str, q: str = q) -> None:
                    progress.update(task, description=f"{q}: {routine.name} — {msg}")

                outcome = run_routine(
                    routine,
                    q,
                    state,
                    station,
                    instruments,
                    out_dir=out,
                    context={"chip": chip_yaml},
                    progress=say,
                )
                results[q] = outcome
                if outcome.error is not None:
                    failures[q] = str(outcome.error)
                if _content(outcome.state) != _content(state):
                    msg = f"{routine.name} {q} {outcome.run_id}"
                    version = store.commit(outcome.state, msg, author=routine.name)
                    state = outcome.state.model_copy(update={"version": version})
                state.save(state_path)
                progress.advance(task)
    table = Table(title=f"Calibration of {chip.name}")
    for col in ("qubit", "π amplitude (V)", "± (V)", "fit", "R²", "run file"):
        table.add_column(col)
    for q, oc in results.items():
        a = oc.fit.values.get("pi_amplitude_v")
        da = oc.fit.uncertainties.get("pi_amplitude_v")
        table.add_row(
            q,
            f"{a:.5f}" if a is not None else "—",
            f"{da:.5f}" if da is not None else "—",
            oc.fit.quality,
            f"{oc.fit.r_squared:.3f}",
            oc.run_file.name,
        )
    console.print(table)
    console.print(
        f"calibration written to [bold]{state_path}[/] (version {state.version} "
        f"in {out / DEFAULT_DB_NAME})"
    )
    from qneko_hw.report import ReportEntry, write_report

    report = write_report(out, [ReportEntry.from_outcome(oc) for oc in results.values()])
    console.print(f"report written to [bold]{report}[/]")
    for q, why in failures.items():
        console.print(f"[red]{q} not calibrated:[/] {why}")
    return 1 if failures else 0
