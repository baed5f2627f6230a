"""The call log as supervisors read it: filters, keyset pages, SLA state, waits and the overview.

The console and the API both read through this module, so a filter means the
same on a page, in a CSV export and in JSON.

SLA state of a ticket, against its response goal (`due_at`):

- **met**: the first response (an agent accepted the call, or someone marked
  it responded or resolved) came by the due time;
- **breached**: the first response came late, or none came and the due time
  has passed;
- **at risk**: no response yet, and the due time is at most
  `max(25% of the level's goal, 1 hour)` away: 6 hours for Basic (24 h goal),
  1 hour for Technical (4 h) and Critical (2 h). The window is wall-clock time,
  so a Basic ticket due Monday 11:00 turns at risk Monday 05:00;
- **on track**: no response yet, and more time left than that.

Wait time is how long the caller listened to ringing: from when the line
started ringing staff to when an agent accepted, or to when ringing last
ended (nobody took it, or the caller hung up). A call that never rang staff
has no wait.

Pages are keyset-paginated on (time, id): a page is the rows strictly after
(or before) the last one shown, so new calls arriving never shift or repeat
rows the way OFFSET would.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import and_, exists, false, func, or_, select
from sqlalchemy.orm import contains_eager, selectinload

from .calls import OUTCOMES
from .flows import Flow, Level
from .models import TICKET_NUMBER_OFFSET, Call, CallEvent, Recording, RingAttempt, Staff, Ticket, TicketChange, db

SLA_STATES = ("met", "on_track", "at_risk", "breached")
SLA_LABELS = {"met": "met", "on_track": "on track", "at_risk": "at risk", "breached": "breached", None: ""}
TICKET_STATES = ("open", "responded", "resolved")
IN_PROGRESS = "in_progress"  # the outcome filter for calls not yet decided
NO_LEVEL = "none"  # the level filter for calls that chose none
AT_RISK_SHARE = 0.25
AT_RISK_MIN = timedelta(hours=1)
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_SEARCH = 100
OVERVIEW_DAYS = 7
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_ROW_ID = 2**31
_TRUE = ("1", "true", "on", "yes")


def is_row_id(value: int) -> bool:
    """Tell whether a number can be a row id (both databases refuse ints past 32 bits in these columns)."""
    return 0 < value < MAX_ROW_ID


def parse_id(text: str | None) -> int | None:
    """Read a row id written in ASCII digits, or None for anything else (no int() on a megabyte of digits)."""
    text = (text or "").strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 10):
        return None
    value = int(text)
    return value if is_row_id(value) else None


class FilterError(ValueError):
    """A filter value that cannot be read; names the parameter."""

    def __init__(self, param: str, message: str):
        self.param = param
        super().__init__(f"{param}: {message}")


# --- reading filters ---------------------------------------------------------------


def _day(args: Mapping[str, str], name: str) -> date | None:
    """Read a YYYY-MM-DD parameter."""
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise FilterError(name, f"{raw[:20]!r} is not a date like 2026-12-01") from None
    # Far-off years would overflow when turned into instants; no call is logged there.
    if not 1970 <= day.year <= 9000:
        raise FilterError(name, f"{raw!r} is out of range")
    return day


def _choice(args: Mapping[str, str], name: str, allowed) -> str | None:
    """Read a parameter that must be one of a few values."""
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    if raw not in allowed:
        raise FilterError(name, f"{raw[:20]!r} is not one of {', '.join(allowed)}")
    return raw


def _staff_id(args: Mapping[str, str], name: str) -> int | None:
    """Read a roster id parameter."""
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    value = parse_id(raw)
    if value is None:
        raise FilterError(name, f"{raw[:20]!r} is not a staff id")
    return value


def _search(args: Mapping[str, str]) -> str:
    """Read the search box."""
    q = " ".join((args.get("q") or "").split())
    if len(q) > MAX_SEARCH:
        raise FilterError("q", f"search for at most {MAX_SEARCH} characters")
    return q


def _days(args: Mapping[str, str]) -> tuple[date | None, date | None]:
    """Read the from/to date range, refusing one that ends before it starts."""
    start, end = _day(args, "from"), _day(args, "to")
    if start and end and end < start:
        raise FilterError("to", "the range ends before it starts")
    return start, end


@dataclass(frozen=True)
class CallFilter:
    """Which calls to list: every field empty lists them all (test calls aside)."""

    day_from: date | None = None  # local support dates, inclusive
    day_to: date | None = None
    level: str | None = None
    outcome: str | None = None
    agent_id: int | None = None
    sla: str | None = None
    q: str = ""
    include_tests: bool = False

    def args(self) -> dict[str, str]:
        """Give the filter back as query parameters, for links and exports."""
        out = {
            "from": self.day_from.isoformat() if self.day_from else "",
            "to": self.day_to.isoformat() if self.day_to else "",
            "level": self.level or "",
            "outcome": self.outcome or "",
            "agent": str(self.agent_id) if self.agent_id is not None else "",
            "sla": self.sla or "",
            "q": self.q,
            "tests": "1" if self.include_tests else "",
        }
        return {k: v for k, v in out.items() if v}


def parse_call_filter(args: Mapping[str, str], flow: Flow) -> CallFilter:
    """Read call filters from query parameters; raise FilterError naming a bad one."""
    start, end = _days(args)
    return CallFilter(
        day_from=start,
        day_to=end,
        level=_choice(args, "level", (*flow.levels, NO_LEVEL)),
        outcome=_choice(args, "outcome", (*OUTCOMES, IN_PROGRESS)),
        agent_id=_staff_id(args, "agent"),
        sla=_choice(args, "sla", SLA_STATES),
        q=_search(args),
        include_tests=(args.get("tests") or "").lower() in _TRUE,
    )


@dataclass(frozen=True)
class TicketFilter:
    """Which tickets to list."""

    day_from: date | None = None
    day_to: date | None = None
    state: str | None = None
    level: str | None = None
    sla: str | None = None
    assignee: int | str | None = None  # a staff id, or "none" for unassigned
    q: str = ""
    voicemail: bool = False
    include_tests: bool = False
    order: str = "opened"  # "opened": newest first; "due": soonest due first

    def args(self) -> dict[str, str]:
        """Give the filter back as query parameters."""
        out = {
            "from": self.day_from.isoformat() if self.day_from else "",
            "to": self.day_to.isoformat() if self.day_to else "",
            "state": self.state or "",
            "level": self.level or "",
            "sla": self.sla or "",
            "assignee": str(self.assignee) if self.assignee is not None else "",
            "q": self.q,
            "voicemail": "1" if self.voicemail else "",
            "tests": "1" if self.include_tests else "",
            "order": self.order if self.order != "opened" else "",
        }
        return {k: v for k, v in out.items() if v}


def parse_ticket_filter(args: Mapping[str, str], flow: Flow) -> TicketFilter:
    """Read ticket filters from query parameters; raise FilterError naming a bad one."""
    start, end = _days(args)
    assignee_raw = (args.get("assignee") or "").strip()
    assignee: int | str | None = "none" if assignee_raw == "none" else _staff_id(args, "assignee")
    return TicketFilter(
        day_from=start,
        day_to=end,
        state=_choice(args, "state", TICKET_STATES),
        level=_choice(args, "level", tuple(flow.levels)),
        sla=_choice(args, "sla", SLA_STATES),
        assignee=assignee,
        q=_search(args),
        voicemail=(args.get("voicemail") or "").lower() in _TRUE,
        include_tests=(args.get("tests") or "").lower() in _TRUE,
        order=_choice(args, "order", ("opened", "due")) or "opened",
    )


# --- SLA ---------------------------------------------------------------------------


def risk_window(level: Level | None) -> timedelta:
    """Give how close to its due time an open ticket turns "at risk"."""
    if level is None:
        return AT_RISK_MIN
    return max(timedelta(hours=level.goal_hours) * AT_RISK_SHARE, AT_RISK_MIN)


def sla_state(ticket: Ticket, flow: Flow, now: datetime) -> str:
    """Tell whether a ticket met its goal, breached it, or is on track or at risk."""
    if ticket.first_response_at is not None:
        return "met" if ticket.first_response_at <= ticket.due_at else "breached"
    if ticket.due_at <= now:
        return "breached"
    if ticket.due_at - now <= risk_window(flow.levels.get(ticket.level)):
        return "at_risk"
    return "on_track"


def _sla_clause(state: str, flow: Flow, now: datetime):
    """Give the SQL condition on tickets for one SLA state, as `sla_state` decides it."""
    responded = Ticket.first_response_at.is_not(None)
    if state == "met":
        return and_(responded, Ticket.first_response_at <= Ticket.due_at)
    if state == "breached":
        return or_(and_(responded, Ticket.first_response_at > Ticket.due_at), and_(~responded, Ticket.due_at <= now))
    # A level no longer in the policy uses the smallest window, as risk_window does.
    known = tuple(flow.levels)
    windows = [(Ticket.level == lid, now + risk_window(lv)) for lid, lv in flow.levels.items()]
    windows.append((Ticket.level.not_in(known), now + AT_RISK_MIN))
    soon = or_(*(and_(is_level, Ticket.due_at <= edge) for is_level, edge in windows))
    pending = and_(~responded, Ticket.due_at > now)
    return and_(pending, soon) if state == "at_risk" else and_(pending, ~soon)


# --- keyset pages ------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """A place in a listing: the sort time and row id of a row."""

    moment: datetime
    row_id: int

    def __str__(self) -> str:
        micros = (self.moment.astimezone(UTC) - _EPOCH) // timedelta(microseconds=1)
        return f"{micros}_{self.row_id}"

    @classmethod
    def parse(cls, text: str | None, param: str) -> Cursor | None:
        """Read a cursor from a page link; raise FilterError for a damaged one."""
        if not text:
            return None
        micros, _, row_id = text.partition("_")
        if len(text) > 40:
            raise FilterError(param, "not a page position from this listing")
        try:
            cursor = cls(_EPOCH + timedelta(microseconds=int(micros)), int(row_id))
        except (ValueError, OverflowError):
            cursor = None
        if cursor is None or not is_row_id(cursor.row_id):
            raise FilterError(param, "not a page position from this listing")
        return cursor


@dataclass
class Page:
    """One page of a listing, with the positions to ask for the pages around it."""

    items: list
    next: Cursor | None = None  # further in the listing's order
    prev: Cursor | None = None  # back towards its start


def _keyset(stmt, key, row_id, descending: bool, after: Cursor | None, before: Cursor | None, limit: int, key_of) -> tuple[list, Page]:
    """Run one keyset page of `stmt` ordered by (key, id); give the rows and the page links."""

    def beyond(c: Cursor, forward: bool):
        later = forward != descending  # moving forward in a descending listing goes down
        if later:
            return or_(key > c.moment, and_(key == c.moment, row_id > c.row_id))
        return or_(key < c.moment, and_(key == c.moment, row_id < c.row_id))

    forward_order = (key.desc(), row_id.desc()) if descending else (key.asc(), row_id.asc())
    backward_order = (key.asc(), row_id.asc()) if descending else (key.desc(), row_id.desc())
    if before is not None:
        rows = list(db.session.execute(stmt.where(beyond(before, False)).order_by(*backward_order).limit(limit + 1)).unique().scalars())
        more = len(rows) > limit
        rows = list(reversed(rows[:limit]))
        page = Page(rows, next=key_of(rows[-1]) if rows else before, prev=key_of(rows[0]) if more and rows else None)
        return rows, page
    if after is not None:
        stmt = stmt.where(beyond(after, True))
    rows = list(db.session.execute(stmt.order_by(*forward_order).limit(limit + 1)).unique().scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    page = Page(rows, next=key_of(rows[-1]) if more else None, prev=key_of(rows[0]) if after is not None and rows else None)
    return rows, page


def page_size(args: Mapping[str, str]) -> int:
    """Read the `limit` parameter: how many rows a page holds."""
    raw = (args.get("limit") or "").strip()
    if not raw:
        return PAGE_SIZE
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 3 and 1 <= int(raw) <= MAX_PAGE_SIZE):
        raise FilterError("limit", f"give a whole number from 1 to {MAX_PAGE_SIZE}")
    return int(raw)


# --- calls -------------------------------------------------------------------------


def _local_midnight(day: date, flow: Flow) -> datetime:
    """Give the UTC instant a local support date begins."""
    return datetime.combine(day, time(0, 0), flow.policy.timezone).astimezone(UTC)


def _search_clause(q: str, with_ticket: bool):
    """Match a search box: a ticket number, phone digits, a caller name or a CallSid."""
    digits = re.sub(r"\D", "", q)
    found = []
    if digits:
        found += [Call.from_e164.contains(digits, autoescape=True), Call.from_raw.contains(digits, autoescape=True)]
        # Only a number that can be a ticket: PostgreSQL refuses an int beyond its column's range.
        if with_ticket and is_row_id(int(digits) - TICKET_NUMBER_OFFSET):
            found.append(Ticket.id == int(digits) - TICKET_NUMBER_OFFSET)
    if re.search(r"[^\d\s()+.-]", q):
        found.append(func.lower(Call.caller_name).contains(q.lower(), autoescape=True))
        found.append(Call.call_sid == q)
    return or_(*found) if found else false()


def _call_conditions(f: CallFilter, flow: Flow, now: datetime) -> list:
    """Turn a call filter into SQL conditions (the query joins the ticket, if any)."""
    where = []
    if not f.include_tests:
        where.append(Call.is_test.is_(False))
    if f.day_from:
        where.append(Call.started_at >= _local_midnight(f.day_from, flow))
    if f.day_to:
        where.append(Call.started_at < _local_midnight(f.day_to + timedelta(days=1), flow))
    if f.level == NO_LEVEL:
        where.append(Call.level.is_(None))
    elif f.level:
        where.append(Call.level == f.level)
    if f.outcome == IN_PROGRESS:
        where.append(Call.outcome.is_(None))
    elif f.outcome:
        where.append(Call.outcome == f.outcome)
    if f.agent_id is not None:
        where.append(Call.agent_id == f.agent_id)
    if f.sla:
        where.append(and_(Ticket.id.is_not(None), _sla_clause(f.sla, flow, now)))
    if f.q:
        where.append(_search_clause(f.q, with_ticket=True))
    return where


@dataclass
class CallRow:
    """A call as the log shows it: with its ticket, SLA state and wait."""

    call: Call
    ticket: Ticket | None
    sla: str | None
    wait: int | None  # seconds

    @property
    def voicemail(self) -> Recording | None:
        """Give the call's completed recording, if any."""
        return next((r for r in self.call.recordings if r.status == "completed"), None)


