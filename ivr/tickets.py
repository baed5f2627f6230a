"""Trouble tickets: opened once per call, due on the level's clock."""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from . import customers, hours
from .flows import Flow, Policy
from .models import Call, Ticket, TicketChange, db, utcnow


def for_call(call: Call) -> Ticket | None:
    """Find the ticket a call is about: an open one the caller chose, or the one it opened."""
    if call.about_ticket_id is not None:
        return db.session.get(Ticket, call.about_ticket_id)
    return db.session.execute(select(Ticket).where(Ticket.call_id == call.id)).scalar_one_or_none()


def open_for_caller(call: Call) -> Ticket | None:
    """Find the caller's most recent ticket still open (not resolved), opened by another call."""
    if not call.from_e164:
        return None
    return db.session.execute(
        select(Ticket)
        .join(Call, Call.id == Ticket.call_id)
        # A real caller is never offered a ticket a test call opened (and vice versa).
        .where(Ticket.caller == call.from_e164, Ticket.state != "resolved", Ticket.call_id != call.id, Call.is_test.is_(call.is_test))
        .order_by(Ticket.opened_at.desc(), Ticket.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def new_pin() -> str:
    """Make a four-digit PIN for hearing a ticket's status from another phone."""
    return f"{secrets.randbelow(10_000):04d}"


def pin_matches(ticket: Ticket, keyed: str) -> bool:
    """Compare a keyed PIN with the ticket's in constant time."""
    return bool(ticket.pin) and hmac.compare_digest(ticket.pin.encode(), keyed.encode())


def open_for_call(flow: Flow, call: Call, level_id: str, now: datetime | None = None, policy: Policy | None = None) -> Ticket:
    """Open the ticket for this call at its level, once, however often asked.

    `now` is when the caller chose the level; a journal replay passes the moment
    of the outage, so the ticket is due when the caller was told. `policy` is
    the flow's with the console's closures added, which pause the clock too.
    """
    existing = for_call(call)
    if existing:
        return existing
    now = now or utcnow()
    level = flow.levels[level_id]
    ticket = Ticket(
        call_id=call.id,
        level=level_id,
        caller=call.caller,
        opened_at=now,
        due_at=hours.due_at(policy or flow.policy, level, now),
        language=call.language,
        pin=new_pin(),
        company=customers.company_for(call.from_e164),
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
    row_id = Ticket.id_for_number(number)
    if not 0 < row_id < 2**31:
        return None  # out of the id column's range: no such ticket
    return db.session.get(Ticket, row_id)


def digits(ticket: Ticket) -> str:
    """Spell a ticket number digit by digit, as a caller hears it."""
    return ", ".join(str(ticket.number))


# --- work on a ticket: the console's and the API's actions ------------------------

NOTE_MAX = 5000
STATES = ("open", "responded", "resolved")
# Which state changes a person may make; "open" from resolved reopens a ticket.
MOVES = {("open", "responded"), ("open", "resolved"), ("responded", "resolved"), ("resolved", "open")}


class TicketActionError(ValueError):
    """A change to a ticket that cannot be made; `kind` is forbidden, conflict or invalid."""

    def __init__(self, kind: str, message: str):
        self.kind = kind
        super().__init__(message)


def by_number_for_update(number: int) -> Ticket | None:
    """Find a ticket by number and lock its row, so two people's changes take turns."""
    if not 0 < Ticket.id_for_number(number) < 2**31:
        return None  # out of the id column's range: no such ticket
    return db.session.execute(select(Ticket).where(Ticket.id == Ticket.id_for_number(number)).with_for_update()).scalar_one_or_none()


def can_read(user, ticket: Ticket) -> bool:
    """Tell whether a user may see a ticket: supervisors all, agents those assigned to them."""
    return user.is_supervisor or (user.staff_id is not None and ticket.assignee_id == user.staff_id)


def change(ticket: Ticket, user, now, *, state: str | None = None, assignee=..., note: str | None = None) -> list[TicketChange]:
    """Change a ticket's state or assignee and add a note, all or nothing, keeping who and when.

    `assignee` is a Staff, None to unassign, or left out. Agents may work their
    own tickets (state and notes) but not reassign. Commits.
    """
    if not can_read(user, ticket):
        raise TicketActionError("forbidden", "This ticket is not assigned to you; only a supervisor can change it.")
    if assignee is not ... and not user.is_supervisor:
        raise TicketActionError("forbidden", "Only a supervisor can reassign a ticket.")
    if state is None and assignee is ... and note is None:
        raise TicketActionError("invalid", "Nothing to change: give a state, an assignee or a note.")
    if state is not None and state not in STATES:
        raise TicketActionError("invalid", f"state must be one of {', '.join(STATES)}, not {state!r}")
    if note is not None:
        note = note.strip()
        if not note:
            raise TicketActionError("invalid", "The note is empty.")
        if len(note) > NOTE_MAX:
            raise TicketActionError("invalid", f"The note is {len(note)} characters; at most {NOTE_MAX} are kept.")
    if assignee is not ... and assignee is not None and not assignee.active:
        raise TicketActionError("invalid", f"{assignee.name} is no longer on the roster.")
    if state is not None and state != ticket.state and (ticket.state, state) not in MOVES:
        raise TicketActionError("conflict", f"Ticket {ticket.number} is {ticket.state}; it cannot be made {state}.")
    if state is not None and state == ticket.state:
        raise TicketActionError("conflict", f"Ticket {ticket.number} is already {state}.")

    made = []

    def keep(action: str, detail: str = "", text: str | None = None) -> None:
        made.append(TicketChange(ticket_id=ticket.id, at=now, user_id=user.id, actor=user.email, action=action, detail=detail, note=text))

    if assignee is not ...:
        old = ticket.assignee.name if ticket.assignee else "nobody"
        new = assignee.name if assignee else "nobody"
        if (assignee.id if assignee else None) != ticket.assignee_id:
            ticket.assignee_id = assignee.id if assignee else None
            keep("reassigned", f"{old} \u2192 {new}")
    if state is not None:
        action = {"responded": "responded", "resolved": "resolved", "open": "reopened"}[state]
        if state in ("responded", "resolved") and ticket.first_response_at is None:
            # Resolving is a response too: the goal is about the customer hearing back.
            ticket.first_response_at = now
        keep(action, f"{ticket.state} \u2192 {state}")
        ticket.state = state
    if note is not None:
        keep("note", "", note)
    db.session.add_all(made)
    if state is not None:
        # A caller who asked for news of their ticket gets a text (ivr/updates.py).
        from . import updates

        updates.ticket_changed(ticket)
    db.session.commit()
    return made
