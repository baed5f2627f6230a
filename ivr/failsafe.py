"""Guards for webhooks: whatever fails, Twilio gets valid TwiML, never a 500.

A 500 makes Twilio play "an application error has occurred" and end the call.
The caller's webhooks have a fuller guard in `ivr.voice` (`safe_answer`: the
flow without the database, and the journal); this module holds what any
webhook can use without importing the flow walker, so modules the walker
imports (callbacks) can guard their own webhooks too.
"""

from __future__ import annotations

import functools
import logging

from flask import Response, request

from .models import db

log = logging.getLogger(__name__)

APOLOGY = "We're sorry, something went wrong on our side."
VOICEMAIL = "Please leave your name, number and a short description of the problem after the tone, and we will call you back."
# Served when even the flow cannot be used to answer: valid TwiML that needs nothing.
LAST_RESORT = (
    '<?xml version="1.0" encoding="UTF-8"?><Response>'
    f"<Say>{APOLOGY}</Say><Say>{VOICEMAIL}</Say>"
    '<Record action="/voice/fallback/recorded" method="POST" maxLength="120" timeout="5" finishOnKey="#" playBeep="true" '
    'recordingStatusCallback="/voice/recording-status" recordingStatusCallbackEvent="completed absent" '
    'transcribe="true" transcribeCallback="/voice/transcription" />'
    '<Redirect method="POST">/voice/fallback/recorded</Redirect></Response>'
).replace("We're", "We&apos;re")
LEG_GOODBYE = (
    '<?xml version="1.0" encoding="UTF-8"?><Response>'
    "<Say>We&apos;re sorry, something went wrong on our side. Goodbye.</Say><Hangup /></Response>"
)
EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response />'


def xml(body: str) -> Response:
    """Wrap ready-made TwiML in a response Twilio accepts."""
    return Response(body, mimetype="text/xml")


def rollback() -> None:
    """Drop what a failed webhook had not committed; a dead connection may refuse even that."""
    try:
        db.session.rollback()
    except Exception:
        log.warning("rollback failed after a webhook error", exc_info=True)


def call_sids() -> str:
    """Name the call (and its parent, on a staff leg) for a log line."""
    sid = request.form.get("CallSid", "-")
    parent = request.form.get("ParentCallSid")
    return f"{sid} (parent {parent})" if parent else sid


def safe_leg(view):
    """Hang up a staff member's leg with a word of apology if its webhook fails.

    On a whisper, hanging up passes the customer on to the next person or to
    voicemail; nothing a customer said is lost on these legs.
    """

    @functools.wraps(view)
    def guarded(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except Exception:
            log.exception("webhook %s failed for call %s", request.path, call_sids())
            rollback()
            return xml(LEG_GOODBYE)

    return guarded
