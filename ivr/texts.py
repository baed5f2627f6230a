"""The SMS outbox: texts are queued as rows, then sent off the caller's path, with retries.

A text is stored before it is sent, so nothing is lost when Twilio is slow or
down or the worker stops: `flask texts send` (cron) retries pending ones.
Delivery is at least once: a worker that dies after Twilio accepted a text but
before the commit leaves it pending, and it is sent again.

Two senders (the background job and cron) must not send the same text twice.
On PostgreSQL `send` holds the row lock (`FOR UPDATE SKIP LOCKED`) while it
talks to Twilio: a second sender skips the row. Unlike recordings, no webhook
ever updates a text's row, so the lock keeps no caller waiting. SQLite has no
row locks; a single-machine deployment accepts the small window.
"""

from __future__ import annotations

import logging

import click
import requests
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import func, select
from twilio.base.exceptions import TwilioException

from . import jobs, twilio_api
from .flows import Flow
from .models import Call, SmsOptOut, TextMessage, Ticket, db, utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
# Errors that no retry can fix: 21211 invalid To, 21610 recipient replied STOP, 21614 not a mobile.
PERMANENT_CODES = frozenset({21211, 21610, 21614})
OPTED_OUT = 21610
CRITICAL_LEVEL = "critical"
ON_CALL_ALERT = "on_call_alert"
ERROR_CHARS = 500  # last_error is a String(500); PostgreSQL refuses longer values

cli = AppGroup("texts", help="Send the SMS outbox (on-call alerts).")


def queue(to: str, body: str, ticket_id: int | None = None, purpose: str = ON_CALL_ALERT) -> TextMessage:
    """Add a pending text to the session; the caller commits."""
    message = TextMessage(to=to, body=body, ticket_id=ticket_id, purpose=purpose, status="pending", attempts=0)
    db.session.add(message)
    return message


def send(message_id: int) -> str | None:
    """Send one pending text through Twilio; give its status after (None if absent or being sent elsewhere)."""
    message = db.session.execute(
        select(TextMessage)
        .where(TextMessage.id == message_id, TextMessage.status == "pending")
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if message is None:
        # Sent or failed already, or another sender holds it right now.
        db.session.commit()
        existing = db.session.get(TextMessage, message_id)
        return existing.status if existing else None
    try:
        result = twilio_api.rest_client().messages.create(to=message.to, from_=current_app.config["SUPPORT_NUMBER"], body=message.body)
    except (TwilioException, requests.RequestException) as exc:
        code, text = _describe(exc)
        message.attempts += 1
        message.last_error = (f"{code}: {text}" if code else text)[:ERROR_CHARS]
        if code in PERMANENT_CODES or message.attempts >= MAX_ATTEMPTS:
            message.status = "failed"
        if code == OPTED_OUT:
            # The recipient answered STOP: no text of ours may reach them again.
            db.session.merge(SmsOptOut(phone=message.to, at=utcnow()))
        log.warning("text %s to %s not sent (attempt %s): %s", message.id, message.to, message.attempts, message.last_error)
    else:
        message.status = "sent"
        message.twilio_sid = result.sid
        message.sent_at = utcnow()
    status = message.status
    db.session.commit()
    return status


def _describe(exc: Exception) -> tuple[int | None, str]:
    """Give a Twilio error's code and a short message."""
    if isinstance(exc, requests.RequestException):
        return None, f"could not reach Twilio: {type(exc).__name__}"
    code = getattr(exc, "code", None)
    text = getattr(exc, "msg", None) or getattr(exc, "detail", None) or getattr(exc, "title", None)
    status = getattr(exc, "status", None)
    if not text:
        text = f"HTTP {status}" if status else type(exc).__name__
    elif status and not code:
        text = f"HTTP {status}: {text}"
    return code, str(text)


def send_pending() -> tuple[int, int, int]:
    """Try every pending text once; give (sent, failed, still pending)."""
    ids = list(db.session.execute(select(TextMessage.id).where(TextMessage.status == "pending").order_by(TextMessage.id)).scalars())
    db.session.commit()
    sent = failed = 0
    for message_id in ids:
        try:
            status = send(message_id)
        except Exception:
            # One bad row must not stop the rest; it stays pending for the next run.
            log.exception("sending text %s failed", message_id)
            db.session.rollback()
            continue
        sent += status == "sent"
        failed += status == "failed"
    pending = db.session.execute(select(func.count()).select_from(TextMessage).where(TextMessage.status == "pending")).scalar_one()
    return sent, failed, pending


def alert_body(flow: Flow, call: Call, ticket: Ticket, console_url: str) -> str:
    """Write the on-call alert for a ticket: number, level, caller and the console link."""
    level = flow.levels[ticket.level].name if ticket.level in flow.levels else ticket.level
    caller = call.caller or ticket.caller or "unknown"
    return f"{level}: ticket {ticket.number} from {caller}. {console_url}"


def alert_on_call(flow: Flow, call: Call, ticket: Ticket, console_url: str) -> list[TextMessage]:
    """Text each on-call engineer about a Critical ticket, once per ticket; commit, then send off the caller's path."""
    if ticket.level != CRITICAL_LEVEL or not flow.on_call_engineers:
        return []
    already = list(
        db.session.execute(
            select(TextMessage).where(TextMessage.ticket_id == ticket.id, TextMessage.purpose == ON_CALL_ALERT).order_by(TextMessage.id)
        ).scalars()
    )
    if already:
        # A repeated webhook: the engineers were told already.
        return already
    body = alert_body(flow, call, ticket, console_url)
    # dict.fromkeys: one text per number, even if the flow lists a number twice.
    messages = [queue(number, body, ticket_id=ticket.id) for number in dict.fromkeys(flow.on_call_engineers)]
    db.session.commit()
    for message_id in [m.id for m in messages]:
        jobs.run_later(send, message_id)
    for message in messages:
        # The jobs wrote in their own sessions: read the status afresh when asked.
        db.session.expire(message)
    return messages


@cli.command("send")
def send_command() -> None:
    """Send pending texts again (run from cron); print what happened."""
    sent, failed, pending = send_pending()
    click.echo(f"sent {sent}, failed {failed}, still pending {pending}")
