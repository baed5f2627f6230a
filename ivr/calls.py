"""The call log: one row per CallSid, its event trail and its final status."""

from __future__ import annotations

import logging
import re

import phonenumbers
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .models import TERMINAL_STATUSES, Call, CallEvent, Recording, Ticket, db, utcnow
from .simulator import TEST_MARK

log = logging.getLogger(__name__)

# Parameters worth keeping on the event trail; the rest (AccountSid, ApiVersion,
# location guesses) adds nothing a supervisor reads.
TRAIL_PARAMS = (
    "CallStatus",
    "Digits",
    "SpeechResult",
    "Confidence",
    "RecordingSid",
    "RecordingDuration",
    "RecordingStatus",
    "TranscriptionStatus",
    "DialCallStatus",
    "DialCallDuration",
    "CallDuration",
    "SequenceNumber",
    "ErrorCode",
)
MAX_PARAM_CHARS = 500


def e164(raw: str, region: str = "US") -> str | None:
    """Give a caller ID as E.164 when it is a real number, else None."""
    raw = (raw or "").strip()
    if not raw or raw.lower() in ("anonymous", "unknown", "restricted", "private") or raw.startswith("client:"):
        return None
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


# Twilio's SIDs are two letters and 32 hex digits; anything else is accepted up
# to the column's size, but never something that could not be stored.
SID_PATTERN = re.compile(r"[A-Za-z0-9]{2,64}")
# Counts and durations are INTEGER columns; larger values are garbage, not data.
MAX_COUNT = 2**31 - 1


def plausible_sid(value: str) -> bool:
    """Tell whether a CallSid (or another SID) can be stored and looked up as sent."""
    return bool(SID_PATTERN.fullmatch(value or ""))


def whole_number(value) -> int | None:
    """Read a count or duration Twilio sent; None when absent, garbage or out of range."""
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if 0 <= number <= MAX_COUNT else None


def find(call_sid: str) -> Call | None:
    """Find a call by its CallSid."""
    return db.session.execute(select(Call).where(Call.call_sid == call_sid)).scalar_one_or_none()


def find_for_update(call_sid: str) -> Call | None:
    """Find a call and lock its row, so two webhooks for one call take turns."""
    return db.session.execute(select(Call).where(Call.call_sid == call_sid).with_for_update()).scalar_one_or_none()


def get_or_start(params: dict) -> Call:
    """Give the call for this CallSid, creating it once however often Twilio repeats."""
    sid = params["CallSid"]
    call = find_for_update(sid)
    if call:
        return call
    raw_from = params.get("From", "")[:255]
    call = Call(
        call_sid=sid,
        from_raw=raw_from,
        from_e164=e164(raw_from),
        caller_name=(params.get("CallerName") or None) and params["CallerName"][:255],
        to_number=params.get("To", "")[:255],
        started_at=utcnow(),
        # Simulated calls are signed like real ones and kept out of the log by default.
        is_test=params.get(TEST_MARK) == "true",
        # Set, though empty, so refresh_outcome's None is no change and costs no UPDATE.
        outcome=None,
    )
    try:
        with db.session.begin_nested():
            db.session.add(call)
    except IntegrityError:
        # The same webhook won the race in another worker: use its row.
        call = find_for_update(sid)
        if call is None:
            raise
    return call


def note(call: Call, endpoint: str, params: dict) -> None:
    """Add one webhook to the call's event trail."""
    kept = {k: str(params[k])[:MAX_PARAM_CHARS] for k in TRAIL_PARAMS if params.get(k) not in (None, "")}
    db.session.add(CallEvent(call=call, endpoint=endpoint, params=kept, at=utcnow()))


def record_status(call: Call, params: dict) -> None:
    """Apply a status callback, whatever order and however often they arrive."""
    status = params.get("CallStatus", "")[:32]
    seq = whole_number(params.get("SequenceNumber"))
    if call.status in TERMINAL_STATUSES:
        return  # a terminal status is final
    if seq is not None and seq <= call.status_sequence and status not in TERMINAL_STATUSES:
        return  # stale: a later callback was already applied
    call.status = status or call.status
    if seq is not None:
        call.status_sequence = max(seq, call.status_sequence)
    if status in TERMINAL_STATUSES:
        call.duration = whole_number(params.get("CallDuration"))
        call.ended_at = utcnow()


OUTCOMES = ("answered", "voicemail", "abandoned_in_menu", "abandoned_while_ringing", "no_agent", "failed")


def derive_outcome(call: Call, has_voicemail: bool, has_ticket: bool) -> str | None:
    """Name how a call ended from the facts gathered so far; None while it is undecided.

    Only facts that, once learnt, stay true are used, so the same outcome comes
    out whatever order Twilio's callbacks arrive in.
    """
    if call.answered_at is not None:
        return "answered"
    if has_voicemail:
        return "voicemail"
    if call.status not in TERMINAL_STATUSES:
        return None
    if call.status == "failed":
        return "failed"
    if call.ringing_at is not None and call.dial_status in (None, "canceled"):
        return "abandoned_while_ringing"
    if not has_ticket:
        return "abandoned_in_menu"
    return "no_agent"


def refresh_outcome(call: Call) -> None:
    """Recompute a call's outcome after a webhook taught us something."""
    has_voicemail = (
        call.answered_at is None
        and db.session.execute(select(Recording.id).where(Recording.call_id == call.id, Recording.status == "completed").limit(1)).first()
        is not None
    )
    # Whether a ticket exists matters only for an unanswered call that has ended:
    # every webhook before the end is spared the query.
    has_ticket = (
        call.answered_at is None
        and not has_voicemail
        and call.status in TERMINAL_STATUSES
        and db.session.execute(select(Ticket.id).where(Ticket.call_id == call.id)).first() is not None
    )
    call.outcome = derive_outcome(call, has_voicemail, has_ticket)
