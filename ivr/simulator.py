"""A phone call without a phone: plays the line as Twilio would.

The simulator sends signed, Twilio-shaped webhooks, follows the TwiML it gets
back verb by verb (Say, Gather, Redirect, Record, Dial, Hangup) and keeps a
transcript. The tests drive scenarios with it and `flask --app wsgi call` plays
a call in the terminal with it.
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


class LineError(AssertionError):
    """The line answered something Twilio could not play."""


def new_sid(prefix: str) -> str:
    """Make a Twilio-shaped SID."""
    return prefix + secrets.token_hex(16)


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
    _rest: list[ET.Element] = field(default_factory=list)
    _url: str = ""
    _sequence: int = 0
    _recordings: int = 0

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

    def post(self, url: str, params: dict) -> tuple[int, str]:
        """Send one signed request as Twilio does."""
        url = urljoin(self._url or self.base_url + "/", url)
        signature = RequestValidator(self.token).compute_signature(url, params)
        return self.send(url, params, {"X-Twilio-Signature": signature})

    def _fetch(self, url: str, **extra) -> None:
        """Request TwiML and play it."""
        full = urljoin(self._url or self.base_url + "/", url)
        status, body = self.post(full, self.params(**extra))
        self._url = full
        if status != 200:
            raise LineError(f"{url} answered HTTP {status}: Twilio would play its application error\n{body}")
        try:
            root = ET.fromstring(body)
        except ET.ParseError as exc:
            raise LineError(f"{url} answered something that is not TwiML: {body!r}") from exc
        if root.tag != "Response":
            raise LineError(f"{url} answered <{root.tag}>, not <Response>")
        self._play(list(root))

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
            elif verb.tag in ("Record", "Dial"):
                self.waiting, self._rest = verb, verbs
                if verb.tag == "Dial":
                    numbers = [n.text for n in verb.iter("Number")]
                    self.transcript.append(f"(ringing {', '.join(numbers) or 'nobody'})")
                else:
                    self.transcript.append("(beep: recording)")
                return
            elif verb.tag == "Redirect":
                self._fetch(verb.text or "")
                return
            elif verb.tag == "Hangup":
                break
            else:
                raise LineError(f"unexpected verb <{verb.tag}>")
        self._end("the line hung up")

    def _hear(self, text: str) -> None:
        text = " ".join(text.split())
        if text:
            self.heard.append(text)
            self.transcript.append(f"LINE: {text}")

    def _end(self, why: str) -> None:
        self.ended = True
        self.waiting = None
        self.transcript.append(f"({why})")

    def _expect(self, tag: str) -> ET.Element:
        if self.ended:
            raise LineError("the call has ended")
        if self.waiting is None or self.waiting.tag != tag:
            have = self.waiting.tag if self.waiting is not None else "nothing"
            raise LineError(f"the line is waiting for {have}, not {tag}")
        return self.waiting

    # -- what the caller does ----------------------------------------------
    def dial(self) -> Simulator:
        """Call the line."""
        self.transcript.append(f"(call from {self.from_} to {self.to})")
        self._fetch("/voice/incoming", CallStatus="ringing")
        return self

    def press(self, keys: str) -> Simulator:
        """Press keys at a menu."""
        gather = self._expect("Gather")
        self.transcript.append(f"CALLER presses {keys}")
        self._fetch(gather.get("action") or self._url, Digits=keys)
        return self

    def say(self, words: str, confidence: float = 0.92) -> Simulator:
        """Answer a menu by voice."""
        gather = self._expect("Gather")
        self.transcript.append(f'CALLER says "{words}"')
        self._fetch(gather.get("action") or self._url, SpeechResult=words, Confidence=str(confidence))
        return self

    def silence(self) -> Simulator:
        """Say nothing until the menu times out."""
        gather = self._expect("Gather")
        self.transcript.append("CALLER says nothing")
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
        self.transcript.append(f'CALLER leaves a message: "{text}"')
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
        self.transcript.append("CALLER leaves no message")
        self._play(self._rest)
        return self

    def hang_up(self, duration: int = 60) -> Simulator:
        """Hang up (or notice the line did), and send the final status callback."""
        if not self.ended:
            self.transcript.append("CALLER hangs up")
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
    def said(self) -> str:
        """Give everything the caller heard, as one text."""
        return " ".join(self.heard)