def _ring_ends(call_ids: list[int]) -> dict[int, datetime]:
    """Give, per call, when its last round of ringing ended (the Dial action arrived)."""
    if not call_ids:
        return {}
    rows = db.session.execute(
        select(CallEvent.call_id, func.max(CallEvent.at))
        .where(CallEvent.call_id.in_(call_ids), CallEvent.endpoint == "dialed")
        .group_by(CallEvent.call_id)
    ).all()
    # max() keeps the column's type, so the instants come back zone-aware.
    return dict(rows)


def wait_seconds(call: Call, ring_end: datetime | None) -> int | None:
    """Give how long the caller heard ringing, in seconds, or None if staff were never rung."""
    if call.ringing_at is None:
        return None
    end = call.answered_at or ring_end or call.ended_at
    if end is None:
        return None
    return max(0, round((end - call.ringing_at).total_seconds()))


def _call_rows(calls: list[Call], flow: Flow, now: datetime) -> list[CallRow]:
    """Dress calls as log rows."""
    ends = _ring_ends([c.id for c in calls if c.ringing_at is not None and c.answered_at is None])
    rows = []
    for c in calls:
        ticket = c.ticket_for_log
        rows.append(CallRow(c, ticket, sla_state(ticket, flow, now) if ticket else None, wait_seconds(c, ends.get(c.id))))
    return rows


