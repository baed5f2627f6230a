"""Callbacks instead of waiting: the caller keeps their place and hangs up; an agent calls back.

A request is queued by level (the shortest response goal first) and then by
time. Starting one rings the agent through Twilio's Calls API; when the agent
answers and presses 1, the customer is dialled and the two are bridged. The
outbound call is logged as a call about the same ticket.
"""

from __future__ import annotations

import logging
from datetime import datetime

import click
import requests
from flask import Blueprint, current_app, request, url_for
from flask.cli import AppGroup
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from twilio.base.exceptions import TwilioException

from . import calls, staff, tickets, twilio_api
from .failsafe import safe_leg
from .flows import Flow
from .models import TERMINAL_STATUSES, CallbackRequest, Staff, Ticket, db, utcnow
from .signatures import twilio_signed
from .twiml import Agent, Dial, Gather, Hangup, Say

log = logging.getLogger(__name__)
bp = Blueprint("callbacks", __name__, url_prefix="/voice/callback")
cli = AppGroup("callbacks", help="Callers waiting to be called back.")

OPEN_STATES = ("waiting", "calling")
CLOSED_STATES = ("done", "failed")


class CallbackError(ValueError):
    """A callback that cannot be started, with a message for the person who tried."""


def request_for(flow: Flow, call, ticket: Ticket) -> CallbackRequest | None:
    """Queue a callback for this call's ticket, once per call; None if the number cannot be called."""
    if not call.from_e164:
        return None
    found = db.session.execute(select(CallbackRequest).where(CallbackRequest.call_id == call.id)).scalar_one_or_none()
    if found:
        return found
    level = flow.levels.get(ticket.level)
    entry = CallbackRequest(
        ticket_id=ticket.id,
        call_id=call.id,
        phone=call.from_e164,
        level=ticket.level,
        # The shortest response goal is served first.
        priority=int((level.goal_hours if level else 24) * 60),
        requested_at=utcnow(),
        state="waiting",
    )
    try:
        with db.session.begin_nested():
            db.session.add(entry)
    except IntegrityError:
        # The same key press delivered twice at once.
        return db.session.execute(select(CallbackRequest).where(CallbackRequest.call_id == call.id)).scalar_one()
    return entry


def waiting() -> list[CallbackRequest]:
    """List the callbacks still to make, the next one first."""
    return list(
        db.session.execute(
            select(CallbackRequest)
            .where(CallbackRequest.state.in_(OPEN_STATES))
            .order_by(CallbackRequest.priority, CallbackRequest.requested_at, CallbackRequest.id)
        ).scalars()
    )


def finished_since(since: datetime) -> list[CallbackRequest]:
    """List the callbacks done or failed since an instant, the latest first."""
    changed = func.coalesce(CallbackRequest.updated_at, CallbackRequest.requested_at)
    return list(
        db.session.execute(
            select(CallbackRequest)
            .where(CallbackRequest.state.in_(CLOSED_STATES), changed >= since)
            .order_by(changed.desc(), CallbackRequest.id.desc())
        ).scalars()
    )


def public_url(endpoint: str, **values) -> str:
    """Give an absolute URL Twilio can reach for one of our webhooks."""
    base = current_app.config.get("PUBLIC_BASE_URL", "").rstrip("/")
    path = url_for(endpoint, **values)
    return base + path if base else url_for(endpoint, _external=True, **values)


def start(request_id: int, person: Staff) -> CallbackRequest:
    """Ring the agent for this callback; the customer is dialled once they accept."""
    entry = db.session.execute(select(CallbackRequest).where(CallbackRequest.id == request_id).with_for_update()).scalar_one_or_none()
    if entry is None:
        raise CallbackError(f"no callback request {request_id}")
    if entry.state != "waiting":
        raise CallbackError(f"callback {request_id} is {entry.state}, not waiting")
    if not person.active:
        raise CallbackError(f"{person.name} is not active")
    entry.state, entry.agent_id, entry.updated_at = "calling", person.id, utcnow()
    entry.attempts += 1
    try:
        made = twilio_api.rest_client().calls.create(
            to=person.phone,
            from_=current_app.config["SUPPORT_NUMBER"],
            url=public_url("callbacks.agent_answered", request_id=entry.id),
            status_callback=public_url("callbacks.agent_call_status", request_id=entry.id),
        )
    except (TwilioException, requests.RequestException) as exc:
        entry.state, entry.last_error = "waiting", str(exc)[:500]
        db.session.commit()
        raise CallbackError(f"Twilio could not ring {person.name}: {exc}") from exc
    entry.callback_call_sid = made.sid
    db.session.commit()
    return entry


def _entry_and_call():
    """Find the callback and log this webhook on the outbound call, linked to the ticket."""
    params = {k: v.replace("\x00", "") for k, v in request.form.items()}
    if not calls.plausible_sid(params.get("CallSid", "")):
        raise ValueError("a callback webhook without a CallSid")
    entry = db.session.get(CallbackRequest, request.view_args["request_id"])
    call = calls.get_or_start(params)
    if entry is not None and call.about_ticket_id is None:
        call.about_ticket_id = entry.ticket_id
        call.level = entry.level
    calls.note(call, request.endpoint.rsplit(".", 1)[-1], params)
    return entry, call


