"""Twilio's voice webhooks: thin views over the call log and the flow walker."""

from __future__ import annotations

import functools
import logging

from flask import Blueprint, current_app, request, url_for
from sqlalchemy import select

from . import archive, calls, routing
from .flows import Flow
from .line import Walk, keep_recording
from .models import Recording, Staff, db, utcnow
from .signatures import twilio_signed
from .twiml import Hangup, Record, Say, Voice

log = logging.getLogger(__name__)
bp = Blueprint("voice", __name__, url_prefix="/voice")

APOLOGY = "We're sorry, something went wrong on our side."
FALLBACK_VOICEMAIL = "Please leave your name, number and a short description of the problem after the tone, and we will call you back."
FALLBACK_THANKS = "Thank you. We have your message and will call you back. Goodbye."
MAX_TRANSCRIPT_CHARS = 20_000


def flow() -> Flow:
    """Give the flow loaded at start-up."""
    return current_app.extensions["ivr.flow"]


def voice() -> Voice:
    """Give the line's speaking voice."""
    f = flow()
    return Voice(f.voice, f.language)


def params() -> dict:
    """Give the webhook's form parameters, unknown ones included."""
    return request.form.to_dict()


def apology_and_voicemail() -> list:
    """Say sorry and take a message: what a caller hears whenever something fails."""
    return [
        Say(APOLOGY),
        Say(FALLBACK_VOICEMAIL),
        Record(
            action="/voice/fallback/recorded",
            status_callback="/voice/recording-status",
            transcribe_callback="/voice/transcription",
        ),
    ]