def _call_query(f: CallFilter, flow: Flow, now: datetime):
    """Give the select for a call filter, with ticket, agent and recordings loaded."""
    return (
        select(Call)
        .outerjoin(Ticket, Ticket.call_id == Call.id)
        .options(
            contains_eager(Call.ticket).selectinload(Ticket.assignee),
            selectinload(Call.about_ticket).selectinload(Ticket.assignee),
            selectinload(Call.agent),
            selectinload(Call.recordings),
        )
        .where(*_call_conditions(f, flow, now))
    )


def calls_page(
    f: CallFilter, flow: Flow, now: datetime, after: Cursor | None = None, before: Cursor | None = None, limit: int = PAGE_SIZE
) -> Page:
    """Give one page of the log, newest call first."""
    rows, page = _keyset(
        _call_query(f, flow, now), Call.started_at, Call.id, True, after, before, limit, lambda c: Cursor(c.started_at, c.id)
    )
    page.items = _call_rows(rows, flow, now)
    return page


def iter_calls(f: CallFilter, flow: Flow, now: datetime, batch: int = 500) -> Iterator[CallRow]:
    """Yield every call the filter matches, newest first, a batch of rows at a time."""
    after = None
    while True:
        page = calls_page(f, flow, now, after=after, limit=batch)
        yield from page.items
        # Let the rows of this batch go before the next one is read.
        db.session.expunge_all()
        if page.next is None:
            return
        after = page.next


