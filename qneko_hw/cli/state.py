"""``qneko state``: show, compare, roll back and export versions of the calibration store.

The store is the SQLite file ``qneko calibrate`` keeps in its output folder
(``qneko_out/calibration.db`` by default). Rich is imported inside the commands, so that
``qneko --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

if TYPE_CHECKING:
    from qneko_hw.config.calibration import CalValue
    from qneko_hw.store import Store

__all__ = ["DEFAULT_DB", "state_app"]

DEFAULT_DB = Path("qneko_out") / "calibration.db"

state_app = typer.Typer(help="Versions of the calibration store.", no_args_is_help=True)

Db = Annotated[Path, typer.Option("--db", help="Calibration store (SQLite file).")]
T = TypeVar("T")


def _with_store(db: Path, job: Callable[[Store], T]) -> T:
    """Run ``job`` on the store at ``db``; a :class:`QnekoError` ends the command (code 2)."""
    from rich.console import Console

    from qneko_hw.errors import QnekoError
    from qneko_hw.store import Store

    try:
        with Store(db) as store:
            return job(store)
    except QnekoError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None


def _fmt(v: CalValue | None) -> str:
    if v is None:
        return "—"
    text = f"{v.value:.7g}"
    if v.uncertainty is not None:
        text += f" ± {v.uncertainty:.2g}"
    return text


@state_app.command("show")
def show(
    db: Db = DEFAULT_DB,
    version: Annotated[
        int | None, typer.Option("--version", "-v", help="Version (default: current).")
    ] = None,
) -> None:
    """Show a version of the calibration state: one table per qubit (and CZ pair)."""
    from rich.console import Console
    from rich.table import Table

    from qneko_hw.errors import StoreError
    from qneko_hw.store import calibrated_parameters

    def job(store: Store) -> None:
        v = version if version is not None else store.current_version()
        if v is None:
            raise StoreError("the store is empty", path=str(store.path))
        info = store.info(v)
        params = calibrated_parameters(store.get(v))
        console = Console()
        current = " (current)" if v == store.current_version() else ""
        console.print(
            f"[bold]version {v}[/]{current}: {info.message} "
            f"— {info.author}, {info.created:%Y-%m-%d %H:%M:%S} UTC",
            highlight=False,
        )
        for owner in dict.fromkeys(q for q, _ in params):
            table = Table(title=owner, title_justify="left")
            for col in ("parameter", "value", "±", "run id", "updated (UTC)"):
                table.add_column(col)
            for (q, name), cv in params.items():
                if q == owner:
                    table.add_row(
                        name,
                        f"{cv.value:.7g}",
                        f"{cv.uncertainty:.2g}" if cv.uncertainty is not None else "—",
                        cv.run_id or "design",
                        f"{cv.updated:%Y-%m-%d %H:%M:%S}" if cv.updated else "—",
                    )
            console.print(table)

    _with_store(db, job)


@state_app.command("diff")
def diff(
    a: Annotated[int, typer.Argument(help="Old version.")],
    b: Annotated[int, typer.Argument(help="New version.")],
    db: Db = DEFAULT_DB,
) -> None:
    """Parameters that differ between versions A and B (old → new, with uncertainties)."""
    from rich.console import Console
    from rich.table import Table

    def job(store: Store) -> None:
        changes = store.diff(a, b)
        console = Console()
        if not changes:
            console.print(f"versions {a} and {b} hold the same values")
            return
        table = Table(title=f"version {a} → {b}: {len(changes)} change(s)", title_justify="left")
        for col in ("qubit", "parameter", f"v{a}", f"v{b}", "run id"):
            table.add_column(col)
        for c in changes:
            run = "—" if c.new is None else c.new.run_id or "design"
            table.add_row(c.qubit, c.parameter, _fmt(c.old), _fmt(c.new), run)
        console.print(table)

    _with_store(db, job)


@state_app.command("rollback")
def rollback(
    version: Annotated[int, typer.Argument(help="Version to make current again.")],
    db: Db = DEFAULT_DB,
    author: Annotated[str | None, typer.Option(help="Who rolls back (default: user@host).")] = None,
) -> None:
    """Make VERSION current again, as a new version (history is never rewritten)."""

    def job(store: Store) -> None:
        new = store.rollback(version, author)
        typer.echo(f"version {new}: rollback to version {version} (now current)")

    _with_store(db, job)


@state_app.command("export")
def export(
    db: Db = DEFAULT_DB,
    as_json: Annotated[bool, typer.Option("--json", help="Export as JSON (the format).")] = True,
    out: Annotated[Path | None, typer.Option(help="File to write (default: stdout).")] = None,
    version: Annotated[
        int | None, typer.Option("--version", "-v", help="Version (default: current).")
    ] = None,
) -> None:
    """Export a version as calibration-state JSON (readable by CalibrationState.load)."""

    def job(store: Store) -> None:
        text = store.export_json(version)
        if out is None:
            typer.echo(text)
            return
        tmp = out.with_suffix(out.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)
        typer.echo(f"wrote {out}")

    _with_store(db, job)


@state_app.command("log")
def log(
    db: Db = DEFAULT_DB,
    limit: Annotated[int | None, typer.Option(min=1, help="Show the newest N only.")] = None,
) -> None:
    """Versions, newest first; the current one is marked with *."""
    from rich.console import Console
    from rich.table import Table

    def job(store: Store) -> None:
        head = store.current_version()
        table = Table(title=f"calibration store {store.path}", title_justify="left")
        for col in ("", "version", "parent", "created (UTC)", "author", "message"):
            table.add_column(col)
        for info in store.history()[:limit]:
            table.add_row(
                "*" if info.version == head else "",
                str(info.version),
                "—" if info.parent is None else str(info.parent),
                f"{info.created:%Y-%m-%d %H:%M:%S}",
                info.author,
                info.message,
            )
        Console().print(table)

    _with_store(db, job)
