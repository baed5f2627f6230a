"""Walking a call through the flow: what the caller hears next, and what is stored.

Each webhook enters the flow at one node and walks on through nodes that need
nothing from the caller (say, notices, ticket, hours, known_caller) until one
waits for them (menu, ask_ticket, ask_pin, record, route) or ends the call.
Call state lives on the `Call` row; the caller's language picks which
translation of the flow is spoken.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from flask import url_for
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from . import alerts, callbacks, calls, closures, engine, hours, routing, tickets, updates
from .flows import Flow, Node, Option, Policy
from .models import Call, Recording, Ticket, db, utcnow
from .twiml import Directive, Gather, Hangup, Record, Say

log = logging.getLogger(__name__)

# Nodes walked in one webhook; `flows check` already refuses loops that never
# wait, this is the last guard.
MAX_STEPS = 50
# Menus served in one call: bounds loops a caller could drive forever (pressing
# * again and again); past it, each menu goes on as its on_max_attempts says.
MAX_PROMPTS = 20
# Ticket numbers are short; anything longer is a mistake, not a lookup.
MAX_TICKET_DIGITS = 9


class _Values(dict):
    """Template values; a placeholder with no value yet is spoken as nothing."""

    def __missing__(self, key):
        return ""


def goal_words(hours_: float) -> str:
    """Say a goal as a whole number where it is one ("4", not "4.0")."""
    return f"{hours_:g}"


def spell(number: str) -> str:
    """Say digits one by one: "1, 0, 4, 2"."""
    return ", ".join(number)


_UNSET = object()


class Walk:
    """One webhook's walk through the flow for one call."""

    def __init__(self, flow: Flow, call: Call, now: datetime | None = None):
        self.base = flow
        self.flow = flow.speaking(call.language)
        self.call = call
        self.now = now or utcnow()
        self.out: list[Directive] = []
        # Both looked up at most once per webhook: a call without a ticket is not queried again.
        self._ticket: Ticket | None | object = _UNSET
        self._known: Ticket | None | object = _UNSET
        self._policy: Policy | None = None

    @property
    def policy(self) -> Policy:
        """Give the support policy with the closures supervisors added in the console."""
        if self._policy is None:
            added = closures.closures_from_db(self.now)
            base = self.base.policy
            self._policy = replace(base, closures=base.closures + tuple(added)) if added else base
        return self._policy

    @property
    def known_ticket(self) -> Ticket | None:
        """Give the caller's open ticket from an earlier call, looked up once per webhook."""
        if self._known is _UNSET:
            self._known = tickets.open_for_caller(self.call)
        return self._known

    @property
    def ticket(self) -> Ticket | None:
        """Give the ticket this call is about, if any."""
        if self._ticket is _UNSET:
            self._ticket = tickets.for_call(self.call)
        return self._ticket

    def values(self) -> _Values:
        """Give what prompts may mention about this call, right now."""
        policy, ph = self.policy, self.flow.phrases
        v = _Values(zone_name=ph.zone, hours=ph.hours or policy.hours_spoken)
        number = self.call.from_e164
        v["caller_number"] = spell(number.removeprefix("+1").lstrip("+")) if number else ph.withheld
        opens = hours.next_open(policy, self.now)
        if opens:
            v["next_open"] = hours.spoken_time(policy, opens, self.now, ph)
        level = self.flow.levels.get(self.call.level or "")
        if level:
            v.update(level_name=level.spoken, level_covers=level.covers, goal_hours=goal_words(level.goal_hours))
        ticket = self.ticket
        if ticket:
            v["ticket_digits"] = tickets.digits(ticket)
            v["due"] = hours.spoken_time(policy, ticket.due_at, self.now, ph)
            v["ticket_state"] = ph.state(ticket.state)
        known = self.known_ticket if ticket is None else None
        if known:
            v["open_ticket_digits"] = tickets.digits(known)
            v["open_ticket_level"] = self.flow.levels[known.level].spoken if known.level in self.flow.levels else known.level
        if self.call.lookup_verified and self.call.lookup_number:
            looked = tickets.by_number(self.call.lookup_number)
            if looked:
                v["lookup_digits"] = tickets.digits(looked)
                v["lookup_state"] = ph.state(looked.state)
                v["lookup_assigned"] = ph.assigned if looked.assignee_id else ph.unassigned
                if looked.first_response_at:
                    v["lookup_time"] = ph.responded_at.format(time=hours.spoken_time(policy, looked.first_response_at, self.now, ph))
                elif looked.state != "resolved":
                    v["lookup_time"] = ph.due_by.format(time=hours.spoken_time(policy, looked.due_at, self.now, ph))
        return v

    def fill(self, template: str) -> str:
        """Fill in a prompt's placeholders with this call's values."""
        # values() looks up tickets: a prompt with no placeholder needs none of that.
        return template.format_map(self.values()) if "{" in template else template

    def say(self, template: str) -> None:
        """Speak a prompt with this call's values filled in."""
        text = self.fill(template).strip()
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
        log.error("call %s: flow walked %d nodes without waiting; ending the call", self.call.call_sid, MAX_STEPS)
        self.out.append(Hangup())
        return self.out

    def _step(self, node: Node) -> str | None:
        """Carry out one node; give the next node, or None when the caller must act."""
        kind = node.type
        if kind == "say":
            self.say(node.say)
            return node.next
        if kind == "notices":
            for message in hours.active_closures(self.policy, self.now):
                self.say(message)
            return node.next
        if kind == "known_caller":
            return node.found if self.known_ticket else node.next
        if kind == "ticket":
            return self._open_ticket(node)
        if kind == "hours":
            if hours.is_open(self.policy, self.now):
                return node.open
            alerts.after_hours(self.base, self.call, self.ticket)
            return node.closed
        if kind in ("menu", "ask_ticket", "ask_pin"):
            if self.call.prompts >= MAX_PROMPTS:
                return self._choose(node.on_max_attempts)
            self.call.menu_attempts = 0
            return self._ask(node)
        if kind == "route":
            return self._route(node)
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

    def _open_ticket(self, node: Node) -> str | None:
        """Open the call's ticket (or keep the one it is about) and confirm it by text."""
        if not self.call.level:
            # A flow that reaches a ticket before any level was chosen still
            # opens one: at the first level, rather than losing the call.
            self.call.level = next(iter(self.flow.levels))
        already = self.ticket
        self._ticket = tickets.open_for_call(self.base, self.call, self.call.level, policy=self.policy)
        if already is None and not self.call.is_test:
            updates.confirm(self.base, self._ticket)
        return node.next

    def _route(self, node: Node) -> str | None:
        """Ring the team, or say why not: nobody on duty, or everyone busy."""
        dial = routing.dial_for(self.base, self.call, self.ticket, node, self.now)
        if dial is not None:
            self.say(routing.connecting_words(self.flow, self.call))
            self.out.append(dial)
            return None
        if node.all_busy and self.call.dial_rounds == 0 and self.call.from_e164 and routing.all_busy(self.base, self.call, self.now):
            return node.all_busy
        return node.no_answer

    def _ask(self, node: Node, before: str = "") -> None:
        """Serve a question, after an optional word about the last answer."""
        self.call.prompts += 1
        prompt = tuple(t for t in (before, " ".join(self.fill(node.say).split())) if t)
        action = url_for("voice.gather", node=node.name)
        if node.type == "menu":
            self.out.append(Gather(action=action, prompt=prompt, timeout=node.timeout, hints=node.hints))
        else:
            # Ticket numbers and PINs are keyed, several digits ended by #.
            size = 4 if node.type == "ask_pin" else None
            self.out.append(Gather(action=action, prompt=prompt, timeout=node.timeout, num_digits=size, finish_on_key="#", speech=False))
        return None

    def _choose(self, option: Option) -> str | None:
        """Follow an option: set its level or language, do its action, say its words, go on."""
        if option.language:
            # The same key switches back: in Spanish, "para español" reads "For English".
            code = self.base.code if option.language == self.flow.code else option.language
            self.call.language = code
            self.flow = self.base.speaking(code)
        if option.level:
            self.call.level = option.level
        if option.action:
            self._act(option.action)
        if option.say:
            self.say(option.say)
        return option.next

    def _act(self, action: str) -> None:
        """Carry out what an option does besides leading somewhere."""
        if action == "use_open_ticket":
            known = self.known_ticket
            if known:
                # The call joins the caller's open ticket: no second ticket.
                self.call.about_ticket_id, self.call.level = known.id, known.level
                self._ticket = known
        elif action == "wants_updates" and self.ticket:
            self.ticket.wants_updates = True
        elif action == "callback" and self.ticket:
            callbacks.request_for(self.base, self.call, self.ticket)

    def answer(self, node_name: str, digits: str | None, speech: str | None) -> list[Directive]:
        """Act on the caller's answer to a question."""
        node = self.flow.nodes.get(node_name)
        if node is None or node.type not in ("menu", "ask_ticket", "ask_pin"):
            # A stale URL (the flow changed mid-call): carry on from where the call is.
            return self.enter(self.call.node if self.call.node in self.flow.nodes else self.flow.start)
        if node.type == "ask_ticket":
            return self._ticket_number(node, (digits or "").strip())
        if node.type == "ask_pin":
            return self._pin(node, (digits or "").strip())
        heard = engine.understand(node, digits, speech)
        if isinstance(heard, engine.Chosen):
            nxt = self._choose(heard.option)
            return self.enter(nxt) if nxt else self.out
        if isinstance(heard, engine.Repeat):
            return self.enter(node.name) if self.call.prompts < MAX_PROMPTS else self._give_up(node)
        if isinstance(heard, engine.NoInput) and node.on_no_input:
            return self.enter(node.on_no_input)
        return self._retry(node, node.no_input if isinstance(heard, engine.NoInput) else node.bad_input)

    def _retry(self, node: Node, sorry: str) -> list[Directive]:
        """Count a failed try: ask again, or go on as the node says after the last one."""
        self.call.menu_attempts += 1
        if self.call.menu_attempts >= node.max_attempts or self.call.prompts >= MAX_PROMPTS:
            return self._give_up(node)
        self._ask(node, " ".join(self.fill(sorry).split()))
        return self.out

    def _ticket_number(self, node: Node, digits: str) -> list[Directive]:
        """Take a keyed ticket number: the caller's own is read out, any other needs its PIN."""
        if not digits:
            return self._retry(node, node.no_input)
        if not digits.isdigit() or len(digits) > MAX_TICKET_DIGITS:
            return self._retry(node, node.bad_input)
        self.call.lookup_number = int(digits)
        looked = tickets.by_number(self.call.lookup_number)
        # Only the number that opened a ticket hears it without a PIN; whether a
        # ticket exists is never said to anyone else.
        own = looked is not None and self.call.from_e164 is not None and looked.caller == self.call.from_e164
        self.call.lookup_verified = own
        return self.enter(node.next if own else node.pin)

    def _pin(self, node: Node, digits: str) -> list[Directive]:
        """Check the PIN of the keyed ticket."""
        if not digits:
            return self._retry(node, node.no_input)
        looked = tickets.by_number(self.call.lookup_number) if self.call.lookup_number else None
        if looked is None or not tickets.pin_matches(looked, digits):
            return self._retry(node, node.bad_input)
        self.call.lookup_verified = True
        return self.enter(node.next)

    def _give_up(self, node: Node) -> list[Directive]:
        """Go on as the node says after its last failed try."""
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
            talked = calls.whole_number(params.get("DialCallDuration"))
            if talked is not None:
                self.call.talk_seconds = talked
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
    duration = calls.whole_number(params.get("RecordingDuration"))
    if duration is not None:
        rec.duration = duration
    if params.get("RecordingStatus"):
        rec.status = params["RecordingStatus"][:16]
    elif rec.status == "in-progress" and rec.url:
        rec.status = "completed"
    return rec


# Transcripts are Text, but a runaway one is cut rather than stored whole.
MAX_TRANSCRIPT_CHARS = 20_000


def keep_transcript(call: Call, params: dict) -> Recording:
    """Store a voicemail's transcript on its recording, creating the recording if it is not known yet."""
    sid = params["RecordingSid"][:64]
    rec = _recording(sid)
    if rec is None:
        rec = keep_recording(call, {"RecordingSid": sid, "RecordingUrl": params.get("RecordingUrl", "")})
    ok = params.get("TranscriptionStatus") == "completed"
    rec.transcript_status = "completed" if ok else "failed"
    if ok:
        rec.transcript = params.get("TranscriptionText", "")[:MAX_TRANSCRIPT_CHARS]
    return rec
