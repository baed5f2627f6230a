"""The SMS outbox: sending, retrying, giving up, and the on-call alert for Critical tickets."""

from __future__ import annotations

import dataclasses
import secrets
from datetime import timedelta
from urllib.parse import parse_qs

import pytest
import requests
import responses
from sqlalchemy import select

from ivr import texts
from ivr.models import Call, TextMessage, Ticket, db, utcnow

AC = "AC" + "0" * 32
MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{AC}/Messages.json"
ENGINEER, ENGINEER_2 = "+13125550111", "+13125550112"
CALLER = "+13125550199"
CONSOLE = "https://line.example/console/calls/CA123"


@pytest.fixture
def app(app_factory, tmp_path):
    """Give an app that runs jobs inline."""
    return app_factory(JOBS="inline", RECORDINGS_DIR=str(tmp_path / "rec"))


@pytest.fixture
def mock():
    """Mock Twilio's API for one test."""
    # Any request not registered here fails as a connection error: no real network.
    with responses.RequestsMock(assert_all_requests_are_fired=False) as m:
        yield m


def accepted(mock):
    """Let Twilio accept every text."""
    return mock.post(MESSAGES, status=201, json={"sid": "SM" + secrets.token_hex(16), "status": "queued"})


def refused(mock, code, message, status=400):
    """Let Twilio refuse every text with this error."""
    return mock.post(MESSAGES, status=status, json={"code": code, "message": message, "status": status})


def add_text(app, to=ENGINEER, body="hello") -> int:
    """Queue one text and commit it; give its id."""
    with app.app_context():
        message = texts.queue(to, body)
        db.session.commit()
        return message.id


def load(app, message_id) -> TextMessage:
    """Read a text afresh, detached, for assertions."""
    with app.app_context():
        message = db.session.get(TextMessage, message_id)
        db.session.expunge(message)
        return message


def send(app, message_id) -> str | None:
    """Send one text as a job would."""
    with app.app_context():
        return texts.send(message_id)


def send_pending(app) -> tuple[int, int, int]:
    """Run the cron command's work."""
    with app.app_context():
        return texts.send_pending()


def posted(call) -> dict[str, str]:
    """Give the form a request posted to Twilio."""
    return {k: v[0] for k, v in parse_qs(call.request.body).items()}


def test_queue_adds_a_pending_text(app):
    mid = add_text(app, body="Critical ticket")
    message = load(app, mid)
    assert (message.status, message.attempts, message.purpose, message.to) == ("pending", 0, "on_call_alert", ENGINEER)


def test_send_success(app, mock):
    mid = add_text(app, body="Critical ticket 1001")
    create = accepted(mock)

    assert send(app, mid) == "sent"

    message = load(app, mid)
    assert message.status == "sent"
    assert message.twilio_sid.startswith("SM")
    assert message.sent_at is not None and message.attempts == 0 and message.last_error is None
    assert create.call_count == 1
    assert posted(mock.calls[0]) == {"To": ENGINEER, "From": "+16462019664", "Body": "Critical ticket 1001"}


def test_server_error_then_send_pending_retries(app, mock):
    mid = add_text(app)
    failing = refused(mock, 20500, "Internal Server Error", status=500)

    assert send(app, mid) == "pending"
    message = load(app, mid)
    assert message.attempts == 1
    assert message.last_error == "20500: Unable to create record: Internal Server Error"

    mock.remove(failing)
    accepted(mock)
    assert send_pending(app) == (1, 0, 0)
    assert load(app, mid).status == "sent"


def test_an_unreachable_twilio_leaves_it_pending(app, mock):
    mid = add_text(app)
    mock.post(MESSAGES, body=requests.exceptions.ConnectTimeout("connect timed out"))

    assert send(app, mid) == "pending"

    message = load(app, mid)
    assert (message.attempts, message.last_error) == (1, "could not reach Twilio: ConnectTimeout")


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (21610, "Attempt to send to unsubscribed recipient"),
        (21211, "Invalid 'To' Phone Number"),
        (21614, "'To' number is not a valid mobile number"),
    ],
)
def test_permanent_errors_fail_for_good(app, mock, code, message):
    mid = add_text(app)
    create = refused(mock, code, message)

    assert send(app, mid) == "failed"
    assert send_pending(app) == (0, 0, 0)
    assert send(app, mid) == "failed"

    assert create.call_count == 1
    stored = load(app, mid)
    assert (stored.status, stored.attempts) == ("failed", 1)
    assert stored.last_error.startswith(f"{code}: ")


