"""Twilio's voice webhooks: thin views over the call log and the flow walker."""

from __future__ import annotations

import functools
import logging

from flask import Blueprint, Response, current_app, request, url_for

from . import archive, calls, journal, outage, routing
from .failsafe import EMPTY, LAST_RESORT, rollback, safe_leg, xml
from .flows import Flow
from .line import Walk, keep_recording, keep_transcript
from .models import Staff, db, utcnow
from .outage import APOLOGY, FALLBACK_THANKS
from .signatures import twilio_signed
from .twiml import Hangup, Say, Voice

log = logging.getLogger(__name__)
bp = Blueprint("voice", __name__, url_prefix="/voice")


def flow() -> Flow:
    """Give the flow loaded at start-up."""
    return current_app.extensions["ivr.flow"]


def voice(call=None) -> Voice:
    """Give the line's speaking voice, in the caller's language when the call has one."""
    f = flow().speaking(call.language if call is not None else None)
    return Voice(f.voice, f.language)


def params() -> dict:
    """Give the webhook's form parameters, unknown ones included, without NUL characters.

    PostgreSQL cannot store a NUL in text; no caller ID or speech needs one.
    """
    return {key: value.replace("\x00", "") for key, value in request.form.items()}


def apology_and_voicemail() -> list:
    """Say sorry and take a message (or ring FALLBACK_NUMBER): what a caller hears whenever something fails."""
    return outage.fallback(flow())


def _endpoint() -> str:
    """Name this webhook as the call's trail does: incoming, gather, status..."""
    return (request.endpoint or "voice.unknown").rsplit(".", 1)[-1]


def _keep_in_journal(error: BaseException, answer: outage.Answer | None = None) -> None:
    """Write what this webhook could not store to the journal, with what the caller was told."""
    entry = journal.entry_for(
        _endpoint(),
        params(),
        node=(request.view_args or {}).get("node"),
        idempotency_token=request.headers.get("I-Twilio-Idempotency-Token"),
        level=answer.level if answer else None,
        due_at=answer.due_at.isoformat() if answer and answer.due_at else None,
        error=type(error).__name__,
    )
    journal.keep(entry)


def _answer_failure(error: BaseException) -> Response:
    """Answer a caller whose webhook failed: as far through the flow as it goes without the database."""
    log.exception("webhook %s failed for call %s", request.path, request.form.get("CallSid", "-"))
    rollback()
    try:
        answer = outage.answer(flow(), _endpoint(), (request.view_args or {}).get("node"), params(), outage.attempt_from(request.args))
    except Exception:
        log.exception("the outage answer failed too for call %s", request.form.get("CallSid", "-"))
        answer = None
    _keep_in_journal(error, answer)
    try:
        return voice().render(answer.directives if answer else apology_and_voicemail())
    except Exception:
        log.exception("could not render an answer for call %s", request.form.get("CallSid", "-"))
        return xml(LAST_RESORT)


