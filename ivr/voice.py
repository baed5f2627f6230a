"""Twilio's voice webhooks: thin views over the call log and the flow walker."""

from __future__ import annotations

import functools
import logging

from flask import Blueprint, current_app, request
from sqlalchemy import select

from . import calls
from .flows import Flow
from .line import Walk, keep_recording
from .models import Recording, db
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
    db.session.commit()
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
    db.session.commit()
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
    db.session.commit()
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
    db.session.commit()
    return voice().render(out)


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
            db.session.commit()
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
    db.session.commit()
    return voice().render([])


@bp.post("/recording-status")
@twilio_signed
def recording_status():
    """Record a recording's final state (completed, failed, absent)."""
    p = params()
    if not p.get("CallSid") or not p.get("RecordingSid"):
        return {"error": "CallSid and RecordingSid are required"}, 400
    call, p = _call_for_request()
    keep_recording(call, p)
    db.session.commit()
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
    db.session.commit()
    return voice().render([])
