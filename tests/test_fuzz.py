"""Bad input on every voice webhook, generated: never a 500, never a traceback, nothing written unsigned.

Twilio sends well-formed requests, but a support line is also reached by
scanners, misconfigured proxies and callers who press anything. Hypothesis
draws missing, empty, oversized, unicode and control-character parameters,
random keys and words, malformed phone numbers and values of the wrong type.
Example counts stay modest so the suite stays quick; a failure prints the
smallest request that breaks the line.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from ivr.models import Call, CallEvent, Recording, RingAttempt, Ticket, db
from ivr.simulator import LineError, Simulator
from tests.conftest import TOKEN, transport

FUZZ = settings(
    # CI replays the same examples every run, so a landing never hangs on a lucky draw; locally each run explores anew.
    derandomize=bool(os.environ.get("CI")),
    max_examples=60,
    deadline=None,
    # One app (and database) serves every example of a test: rows pile up, which is realistic.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
LOCAL = "http://localhost"
VALID_SIDS = ["CA" + "a" * 32, "CA" + "b" * 32, "CA" + "c" * 32]
PARAMS = [
    "CallSid",
    "AccountSid",
    "From",
    "To",
    "CallerName",
    "CallStatus",
    "Direction",
    "ApiVersion",
    "Digits",
    "SpeechResult",
    "Confidence",
    "SequenceNumber",
    "CallDuration",
    "RecordingSid",
    "RecordingUrl",
    "RecordingStatus",
    "RecordingDuration",
    "TranscriptionSid",
    "TranscriptionText",
    "TranscriptionStatus",
    "DialCallStatus",
    "DialCallDuration",
    "DialBridged",
    "DialCallSid",
    "ParentCallSid",
    "ErrorCode",
    "ErrorUrl",
    "QueuePosition",
    "SimulatedCall",
    "StirVerstat",
]
ODD_VALUES = [
    "",
    " ",
    "\x00",
    "\x00\x01\x1f\x7f",
    "\r\n",
    "anonymous",
    "unknown",
    "client:alice",
    "sip:alice@example.com",
    "+",
    "+1",
    "++13125550199",
    "+1 (312) 555-0199 ext. 12",
    "+999999999999999999999999",
    "-1",
    "0",
    "2147483648",
    "99999999999999999999999999",
    "1e309",
    "NaN",
    "-Infinity",
    "3.5",
    "true",
    "null",
    "[]",
    "{}",
    "{ticket_digits}",
    "%s%s%n",
    "<Say>hi</Say>",
    "]]><Hangup/>",
    "' OR 1=1 --",
    "../../etc/passwd",
    "\u202eevil",
    "日本語のテキスト",
    "💥" * 50,
    "completed",
    "in-progress",
    "canceled",
    "ringing",
    "RE" + "f" * 32,
    "CA" + "a" * 32,
    "9" * 5_000,
    "é" * 20_000,
    "x" * 120_000,
]
values = st.one_of(
    st.sampled_from(ODD_VALUES),
    st.text(max_size=40),
    st.text(alphabet="0123456789*#", max_size=25),
    st.integers().map(str),
    st.floats(allow_nan=True).map(str),
    st.sampled_from(VALID_SIDS),
)
form = st.dictionaries(st.one_of(st.sampled_from(PARAMS), st.text(min_size=1, max_size=15)), values, max_size=12)


def call_form():
    """Draw a form that usually names a plausible call and recording, so handlers get past their first checks."""
    known = st.fixed_dictionaries(
        {"CallSid": st.sampled_from(VALID_SIDS + ["", "not a sid", "CA" + "z" * 80])},
        optional={
            "RecordingSid": st.one_of(st.sampled_from(["RE" + "d" * 32, "RE" + "e" * 32]), values),
            "RecordingUrl": st.one_of(st.just("https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/RE" + "d" * 32), values),
            "ParentCallSid": st.sampled_from(VALID_SIDS),
        },
    )
    return st.tuples(known, form).map(lambda t: {**t[1], **t[0]})


def webhook_rules(app) -> list:
    """List every POST route under /voice/, whoever added it."""
    return sorted(
        (r for r in app.url_map.iter_rules() if r.rule.startswith("/voice/") and "POST" in (r.methods or ())),
        key=lambda r: r.rule,
    )


def paths(app):
    """Draw a concrete path for a voice webhook, with odd node names and ids."""
    nodes = list(app.extensions["ivr.flow"].nodes)
    node = st.one_of(st.sampled_from(nodes), st.sampled_from(["nowhere", "x" * 200, "1", "Ü", "node with spaces"]))
    number = st.one_of(st.integers(min_value=0, max_value=50), st.integers(min_value=2**31, max_value=2**70))
    urls = app.url_map.bind("localhost")

    def build(rule):
        args = {name: (number if name.endswith("_id") else node) for name in rule.arguments}
        return st.fixed_dictionaries(args).map(lambda a: urls.build(rule.endpoint, a, method="POST"))

    return st.sampled_from(webhook_rules(app)).flatmap(build)


def signed(path: str, data: dict) -> dict:
    """Sign a request as Twilio would."""
    return {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(LOCAL + path, data)}


def check_answer(resp) -> None:
    """Assert an answer is playable TwiML or a clean refusal, and shows no internals."""
    body = resp.get_data(as_text=True)
    assert resp.status_code < 500, body[:500]
    assert "Traceback" not in body and 'File "' not in body, body[:500]
    if resp.status_code == 200:
        assert resp.mimetype in ("text/xml", "application/xml"), resp.mimetype
        root = ET.fromstring(body)
        assert root.tag == "Response"
        assert {child.tag for child in root} <= {"Say", "Play", "Pause", "Gather", "Record", "Dial", "Redirect", "Hangup"}
    else:
        assert 400 <= resp.status_code < 500


def test_the_fuzz_reaches_every_voice_webhook(app):
    """The generated paths cover every /voice/* route, including any added later."""
    endpoints = {r.endpoint for r in webhook_rules(app)}
    assert {"voice.incoming", "voice.gather", "voice.status", "voice.recording_status", "voice.transcription", "voice.whisper"} <= endpoints


def test_any_signed_webhook_gets_twiml_or_a_clean_refusal(app, client):
    """Signed requests with any parameters, to any voice webhook: TwiML or a 4xx, never a 500 or a traceback."""

    @FUZZ
    @given(path=paths(app), data=call_form())
    def check(path, data):
        resp = client.post(path, data=data, headers=signed(path, data))
        check_answer(resp)

    check()


def test_random_callers_always_hear_playable_twiml(app):
    """A caller pressing and saying anything, in any order, is always answered with TwiML Twilio can play."""
    keys = st.text(alphabet="0123456789*#", min_size=1, max_size=12)
    words = st.one_of(st.text(max_size=60), st.sampled_from(["technical", "my system is down", "repeat", "español", "¿qué?", "status"]))
    moves = st.lists(st.one_of(keys.map(lambda k: ("press", k)), words.map(lambda w: ("say", w)), st.just(("silence", None))), max_size=8)
    caller_ids = st.one_of(st.sampled_from(ODD_VALUES[:16]), st.from_regex(r"\+1[2-9]\d{9}", fullmatch=True))

    @FUZZ
    @given(from_=caller_ids, moves=moves)
    def check(from_, moves):
        call = Simulator(send=transport(app.test_client()), token=TOKEN, from_=from_.replace("\x00", "")).dial()
        try:
            for how, what in moves:
                if call.ended or call.waiting is None:
                    break
                if call.waiting.tag == "Record":
                    call.leave_message(what or "")
                elif call.waiting.tag == "Dial":
                    call.agent_does_not_answer()
                elif how == "press":
                    call.press(what)
                elif how == "say":
                    call.say(what)
                else:
                    call.silence()
            call.hang_up()
        except LineError as error:  # pragma: no cover - the failure being looked for
            raise AssertionError(f"{error}\n" + "\n".join(call.transcript)) from None

    check()


def _rows(app) -> tuple[int, ...]:
    """Count every table a webhook writes."""
    with app.app_context():
        query = [select(func.count()).select_from(m) for m in (Call, CallEvent, Ticket, Recording, RingAttempt)]
        counts = tuple(db.session.execute(q).scalar_one() for q in query)
        db.session.remove()
    return counts


def test_unsigned_or_badly_signed_requests_are_refused_and_write_nothing(app, client):
    """Without a good signature every webhook answers 403 and writes nothing: no row, no journal entry."""
    journal = Path(app.config["JOURNAL_DIR"])
    before = _rows(app)
    signatures = st.one_of(
        st.none(),
        st.text(max_size=40),
        st.just("RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        st.builds(lambda d: RequestValidator("another-account-token").compute_signature(LOCAL + "/voice/incoming", d), form),
    )

    @FUZZ
    @given(path=paths(app), data=call_form(), signature=signatures)
    def check(path, data, signature):
        headers = {} if signature is None else {"X-Twilio-Signature": signature}
        resp = client.post(path, data=data, headers=headers)
        assert resp.status_code in (403, 404, 405, 413), resp.status_code
        check_answer(resp)

    check()
    assert _rows(app) == before
    assert not journal.exists() or not any(journal.iterdir())