def safe_answer(view):
    """Answer the caller with valid TwiML whatever fails, and keep what they say.

    Twilio would otherwise read its "application error" message to the caller.
    What the webhook could not store goes to the journal, replayed later.
    """

    @functools.wraps(view)
    def guarded(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except Exception as error:
            return _answer_failure(error)

    return guarded


def safe_callback(view):
    """Acknowledge a status callback whatever fails, keeping its facts in the journal.

    Nobody listens to these answers, but a 500 would show as an error in
    Twilio's debugger and lose what the callback told us.
    """

    @functools.wraps(view)
    def guarded(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except Exception as error:
            log.exception("callback %s failed for call %s", request.path, request.form.get("CallSid", "-"))
            rollback()
            _keep_in_journal(error)
            return xml(EMPTY)

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
    # The database took this commit: a good moment to write what an outage left in the journal.
    journal.replay_soon()


def _no_call() -> bool:
    """Tell whether the request names no call we could store (no CallSid, or one no SID looks like)."""
    return not calls.plausible_sid(request.form.get("CallSid", ""))


def _missing_call_sid():
    """Answer a signed request that names no call: nothing to store, still valid TwiML."""
    return voice().render([Say(APOLOGY), Hangup()]), 400


@bp.post("/incoming")
@twilio_signed
@safe_answer
def incoming():
    """Greet a new caller and offer the support levels."""
    if _no_call():
        return _missing_call_sid()
    call, _ = _call_for_request()
    out = Walk(flow(), call).enter(flow().start)
    speaking = voice(call)  # before the commit, which would make reading the call a query
    _finish(call)
    return speaking.render(out)


@bp.post("/gather/<node>")
@twilio_signed
@safe_answer
def gather(node: str):
    """Act on what the caller pressed or said at a menu (or their silence)."""
    if _no_call():
        return _missing_call_sid()
    call, p = _call_for_request()
    out = Walk(flow(), call).answer(node, p.get("Digits"), p.get("SpeechResult"))
    speaking = voice(call)  # before the commit, which would make reading the call a query
    _finish(call)
    return speaking.render(out)


@bp.post("/node/<node>")
@twilio_signed
@safe_answer
def enter(node: str):
    """Continue the call at a node (a Redirect target)."""
    if _no_call():
        return _missing_call_sid()
    call, _ = _call_for_request()
    f = flow()
    out = Walk(f, call).enter(node if node in f.nodes else f.start)
    speaking = voice(call)  # before the commit, which would make reading the call a query
    _finish(call)
    return speaking.render(out)


@bp.post("/recorded/<node>")
@twilio_signed
@safe_answer
def recorded(node: str):
    """Keep the voicemail on the ticket and say goodbye."""
    if _no_call():
        return _missing_call_sid()
    call, p = _call_for_request()
    out = Walk(flow(), call).recorded(node, p)
    speaking = voice(call)  # before the commit, which would make reading the call a query
    _finish(call)
    return speaking.render(out)


@bp.post("/dialed/<node>")
@twilio_signed
@safe_answer
def dialed(node: str):
    """Go on after ringing staff: goodbye after a talk, else the next round or a voicemail."""
    if _no_call():
        return _missing_call_sid()
    call, p = _call_for_request()
    out = Walk(flow(), call).dialed(node, p)
    speaking = voice(call)  # before the commit, which would make reading the call a query
    _finish(call)
    return speaking.render(out)


def _agent_leg(staff_id: int):
    """Find the customer's call and the agent for a whisper request, locking the call."""
    parent = request.form.get("ParentCallSid", "")
    call = calls.find_for_update(parent) if calls.plausible_sid(parent) else None
    person = db.session.get(Staff, staff_id)
    return call, person


@bp.post("/whisper/<int:staff_id>")
@twilio_signed
@safe_leg
def whisper(staff_id: int):
    """Tell the agent who picked up what the call is, and ask them to press 1."""
    try:
        call, person = _agent_leg(staff_id)
        if call is None or person is None:
            return voice().render([Hangup()])
        calls.note(call, "whisper", params())
        routing.note_pick_up(call, person, request.form.get("CallSid", ""))
        if call.agent_id not in (None, person.id):
            out = [Say(flow().prompts["taken"]), Hangup()]
            db.session.commit()
            return voice().render(out)  # the agent's language, not the caller's
        words = routing.whisper_words(flow(), call)
        db.session.commit()
        return voice().whisper(words, url_for("voice.whisper_answer", staff_id=staff_id))
    except Exception:
        # Hanging up this leg passes the call on to the next person or to voicemail.
        log.exception("whisper failed for agent %s on call %s", staff_id, request.form.get("ParentCallSid", "-"))
        rollback()
        return voice().render([Hangup()])


@bp.post("/whisper/<int:staff_id>/answer")
@twilio_signed
@safe_leg
def whisper_answer(staff_id: int):
    """Connect the agent who pressed 1; hang up this leg for anything else."""
    try:
        call, person = _agent_leg(staff_id)
        if call is None or person is None:
            return voice().render([Hangup()])
        calls.note(call, "whisper_answer", params())
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
        log.exception("whisper answer failed for agent %s on call %s", staff_id, request.form.get("ParentCallSid", "-"))
        rollback()
        return voice().render([Hangup()])


@bp.post("/fallback")
@twilio_signed
def fallback():
    """Answer when Twilio could not reach the primary webhook: no database needed.

    The request is journaled (a file append), so the call and Twilio's error
    code reach the call log once the journal is replayed.
    """
    try:
        log.error(
            "Twilio used the fallback URL for call %s: error %s at %s",
            request.form.get("CallSid", "-"),
            request.form.get("ErrorCode", "-"),
            request.form.get("ErrorUrl", "-"),
        )
        journal.keep(journal.entry_for("fallback", params(), idempotency_token=request.headers.get("I-Twilio-Idempotency-Token")))
        return voice().render(apology_and_voicemail())
    except Exception:
        log.exception("the fallback URL failed for call %s", request.form.get("CallSid", "-"))
        return xml(LAST_RESORT)


@bp.post("/fallback/recorded")
@twilio_signed
def fallback_recorded():
    """Thank a caller who left a message after a failure, keeping it: in the database, else the journal."""
    try:
        if not _no_call() and request.form.get("RecordingSid"):
            call, p = _call_for_request()
            keep_recording(call, p)
            _finish(call)
    except Exception as error:
        log.exception("could not store fallback recording for call %s", request.form.get("CallSid", "-"))
        rollback()
        _keep_in_journal(error)
    try:
        return voice().render([Say(FALLBACK_THANKS), Hangup()])
    except Exception:
        log.exception("could not thank the caller on call %s", request.form.get("CallSid", "-"))
        return xml(LAST_RESORT)


@bp.post("/fallback/dialed")
@twilio_signed
@safe_answer
def fallback_dialed():
    """Say goodbye after FALLBACK_NUMBER talked to the caller; else take a voicemail."""
    if _no_call():
        return _missing_call_sid()
    call, p = _call_for_request()
    call.dial_status = (p.get("DialCallStatus") or "")[:32] or call.dial_status
    _finish(call)
    return voice().render(outage.after_fallback_dial(flow(), p))


@bp.post("/status")
@twilio_signed
@safe_callback
def status():
    """Record a call's progress and final status and duration."""
    if _no_call():
        return {"error": "CallSid is required"}, 400
    call, p = _call_for_request()
    calls.record_status(call, p)
    _finish(call)
    return voice().render([])


@bp.post("/recording-status")
@twilio_signed
@safe_callback
def recording_status():
    """Record a recording's final state (completed, failed, absent)."""
    p = params()
    if _no_call() or not p.get("RecordingSid"):
        return {"error": "CallSid and RecordingSid are required"}, 400
    call, p = _call_for_request()
    rec = keep_recording(call, p)
    _finish(call)
    # A simulated call's recording URL points nowhere: nothing to download.
    if rec.status == "completed" and rec.archive_status == "pending" and not call.is_test:
        archive.schedule(rec.id)
    return voice().render([])


@bp.post("/transcription")
@twilio_signed
@safe_callback
def transcription():
    """Store a voicemail's transcript on its recording (and so on the ticket)."""
    p = params()
    if _no_call() or not p.get("RecordingSid"):
        return {"error": "CallSid and RecordingSid are required"}, 400
    call, p = _call_for_request()
    keep_transcript(call, p)
    _finish(call)
    return voice().render([])
