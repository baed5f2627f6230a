"""Operator commands: `flask --app wsgi flows check` and friends."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from . import archive, journal, phone, texts
from . import flows as flow_files

flows_cli = AppGroup("flows", help="Check the menu and policy files in flows/.")


@flows_cli.command("check")
@click.option("--dir", "folder", type=click.Path(file_okay=False), help="Flows folder (default: FLOWS_DIR).")
def flows_check(folder: str | None) -> None:
    """Check the flows without starting the service; exit 1 on any problem."""
    folder = folder or current_app.config["FLOWS_DIR"]
    flow, problems = flow_files.check(folder)
    if problems:
        for p in problems:
            click.echo(str(p), err=True)
        raise SystemExit(f"{len(problems)} problem(s) in {folder}")
    click.echo(f"{folder}: OK, {len(flow.nodes)} nodes, {len(flow.levels)} levels")


def register(app: Flask) -> None:
    """Attach every command group to the app."""
    from . import callbacks, customers, staff_cli, users_cli

    app.cli.add_command(flows_cli)
    app.cli.add_command(staff_cli.staff)
    app.cli.add_command(users_cli.users)
    app.cli.add_command(phone.call)
    app.cli.add_command(archive.cli)
    app.cli.add_command(texts.cli)
    app.cli.add_command(customers.cli)
    app.cli.add_command(callbacks.cli)
    app.cli.add_command(journal.cli)