def test_five_failures_give_up(app, mock):
    mid = add_text(app)
    create = refused(mock, 20429, "Too Many Requests", status=429)

    for _ in range(texts.MAX_ATTEMPTS - 1):
        assert send_pending(app) == (0, 0, 1)
    assert send_pending(app) == (0, 1, 0)
    assert send_pending(app) == (0, 0, 0)

    assert create.call_count == texts.MAX_ATTEMPTS
    assert (load(app, mid).status, load(app, mid).attempts) == ("failed", 5)


def test_a_text_being_sent_elsewhere_is_skipped(app, mock):
    mid = add_text(app)
    create = accepted(mock)
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite has no row locks")
        with db.engine.connect() as other:
            # Another sender holds the row while it talks to Twilio.
            other.execute(select(TextMessage).where(TextMessage.id == mid).with_for_update())
            assert texts.send(mid) == "pending"
            other.rollback()
    assert create.call_count == 0
    assert send(app, mid) == "sent"


def test_cli_send(app, mock):
    add_text(app)
    add_text(app, to=ENGINEER_2)
    accepted(mock)

    result = app.test_cli_runner().invoke(args=["texts", "send"])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "sent 2, failed 0, still pending 0"


# -- on-call alerts -------------------------------------------------------


def open_ticket(app, level="critical") -> tuple[int, int]:
    """Insert a call and its ticket; give their ids."""
    with app.app_context():
        call = Call(call_sid="CA" + secrets.token_hex(16), from_raw=CALLER, from_e164=CALLER)
        db.session.add(call)
        db.session.flush()
        ticket = Ticket(call_id=call.id, level=level, caller=CALLER, due_at=utcnow() + timedelta(hours=2))
        db.session.add(ticket)
        db.session.commit()
        return call.id, ticket.id


def alert(app, flow, call_id, ticket_id) -> list[tuple[str, str, str]]:
    """Alert the on-call engineers about a ticket; give (to, status, body) of each text."""
    with app.app_context():
        call, ticket = db.session.get(Call, call_id), db.session.get(Ticket, ticket_id)
        return [(m.to, m.status, m.body) for m in texts.alert_on_call(flow, call, ticket, CONSOLE)]


def on_call(app, *numbers):
    """Give the app's flow with these on-call engineers."""
    return dataclasses.replace(app.extensions["ivr.flow"], on_call_engineers=numbers)


def test_alert_texts_each_on_call_engineer(app, mock):
    create = accepted(mock)
    call_id, ticket_id = open_ticket(app)

    sent = alert(app, on_call(app, ENGINEER, ENGINEER_2), call_id, ticket_id)

    number = ticket_id + 1000
    body = f"Critical Technical Support: ticket {number} from {CALLER}. {CONSOLE}"
    assert sent == [(ENGINEER, "sent", body), (ENGINEER_2, "sent", body)]
    assert [posted(c)["To"] for c in mock.calls] == [ENGINEER, ENGINEER_2]
    assert create.call_count == 2
    with app.app_context():
        rows = db.session.execute(select(TextMessage)).scalars().all()
        assert {(m.ticket_id, m.purpose) for m in rows} == {(ticket_id, "on_call_alert")}


def test_alert_is_sent_once_per_ticket(app, mock):
    create = accepted(mock)
    call_id, ticket_id = open_ticket(app)
    flow = on_call(app, ENGINEER, ENGINEER)  # listed twice: texted once

    first = alert(app, flow, call_id, ticket_id)
    again = alert(app, flow, call_id, ticket_id)

    assert len(first) == 1 and again == first
    assert create.call_count == 1


def test_a_failed_alert_stays_pending_for_cron(app, mock):
    refused(mock, 20500, "Internal Server Error", status=500)
    call_id, ticket_id = open_ticket(app)

    sent = alert(app, on_call(app, ENGINEER), call_id, ticket_id)

    assert [status for _, status, _ in sent] == ["pending"]


def test_no_alert_without_on_call_engineers(app, mock):
    call_id, ticket_id = open_ticket(app)
    assert app.extensions["ivr.flow"].on_call_engineers == ()

    assert alert(app, app.extensions["ivr.flow"], call_id, ticket_id) == []

    assert len(mock.calls) == 0
    with app.app_context():
        assert db.session.execute(select(TextMessage)).first() is None


def test_no_alert_for_other_levels(app, mock):
    call_id, ticket_id = open_ticket(app, level="technical")

    assert alert(app, on_call(app, ENGINEER), call_id, ticket_id) == []

    assert len(mock.calls) == 0
