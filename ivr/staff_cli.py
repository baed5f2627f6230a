"""Roster commands for supervisors: `flask --app wsgi staff list` and friends.

Each command reads its arguments, calls one function in `staff`, which owns the
transaction, and prints the outcome; a `StaffError` becomes a one-line error
with exit status 1.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

import click
from flask import current_app
from flask.cli import AppGroup

from . import staff as roster
from .flows import TEAMS, Policy
from .models import utcnow

staff = AppGroup("staff", help="Manage the people who take calls: roster, shifts and on-duty state.")

SHIFT_HELP = 'A weekly shift in support time, e.g. "Mon-Fri 05:00-13:00" or "Sat 22:00-06:00"; repeat for several.'
UNTIL_HELP = "Until this time on the support clock (HH:MM; tomorrow if already past). Default: midnight tonight."


def _policy() -> Policy:
    """Give the loaded flow's support policy."""
    return current_app.extensions["ivr.flow"].policy


def _friendly(command: Callable) -> Callable:
    """Turn roster errors into a clean message and exit status 1."""

    @wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except roster.StaffError as exc:
            raise click.ClickException(str(exc)) from None

    return run


@staff.command("add")
@click.option("--name", required=True, help="Full name, unique on the roster (case does not matter).")
@click.option("--phone", required=True, help="The number to ring, e.g. (312) 555-0101 or +1 312 555 0101.")
@click.option("--team", required=True, type=click.Choice(TEAMS), help="Which levels they take.")
@click.option("--shift", "shifts", multiple=True, help=SHIFT_HELP)
@_friendly
def add_command(name: str, phone: str, team: str, shifts: tuple[str, ...]) -> None:
    """Add a person to the roster."""
    person = roster.add(name, phone, team, list(shifts))
    click.echo(f"Added {person.name} ({person.team}, {person.phone}); {roster.rota(person)}.")


@staff.command("list")
@click.option("--team", type=click.Choice(TEAMS), help="Only this team.")
def list_command(team: str | None) -> None:
    """List everyone; `*` marks who is on duty now, and why."""
    now, policy = utcnow(), _policy()
    people = [p for p in roster.everyone() if team is None or p.team == team]
    if not people:
        click.echo("Nobody on the roster yet; add people with `flask staff add` or `flask staff import`.")
        return
    for person in people:
        click.echo(roster.describe(person, now, policy))


def _set_duty(name: str, on: bool, until: str | None) -> None:
    """Apply an override from the command line and say what it does."""
    now, policy = utcnow(), _policy()
    ends = roster.until_from_clock(until, now, policy) if until else None
    person = roster.set_duty(name, on, ends, now, policy)
    click.echo(f"{person.name} is {'on' if on else 'off'} duty until {roster.say_clock(person.override_until, policy, now)}.")


@staff.command("on-duty")
@click.argument("name")
@click.option("--until", metavar="HH:MM", help=UNTIL_HELP)
@_friendly
def on_duty_command(name: str, until: str | None) -> None:
    """Put NAME on duty now, whatever their shifts say."""
    _set_duty(name, True, until)


@staff.command("off-duty")
@click.argument("name")
@click.option("--until", metavar="HH:MM", help=UNTIL_HELP)
@_friendly
def off_duty_command(name: str, until: str | None) -> None:
    """Take NAME off duty now, whatever their shifts say."""
    _set_duty(name, False, until)


@staff.command("clear-duty")
@click.argument("name")
@_friendly
def clear_duty_command(name: str) -> None:
    """Drop the override on NAME, so their shifts decide again."""
    person = roster.clear_duty(name)
    click.echo(roster.describe(person, utcnow(), _policy()))


@staff.command("shifts")
@click.argument("name")
@click.option("--shift", "shifts", multiple=True, help=SHIFT_HELP)
@click.option("--none", "no_shifts", is_flag=True, help="Remove every shift (on duty only by override).")
@_friendly
def shifts_command(name: str, shifts: tuple[str, ...], no_shifts: bool) -> None:
    """Replace NAME's weekly shifts with the ones given."""
    if bool(shifts) == no_shifts:
        raise click.UsageError("give the new shifts with --shift (repeatable), or --none to remove them all")
    person = roster.set_shifts(name, list(shifts))
    click.echo(f"{person.name}: {roster.rota(person)}.")


@staff.command("remove")
@click.argument("name")
@_friendly
def remove_command(name: str) -> None:
    """Take NAME off the roster.

    Someone the call log names (as a call's agent or a ticket's assignee) is
    deactivated instead of deleted: kept for the log, never rung again.
    """
    person = roster.find(name)
    shown = person.name if person else name
    if roster.remove(name) == "deleted":
        click.echo(f"Removed {shown}.")
    else:
        click.echo(f"Deactivated {shown}: calls or tickets name them, so they stay in the log but are never rung.")


@staff.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--if-empty", is_flag=True, help="Only when nobody is on the roster yet (for a demo set-up).")
@_friendly
def import_command(file: str, if_empty: bool) -> None:
    """Create or update people by name from a YAML roster, all or nothing.

    People are matched by name, ignoring case; people not in FILE are left
    alone. If any entry is bad, nothing is written and every problem is listed.

    \b
    staff:
      - name: Ana Diaz
        phone: (312) 555-0101
        team: support
        shifts: ["Mon-Fri 05:00-13:00"]
        active: true
    """
    if if_empty and roster.everyone():
        click.echo("The roster already has people; nothing imported.")
        return
    created, updated = roster.import_roster(file)
    click.echo(f"Imported {file}: {created} added, {updated} updated.")