# --- one call ----------------------------------------------------------------------


@dataclass
class Step:
    """One thing that happened in a call, for the menu path."""

    at: datetime
    text: str


@dataclass
class CallDetail:
    """A call with everything a supervisor reads about it."""

    row: CallRow
    events: list[CallEvent]
    path: list[Step]
    attempts: list[tuple[RingAttempt, Staff | None]]
    changes: list[TicketChange] = field(default_factory=list)


def _path(call: Call, events: list[CallEvent], ticket: Ticket | None, attempts, flow: Flow) -> list[Step]:
    """Tell the call's way through the menu, from its webhooks, ticket and ring attempts."""
    steps: list[Step] = []
    for e in events:
        p = e.params or {}
        if e.endpoint == "incoming":
            steps.append(Step(e.at, "Called the line"))
        elif e.endpoint == "gather":
            if p.get("Digits"):
                steps.append(Step(e.at, f"Pressed {p['Digits']}"))
            elif p.get("SpeechResult"):
                steps.append(Step(e.at, f"Said \u201c{p['SpeechResult']}\u201d"))
            else:
                steps.append(Step(e.at, "Said nothing (the menu timed out)"))
        elif e.endpoint == "dialed" and p.get("DialCallStatus"):
            steps.append(Step(e.at, f"Ringing ended: {p['DialCallStatus'].replace('-', ' ')}"))
        elif e.endpoint in ("recorded", "fallback_recorded") and p.get("RecordingSid"):
            seconds = p.get("RecordingDuration")
            steps.append(Step(e.at, "Left a voicemail" + (f" ({seconds} s)" if seconds else "")))
        elif e.endpoint == "status" and p.get("CallStatus") in ("completed", "busy", "failed", "no-answer", "canceled"):
            took = f" after {p['CallDuration']} s" if p.get("CallDuration") else ""
            steps.append(Step(e.at, f"Call ended ({p['CallStatus']}){took}"))
    if ticket is not None and ticket.call_id == call.id:
        level = flow.levels.get(ticket.level)
        steps.append(Step(ticket.opened_at, f"Chose {level.name if level else ticket.level}: ticket {ticket.number} opened"))
    elif ticket is not None:
        # A known caller continued an earlier ticket: say so when the call reached that choice.
        when = next((e.at for e in events if e.endpoint == "gather"), call.started_at)
        steps.append(Step(when, f"Continued open ticket {ticket.number}"))
    if call.ringing_at is not None:
        steps.append(Step(call.ringing_at, "Staff phones started ringing"))
    for attempt, person in attempts:
        who = person.name if person else f"staff #{attempt.staff_id}"
        verb = {"accepted": "picked up and accepted", "rejected": "picked up and declined"}.get(attempt.result, "picked up")
        steps.append(Step(attempt.at, f"{who} {verb}"))
    # Stable sort: events that share a timestamp keep the order they were received in.
    steps.sort(key=lambda s: s.at)
    return steps