def _voice():
    """Speak in the line's voice."""
    from .voice import voice

    return voice()


@bp.post("/<int:request_id>/agent")
@twilio_signed
@safe_leg
def agent_answered(request_id: int):
    """Tell the agent whom they are calling back, and ask them to press 1."""
    entry, call = _entry_and_call()
    if entry is None or entry.state != "calling":
        db.session.commit()
        return _voice().render([Say("This callback is no longer waiting. Goodbye."), Hangup()])
    ticket = db.session.get(Ticket, entry.ticket_id)
    level = current_app.extensions["ivr.flow"].levels.get(entry.level)
    words = (
        f"Callback for {level.spoken if level else 'support'} ticket {tickets.digits(ticket)}, "
        f"customer {', '.join(entry.phone.removeprefix('+1'))}. Press 1 to call them now."
    )
    db.session.commit()
    action = url_for("callbacks.agent_decided", request_id=request_id)
    return _voice().render([Gather(action=action, prompt=(words,), timeout=8), Say("No key pressed. Goodbye."), Hangup()])


@bp.post("/<int:request_id>/agent/decided")
@twilio_signed
@safe_leg
def agent_decided(request_id: int):
    """Dial the customer when the agent pressed 1; otherwise put the request back in the queue."""
    entry, call = _entry_and_call()
    if entry is None or entry.state != "calling":
        db.session.commit()
        return _voice().render([Hangup()])
    if request.form.get("Digits") != "1":
        entry.state, entry.updated_at = "waiting", utcnow()
        db.session.commit()
        return _voice().render([Say("The callback stays in the queue. Goodbye."), Hangup()])
    db.session.commit()
    dial = Dial(
        action=url_for("callbacks.finished", request_id=request_id),
        agents=(Agent(entry.phone, ""),),
        caller_id=current_app.config.get("SUPPORT_NUMBER") or None,
        timeout=30,
    )
    return _voice().render([Say("Calling the customer now."), dial])


@bp.post("/<int:request_id>/finished")
@twilio_signed
@safe_leg
def finished(request_id: int):
    """Close the callback when the customer was reached; queue it again otherwise."""
    entry, call = _entry_and_call()
    if entry is None:
        db.session.commit()
        return _voice().render([Hangup()])
    now = utcnow()
    reached = request.form.get("DialCallStatus") == "completed"
    entry.updated_at = now
    if reached:
        entry.state = "done"
        ticket = db.session.get(Ticket, entry.ticket_id)
        person = db.session.get(Staff, entry.agent_id) if entry.agent_id else None
        call.agent_id, call.answered_at = entry.agent_id, call.answered_at or now
        if ticket and person and ticket.assignee_id is None:
            ticket.assignee_id = person.id
        if ticket and ticket.first_response_at is None:
            # Calling the customer back is the first response the policy promises.
            ticket.first_response_at, ticket.state = now, "responded"
    else:
        entry.state = "waiting"
        entry.last_error = f"customer not reached: {request.form.get('DialCallStatus', 'unknown')}"
    calls.refresh_outcome(call)
    db.session.commit()
    words = "The callback is complete. Goodbye." if reached else "The customer did not answer; the callback stays in the queue. Goodbye."
    return _voice().render([Say(words), Hangup()])


@bp.post("/<int:request_id>/status")
@twilio_signed
def agent_call_status(request_id: int):
    """Record the agent's call status; a call that ended before the customer was reached goes back in the queue."""
    try:
        entry, call = _entry_and_call()
        calls.record_status(call, request.form.to_dict())
        status = request.form.get("CallStatus", "")
        if entry is not None and entry.state == "calling" and status in TERMINAL_STATUSES:
            # The agent did not answer, was busy, or hung up before dialling the customer.
            entry.state, entry.updated_at = "waiting", utcnow()
            entry.last_error = f"agent's phone: {status}"
        calls.refresh_outcome(call)
        db.session.commit()
    except Exception:
        log.exception("callback status for request %s failed for call %s", request_id, request.form.get("CallSid", "-"))
        db.session.rollback()
    return _voice().render([])


@cli.command("list")
def list_command() -> None:
    """List the callbacks still to make, the next one first."""
    entries = waiting()
    if not entries:
        click.echo("nobody is waiting for a callback")
    for e in entries:
        ticket = db.session.get(Ticket, e.ticket_id)
        click.echo(f"{e.id:>5}  {e.state:<8} ticket {ticket.number}  {e.level:<10} {e.phone}  since {e.requested_at:%Y-%m-%d %H:%M} UTC")


@cli.command("start")
@click.argument("request_id", type=int)
@click.option("--agent", "agent_name", required=True, help="The staff member who calls the customer back.")
def start_command(request_id: int, agent_name: str) -> None:
    """Ring an agent to call a waiting customer back."""
    person = staff.find(agent_name)
    if person is None:
        raise click.ClickException(f"nobody called {agent_name!r} on the roster")
    try:
        entry = start(request_id, person)
    except CallbackError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"ringing {person.name} for callback {entry.id} ({entry.callback_call_sid})")
