"""What a caller hears when a webhook fails: the line without its database.

A webhook that raises (a bug, the database stopped or refusing writes) must
still answer Twilio with TwiML, or the caller hears "an application error has
occurred". This module builds that answer from the flow loaded at start-up
alone, never touching the database:

- menus are served as usual, so a caller who rang during an outage still picks
  a level (the failed try count travels in the Gather's URL, `?attempt=N`);
- choosing a level says its response goal and the due time, computed from the
  policy, but no ticket number: it is not known until the journal is replayed,
  so the caller is told they will hear it when we get back to them;
- then the configured fallback: an apology and the FALLBACK_NUMBER rung in
  support hours when one is set, else a voicemail whose recording is kept
  (in the database, or in the journal until it is back);
- a sentence whose placeholders need the database (ticket number, state,
  lookups) is left out rather than spoken with holes;
- closures added in the console live in the database: hours and due times use
  the policy in flows/ alone until it is back.

`OutageWalk` overrides every step of `Walk` that reads or writes the call log;
a new one that does must be overridden here too (tests/test_faults.py fails
otherwise: the caller would get only the apology and the voicemail).

The webhook records what it decided (the level, the due time) in the journal,
so the ticket opened on replay is due when the caller was told.
"""

from __future__ import annotations

import dataclasses
import string
from datetime import datetime

from flask import current_app, url_for

from . import hours
from .failsafe import APOLOGY, VOICEMAIL
from .flows import Flow, Node, Policy
from .line import Walk, goal_words
from .models import Call, Ticket, utcnow
from .twiml import Agent, Dial, Directive, Gather, Hangup, Record, Say

FALLBACK_VOICEMAIL = VOICEMAIL
FALLBACK_THANKS = "Thank you. We have your message and will call you back. Goodbye."
FALLBACK_CONNECTING = "Please hold while we connect you to a member of our team."
OUTAGE_GOAL = "Our response goal for {level_name} is {goal_hours} hours, so you will hear from us by {due}."
OUTAGE_NO_TICKET = "We could not give you a ticket number just now; we will tell you your ticket number when we get back to you."
FALLBACK_RING_SECONDS = 25
# The failed tries at a menu, carried in the Gather's URL while nothing can be stored.
ATTEMPT_ARG = "attempt"
MAX_ATTEMPT = 20


def fallback(flow: Flow, now: datetime | None = None, apology: bool = True) -> list[Directive]:
    """Say sorry, then ring FALLBACK_NUMBER in support hours or take a voicemail."""
    out: list[Directive] = [Say(APOLOGY)] if apology else []
    number = current_app.config.get("FALLBACK_NUMBER", "")
    if number and hours.is_open(flow.policy, now or utcnow()):
        out.append(Say(FALLBACK_CONNECTING))
        support = current_app.config.get("SUPPORT_NUMBER") or None
        out.append(
            Dial(
                action=url_for("voice.fallback_dialed"),
                agents=(Agent(number, ""),),
                caller_id=support,
                timeout=FALLBACK_RING_SECONDS,
                sequential=False,
            )
        )
        return out
    return out + voicemail()


def record() -> Record:
    """Record a message whose recording is kept however the database is doing."""
    return Record(
        action=url_for("voice.fallback_recorded"),
        status_callback=url_for("voice.recording_status"),
        transcribe_callback=url_for("voice.transcription"),
    )


def voicemail() -> list[Directive]:
    """Ask for a message and record it."""
    return [Say(FALLBACK_VOICEMAIL), record()]


def after_fallback_dial(flow: Flow, form: dict) -> list[Directive]:
    """Say goodbye if the fallback number talked to the caller, else take a voicemail."""
    if form.get("DialCallStatus") in ("completed", "answered") or form.get("DialBridged") == "true":
        return [Say(flow.prompts["after_talk"]), Hangup()]
    return voicemail()


