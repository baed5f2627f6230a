"""Support hours: whether support is open, when it opens next, and when a goal falls due.

All arithmetic is done on UTC instants; local dates and times are built per day
with the policy's zone, so a 05:00-22:00 day stays 17 hours long across the
daylight-saving Sundays.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

from .flows import Level, Phrases, Policy

# Far enough to cross any realistic run of holidays and closures.
SEARCH_DAYS = 400


def _day_window(policy: Policy, day: date) -> tuple[datetime, datetime] | None:
    """Give the UTC open window of one local day, or None when closed all day."""
    if day.weekday() not in policy.days:
        return None
    if any(day.month == m and day.day == d for m, d, _ in policy.holidays):
        return None
    tz = policy.timezone
    start = datetime.combine(day, policy.open, tz).astimezone(UTC)
    end = datetime.combine(day, policy.close, tz).astimezone(UTC)
    return start, end


def _minus_closures(policy: Policy, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """Cut configured closures out of one open window."""
    pieces = [(start, end)]
    for c in policy.closures:
        cs, ce = c.start.astimezone(UTC), c.end.astimezone(UTC)
        cut = []
        for a, b in pieces:
            if ce <= a or cs >= b:
                cut.append((a, b))
                continue
            if a < cs:
                cut.append((a, cs))
            if ce < b:
                cut.append((ce, b))
        pieces = cut
    return pieces


def open_windows(policy: Policy, since: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Yield the UTC open windows from `since` onwards, the first clipped to it."""
    since = since.astimezone(UTC)
    day = since.astimezone(policy.timezone).date() - timedelta(days=1)
    for _ in range(SEARCH_DAYS):
        window = _day_window(policy, day)
        day += timedelta(days=1)
        if window is None:
            continue
        for a, b in _minus_closures(policy, *window):
            if b <= since:
                continue
            yield max(a, since), b


def is_open(policy: Policy, at: datetime) -> bool:
    """Tell whether support is open at this instant."""
    first = next(open_windows(policy, at), None)
    return first is not None and first[0] <= at.astimezone(UTC)


def next_open(policy: Policy, at: datetime) -> datetime | None:
    """Give the next instant support opens (now, if it is open)."""
    first = next(open_windows(policy, at), None)
    return first[0] if first else None


def active_closures(policy: Policy, at: datetime) -> list[str]:
    """List the messages of closures in force at this instant."""
    return [c.message for c in policy.closures if c.start <= at < c.end and c.message]


def due_at(policy: Policy, level: Level, opened: datetime) -> datetime:
    """Compute when a ticket's response goal falls due, on the level's clock."""
    goal = timedelta(hours=level.goal_hours)
    opened = opened.astimezone(UTC)
    if level.clock == "calendar":
        return opened + goal
    remaining = goal
    for a, b in open_windows(policy, opened):
        if remaining <= b - a:
            return a + remaining
        remaining -= b - a
    # No open time within the search horizon: fall back to the calendar.
    return opened + goal


def spoken_time(policy: Policy, moment: datetime, now: datetime, phrases: Phrases | None = None) -> str:
    """Say a moment as a person would: "3:15 PM Central today", "8 AM Central on Monday"."""
    phrases = phrases or Phrases(zone=policy.zone_name)
    local = moment.astimezone(policy.timezone)
    today = now.astimezone(policy.timezone).date()
    clock = local.strftime("%I:%M %p").lstrip("0").replace(":00 ", " ")
    days = (local.date() - today).days
    day = phrases.days[local.weekday()]
    if days == 0:
        when = phrases.today
    elif days == 1:
        when = phrases.tomorrow
    elif 1 < days < 7:
        when = phrases.on_day.format(day=day)
    else:
        when = phrases.on_date.format(day=day, month=phrases.months[local.month - 1], date=local.day)
    return f"{clock} {phrases.zone} {when}"