def call_detail(call_sid: str, flow: Flow, now: datetime) -> CallDetail | None:
    """Give one call with its events, menu path, ring attempts and ticket history."""
    call = db.session.execute(
        select(Call)
        .where(Call.call_sid == call_sid)
        .options(
            selectinload(Call.events),
            selectinload(Call.recordings),
            selectinload(Call.agent),
            selectinload(Call.ticket),
            selectinload(Call.about_ticket),
        )
    ).scalar_one_or_none()
    if call is None:
        return None
    row = _call_rows([call], flow, now)[0]
    attempts = list(
        db.session.execute(
            select(RingAttempt, Staff)
            .outerjoin(Staff, Staff.id == RingAttempt.staff_id)
            .where(RingAttempt.call_id == call.id)
            .order_by(RingAttempt.id)
        ).tuples()
    )
    ticket = call.ticket_for_log
    changes = ticket_changes(ticket) if ticket else []
    return CallDetail(row, list(call.events), _path(call, list(call.events), ticket, attempts, flow), attempts, changes)


# --- tickets -----------------------------------------------------------------------


@dataclass
class TicketRow:
    """A ticket as the list shows it."""

    ticket: Ticket
    call: Call
    sla: str
    voicemail: Recording | None


def _has_voicemail():
    """Give the SQL condition: the ticket's call left a completed recording."""
    return exists().where(Recording.call_id == Ticket.call_id, Recording.status == "completed")


