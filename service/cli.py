"""The `einklang` command line: one entry point that wires the engine, adapters and tools."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from adapters.erp.cli import OneLineErrors, UserError, erp
from service.audit_cli import audit
from service.config_cli import config
from service.replay_cli import replay
from service.run_cli import run, status


@click.group(cls=OneLineErrors)
@click.version_option(package_name="einklang")
@click.option(
    "--config",
    "config",
    envvar="EINKLANG_CONFIG",
    default=None,
    metavar="FILE",
    help="the configuration file (Env: EINKLANG_CONFIG); `einklang config init` writes one",
)
def main(config: str | None) -> None:
    """einklang keeps ERP appointments and tasks in step with Exchange mailboxes."""


@main.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def sim(args: tuple[str, ...]) -> None:
    """Run the local Exchange (EWS) simulator (see `einklang sim --help`)."""
    from sim.cli import main as sim_main  # the simulator is standalone; only the CLI wires it

    sys.exit(sim_main(list(args)))


@main.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("einklang-demo"),
    show_default=True,
    help="where the demo keeps its configuration, ERP database, event store and mailboxes",
)
@click.option("--api", type=click.Choice(["ews", "graph"]), default="ews", show_default=True,
              help="the engine talks to the simulator over EWS or Microsoft Graph (R20)")  # fmt: skip
def demo(directory: Path, api: str) -> None:
    """Simulator + sample ERP + engine, and a short story on both sides (about half a minute)."""
    from rich.console import Console

    from service.demo import DemoError, run_demo

    try:
        ok = run_demo(directory, Console(highlight=False), api)
    except DemoError as exc:
        raise UserError(str(exc)) from None
    sys.exit(0 if ok else 1)


main.add_command(erp)
main.add_command(config)
main.add_command(audit)
main.add_command(replay)
main.add_command(run)
main.add_command(status)