def safe_answer(view):
    """Answer the caller with valid TwiML whatever fails, and keep what they say.

    Twilio would otherwise read its "application error" message to the caller.
    """

    @functools.wraps(view)
    def guarded(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except Exception:
            log.exception("webhook %s failed for call %s", request.path, request.form.get("CallSid", "-"))
            db.session.rollback()
            return voice().render(apology_and_voicemail())

    return guarded


def _call_for_request():
    """Find or open the call this webhook is about, and note the webhook on its trail."""
    p = params()
    call = calls.get_or_start(p)
    calls.note(call, request.endpoint.rsplit(".", 1)[-1], p)
    return call, p


def _finish(call) -> None:
    """Bring the call's outcome up to date and commit what this webhook learnt."""
    calls.refresh_outcome(call)
    db.session.commit()


def _missing_call_sid():
    """Answer a signed request that names no call: nothing to store, still valid TwiML."""
    return voice().render([Say(APOLOGY), Hangup()]), 400


@bp.post("/incoming")
@twilio_signed
@safe_answer
def incoming():
    """Greet a new caller and offer the support levels."""
    if not request.form.get("CallSid"):
        return _missing_call_sid()
    call, _ = _call_for_request()
    out = Walk(flow(), call).enter(flow().start)
    _finish(call)
    return voice().render(out)


@bp.post("/gather/<node>")
@twilio_signed
@safe_answer
def gather(node: str):
    """Act on what the caller pressed or said at a menu (or their silence)."""
    if not request.form.get("CallSid"):
        return _missing_call_sid()
    call, p = _call_for_request()
    out = Walk(flow(), call).answer(node, p.get("Digits"), p.get("SpeechResult"))
    _finish(call)
    return voice().render(out)


@bp.post("/node/<node>")
@twilio_signed
@safe_answer
def enter(node: str):
    """Continue the call at a node (a Redirect target)."""
    if not request.form.get("CallSid"):
        return _missing_call_sid()
    call, _ = _call_for_request()
    f = flow()
    out = Walk(f, call).enter(node if node in f.nodes else f.start)
    _finish(call)
    return voice().render(out)


@bp.post("/recorded/<node>")
@twilio_signed
@safe_answer
def recorded(node: str):
    """Keep the voicemail on the ticket and say goodbye."""
    if not request.form.get("CallSid"):
        return _missing_call_sid()
    call, p = _call_for_request()
    out = Walk(flow(), call).recorded(node, p)
    _finish(call)
    return voice().render(out)


@bp.post("/dialed/<node>")
@twilio_signed
@safe_answer
def dialed(node: str):
    """Go on after ringing staff: goodbye after a talk, else the next round or a voicemail."""
    if not request.form.get("CallSid"):
        return _missing_call_sid()
    call, p = _call_for_request()
    out = Walk(flow(), call).dialed(node, p)
    _finish(call)
    return voice().render(out)


def _agent_leg(staff_id: int):
    """Find the customer's call and the agent for a whisper request, locking the call."""
    parent = request.form.get("ParentCallSid", "")
    call = calls.find_for_update(parent) if parent else None
    person = db.session.get(Staff, staff_id)
    return call, person


@bp.post("/whisper/<int:staff_id>")
@twilio_signed
def whisper(staff_id: int):
    """Tell the agent who picked up what the call is, and ask them to press 1."""
    try:
        call, person = _agent_leg(staff_id)
        if call is None or person is None:
            return voice().render([Hangup()])
        calls.note(call, "whisper", request.form.to_dict())
        routing.note_pick_up(call, person, request.form.get("CallSid", ""))
        if call.agent_id not in (None, person.id):
            out = [Say(flow().prompts["taken"]), Hangup()]
            db.session.commit()
            return voice().render(out)
        words = routing.whisper_words(flow(), call)
        db.session.commit()
        return voice().whisper(words, url_for("voice.whisper_answer", staff_id=staff_id))
    except Exception:
        # Hanging up this leg passes the call on to the next person or to voicemail.
        log.exception("whisper failed for agent %s", staff_id)
        db.session.rollback()
        return voice().render([Hangup()])


@bp.post("/whisper/<int:staff_id>/answer")
@twilio_signed
def whisper_answer(staff_id: int):
    """Connect the agent who pressed 1; hang up this leg for anything else."""
    try:
        call, person = _agent_leg(staff_id)
        if call is None or person is None:
            return voice().render([Hangup()])
        calls.note(call, "whisper_answer", request.form.to_dict())
        attempt = routing.note_pick_up(call, person, request.form.get("CallSid", ""))
        if request.form.get("Digits") == "1" and routing.accept(call, person, utcnow()):
            attempt.result = "accepted"
            _finish(call)
            return voice().render([])  # an empty answer bridges the legs
        attempt.result = "rejected" if call.agent_id != person.id else attempt.result
        taken = call.agent_id not in (None, person.id)
        _finish(call)
        return voice().render(([Say(flow().prompts["taken"])] if taken else []) + [Hangup()])
    except Exception:
        log.exception("whisper answer failed for agent %s", staff_id)
        db.session.rollback()
        return voice().render([Hangup()])


@bp.post("/fallback")
@twilio_signed
def fallback():
    """Answer when Twilio could not reach the primary webhook: no database needed."""
    log.error(
        "Twilio used the fallback URL for call %s: error %s at %s",
        request.form.get("CallSid", "-"),
        request.form.get("ErrorCode", "-"),
        request.form.get("ErrorUrl", "-"),
    )
    return voice().render(apology_and_voicemail())


@bp.post("/fallback/recorded")
@twilio_signed
def fallback_recorded():
    """Thank a caller who left a message after a failure, keeping it when we can."""
    try:
        if request.form.get("CallSid") and request.form.get("RecordingSid"):
            call, p = _call_for_request()
            keep_recording(call, p)
            _finish(call)
    except Exception:
        log.exception("could not store fallback recording for call %s", request.form.get("CallSid", "-"))
        db.session.rollback()
    return voice().render([Say(FALLBACK_THANKS), Hangup()])


@bp.post("/status")
@twilio_signed
def status():
    """Record a call's progress and final status and duration."""
    if not request.form.get("CallSid"):
        return {"error": "CallSid is required"}, 400
    call, p = _call_for_request()
    calls.record_status(call, p)
    _finish(call)
    return voice().render([])


@bp.post("/recording-status")
@twilio_signed
def recording_status():
    """Record a recording's final state (completed, failed, absent)."""
    p = params()
    if not p.get("CallSid") or not p.get("RecordingSid"):
        return {"error": "CallSid and RecordingSid are required"}, 400
    call, p = _call_for_request()
    rec = keep_recording(call, p)
    _finish(call)
    if rec.status == "completed" and rec.archive_status == "pending":
        archive.schedule(rec.id)
    return voice().render([])


@bp.post("/transcription")
@twilio_signed
def transcription():
    """Store a voicemail's transcript on its recording (and so on the ticket)."""
    p = params()
    if not p.get("CallSid") or not p.get("RecordingSid"):
        return {"error": "CallSid and RecordingSid are required"}, 400
    call, p = _call_for_request()
    rec = db.session.execute(select(Recording).where(Recording.sid == p["RecordingSid"][:64])).scalar_one_or_none()
    if rec is None:
        rec = keep_recording(call, {"RecordingSid": p["RecordingSid"], "RecordingUrl": p.get("RecordingUrl", "")})
    ok = p.get("TranscriptionStatus") == "completed"
    rec.transcript_status = "completed" if ok else "failed"
    rec.transcript = p.get("TranscriptionText", "")[:MAX_TRANSCRIPT_CHARS] if ok else rec.transcript
    _finish(call)
    return voice().render([])
