"""Fixtures for the console and API tests: accounts, signed-in browsers, API tokens, a small roster."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from ivr import staff, users

PASSWORD = "correct horse battery staple"
SUPERVISOR = "sue@example.com"
AGENT = "ben@example.com"
ANNA = "+13125550101"  # support
BEN = "+13125550102"  # engineering
CARA = "+13125550103"  # engineering
_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def csrf_from(html: str) -> str:
    """Pull the CSRF token out of a console page."""
    match = _CSRF.search(html)
    assert match, "the page carries no CSRF token"
    return match.group(1)


class Browser:
    """A test client that signs in through the form and sends the CSRF token with each POST, as a browser would."""

    def __init__(self, client: FlaskClient, email: str | None = None):
        self.client = client
        self.token = ""
        # Signed in on first use, not at set-up: a test that travels in time
        # first would otherwise find its 12-hour session long expired.
        self.email = email

    def _ensure_signed_in(self) -> None:
        if self.email:
            email, self.email = self.email, None
            resp = self.sign_in(email)
            assert resp.status_code == 302, resp.get_data(as_text=True)

    def get(self, path: str, **kwargs):
        """Fetch a page, remembering its CSRF token."""
        self._ensure_signed_in()
        resp = self.client.get(path, **kwargs)
        if resp.mimetype == "text/html" and resp.status_code < 500:
            found = _CSRF.search(resp.get_data(as_text=True))
            if found:
                self.token = found.group(1)
        return resp

    def post(self, path: str, data: dict | None = None, *, csrf: bool = True, **kwargs):
        """Submit a form, with the CSRF token unless told not to."""
        self._ensure_signed_in()
        data = dict(data or {})
        if csrf:
            if not self.token:
                self.get("/console/login")
            data.setdefault("csrf_token", self.token)
        return self.client.post(path, data=data, **kwargs)

    def sign_in(self, email: str, password: str = PASSWORD):
        """Sign in through the login form."""
        self.get("/console/login")
        resp = self.post("/console/login", {"email": email, "password": password})
        if resp.status_code == 302:
            # Signing in starts a new session, with a new form token: load a page to get it.
            self.get("/console/roster")
        return resp


@pytest.fixture
def team(app):
    """Put Anna (support) and Ben and Cara (engineering) on weekday shifts."""
    with app.app_context():
        staff.add("Anna", ANNA, "support", ["Mon-Fri 05:00-22:00"])
        staff.add("Ben", BEN, "engineering", ["Mon-Fri 05:00-22:00"])
        staff.add("Cara", CARA, "engineering", ["Mon-Fri 05:00-22:00"])
    return app


FAST_HASH = "pbkdf2:sha256:1000"  # scrypt costs a quarter second a hash; these accounts are throwaway


@pytest.fixture
def supervisor(app) -> str:
    """Give the email of a supervisor account."""
    app.config["PASSWORD_HASH_METHOD"] = FAST_HASH
    with app.app_context():
        users.add(SUPERVISOR, PASSWORD, "supervisor")
    return SUPERVISOR


@pytest.fixture
def agent(team) -> str:
    """Give the email of an agent account linked to Ben on the roster."""
    team.config["PASSWORD_HASH_METHOD"] = FAST_HASH
    with team.app_context():
        users.add(AGENT, PASSWORD, "agent", "Ben")
    return AGENT


@pytest.fixture
def browser(app) -> Browser:
    """Give a browser nobody is signed in on."""
    return Browser(app.test_client())


@pytest.fixture
def logged_in_client(app, supervisor) -> Browser:
    """Give a browser with the supervisor signed in."""
    return Browser(app.test_client(), supervisor)


@pytest.fixture
def agent_browser(app, agent) -> Browser:
    """Give a browser with the agent (Ben) signed in."""
    return Browser(app.test_client(), agent)


@pytest.fixture
def api_token(app, supervisor) -> str:
    """Give a supervisor's API token."""
    with app.app_context():
        return users.new_token(supervisor)


@pytest.fixture
def agent_token(app, agent) -> str:
    """Give the agent's API token."""
    with app.app_context():
        return users.new_token(agent)


@pytest.fixture
def api(app):
    """Call the API with a token: `api(token).get("/api/calls")`."""

    class Api:
        def __init__(self, token: str | None):
            self.client = app.test_client()
            self.headers = {"Authorization": f"Bearer {token}"} if token else {}

        def get(self, path: str, **kwargs):
            """GET with the token."""
            return self.client.get(path, headers=self.headers, **kwargs)

        def patch(self, path: str, **kwargs):
            """PATCH with the token."""
            return self.client.patch(path, headers=self.headers, **kwargs)

        def post(self, path: str, **kwargs):
            """POST with the token."""
            return self.client.post(path, headers=self.headers, **kwargs)

    return Api


@pytest.fixture
def real_caller(caller):
    """Make a caller whose call counts as a real one (the simulator marks its calls as tests by default)."""

    def make(from_="+13125550199", **kwargs):
        return caller(from_, mark_test=False, **kwargs)

    return make


def archive_recording(app, sid: str, audio: bytes = b"ID3 fake mp3 audio") -> None:
    """Put a recording's audio in RECORDINGS_DIR and mark it archived, as `flask recordings sync` would."""
    from pathlib import Path

    from sqlalchemy import select

    from ivr.models import Recording, db, utcnow

    folder = Path(app.config["RECORDINGS_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{sid}.mp3").write_bytes(audio)
    with app.app_context():
        rec = db.session.execute(select(Recording).where(Recording.sid == sid)).scalar_one()
        rec.archive_status, rec.archive_path, rec.archived_at = "archived", f"{sid}.mp3", utcnow()
        db.session.commit()
