"""The console's test call: keypad and speech in, what the caller hears out, kept apart as a test."""

from __future__ import annotations

import re
from html import unescape

from sqlalchemy import select

from ivr.models import Call, Ticket, db


class Phone:
    """Drive the test-call page as a supervisor's browser does."""

    def __init__(self, browser):
        self.browser = browser
        self.html = ""

    def _read(self, resp):
        self.html = resp.get_data(as_text=True)
        return resp

    def start(self, **form):
        self.browser.get("/console/test-call")
        return self._read(self.browser.post("/console/test-call", {"action": "start", **form}))

    def do(self, action: str, arg: str = "", state: str | None = None):
        if state is None:
            state = unescape(re.search(r'name="state" value="([^"]*)"', self.html).group(1))
        return self._read(self.browser.post("/console/test-call", {"action": action, "arg": arg, "state": state}))

    @property
    def heard(self) -> list[str]:
        return [unescape(line) for line in re.findall(r'data-testid="heard-line" data-speak="1?">([^<]*)</li>', self.html)]

    @property
    def fresh(self) -> list[str]:
        return [unescape(line) for line in re.findall(r'data-testid="heard-line" data-speak="1">([^<]*)</li>', self.html)]

    @property
    def waiting(self) -> str:
        return re.search(r'data-testid="test-call-waiting" data-waiting="([^"]+)"', self.html).group(1)


def stored_calls(app) -> list[Call]:
    with app.app_context():
        rows = db.session.execute(select(Call).order_by(Call.id)).scalars().all()
        db.session.expunge_all()
        return rows


def test_a_test_call_plays_step_by_step_to_an_agent(team, app, logged_in_client, at):
    """Greeting and menu, key 2, the goal and ticket, ringing, the agent accepts, hang up."""
    at("2026-12-01 10:00")
    phone = Phone(logged_in_client)
    assert phone.start().status_code == 200
    assert phone.heard[0] == "Thank you for calling OfficeSpace Software Support."
    assert "Please choose a support level." in phone.heard[1]
    assert phone.waiting == "menu"
    assert 'data-testid="key-2"' in phone.html and 'data-testid="speech-text"' in phone.html
    phone.do("press", "2")
    assert any("Our response goal for technical support is 4 hours" in line for line in phone.fresh)
    assert not any("Thank you for calling" in line for line in phone.fresh)  # only the new lines are spoken
    while phone.waiting == "menu":
        phone.do("silence")
    assert phone.waiting == "ringing"
    phone.do("agent", "accept")
    assert phone.waiting == "talking"
    phone.do("hangup")
    assert phone.waiting == "ended"
    [call] = stored_calls(app)
    assert call.is_test and call.outcome == "answered" and call.status == "completed"
    assert 'data-testid="test-call-link"' in phone.html and "test ticket 1001" in phone.html


def test_speech_and_a_voicemail(team, app, logged_in_client, at):
    """Words choose a level; after hours the caller leaves a message on a test ticket."""
    at("2026-12-04 22:30")  # Friday night
    phone = Phone(logged_in_client)
    phone.start(caller_name="Pat")
    phone.do("say", "critical outage")
    assert any("critical technical support" in line for line in phone.heard)
    while phone.waiting == "menu":
        phone.do("silence")
    assert phone.waiting == "record"
    phone.do("message", "Our floor plans are gone.")
    assert phone.waiting == "ended"
    with app.app_context():
        ticket = db.session.execute(select(Ticket)).scalar_one()
        assert ticket.level == "critical" and ticket.call.is_test and ticket.call.caller_name == "Pat"


def test_test_calls_stay_out_of_the_log_unless_asked_for(team, app, logged_in_client, at):
    """A test call is in the log and tickets only with "show test calls"."""
    at("2026-12-01 10:00")
    phone = Phone(logged_in_client)
    phone.start()
    phone.do("press", "1")
    sid = stored_calls(app)[0].call_sid
    assert sid not in logged_in_client.get("/console/calls").get_data(as_text=True)
    assert sid in logged_in_client.get("/console/calls?tests=1").get_data(as_text=True)
    assert 'data-ticket="1001"' not in logged_in_client.get("/console/tickets").get_data(as_text=True)


def test_steps_that_do_not_fit_are_explained(team, logged_in_client, at):
    """Bad keys or an agent step at a menu say why; after the end only a new call is offered."""
    at("2026-12-01 10:00")
    phone = Phone(logged_in_client)
    phone.start()
    assert phone.do("press", "x").status_code == 400 and "Keys are 0-9" in phone.html
    assert phone.do("agent", "accept").status_code == 400 and "waiting for an answer at a menu" in phone.html
    phone.do("hangup")
    assert phone.waiting == "ended" and 'data-testid="keypad"' not in phone.html
    assert 'data-testid="start-call"' in phone.html


def test_a_tampered_state_is_refused(team, logged_in_client, at):
    """The page's state is signed: an edited one starts nothing."""
    at("2026-12-01 10:00")
    phone = Phone(logged_in_client)
    phone.start()
    resp = phone.do("press", "1", state="eyJzaW0iOnt9fQ.forged")
    assert resp.status_code == 400 and "damaged" in phone.html


def test_the_state_never_carries_the_auth_token(team, app, logged_in_client, at):
    """The signed state is readable by the browser, so the Twilio token is kept out of it."""
    at("2026-12-01 10:00")
    phone = Phone(logged_in_client)
    phone.start()
    assert app.config["TWILIO_AUTH_TOKEN"] not in phone.html


def test_typed_speech_is_shown_escaped(team, logged_in_client, at):
    """What the supervisor types as speech comes back as text."""
    at("2026-12-01 10:00")
    phone = Phone(logged_in_client)
    phone.start()
    phone.do("say", "<script>alert(1)</script>")
    assert "<script>alert(1)</script>" not in phone.html
    assert "CALLER says &#34;&lt;script&gt;alert(1)&lt;/script&gt;&#34;" in phone.html


def test_test_calls_work_without_a_configured_auth_token(app_factory, supervisor, at):
    """On a fresh machine without TWILIO_AUTH_TOKEN, the page signs with a token of its own."""
    from tests.console_fixtures import Browser

    at("2026-12-01 10:00")
    bare = app_factory(TWILIO_AUTH_TOKEN="")
    phone = Phone(Browser(bare.test_client(), supervisor))
    assert phone.start().status_code == 200
    assert "Please choose a support level." in phone.heard[1]
