"""Fixtures: the app on SQLite or PostgreSQL, signed callers, and time travel."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
import responses
import time_machine
from flask_migrate import upgrade
from sqlalchemy import create_engine, inspect, text

from ivr import create_app
from ivr.models import db
from ivr.simulator import Simulator

TOKEN = "test-auth-token-0123456789abcdef"
CENTRAL = ZoneInfo("America/Chicago")
ROOT = Path(__file__).resolve().parent.parent


def _database_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"


@pytest.fixture(autouse=True)
def no_network():
    """Refuse any HTTP request a test did not mock: no test reaches Twilio or anything else."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """Give a database with the schema built by the migrations, from empty."""
    url = _database_url(tmp_path_factory)
    engine = create_engine(url)
    with engine.begin() as conn:
        names = inspect(conn).get_table_names()
        if names and conn.dialect.name == "postgresql":
            conn.execute(text("DROP TABLE IF EXISTS " + ", ".join(f'"{n}"' for n in names) + " CASCADE"))
        elif names:
            for n in names:
                conn.execute(text(f'DROP TABLE IF EXISTS "{n}"'))
    engine.dispose()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        db.engine.dispose()
    return url


def make_app(database_url, tmp_path, **overrides):
    """Build the app against the test database with a known auth token."""
    config = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "SUPPORT_NUMBER": "+16462019664",
        "RECORDINGS_DIR": str(tmp_path / "recordings"),
        # Each test keeps its own journal: never replay another test's outage into this database.
        "JOURNAL_DIR": str(tmp_path / "journal"),
        "PUBLIC_BASE_URL": "",
        # Caller texts are tried in tests/test_self_service.py; elsewhere they are noise.
        "SMS_TO_CALLERS": False,
        "JOBS": "inline",
    }
    config.update(overrides)
    return create_app(config)


def _empty_tables(app):
    with app.app_context():
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE"))
            else:
                # calls and tickets point at each other: cut that link first.
                conn.execute(text("UPDATE calls SET about_ticket_id = NULL"))
                for t in tables:
                    conn.execute(text(f"DELETE FROM {t}"))
        db.engine.dispose()


@pytest.fixture
def app_factory(database_url, tmp_path):
    """Build apps with other settings on an empty database; close their connections after."""
    made = []

    def build(**overrides):
        app = make_app(database_url, tmp_path, **overrides)
        if not made:
            _empty_tables(app)
        made.append(app)
        return app

    yield build
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(app_factory):
    """Give the app on an empty database."""
    return app_factory()


@pytest.fixture
def client(app):
    """Give a test client."""
    return app.test_client()


def transport(client):
    """Send a simulator's requests through the Flask test client."""

    def send(url, params, headers):
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        resp = client.post(path, data=params, headers=headers, base_url=f"{parts.scheme}://{parts.netloc}")
        return resp.status_code, resp.get_data(as_text=True)

    return send


@pytest.fixture
def caller(client):
    """Make a simulated caller: `caller().dial().press("2")`."""

    def make(from_="+13125550199", **kwargs) -> Simulator:
        # A real caller unless a test says otherwise: simulated calls skip side effects.
        kwargs.setdefault("mark_test", False)
        return Simulator(send=transport(client), token=TOKEN, from_=from_, **kwargs)

    return make


@pytest.fixture
def at():
    """Travel to a moment in Central time: `at("2026-12-01 10:00")`."""
    travellers = []

    def go(moment: str):
        t = time_machine.travel(datetime.fromisoformat(moment).replace(tzinfo=CENTRAL), tick=False)
        t.start()
        travellers.append(t)

    yield go
    for t in reversed(travellers):
        t.stop()


# Console and API fixtures (accounts, signed-in browsers, API tokens), kept in their own module.
pytest_plugins = [*globals().get("pytest_plugins", []), "tests.console_fixtures"]
