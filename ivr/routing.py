"""Ringing the on-duty staff for a call's level, and what each agent decides.

Agents hear a whisper before they are connected and must press 1: a personal
voicemail box that picks up never gets a customer. Whoever picks up is written
down (`RingAttempt`), so a simultaneous round that Twilio ends on the first
pick-up can be followed by ringing, one by one, those who never picked up.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import url_for
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from . import calls, staff, tickets
from .flows import Flow, Node
from .models import TERMINAL_STATUSES, Call, RingAttempt, Staff, Ticket, db
from .twiml import Agent, Dial

# Twilio rings at most 10 <Number>s in one <Dial>.
MAX_NUMBERS = 10
# A call whose end we never heard of stops counting as "on a call" after this.
STALE_CALL = timedelta(hours=4)
TEAM_NAMES = {"support": "support", "engineering": "engineering"}


def busy_staff_ids(now: datetime) -> set[int]:
    """Give the staff now talking to a caller on this line."""
    rows = db.session.execute(
        select(Call.agent_id).where(
            Call.agent_id.is_not(None),
            Call.answered_at.is_not(None),
            Call.answered_at > now - STALE_CALL,
            Call.ended_at.is_(None),
            Call.status.not_in(TERMINAL_STATUSES),
            Call.is_test.is_(False),
        )
    )
    return {r[0] for r in rows}


def picked_up(call: Call) -> set[int]:
    """Give the staff who already picked up this call's whisper."""
    rows = db.session.execute(select(RingAttempt.staff_id).where(RingAttempt.call_id == call.id))
    return {r[0] for r in rows}


def caller_id(call: Call) -> str | None:
    """Show agents the support number, the one the customer dialled."""
    return calls.e164(call.to_number)


def dial_for(flow: Flow, call: Call, ticket: Ticket | None, node: Node, now: datetime) -> Dial | None:
    """Build the Dial that rings who can take this call, or None when nobody can."""
    level = flow.levels.get(call.level or "")
    if level is None or ticket is None:
        return None
    settings = flow.routing[level.id]
    simultaneous = settings.ring == "simultaneous"
    # A simultaneous round ends at the first pick-up, so one more round rings
    # the others one by one; a sequential round has already tried everyone.
    rounds = 2 if simultaneous else 1
    if call.dial_rounds >= rounds:
        return None
    skip = busy_staff_ids(now) | picked_up(call)
    people = [p for p in staff.on_duty(level.team, now, flow.policy) if p.id not in skip][:MAX_NUMBERS]
    if not people:
        return None
    call.dial_rounds += 1
    if call.ringing_at is None:
        call.ringing_at = now
    return Dial(
        action=url_for("voice.dialed", node=node.name),
        agents=tuple(Agent(p.phone, url_for("voice.whisper", staff_id=p.id)) for p in people),
        caller_id=caller_id(call),
        timeout=settings.ring_timeout,
        sequential=not (simultaneous and call.dial_rounds == 1),
    )


def all_busy(flow: Flow, call: Call, now: datetime) -> bool:
    """Tell whether the level's team has people on duty but every one is on a call."""
    level = flow.levels.get(call.level or "")
    if level is None:
        return False
    people = staff.on_duty(level.team, now, flow.policy)
    return bool(people) and {p.id for p in people} <= busy_staff_ids(now)


def connecting_words(flow: Flow, call: Call) -> str:
    """Tell the caller whom they are being put through to."""
    level = flow.levels[call.level]
    return flow.prompts["connecting"].replace("{team_name}", TEAM_NAMES.get(level.team, level.team))


def spoken_number(call: Call) -> str:
    """Say the caller's number digit by digit, or that it is withheld."""
    number = call.from_e164
    if not number:
        return "a withheld number"
    digits = number[2:] if number.startswith("+1") else number[1:]
    return ", ".join(digits)


def whisper_words(flow: Flow, call: Call) -> str:
    """Tell the agent what the call is before they accept it."""
    ticket = tickets.for_call(call)
    level = flow.levels.get(call.level or "")
    caller = spoken_number(call)
    if call.caller_name:
        caller = f"{call.caller_name}, {caller}"
    company = ticket.company if ticket and ticket.company else None
    if company:
        caller = f"{company}, {caller}"
    speaking = flow.speaking(call.language)
    if speaking is not flow:
        # Agents need to know before answering that the caller speaks another language.
        caller = f"{caller}, a {speaking.name}-speaking caller"
    values = {
        "level_name": level.spoken if level else "support",
        "ticket_digits": tickets.digits(ticket) if ticket else "not yet assigned",
        "caller": caller,
    }
    text = flow.prompts["whisper"]
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return " ".join(text.split())


def note_pick_up(call: Call, person: Staff, leg_sid: str) -> RingAttempt:
    """Write down that an agent picked up this call's whisper, once."""
    found = db.session.execute(
        select(RingAttempt).where(RingAttempt.call_id == call.id, RingAttempt.staff_id == person.id)
    ).scalar_one_or_none()
    if found:
        return found
    attempt = RingAttempt(call_id=call.id, staff_id=person.id, leg_sid=leg_sid[:64], result="whisper")
    try:
        with db.session.begin_nested():
            db.session.add(attempt)
    except IntegrityError:
        # The whisper was fetched twice at once (a Twilio retry).
        found = db.session.execute(
            select(RingAttempt).where(RingAttempt.call_id == call.id, RingAttempt.staff_id == person.id)
        ).scalar_one()
        return found
    return attempt


def accept(call: Call, person: Staff, now: datetime) -> bool:
    """Give the call and its ticket to this agent; False if a colleague has it already."""
    if call.agent_id not in (None, person.id):
        return False
    first = call.agent_id is None
    call.agent_id = person.id
    call.answered_at = call.answered_at or now
    if not call.is_test:
        # A simulated call must not change who is rung first.
        person.last_call_at = now
    ticket = tickets.for_call(call)
    if ticket and first:
        ticket.assignee_id = person.id
        # A live answer is the first response the policy promises.
        if ticket.first_response_at is None:
            ticket.first_response_at = now
            ticket.state = "responded"
    return True
