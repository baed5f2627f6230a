"""Walking a call through the flow: what the caller hears next, and what is stored.

Each webhook enters the flow at one node and walks on through nodes that need
nothing from the caller (say, notices, ticket, hours) until one waits for them
(menu, record, route) or ends the call. Call state lives on the `Call` row.
"""

from __future__ import annotations

import logging
from datetime import datetime

from flask import url_for
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from . import alerts, engine, hours, routing, tickets
from .flows import Flow, Node, Option
from .models import Call, Recording, Ticket, db, utcnow
from .twiml import Directive, Gather, Hangup, Record, Say

log = logging.getLogger(__name__)

# Nodes walked in one webhook; `flows check` already refuses loops that never
# wait, this is the last guard.
MAX_STEPS = 50
# Menus served in one call: bounds loops a caller could drive forever (pressing
# * again and again); past it, each menu goes on as its on_max_attempts says.
MAX_PROMPTS = 20


class _Values(dict):
    """Template values; a placeholder with no value yet is spoken as nothing."""

    def __missing__(self, key):
        return ""


def goal_words(hours_: float) -> str:
    """Say a goal as a whole number where it is one ("4", not "4.0")."""
    return f"{hours_:g}"


class Walk:
    """One webhook's walk through the flow for one call."""

    def __init__(self, flow: Flow, call: Call, now: datetime | None = None):
        self.flow = flow
        self.call = call
        self.now = now or utcnow()
        self.out: list[Directive] = []
        self._ticket: Ticket | None = None

    @property
    def ticket(self) -> Ticket | None:
        """Give the ticket this call opened, if any."""
        if self._ticket is None:
            self._ticket = tickets.for_call(self.call)
        return self._ticket

    def values(self) -> _Values:
        """Give what prompts may mention about this call, right now."""
        policy = self.flow.policy
        v = _Values(zone_name=policy.zone_name, hours=policy.hours_spoken)
        opens = hours.next_open(policy, self.now)
        if opens:
            v["next_open"] = "at " + hours.spoken_time(policy, opens, self.now)
        level = self.flow.levels.get(self.call.level or "")
        if level:
            v.update(level_name=level.spoken, level_covers=level.covers, goal_hours=goal_words(level.goal_hours))
        ticket = self.ticket
        if ticket:
            v["ticket_digits"] = tickets.digits(ticket)
            v["due"] = "by " + hours.spoken_time(policy, ticket.due_at, self.now)
        return v

    def say(self, template: str) -> None:
        """Speak a prompt with this call's values filled in."""
        text = template.format_map(self.values()).strip()
        if text:
            self.out.append(Say(" ".join(text.split())))

    def enter(self, name: str) -> list[Directive]:
        """Walk from this node until the caller has something to do."""
        for _ in range(MAX_STEPS):
            node = self.flow.nodes[name]
            self.call.node = name
            nxt = self._step(node)
            if nxt is None:
                return self.out
            name = nxt
        log.error("call %s: flow walked %d nodes without waiting; ending at voicemail", self.call.call_sid, MAX_STEPS)
        self.out.append(Hangup())
        return self.out

    def _step(self, node: Node) -> str | None:
        """Carry out one node; give the next node, or None when the caller must act."""
        kind = node.type
        if kind == "say":
            self.say(node.say)
            return node.next
        if kind == "notices":
            for message in hours.active_closures(self.flow.policy, self.now):
                self.say(message)
            return node.next
        if kind == "ticket":
            if not self.call.level:
                # A flow that reaches a ticket before any level was chosen still
                # opens one: at the first level, rather than losing the call.
                self.call.level = next(iter(self.flow.levels))
            self._ticket = tickets.open_for_call(self.flow, self.call, self.call.level)
            return node.next
        if kind == "hours":
            if hours.is_open(self.flow.policy, self.now):
                return node.open
            alerts.after_hours(self.flow, self.call, self.ticket)
            return node.closed
        if kind == "menu":
            if self.call.prompts >= MAX_PROMPTS:
                return self._choose(node.on_max_attempts)
            self.call.menu_attempts = 0
            return self._ask(node)
        if kind == "route":
            dial = routing.dial_for(self.flow, self.call, self.ticket, node, self.now)
            if dial is None:
                return node.no_answer
            self.say(routing.connecting_words(self.flow, self.call))
            self.out.append(dial)
            return None
        if kind == "record":
            self.say(node.say)
            self.out.append(
                Record(
                    action=url_for("voice.recorded", node=node.name),
                    status_callback=url_for("voice.recording_status"),
                    transcribe_callback=url_for("voice.transcription"),
                    max_length=node.max_length,
                )
            )
            return None
        # hangup
        self.say(node.say)
        self.out.append(Hangup())
        return None

    def _ask(self, node: Node, before: str = "") -> None:
        """Serve a menu's question, after an optional word about the last answer."""
        self.call.prompts += 1
        prompt = tuple(t for t in (before, node.say.format_map(self.values())) if t)
        self.out.append(Gather(action=url_for("voice.gather", node=node.name), prompt=prompt, timeout=node.timeout, hints=node.hints))
        return None

    def _choose(self, option: Option) -> str | None:
        """Follow an option: set its level, say its words, go to its node."""
        if option.level:
            self.call.level = option.level
        if option.say:
            self.say(option.say)
        return option.next

    def answer(self, node_name: str, digits: str | None, speech: str | None) -> list[Directive]:
        """Act on the caller's answer to a menu."""
        node = self.flow.nodes.get(node_name)
        if node is None or node.type != "menu":
            # A stale URL (the flow changed mid-call): carry on from where the call is.
            return self.enter(self.call.node if self.call.node in self.flow.nodes else self.flow.start)
        heard = engine.understand(node, digits, speech)
        if isinstance(heard, engine.Chosen):
            nxt = self._choose(heard.option)
            return self.enter(nxt) if nxt else self.out
        if isinstance(heard, engine.Repeat):
            return self.enter(node.name) if self.call.prompts < MAX_PROMPTS else self._give_up(node)
        if isinstance(heard, engine.NoInput) and node.on_no_input:
            return self.enter(node.on_no_input)
        self.call.menu_attempts += 1
        if self.call.menu_attempts >= node.max_attempts or self.call.prompts >= MAX_PROMPTS:
            return self._give_up(node)
        sorry = node.no_input if isinstance(heard, engine.NoInput) else node.bad_input
        self._ask(node, sorry)
        return self.out

    def _give_up(self, node: Node) -> list[Directive]:
        """Go on as the menu says after its last failed try."""
        nxt = self._choose(node.on_max_attempts)
        return self.enter(nxt) if nxt else self.out

    def dialed(self, node_name: str, params: dict) -> list[Directive]:
        """Go on after ringing staff: goodbye after a talk, else the next round or a voicemail."""
        node = self.flow.nodes.get(node_name)
        status = params.get("DialCallStatus") or None
        self.call.dial_status = status or self.call.dial_status
        if self.call.answered_at is not None:
            # Our own record of the accept decides, whatever DialCallStatus says
            # when legs were rejected.
            try:
                self.call.talk_seconds = int(params.get("DialCallDuration", ""))
            except ValueError:
                pass
            self.say(self.flow.prompts["after_talk"])
            self.out.append(Hangup())
            return self.out
        if node is None or node.type != "route":
            return self.enter(self.flow.start)
        return self.enter(node.name)

    def recorded(self, node_name: str, params: dict) -> list[Directive]:
        """Keep a voicemail on the ticket, then go on."""
        node = self.flow.nodes.get(node_name)
        if node is None or node.type != "record":
            return self.enter(self.flow.start)
        sid = params.get("RecordingSid", "")
        if sid and params.get("RecordingUrl"):
            keep_recording(self.call, params)
            return self.enter(node.next)
        return self.enter(node.on_empty or node.next)


def _recording(sid: str) -> Recording | None:
    """Find a recording by its RecordingSid."""
    return db.session.execute(select(Recording).where(Recording.sid == sid)).scalar_one_or_none()


def keep_recording(call: Call, params: dict) -> Recording:
    """Store what Twilio tells of a recording, once per RecordingSid."""
    sid = params["RecordingSid"][:64]
    rec = _recording(sid)
    if rec is None:
        ticket = tickets.for_call(call)
        rec = Recording(sid=sid, call_id=call.id, ticket_id=ticket.id if ticket else None)
        try:
            with db.session.begin_nested():
                db.session.add(rec)
        except IntegrityError:
            # The action and the status callback raced to create it.
            rec = _recording(sid)
            if rec is None:
                raise
    if params.get("RecordingUrl"):
        rec.url = params["RecordingUrl"][:500]
    try:
        rec.duration = int(params.get("RecordingDuration", ""))
    except ValueError:
        pass
    if params.get("RecordingStatus"):
        rec.status = params["RecordingStatus"][:16]
    elif rec.status == "in-progress" and rec.url:
        rec.status = "completed"
    return rec
