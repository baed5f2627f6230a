"""Trouble tickets: opened once per call, due on the level's clock."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from . import hours
from .flows import Flow
from .models import Call, Ticket, db, utcnow


def for_call(call: Call) -> Ticket | None:
    """Find the ticket a call opened."""
    return db.session.execute(select(Ticket).where(Ticket.call_id == call.id)).scalar_one_or_none()


def open_for_call(flow: Flow, call: Call, level_id: str) -> Ticket:
    """Open the ticket for this call at its level, once, however often asked."""
    existing = for_call(call)
    if existing:
        return existing
    now = utcnow()
    level = flow.levels[level_id]
    ticket = Ticket(
        call_id=call.id,
        level=level_id,
        caller=call.caller,
        opened_at=now,
        due_at=hours.due_at(flow.policy, level, now),
    )
    try:
        with db.session.begin_nested():
            db.session.add(ticket)
    except IntegrityError:
        # A repeated webhook opened it a moment ago in another worker.
        ticket = for_call(call)
        if ticket is None:
            raise
    return ticket


def by_number(number: int) -> Ticket | None:
    """Find a ticket by the number callers hear."""
    return db.session.get(Ticket, Ticket.id_for_number(number))


def digits(ticket: Ticket) -> str:
    """Spell a ticket number digit by digit, as a caller hears it."""
    return ", ".join(str(ticket.number))
