"""A phone call without a phone: plays the line as Twilio would.

The simulator sends signed, Twilio-shaped webhooks, follows the TwiML it gets
back verb by verb (Say, Gather, Redirect, Record, Dial, Hangup) and keeps a
transcript. The tests drive scenarios with it and `flask --app wsgi call` plays
a call in the terminal with it.

A <Dial> rings its numbers one at a time, in order, whether or not it says
sequential="true": each `agent_*` call decides what the next number does. For
simultaneous ringing that is the order in which the legs happen to give up or
answer, which is all the line can tell apart.
"""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin

from twilio.request_validator import RequestValidator

# (url, params, headers) -> (HTTP status, body)
Transport = Callable[[str, dict, dict], tuple[int, str]]
TEST_MARK = "SimulatedCall"
# What an agent's leg may run before it is bridged (Twilio rejects other verbs).
WHISPER_VERBS = ("Say", "Play", "Pause", "Gather", "Hangup")
# Whisper documents one agent may be sent through before we call it a loop.
MAX_WHISPER_FETCHES = 10
# Dial children that ring someone; <Conference> and <Queue> are not simulated.
LEG_TAGS = ("Number", "Client", "Sip")


class LineError(AssertionError):
    """The line answered something Twilio could not play."""


def new_sid(prefix: str) -> str:
    """Make a Twilio-shaped SID."""
    return prefix + secrets.token_hex(16)


@dataclass(frozen=True)
class Leg:
    """One agent a <Dial> rings, with the whisper URL run on their leg."""

    number: str
    whisper: str | None = None


def dial_legs(dial: ET.Element) -> list[Leg]:
    """List whom a <Dial> rings, in order."""
    legs = []
    for child in dial:
        if child.tag in LEG_TAGS:
            legs.append(Leg((child.text or "").strip(), child.get("url") or None))
        else:
            raise LineError(f"<Dial> holds <{child.tag}>, which the simulator does not ring")
    if not legs and (dial.text or "").strip():
        legs.append(Leg(dial.text.strip()))
    return legs


