"""Texts to callers: the confirmation when a ticket opens, and news when it changes.

Texts are queued in the outbox (`ivr.texts`) and sent after the webhook has
committed, never on the caller's path. A number that ever answered STOP
(Twilio error 21610) is never texted again.
"""

from __future__ import annotations

import phonenumbers
from flask import current_app
from sqlalchemy import select

from . import hours, jobs, texts
from .flows import Flow
from .models import SmsOptOut, TextMessage, Ticket, db, utcnow

CONFIRMATION = "confirmation"
UPDATE = "update"
SUPPORT_EMAIL = "support@officespacesoftware.com"
SUPPORT_WEB = "support.officespacesoftware.com"
# Kinds of number a text can reach; US numbers are usually "fixed line or mobile".
TEXTABLE = {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}


def sending_configured() -> bool:
    """Tell whether the line can send texts at all (account, token and number set)."""
    c = current_app.config
    return bool(c.get("TWILIO_ACCOUNT_SID") and c.get("TWILIO_AUTH_TOKEN") and c.get("SUPPORT_NUMBER") and c.get("SMS_TO_CALLERS", True))


def can_text(number: str | None) -> bool:
    """Tell whether this number can take a text and has not opted out."""
    if not number:
        return False
    try:
        kind = phonenumbers.number_type(phonenumbers.parse(number))
    except phonenumbers.NumberParseException:
        return False
    if kind not in TEXTABLE:
        return False
    return db.session.get(SmsOptOut, number) is None


def opt_out(number: str) -> None:
    """Never text this number again (it answered STOP)."""
    if db.session.get(SmsOptOut, number) is None:
        db.session.add(SmsOptOut(phone=number, at=utcnow()))


def confirmation_body(flow: Flow, ticket: Ticket) -> str:
    """Write the text that confirms a new ticket."""
    level = flow.levels[ticket.level]
    due = hours.spoken_time(flow.policy, ticket.due_at, ticket.opened_at)
    return (
        f"OfficeSpace Support: ticket {ticket.number} ({level.name}) is open. "
        f"Our response goal is {level.goal_hours:g} hours: by {due}. "
        f"PIN for status by phone: {ticket.pin}. "
        f"Email {SUPPORT_EMAIL} or visit {SUPPORT_WEB}. Reply STOP to opt out."
    )


def confirm(flow: Flow, ticket: Ticket) -> TextMessage | None:
    """Queue the confirmation text for a new ticket, once, when the caller can take one."""
    if not sending_configured() or not can_text(ticket.caller):
        return None
    existing = db.session.execute(
        select(TextMessage).where(TextMessage.ticket_id == ticket.id, TextMessage.purpose == CONFIRMATION)
    ).scalar_one_or_none()
    if existing:
        return existing
    message = texts.queue(ticket.caller, confirmation_body(flow, ticket), ticket_id=ticket.id, purpose=CONFIRMATION)
    db.session.flush()
    jobs.after_commit(texts.send, message.id)
    return message


STATE_WORDS = {"responded": "is being worked on: we have responded", "resolved": "is resolved", "open": "is open again"}


def ticket_changed(ticket: Ticket) -> TextMessage | None:
    """Queue a text about a ticket's new state, if the caller asked for updates."""
    if not ticket.wants_updates or not sending_configured() or not can_text(ticket.caller):
        return None
    words = STATE_WORDS.get(ticket.state, f"is now {ticket.state}")
    message = texts.queue(ticket.caller, f"OfficeSpace Support: ticket {ticket.number} {words}.", ticket_id=ticket.id, purpose=UPDATE)
    db.session.flush()
    jobs.after_commit(texts.send, message.id)
    return message
