"""Account commands: `flask --app wsgi users add EMAIL --role supervisor` and friends.

Each command calls one function in `users`, which owns the transaction; a
`UserError` becomes a one-line error with exit status 1. Passwords are never
arguments (they would stay in the shell history): they are asked for at a
prompt, or read from the first line of standard input with --password-stdin.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps

import click
from flask.cli import AppGroup

from . import users as accounts
from .models import utcnow

users = AppGroup("users", help="Manage console and API accounts: supervisors and agents.")

STDIN_HELP = "Read the password from the first line of standard input instead of prompting."


def _friendly(command: Callable) -> Callable:
    """Turn account errors into a clean message and exit status 1."""

    @wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except accounts.UserError as exc:
            raise click.ClickException(str(exc)) from None

    return run


def _password(from_stdin: bool) -> str:
    """Read a new password from standard input or a hidden prompt asked twice."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@users.command("add")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice(accounts.ROLES), help="supervisor: reads and changes all; agent: reads.")
@click.option("--staff", "staff_name", help="An agent's name on the roster: their tickets are the ones assigned to it.")
@click.option("--password-stdin", is_flag=True, help=STDIN_HELP)
@_friendly
def add_command(email: str, role: str, staff_name: str | None, password_stdin: bool) -> None:
    """Create an account that can sign in to the console."""
    user = accounts.add(email, _password(password_stdin), role, staff_name)
    linked = f", linked to {user.staff.name}" if user.staff else ""
    click.echo(f"Added {user.email} ({user.role}{linked}).")


@users.command("token")
@click.argument("email")
@_friendly
def token_command(email: str) -> None:
    """Print a new API token for EMAIL (shown once; only its hash is kept)."""
    click.echo(accounts.new_token(email))


@users.command("list")
def list_command() -> None:
    """List every account: role, roster link, state and live tokens."""
    now = utcnow()
    people = accounts.everyone()
    if not people:
        click.echo("No accounts yet; add one with `flask users add EMAIL --role supervisor`.")
        return
    for user in people:
        state = "active" if user.active else "disabled"
        if user.active and user.locked_until and user.locked_until > now:
            state = "locked"
        live = [t.prefix + "..." for t in user.tokens if t.revoked_at is None]
        linked = f", staff {user.staff.name}" if user.staff else ""
        tokens = f", tokens {' '.join(live)}" if live else ""
        click.echo(f"{user.email} ({user.role}{linked}): {state}{tokens}")


@users.command("disable")
@click.argument("email")
@_friendly
def disable_command(email: str) -> None:
    """Stop EMAIL signing in; revoke its tokens; end its sessions."""
    user = accounts.disable(email, utcnow())
    click.echo(f"Disabled {user.email}; its tokens are revoked.")
    if accounts.count_supervisors() == 0:
        click.echo("Note: no active supervisor is left; add one with `flask users add EMAIL --role supervisor`.")


@users.command("enable")
@click.argument("email")
@_friendly
def enable_command(email: str) -> None:
    """Let a disabled EMAIL sign in again (make new tokens with `users token`)."""
    user = accounts.enable(email)
    click.echo(f"Enabled {user.email}.")


@users.command("password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help=STDIN_HELP)
@_friendly
def password_command(email: str, password_stdin: bool) -> None:
    """Set a new password for EMAIL and clear any lock."""
    user = accounts.set_password(email, _password(password_stdin))
    click.echo(f"Password changed for {user.email}.")


@users.command("unlock")
@click.argument("email")
@_friendly
def unlock_command(email: str) -> None:
    """Clear EMAIL's failed sign-ins so it may try again now."""
    user = accounts.unlock(email)
    click.echo(f"Unlocked {user.email}.")


@users.command("revoke-tokens")
@click.argument("email")
@_friendly
def revoke_command(email: str) -> None:
    """Revoke every API token of EMAIL."""
    count = accounts.revoke_tokens(email, utcnow())
    click.echo(f"Revoked {count} token(s).")


@users.command("link")
@click.argument("email")
@click.option("--staff", "staff_name", help="The roster name to link; leave out to unlink.")
@_friendly
def link_command(email: str, staff_name: str | None) -> None:
    """Link EMAIL to a roster entry: an agent's own tickets are the ones assigned to it."""
    user = accounts.link_staff(email, staff_name)
    click.echo(f"{user.email} is linked to {user.staff.name}." if user.staff else f"{user.email} is linked to nobody.")
