"""The one place that turns what the line wants to do into TwiML.

The flow walker produces plain directives; this module sets the voice, the
language and the content type once, so no view repeats them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Response
from twilio.twiml.voice_response import Dial as TwimlDial
from twilio.twiml.voice_response import Gather as TwimlGather
from twilio.twiml.voice_response import VoiceResponse


@dataclass(frozen=True)
class Say:
    """Speak a sentence."""

    text: str


@dataclass(frozen=True)
class Gather:
    """Ask and wait for one key or a few words; silence goes to `action` too."""

    action: str
    prompt: tuple[str, ...]
    timeout: int = 5
    hints: str = ""
    # A ticket number or PIN: several keys ended by #, no speech.
    num_digits: int | None = 1
    finish_on_key: str | None = None
    speech: bool = True


@dataclass(frozen=True)
class Record:
    """Take a voicemail; an empty one still reaches `action`."""

    action: str
    status_callback: str
    transcribe_callback: str
    max_length: int = 120


@dataclass(frozen=True)
class Agent:
    """One person to ring, with the whisper they hear before being connected."""

    number: str
    whisper: str


@dataclass(frozen=True)
class Dial:
    """Ring agents; `action` hears how it went."""

    action: str
    agents: tuple[Agent, ...]
    caller_id: str | None
    timeout: int = 20
    sequential: bool = True
    status_callback: str | None = None


@dataclass(frozen=True)
class Redirect:
    """Continue at another webhook."""

    url: str


@dataclass(frozen=True)
class Hangup:
    """End the call."""


Directive = Say | Gather | Record | Dial | Redirect | Hangup


@dataclass
class Voice:
    """How the line speaks."""

    voice: str = "Polly.Joanna-Neural"
    language: str = "en-US"
    extra: dict = field(default_factory=dict)

    def say(self, parent, text: str) -> None:
        """Add one sentence with the line's voice."""
        if text.strip():
            parent.say(text, voice=self.voice, language=self.language)

    def render(self, directives: list[Directive]) -> Response:
        """Build the TwiML response for these directives."""
        resp = VoiceResponse()
        for d in directives:
            if isinstance(d, Say):
                self.say(resp, d.text)
            elif isinstance(d, Gather):
                g = TwimlGather(
                    input="dtmf speech" if d.speech else "dtmf",
                    action=d.action,
                    method="POST",
                    num_digits=d.num_digits,
                    finish_on_key=d.finish_on_key,
                    timeout=d.timeout,
                    speech_timeout="auto" if d.speech else None,
                    language=self.language if d.speech else None,
                    hints=(d.hints or None) if d.speech else None,
                    action_on_empty_result=True,
                )
                for text in d.prompt:
                    self.say(g, text)
                resp.append(g)
                # Should silence fall through the Gather anyway, the redirect
                # still brings it to the action as an explicit no-input event.
                resp.redirect(d.action, method="POST")
            elif isinstance(d, Record):
                resp.record(
                    action=d.action,
                    method="POST",
                    max_length=d.max_length,
                    timeout=5,
                    finish_on_key="#",
                    play_beep=True,
                    trim="trim-silence",
                    recording_status_callback=d.status_callback,
                    recording_status_callback_event="completed absent",
                    transcribe=True,
                    transcribe_callback=d.transcribe_callback,
                )
                # An empty recording may fall through instead of posting the action.
                resp.redirect(d.action, method="POST")
            elif isinstance(d, Dial):
                dial = TwimlDial(
                    action=d.action,
                    method="POST",
                    timeout=d.timeout,
                    caller_id=d.caller_id,
                    # Without it every number rings at once and the first to pick up wins.
                    sequential="true" if d.sequential and len(d.agents) > 1 else None,
                    answer_on_bridge=True,
                    # The caller hears ringing while agents are tried, never silence.
                    ring_tone="us",
                )
                for agent in d.agents:
                    if agent.whisper:
                        dial.number(agent.number, url=agent.whisper, method="POST")
                    else:
                        dial.number(agent.number)
                resp.append(dial)
            elif isinstance(d, Redirect):
                resp.redirect(d.url, method="POST")
            elif isinstance(d, Hangup):
                resp.hangup()
        return xml_response(resp)

    def whisper(self, prompt: str, action: str, timeout: int = 6) -> Response:
        """Ask the agent to accept; silence or another key rejects the leg."""
        resp = VoiceResponse()
        g = TwimlGather(input="dtmf", num_digits=1, timeout=timeout, action=action, method="POST", action_on_empty_result=True)
        self.say(g, prompt)
        resp.append(g)
        resp.hangup()
        return xml_response(resp)


def xml_response(resp: VoiceResponse) -> Response:
    """Wrap TwiML in a response with the content type Twilio expects."""
    return Response(str(resp), mimetype="text/xml")
