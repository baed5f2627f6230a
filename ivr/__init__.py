"""The support line: Flask webhooks for Twilio Voice, the call log and the console."""

from __future__ import annotations

import logging
import os
import sys

import click
from flask import Flask
from flask_migrate import Migrate
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from . import config, flows, logs
from .models import db

log = logging.getLogger(__name__)
migrate = Migrate()


def create_app(test_config: dict | None = None) -> Flask:
    """Build the service: configuration, database, flows, webhooks and commands."""
    app = Flask(__name__, instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_mapping(config.from_env(app.instance_path))
    if test_config:
        app.config.update(test_config)
    # First, so nothing logged while building the app shows a secret or a full phone number.
    logs.install(app)
    register_extensions(app)
    register_flows(app)
    register_blueprints(app)
    register_commands(app)
    if app.config["TRUST_PROXY"]:
        # Behind a TLS-terminating proxy the signed URL is the public one.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_proto=1, x_host=1, x_port=1)
    if not app.config["TWILIO_AUTH_TOKEN"] and _cli_command() in (None, "run"):
        log.warning("TWILIO_AUTH_TOKEN is not set: every webhook will be refused with 403")
    return app


def register_extensions(app: Flask) -> None:
    """Bind the database, migrations and console sign-in to the app."""
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"pool_pre_ping": True})
    db.init_app(app)
    migrate.init_app(app, db, directory=str(config.ROOT / "migrations"))
    # Sign-in sessions and form tokens for the console.
    from . import auth

    auth.init_app(app)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """Make SQLite enforce foreign keys and let readers and a writer share the file."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.close()


def _cli_command() -> str | None:
    """Name the flask CLI command being run, if the app is loaded by the CLI."""
    if click.get_current_context(silent=True) is None:
        return None
    args = iter(sys.argv[1:])
    for arg in args:
        if arg in ("--app", "-A", "--env-file", "-e"):
            next(args, None)
        elif not arg.startswith("-"):
            return arg
    return None


def register_flows(app: Flask) -> None:
    """Load and check the flows; a bad file stops start-up naming file, node and problem."""
    try:
        app.extensions["ivr.flow"] = flows.load(app.config["FLOWS_DIR"])
    except flows.FlowError as exc:
        if _cli_command() == "flows":
            # `flows check` must run to report the very problems found here.
            app.extensions["ivr.flow"] = None
            return
        raise SystemExit(f"The flows in {app.config['FLOWS_DIR']} have problems:\n{exc}") from None


def register_blueprints(app: Flask) -> None:
    """Mount the webhooks, the console and the API."""
    from . import callbacks, voice

    app.register_blueprint(voice.bp)
    app.register_blueprint(callbacks.bp)
    # The console, its stylesheet and script, and the JSON API.
    from . import api, console

    app.register_blueprint(console.bp)
    app.register_blueprint(console.assets)
    app.register_blueprint(api.bp)
    api.register_error_pages(app)


def register_commands(app: Flask) -> None:
    """Add the operator commands to `flask`."""
    from . import cli

    cli.register(app)