def _ticket_query(f: TicketFilter, flow: Flow, now: datetime, staff_scope: int | None | bool):
    """Give the select for a ticket filter; `staff_scope` limits it to one person's tickets unless False."""
    where = []
    if staff_scope is not False:
        where.append(Ticket.assignee_id == staff_scope if staff_scope is not None else false())
    if not f.include_tests:
        where.append(Call.is_test.is_(False))
    if f.day_from:
        where.append(Ticket.opened_at >= _local_midnight(f.day_from, flow))
    if f.day_to:
        where.append(Ticket.opened_at < _local_midnight(f.day_to + timedelta(days=1), flow))
    if f.state:
        where.append(Ticket.state == f.state)
    if f.level:
        where.append(Ticket.level == f.level)
    if f.sla:
        where.append(_sla_clause(f.sla, flow, now))
    if f.assignee == "none":
        where.append(Ticket.assignee_id.is_(None))
    elif f.assignee is not None:
        where.append(Ticket.assignee_id == f.assignee)
    if f.voicemail:
        where.append(_has_voicemail())
    if f.q:
        where.append(_search_clause(f.q, with_ticket=True))
    return (
        select(Ticket)
        .join(Call, Call.id == Ticket.call_id)
        .options(contains_eager(Ticket.call).selectinload(Call.recordings), selectinload(Ticket.assignee))
        .where(*where)
    )


def tickets_page(
    f: TicketFilter,
    flow: Flow,
    now: datetime,
    staff_scope: int | None | bool = False,
    after: Cursor | None = None,
    before: Cursor | None = None,
    limit: int = PAGE_SIZE,
) -> Page:
    """Give one page of tickets: newest first, or soonest due first."""
    if f.order == "due":
        key, descending, key_of = Ticket.due_at, False, lambda t: Cursor(t.due_at, t.id)
    else:
        key, descending, key_of = Ticket.opened_at, True, lambda t: Cursor(t.opened_at, t.id)
    rows, page = _keyset(_ticket_query(f, flow, now, staff_scope), key, Ticket.id, descending, after, before, limit, key_of)
    page.items = [
        TicketRow(t, t.call, sla_state(t, flow, now), next((r for r in t.call.recordings if r.status == "completed"), None)) for t in rows
    ]
    return page


def ticket_changes(ticket: Ticket) -> list[TicketChange]:
    """List the changes made to a ticket by people, oldest first."""
    return list(db.session.execute(select(TicketChange).where(TicketChange.ticket_id == ticket.id).order_by(TicketChange.id)).scalars())


# --- the overview ------------------------------------------------------------------


@dataclass
class Stats:
    """Calls and tickets of one level (or all) over a period."""

    calls: int = 0
    ended: int = 0
    answered: int = 0
    abandoned: int = 0
    voicemail: int = 0
    waits: list[int] = field(default_factory=list)
    tickets: int = 0
    met: int = 0
    breached: int = 0

    @property
    def answer_rate(self) -> float | None:
        """Give answered calls as a share of the calls that ended."""
        return self.answered / self.ended if self.ended else None

    @property
    def abandon_rate(self) -> float | None:
        """Give calls the caller gave up on (in the menu or while ringing) as a share of those that ended."""
        return self.abandoned / self.ended if self.ended else None

    @property
    def average_wait(self) -> float | None:
        """Give the average ringing time of answered calls, in seconds."""
        return sum(self.waits) / len(self.waits) if self.waits else None

    @property
    def goal_share(self) -> float | None:
        """Give the share of decided tickets (responded, or past due) that met their goal."""
        decided = self.met + self.breached
        return self.met / decided if decided else None