@dataclass
class Simulator:
    """One simulated call, from ringing to hang-up."""

    send: Transport
    token: str
    base_url: str = "http://localhost"
    from_: str = "+13125550199"
    to: str = "+16462019664"
    caller_name: str | None = None
    call_sid: str = field(default_factory=lambda: new_sid("CA"))
    account_sid: str = "AC" + "0" * 32
    mark_test: bool = True
    transcript: list[str] = field(default_factory=list)
    heard: list[str] = field(default_factory=list)
    ended: bool = False
    waiting: ET.Element | None = None
    # Called with each transcript line as it happens, so a terminal can show the call live.
    on_transcript: Callable[[str], None] | None = None
    last_recording_sid: str | None = None
    # Whom the last <Dial> bridged the caller to, and the DialCallStatus it ended with.
    connected_to: str | None = None
    dial_status: str | None = None
    _rest: list[ET.Element] = field(default_factory=list)
    _url: str = ""
    _sequence: int = 0
    _recordings: int = 0
    _ringing: list[Leg] = field(default_factory=list)
    _leg_sid: str = ""
    _bridged: bool = False

    # -- what Twilio sends ------------------------------------------------
    def params(self, **extra) -> dict:
        """Give the parameters every request of this call carries."""
        p = {
            "CallSid": self.call_sid,
            "AccountSid": self.account_sid,
            "From": self.from_,
            "To": self.to,
            "CallStatus": "in-progress",
            "ApiVersion": "2010-04-01",
            "Direction": "inbound",
        }
        if self.caller_name:
            p["CallerName"] = self.caller_name
        if self.mark_test:
            p[TEST_MARK] = "true"
        p.update({k: v for k, v in extra.items() if v is not None})
        return p

    def leg_params(self, leg_sid: str, agent: str, **extra) -> dict:
        """Give the parameters of a request on an agent's (child) leg."""
        dial = self.waiting if self.waiting is not None and self.waiting.tag == "Dial" else None
        p = {
            "CallSid": leg_sid,
            "ParentCallSid": self.call_sid,
            "AccountSid": self.account_sid,
            # As Twilio does: the agent sees the Dial's callerId, else the number called.
            "From": (dial.get("callerId") if dial is not None else None) or self.to,
            "To": agent,
            "CallStatus": "in-progress",
            "ApiVersion": "2010-04-01",
            "Direction": "outbound-dial",
        }
        if self.mark_test:
            p[TEST_MARK] = "true"
        p.update({k: v for k, v in extra.items() if v is not None})
        return p

    def post(self, url: str, params: dict) -> tuple[int, str]:
        """Send one signed request as Twilio does."""
        return self._signed(urljoin(self._url or self.base_url + "/", url), params)

    def _signed(self, full_url: str, params: dict) -> tuple[int, str]:
        signature = RequestValidator(self.token).compute_signature(full_url, params)
        return self.send(full_url, params, {"X-Twilio-Signature": signature})

    def _twiml(self, url: str, params: dict, relative_to: str) -> tuple[str, list[ET.Element]]:
        """Request TwiML; give its full URL and its verbs."""
        full = urljoin(relative_to or self.base_url + "/", url)
        status, body = self._signed(full, params)
        if status != 200:
            raise LineError(f"{url} answered HTTP {status}: Twilio would play its application error\n{body}")
        try:
            root = ET.fromstring(body)
        except ET.ParseError as exc:
            raise LineError(f"{url} answered something that is not TwiML: {body!r}") from exc
        if root.tag != "Response":
            raise LineError(f"{url} answered <{root.tag}>, not <Response>")
        return full, list(root)

    def _fetch(self, url: str, **extra) -> None:
        """Request TwiML and play it."""
        self._url, verbs = self._twiml(url, self.params(**extra), self._url)
        self._play(verbs)

    def _play(self, verbs: list[ET.Element]) -> None:
        """Follow TwiML verbs until the caller must act or the call ends."""
        self.waiting = None
        while verbs:
            verb = verbs.pop(0)
            if verb.tag == "Say":
                self._hear(verb.text or "")
            elif verb.tag == "Play":
                self._hear(f"[audio {verb.text}]")
            elif verb.tag == "Pause":
                continue
            elif verb.tag == "Gather":
                for child in verb:
                    if child.tag == "Say":
                        self._hear(child.text or "")
                self.waiting, self._rest = verb, verbs
                return
            elif verb.tag == "Record":
                self.waiting, self._rest = verb, verbs
                self._note("(beep: recording)")
                return
            elif verb.tag == "Dial":
                self._ring(verb, verbs)
                return
            elif verb.tag == "Redirect":
                self._fetch(verb.text or "")
                return
            elif verb.tag == "Hangup":
                break
            else:
                raise LineError(f"unexpected verb <{verb.tag}>")
        self._end("the line hung up")

    def _note(self, line: str) -> None:
        self.transcript.append(line)
        if self.on_transcript:
            self.on_transcript(line)

    def _hear(self, text: str) -> None:
        text = " ".join(text.split())
        if text:
            self.heard.append(text)
            self._note(f"LINE: {text}")

    def _end(self, why: str) -> None:
        self.ended = True
        self.waiting = None
        self._note(f"({why})")

    def _expect(self, tag: str) -> ET.Element:
        if self.ended:
            raise LineError("the call has ended")
        if self.waiting is None or self.waiting.tag != tag:
            have = self.waiting.tag if self.waiting is not None else "nothing"
            raise LineError(f"the line is waiting for {have}, not {tag}")
        return self.waiting

    # -- dialling agents -----------------------------------------------------
    def _ring(self, dial: ET.Element, rest: list[ET.Element]) -> None:
        """Start a <Dial>: the caller waits while its legs ring."""
        legs = dial_legs(dial)
        if not legs:
            raise LineError("<Dial> names nobody to ring")
        self.waiting, self._rest = dial, rest
        self._ringing, self._leg_sid = legs, ""
        self._bridged, self.connected_to, self.dial_status = False, None, None
        how = ""
        if len(legs) > 1:
            how = " one by one" if dial.get("sequential") == "true" else " at once"
        self._note(f"(ringing {', '.join(leg.number for leg in legs)}{how})")

    def _next_leg(self) -> tuple[ET.Element, Leg]:
        """Give the ringing Dial and the agent whose phone rings now."""
        dial = self._expect("Dial")
        if self._bridged:
            raise LineError(f"the caller is already talking to {self.connected_to}")
        self._leg_sid = new_sid("CA")
        return dial, self._ringing[0]

    def _whisper(self, leg: Leg, accept: bool) -> bool:
        """Run the whisper on the agent's leg; tell whether it ends bridged."""
        url, verbs = self._twiml(leg.whisper, self.leg_params(self._leg_sid, leg.number), self._url)
        fetches = 1
        while verbs:
            verb = verbs.pop(0)
            if verb.tag not in WHISPER_VERBS:
                raise LineError(f"the whisper {url} uses <{verb.tag}>; Twilio allows only {', '.join(WHISPER_VERBS)} there")
            if verb.tag in ("Say", "Play"):
                text = " ".join((verb.text or "").split())
                if text:
                    self._note(f"AGENT hears: {text}" if verb.tag == "Say" else f"AGENT hears: [audio {text}]")
            elif verb.tag == "Gather":
                for child in verb:
                    if child.tag == "Say" and (child.text or "").strip():
                        self._note(f"AGENT hears: {' '.join(child.text.split())}")
                fetches += 1
                if fetches > MAX_WHISPER_FETCHES:
                    raise LineError(f"the whisper asked agent {leg.number} {MAX_WHISPER_FETCHES} times without ending")
                action = verb.get("action") or url
                if accept:
                    self._note("AGENT presses 1")
                    url, verbs = self._twiml(action, self.leg_params(self._leg_sid, leg.number, Digits="1"), url)
                else:
                    # A declining agent lets the prompt time out, as Twilio sees it.
                    self._note("AGENT presses nothing")
                    if verb.get("actionOnEmptyResult") == "true":
                        url, verbs = self._twiml(action, self.leg_params(self._leg_sid, leg.number), url)
            elif verb.tag == "Hangup":
                return False
        return True

    def agent_answers(self, accept: bool = True) -> Simulator:
        """Let the ringing agent pick up and accept the call (press 1) or decline it."""
        _, leg = self._next_leg()
        self._note(f"AGENT {leg.number} picks up")
        bridged = self._whisper(leg, accept) if leg.whisper else accept
        if bridged:
            self._bridged, self.connected_to = True, leg.number
            self._note(f"(connected to {leg.number})")
        else:
            self._note(f"(agent {leg.number} declined)")
            dial = self.waiting
            if dial.get("sequential") != "true" and len(self._ringing) > 1:
                # Ringing at once, the first pick-up cancels every other leg: a
                # decline there ends the whole Dial.
                self._note("(the other phones stop ringing)")
                self._ringing = self._ringing[:1]
            self._leg_failed("no-answer")
        return self

    def agent_does_not_answer(self) -> Simulator:
        """Let the ringing agent's phone ring out."""
        _, leg = self._next_leg()
        self._note(f"(agent {leg.number} does not answer)")
        self._leg_failed("no-answer")
        return self

    def agent_busy(self) -> Simulator:
        """Let the ringing agent's line be busy."""
        _, leg = self._next_leg()
        self._note(f"(agent {leg.number} is busy)")
        self._leg_failed("busy")
        return self

    def _leg_failed(self, status: str) -> None:
        """Ring the next agent, or end the Dial with the last leg's status as Twilio reports it."""
        self._ringing.pop(0)
        if self._ringing:
            self._note(f"(ringing {self._ringing[0].number})")
            return
        self._finish_dial(status, duration=0)

    def _finish_dial(self, status: str, duration: int, **extra) -> None:
        """Post the Dial's action with how it went and play what it answers."""
        dial, rest = self.waiting, self._rest
        self.dial_status = status
        self._ringing = []
        self._note(f"(dial ended: {status})")
        dial_params = {
            "DialCallStatus": status,
            "DialCallSid": self._leg_sid or None,
            "DialCallDuration": str(duration),
            "DialBridged": "true" if self._bridged else "false",
        }
        self._bridged = False
        action = dial.get("action")
        if action:
            # Verbs after a Dial with an action never run: the action decides.
            self._fetch(action, **dial_params, **extra)
        else:
            self._play(rest)

    # -- what the caller does ----------------------------------------------
    def dial(self) -> Simulator:
        """Call the line."""
        self._note(f"(call from {self.from_} to {self.to})")
        self._fetch("/voice/incoming", CallStatus="ringing")
        return self

    def pick_up(self, url: str) -> Simulator:
        """Answer a call the line placed through Twilio's Calls API, fetching its TwiML from `url`."""
        self._note(f"(outbound call to {self.to} picked up)")
        self._fetch(url, CallStatus="in-progress", Direction="outbound-api")
        return self

    def press(self, keys: str) -> Simulator:
        """Press keys at a menu."""
        gather = self._expect("Gather")
        self._note(f"CALLER presses {keys}")
        self._fetch(gather.get("action") or self._url, Digits=keys)
        return self

    def say(self, words: str, confidence: float = 0.92) -> Simulator:
        """Answer a menu by voice."""
        gather = self._expect("Gather")
        self._note(f'CALLER says "{words}"')
        self._fetch(gather.get("action") or self._url, SpeechResult=words, Confidence=str(confidence))
        return self

    def silence(self) -> Simulator:
        """Say nothing until the menu times out."""
        gather = self._expect("Gather")
        self._note("CALLER says nothing")
        if gather.get("actionOnEmptyResult") == "true":
            self._fetch(gather.get("action") or self._url)
        else:
            self._play(self._rest)
        return self

    def leave_message(self, text: str = "My floor plan will not load.", seconds: int = 12) -> Simulator:
        """Speak a voicemail; Twilio then sends the action, status and transcription."""
        record = self._expect("Record")
        self._recordings += 1
        sid = new_sid("RE")
        url = f"https://api.twilio.com/2010-04-01/Accounts/{self.account_sid}/Recordings/{sid}"
        self._note(f'CALLER leaves a message: "{text}"')
        rec = {"RecordingSid": sid, "RecordingUrl": url, "RecordingDuration": str(seconds)}
        self._fetch(record.get("action") or self._url, **rec)
        if record.get("recordingStatusCallback"):
            self.post(
                record.get("recordingStatusCallback"),
                self.params(RecordingStatus="completed", RecordingSource="RecordVerb", RecordingChannels="1", **rec),
            )
        if record.get("transcribeCallback"):
            self.post(
                record.get("transcribeCallback"),
                self.params(TranscriptionSid=new_sid("TR"), TranscriptionText=text, TranscriptionStatus="completed", **rec),
            )
        self.last_recording_sid = sid
        return self

    def say_nothing_at_the_beep(self) -> Simulator:
        """Stay silent when asked for a message."""
        self._expect("Record")
        self._note("CALLER leaves no message")
        self._play(self._rest)
        return self

    def hang_up(self, duration: int = 60, talked: int | None = None) -> Simulator:
        """Hang up (or notice the line did), and send the final status callback."""
        if not self.ended:
            self._note("CALLER hangs up")
            if self.waiting is not None and self.waiting.tag == "Dial":
                # Twilio still posts the Dial's action: `completed` with the `talked`
                # seconds (default: all of `duration`) after a conversation, `canceled`
                # while agents were still ringing. What it answers goes into the
                # transcript, so a test can see it, though the caller is gone.
                bridged = self._bridged
                self._finish_dial(
                    "completed" if bridged else "canceled",
                    duration=(duration if talked is None else talked) if bridged else 0,
                    CallStatus="completed",
                )
            self.ended = True
            self.waiting = None
        self._sequence += 1
        status, body = self.post(
            "/voice/status", self.params(CallStatus="completed", CallDuration=str(duration), SequenceNumber=str(self._sequence))
        )
        if status != 200:
            raise LineError(f"/voice/status answered HTTP {status}: {body}")
        return self

    @property
    def talking(self) -> bool:
        """Tell whether the caller is bridged to an agent right now."""
        return self._bridged and not self.ended

    @property
    def ringing_agent(self) -> str | None:
        """Give the agent whose phone rings now, if a Dial is ringing."""
        return self._ringing[0].number if self._ringing and not self._bridged and not self.ended else None

    @property
    def said(self) -> str:
        """Give everything the caller heard, as one text."""
        return " ".join(self.heard)
