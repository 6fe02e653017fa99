"""``qneko analyze RUN.h5`` and ``qneko report DIR``: results and reports from the files.

``analyze`` rebuilds the routine and its data from a run file, fits again and prints the
results next to the ones the run stored (identical, unless the software changed); ``report``
draws every report page of a calibration folder again from its run files and its store.
"""

from __future__ import annotations

from pathlib import Path

from qneko_hw.errors import QnekoError

__all__ = ["rebuild_reports", "show_reanalysis"]


def show_reanalysis(path: Path, *, json_out: bool = False) -> int:
    """Print the re-fit of ``path``; returns 0 when it equals the stored results, else 1."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from qneko_hw.calibrations.analyze import reanalyze
    from qneko_hw.report import format_quantity
    from qneko_hw.runfile import unit_of

    console = Console()
    again = reanalyze(path)
    res = again.results
    if json_out:
        console.print_json(res.model_dump_json(exclude={"figure"}))
        return 0 if again.same else 1
    run = again.run
    console.print(
        f"[bold]{escape(res.routine)}[/] on [bold]{escape(res.qubit)}[/] · run "
        f"{escape(run.run_id)} · calibration version {run.attrs.get('calibration_version')}"
    )
    stored = again.stored
    table = Table(title=f"verdict: {res.verdict} — {escape(res.message)}")
    table.add_column("quantity")
    table.add_column("re-fit (value ± 1σ)", justify="right")
    table.add_column("stored in the run file", justify="right")
    for name, value in res.values.items():
        unit = unit_of(name)
        now = format_quantity(value, unit, res.uncertainties.get(name))
        then = "—"
        if stored is not None and name in stored.values:
            then = format_quantity(stored.values[name], unit, stored.uncertainties.get(name))
        table.add_row(escape(name), escape(now), escape(then))
    console.print(table)
    r2 = "—" if res.r_squared is None else f"{res.r_squared:.4f}"
    console.print(f"R² = {r2}")
    for field, change in res.changes.items():
        if change.samples is not None:
            console.print(f"would set {field}: {len(change.samples)} samples")
        else:
            text = format_quantity(change.value, unit_of(field), change.uncertainty)
            console.print(f"would set {escape(field)} = {escape(text)}")
    if stored is None:
        console.print("[yellow]the run file holds no stored results to compare with[/]")
        return 1
    if again.same:
        console.print("[green]identical to the results the run stored[/]")
        return 0
    console.print("[red]differs from the results the run stored[/]")
    return 1


def rebuild_reports(out: Path, station_path: Path | None) -> None:
    """Draw every page of ``out``'s reports again (``qneko report``)."""
    from rich.console import Console

    from qneko_hw.config.station import Station
    from qneko_hw.report import rebuild
    from qneko_hw.runfile import read_run
    from qneko_hw.store import DEFAULT_DB_NAME, Store

    db = out / DEFAULT_DB_NAME
    if not db.exists():
        raise QnekoError(f"{out}: no calibration store ({DEFAULT_DB_NAME})", source=str(out))
    station = Station.load(station_path) if station_path is not None else None
    if station is None:
        runs = sorted((out / "runs").glob("*.h5"))
        for run_path in reversed(runs):
            try:
                text = read_run(run_path, signals=False).context.get("station")
            except QnekoError:
                continue
            if text:
                station = Station.model_validate_json(text)
                break
    with Store(db) as store:
        pages = rebuild(out, store=store, station=station)
    console = Console()
    for page in pages:
        console.print(f"wrote {page}")
