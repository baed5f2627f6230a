"""Closures a supervisor adds in the console: support closed from a start to an end, with a message.

`policy.yaml` holds closures planned with the flows; these are the ones added
at short notice (an outage, a staff event) without editing files. Each is
kept after it ends, with who added it and who ended it early.

For the line: `active_closures_from_db(now)` gives the closures in force, and
`closures_from_db(since)` every one that still closes some time after
`since` (for due times), both as `flows.Closure`, the same type as the
policy's, so the two lists can simply be added together.

Every function that writes owns its transaction and commits.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select

from .flows import MAX_SAY_CHARS, Closure, Policy
from .models import ClosureEntry, db

# Spoken in the greeting: long enough for a sentence or three, and well inside one <Say>.
MESSAGE_MAX = min(1000, MAX_SAY_CHARS)
RECENT = timedelta(days=30)
LOCAL_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S")


class ClosureError(ValueError):
    """A closure request that cannot be carried out; the message says why, for a person."""


def parse_local(text: str, policy: Policy, what: str = "time") -> datetime:
    """Read "2026-12-31 18:00" (or a browser's "2026-12-31T18:00") on the support clock, as UTC."""
    raw = (text or "").strip()
    for fmt in LOCAL_FORMATS:
        try:
            wall = datetime.strptime(raw, fmt)
        except ValueError:
            continue
        return wall.replace(tzinfo=policy.timezone).astimezone(UTC)
    raise ClosureError(f"the {what} {raw!r} is not a date and time like 2026-12-31 18:00")


def add(start: datetime, end: datetime, message: str, by: str, now: datetime) -> ClosureEntry:
    """Close support from start to end, telling callers `message`."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ClosureError("closure times need a time zone")
    message = " ".join((message or "").split())
    if len(message) > MESSAGE_MAX:
        raise ClosureError(f"the message is {len(message)} characters; callers hear at most {MESSAGE_MAX}")
    if end <= start:
        raise ClosureError("the closure must end after it starts")
    if end <= now:
        raise ClosureError("the closure would be over already; give an end in the future")
    entry = ClosureEntry(start=start, end=end, message=message, created_by=by, created_at=now)
    db.session.add(entry)
    db.session.commit()
    return entry


def end(closure_id: int, by: str, now: datetime) -> ClosureEntry:
    """End a closure now (or cancel one that has not begun), keeping it in the record."""
    # Ids past 32 bits are refused by the databases themselves: no such closure.
    entry = db.session.get(ClosureEntry, closure_id, with_for_update=True) if 0 < closure_id < 2**31 else None
    if entry is None:
        raise ClosureError("there is no such closure")
    if entry.ended_at is not None or entry.end <= now:
        raise ClosureError("this closure is already over")
    entry.ended_at = now
    entry.ended_by = by
    db.session.commit()
    return entry


def _live(since: datetime):
    """Give the SQL condition: a closure that still closes some time after `since`."""
    return (
        ClosureEntry.end > since,
        or_(ClosureEntry.ended_at.is_(None), ClosureEntry.ended_at > since),
        # Cancelled before it began: it never closed anything.
        or_(ClosureEntry.ended_at.is_(None), ClosureEntry.ended_at > ClosureEntry.start),
    )


def _as_closure(entry: ClosureEntry) -> Closure:
    """Give an entry as the flows' Closure, ending when it was ended early."""
    return Closure(entry.start, entry.effective_end, entry.message)


def active_closures_from_db(now: datetime) -> list[Closure]:
    """List the closures added in the console that are in force at this instant."""
    rows = db.session.execute(
        select(ClosureEntry).where(ClosureEntry.start <= now, *_live(now)).order_by(ClosureEntry.start, ClosureEntry.id)
    )
    return [_as_closure(e) for e in rows.scalars()]


def closures_from_db(since: datetime) -> list[Closure]:
    """List the closures added in the console that close any time after `since`, for due times."""
    rows = db.session.execute(select(ClosureEntry).where(*_live(since)).order_by(ClosureEntry.start, ClosureEntry.id))
    return [_as_closure(e) for e in rows.scalars()]


def listing(now: datetime) -> tuple[list[ClosureEntry], list[ClosureEntry]]:
    """Give the closures in force or to come, and those over in the last 30 days."""
    rows = list(
        db.session.execute(
            select(ClosureEntry)
            .where(or_(ClosureEntry.end > now - RECENT, ClosureEntry.ended_at > now - RECENT))
            .order_by(ClosureEntry.start.desc())
        ).scalars()
    )
    current = [e for e in rows if e.effective_end > now and e.effective_end > e.start]
    past = [e for e in rows if e not in current]
    current.sort(key=lambda e: e.start)
    return current, past