@dataclass
class Overview:
    """Today and the last seven days at a glance, and what needs attention now."""

    today: dict[str, Stats]
    week: dict[str, Stats]
    days: list[tuple[date, dict[str, int]]]
    levels: list[tuple[str, str]]  # (id, name) in menu order, then calls that chose none
    at_risk: int = 0
    overdue: int = 0
    voicemails_waiting: int = 0

    @property
    def peak(self) -> int:
        """Give the most calls on one day of the chart (at least 1, the chart's scale)."""
        return max([sum(counts.values()) for _, counts in self.days] + [1])


def overview(flow: Flow, now: datetime, include_tests: bool = False) -> Overview:
    """Count calls by level, answer and abandon rates, waits and goals met, today and over 7 days."""
    tz = flow.policy.timezone
    today = now.astimezone(tz).date()
    first_day = today - timedelta(days=OVERVIEW_DAYS - 1)
    since = _local_midnight(first_day, flow)
    today_starts = _local_midnight(today, flow)
    levels = [(lid, lv.name) for lid, lv in flow.levels.items()] + [(NO_LEVEL, "No level chosen")]
    keys = [lid for lid, _ in levels] + ["all"]
    today_stats = {k: Stats() for k in keys}
    week_stats = {k: Stats() for k in keys}
    by_day = {first_day + timedelta(days=i): {lid: 0 for lid, _ in levels} for i in range(OVERVIEW_DAYS)}

    tests = [] if include_tests else [Call.is_test.is_(False)]
    calls = db.session.execute(
        select(Call.level, Call.started_at, Call.outcome, Call.ringing_at, Call.answered_at).where(Call.started_at >= since, *tests)
    ).all()
    for level, started, outcome, ringing, answered in calls:
        lid = level if level in flow.levels else NO_LEVEL
        day = started.astimezone(tz).date()
        if day in by_day:
            by_day[day][lid] += 1
        for stats in (week_stats, today_stats) if started >= today_starts else (week_stats,):
            for s in (stats[lid], stats["all"]):
                s.calls += 1
                if outcome is None:
                    continue
                s.ended += 1
                s.answered += outcome == "answered"
                s.voicemail += outcome == "voicemail"
                s.abandoned += outcome in ("abandoned_in_menu", "abandoned_while_ringing")
                if outcome == "answered" and ringing is not None and answered is not None:
                    s.waits.append(max(0, round((answered - ringing).total_seconds())))

    tickets = db.session.execute(select(Ticket).join(Call, Call.id == Ticket.call_id).where(Ticket.opened_at >= since, *tests)).scalars()
    for t in tickets:
        lid = t.level if t.level in flow.levels else NO_LEVEL
        state = sla_state(t, flow, now)
        for stats in (week_stats, today_stats) if t.opened_at >= today_starts else (week_stats,):
            for s in (stats[lid], stats["all"]):
                s.tickets += 1
                s.met += state == "met"
                s.breached += state == "breached"

    pending = [Ticket.state != "resolved", *tests]
    base = select(func.count()).select_from(Ticket).join(Call, Call.id == Ticket.call_id)
    return Overview(
        today=today_stats,
        week=week_stats,
        days=sorted(by_day.items()),
        levels=levels,
        at_risk=db.session.execute(base.where(_sla_clause("at_risk", flow, now), *pending)).scalar_one(),
        overdue=db.session.execute(base.where(Ticket.first_response_at.is_(None), Ticket.due_at <= now, *pending)).scalar_one(),
        voicemails_waiting=db.session.execute(base.where(_has_voicemail(), Ticket.state == "open", *tests)).scalar_one(),
    )


def staff_choices() -> list[Staff]:
    """List the roster for filter and assignee menus, active people first."""
    return list(db.session.execute(select(Staff).order_by(Staff.active.desc(), Staff.name)).scalars())