class OutageWalk(Walk):
    """Walk the flow with a call that exists only in this request: no reads, no writes."""

    def __init__(self, flow: Flow, call_sid: str, node: str | None = None, attempt: int = 0, now: datetime | None = None):
        # Transient on purpose: never added to a session, so nothing is flushed.
        call = Call(call_sid=call_sid, node=node, menu_attempts=attempt, prompts=0, level=None, language=None)
        super().__init__(flow, call, now)
        self.level: str | None = None
        self.due_at: datetime | None = None

    @property
    def policy(self) -> Policy:
        """Give the policy from flows/ alone: closures added in the console are in the database."""
        return self.base.policy

    @property
    def ticket(self) -> Ticket | None:
        """Give no ticket: only the database knows it."""
        return None

    @property
    def known_ticket(self) -> Ticket | None:
        """Give no earlier ticket: only the database knows it."""
        return None

    def say(self, template: str) -> None:
        """Speak a prompt, unless it needs something only the database knows."""
        values = self.values()
        needed = {field for _, field, _, _ in string.Formatter().parse(template) if field}
        if needed <= set(values):
            super().say(template)

    def _step(self, node: Node) -> str | None:
        """Carry out one node; a voicemail is taken on the fallback path."""
        if node.type == "record":
            self.say(node.say)
            self.out.append(record())
            return None
        return super()._step(node)

    def _open_ticket(self, node: Node) -> str | None:
        """Say the chosen level's goal and due time, without a ticket number, then the fallback."""
        level_id = self.call.level if self.call.level in self.base.levels else next(iter(self.base.levels))
        level = self.flow.levels.get(level_id) or self.base.levels[level_id]
        self.level = level_id
        self.due_at = hours.due_at(self.policy, self.base.levels[level_id], self.now)
        due = hours.spoken_time(self.policy, self.due_at, self.now, self.flow.phrases)
        self.out.append(Say(APOLOGY))
        self.out.append(Say(OUTAGE_GOAL.format(level_name=level.spoken, goal_hours=goal_words(level.goal_hours), due=due)))
        self.out.append(Say(OUTAGE_NO_TICKET))
        self.out.extend(fallback(self.base, self.now, apology=False))
        return None

    def _route(self, node: Node) -> str | None:
        """Ring nobody from the roster (it is in the database): the fallback instead."""
        self.out.extend(fallback(self.base, self.now))
        return None

    def _ticket_number(self, node: Node, digits: str) -> list[Directive]:
        """Look up no ticket (it is in the database): the fallback instead."""
        self.out.extend(fallback(self.base, self.now))
        return self.out

    def _pin(self, node: Node, digits: str) -> list[Directive]:
        """Check no PIN (it is in the database): the fallback instead."""
        return self._ticket_number(node, digits)

    def _ask(self, node: Node, before: str = "") -> None:
        """Serve a question; its URL carries the failed tries, as they cannot be stored."""
        super()._ask(node, before)
        last = self.out[-1]
        if isinstance(last, Gather) and self.call.menu_attempts:
            self.out[-1] = dataclasses.replace(last, action=f"{last.action}?{ATTEMPT_ARG}={self.call.menu_attempts}")


@dataclasses.dataclass
class Answer:
    """What the caller hears, and what was decided for the journal."""

    directives: list[Directive]
    level: str | None = None
    due_at: datetime | None = None


def attempt_from(args) -> int:
    """Read the failed tries a Gather URL carried, within bounds."""
    try:
        return max(0, min(MAX_ATTEMPT, int(args.get(ATTEMPT_ARG, "0"))))
    except ValueError:
        return 0


def answer(flow: Flow, endpoint: str, node: str | None, form: dict, attempt: int = 0) -> Answer:
    """Answer a caller's webhook without the database, as far as the flow allows."""
    now = utcnow()
    sid = form.get("CallSid", "")
    if endpoint in ("incoming", "enter", "gather"):
        walk = OutageWalk(flow, sid, node=node, attempt=attempt, now=now)
        if endpoint == "incoming":
            out = walk.enter(flow.start)
        elif endpoint == "enter":
            out = walk.enter(node if node in flow.nodes else flow.start)
        else:
            out = walk.answer(node or "", form.get("Digits"), form.get("SpeechResult"))
        return Answer(out, walk.level, walk.due_at)
    if endpoint == "recorded" and form.get("RecordingSid") and form.get("RecordingUrl"):
        return Answer([Say(FALLBACK_THANKS), Hangup()])
    if endpoint == "fallback_dialed":
        return Answer(after_fallback_dial(flow, form))
    if endpoint == "dialed" and form.get("DialBridged") == "true":
        # The caller has talked to someone: no apology, just goodbye.
        return Answer([Say(flow.prompts["after_talk"]), Hangup()])
    return Answer(fallback(flow, now))
