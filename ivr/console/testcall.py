"""Test calls from the console: the simulator played step by step across page loads.

Each step of a test call is one request from the browser. The simulator runs
in-process: its webhooks go through `app.test_client()` to the real voice
endpoints, signed with the configured auth token and checked as Twilio's are,
and are marked as simulated, so the call and its ticket are stored as test
calls, kept out of the log and the overview unless asked for.

Between steps the simulator's state travels in the page as a signed string
(never the auth token), so any worker can take the next step; a tampered
state is refused. The state is signed, not encrypted: it holds only what the
supervisor's own browser shows anyway.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from .. import phone
from ..models import db
from ..simulator import Leg, LineError, Simulator, Transport

SALT = "ivr.console.test-call"
# Fields rebuilt on every request rather than carried in the page.
LOCAL_FIELDS = ("send", "token", "on_transcript")
MAX_SPEECH = 200
MAX_MESSAGE = 500
DEFAULT_FROM = "+13125550188"


class TestCallError(ValueError):
    """A step that cannot be taken; the message says why, for a person."""

    __test__ = False  # not a pytest test class, whatever its name says


def _token() -> str:
    """Give the token webhooks are signed with, making one for this process if none is set.

    Without TWILIO_AUTH_TOKEN the line refuses every webhook; as `flask call`
    does, a random token lets the line be tried here while Twilio stays refused.
    """
    token = current_app.config.get("TWILIO_AUTH_TOKEN")
    if not token:
        token = current_app.config["TWILIO_AUTH_TOKEN"] = secrets.token_urlsafe(32)
    return token


def transport() -> Transport:
    """Send webhooks through this app in-process, each in its own app context like a real request."""
    app = current_app._get_current_object()
    client = app.test_client()

    def send(url: str, params: dict, headers: dict) -> tuple[int, str]:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        # A fresh app context: its own database session, closed when the webhook is done.
        with app.app_context():
            resp = client.post(path, data=params, headers=headers, base_url=f"{parts.scheme}://{parts.netloc}")
            return resp.status_code, resp.get_data(as_text=True)

    return send


def _pack(value):
    """Turn a simulator field into plain data."""
    if isinstance(value, ET.Element):
        return {"xml": ET.tostring(value, encoding="unicode")}
    if isinstance(value, Leg):
        return {"leg": [value.number, value.whisper]}
    if isinstance(value, list):
        return [_pack(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cannot carry {type(value).__name__} between steps")


def _unpack(value):
    """Turn plain data back into a simulator field."""
    if isinstance(value, dict) and "xml" in value:
        return ET.fromstring(value["xml"])
    if isinstance(value, dict) and "leg" in value:
        return Leg(*value["leg"])
    if isinstance(value, list):
        return [_unpack(v) for v in value]
    return value


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt=SALT)


def dump(sim: Simulator, started: float) -> str:
    """Sign the simulator's state for the page."""
    fields = {f.name: _pack(getattr(sim, f.name)) for f in dataclasses.fields(sim) if f.name not in LOCAL_FIELDS}
    return _serializer().dumps({"sim": fields, "started": started})


def load(state: str) -> tuple[Simulator, float]:
    """Rebuild a simulator from a signed page state."""
    try:
        data = _serializer().loads(state)
    except BadSignature:
        raise TestCallError("This test call's state is damaged or from another server; start a new call.") from None
    known = {f.name for f in dataclasses.fields(Simulator)} - set(LOCAL_FIELDS)
    kwargs = {k: _unpack(v) for k, v in data["sim"].items() if k in known}
    return Simulator(send=transport(), token=_token(), **kwargs), float(data.get("started", time.time()))


def start(from_: str, caller_name: str | None) -> Simulator:
    """Place a test call and play it up to the first thing the caller must do."""
    base_url = (current_app.config.get("PUBLIC_BASE_URL") or "http://localhost").rstrip("/")
    sim = Simulator(
        send=transport(),
        token=_token(),
        base_url=base_url,
        from_=(from_ or DEFAULT_FROM).strip()[:32],
        to=current_app.config.get("SUPPORT_NUMBER") or phone.DEFAULT_TO,
        caller_name=(caller_name or "").strip()[:100] or None,
    )
    _settle()
    try:
        sim.dial()
    except LineError as exc:
        raise TestCallError(f"The line answered something Twilio could not play: {exc}") from None
    return sim


def _settle() -> None:
    """End this request's own read, so the webhooks' writes are seen after (SQLite snapshots)."""
    db.session.commit()


def step(sim: Simulator, started: float, action: str, arg: str) -> None:
    """Take one caller (or agent) step: press, say, silence, message, no-message, agent or hangup."""
    where = phone.state(sim)
    if where is None:
        raise TestCallError("This call has ended; start a new one.")
    arg = (arg or "").strip()
    if action == "hangup":
        _settle()
        sim.hang_up(duration=max(1, round(time.time() - started)))
        return
    if action not in phone.FITS.get(where, ()):
        raise TestCallError(f"The line is waiting for {phone.WAITING_FOR[where]}, so {action!r} does not fit now.")
    if action == "press":
        arg = "".join(arg.split())
        if not arg or not set(arg) <= phone.KEYS:
            raise TestCallError("Keys are 0-9, * and #.")
    elif action == "say":
        if not arg:
            raise TestCallError("Type the words the caller says.")
        arg = arg[:MAX_SPEECH]
    elif action == "message":
        arg = arg[:MAX_MESSAGE] or phone.DEFAULT_MESSAGE
    elif action == "agent" and arg not in phone.AGENT_OUTCOMES:
        raise TestCallError(f"The agent can {', '.join(phone.AGENT_OUTCOMES)}.")
    _settle()
    try:
        phone.perform(sim, phone.Step(action, arg))
    except LineError as exc:
        raise TestCallError(f"The line answered something Twilio could not play: {exc}") from None
    if phone.state(sim) is None and sim.ended:
        # The line hung up: Twilio would now send the final status callback.
        sim.hang_up(duration=max(1, round(time.time() - started)))


def waiting_for(sim: Simulator) -> str | None:
    """Name what the line waits for now (menu, record, ringing, talking), or None once ended."""
    return phone.state(sim)
