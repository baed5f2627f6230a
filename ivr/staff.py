"""The staff roster: who takes calls, their weekly shifts, and who is on duty now.

Shifts are weekly and written the way a rota is: "Mon-Fri 05:00-13:00",
"Sat 22:00-06:00", "Mon,Wed,Fri 09:00-17:30", "Sun 00:00-24:00". Each day of a
spec becomes one `Shift` row (weekday, start, end) in the support time zone.

- A shift starts on its weekday and ends at `end` on the same day, or on the
  next day when `end` is not after `start`: "Sat 22:00-06:00" covers Saturday
  22:00 up to (not including) Sunday 06:00.
- "24:00" is accepted as an end only and stored as 00:00, which by the rule
  above is midnight at the end of the shift's day; "Sun 00:00-24:00" is stored
  as (Sun, 00:00, 00:00) and covers all of Sunday. A spec whose start equals its
  end ("09:00-09:00", "00:00-00:00") is refused, so a stored start == end can
  only mean a whole day.
- Shifts are read on the local wall clock of the policy's zone, as staff read
  their rota: on the daylight-saving Sundays a 00:00-08:00 shift still ends at
  08:00 local, though it lasts 7 or 9 real hours.

A supervisor can override the shifts: on duty or off duty until an instant
(by default the next local midnight). An unexpired override decides; an
inactive person (removed while the call log still names them) is never on duty.

Every function that writes owns its transaction and commits, as the views and
commands only translate between people and these functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import phonenumbers
import yaml
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from .flows import DAYS, TEAMS, Policy
from .models import Call, Shift, Staff, Ticket, db

NAME_MAX = 120
ROSTER_KEYS = frozenset({"name", "phone", "team", "shifts", "active"})
# Chained shifts (Sun 00:00-24:00 then Mon 00:00-24:00 ...) are followed at most
# this many times when saying when duty ends, so a round-the-clock rota stops.
CHAIN_LIMIT = 14

_DAY_NUMBERS = {d.lower(): i for i, d in enumerate(DAYS)}
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_NUMBERS.update({d: i for i, d in enumerate(_FULL_DAYS)})
_SHIFT = re.compile(r"^\s*(?P<days>[A-Za-z][A-Za-z\s,-]*?)\s+(?P<start>\S+?)\s*-\s*(?P<end>\S+)\s*$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")
SHIFT_EXAMPLES = '"Mon-Fri 05:00-13:00", "Sat 22:00-06:00" or "Mon,Wed,Fri 09:00-17:30"'


class StaffError(ValueError):
    """A roster request that cannot be carried out; the message says why, for a person."""


@dataclass(frozen=True)
class Duty:
    """Whether someone is on duty at a moment, why, and until when."""

    on: bool
    reason: str  # "shift", "override", "inactive" or "none"
    until: datetime | None = None  # when this state ends, if known


# --- parsing -----------------------------------------------------------------


def parse_phone(raw: str, region: str = "US") -> str:
    """Turn a phone number as people write it into E.164, or refuse it."""
    text = (raw or "").strip()
    hint = "give it with its area code, e.g. (312) 555-0101 or +1 312 555 0101"
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise StaffError(f"{text!r} is not a valid phone number; {hint}") from None
    if not phonenumbers.is_valid_number(number):
        raise StaffError(f"{text!r} is not a valid phone number; {hint}")
    if number.extension:
        # The line dials the number itself; an extension would be silently dropped.
        raise StaffError(f"{text!r} has an extension, which the line cannot dial; give a direct number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _day(word: str, spec: str) -> int:
    """Give the weekday number (0 = Monday) of a day name."""
    number = _DAY_NUMBERS.get(word.strip().lower())
    if number is None:
        raise StaffError(f"shift {spec!r}: {word.strip()!r} is not a day; use {', '.join(DAYS)}")
    return number


def _days(text: str, spec: str) -> list[int]:
    """Expand "Mon-Fri", "Mon,Wed,Fri" or "Fri-Mon" into weekday numbers, in rota order."""
    out: list[int] = []
    for item in text.split(","):
        if not item.strip():
            raise StaffError(f"shift {spec!r}: an empty day in the list; write days like Mon,Wed,Fri")
        ends = item.split("-")
        if len(ends) == 1:
            days = [_day(ends[0], spec)]
        elif len(ends) == 2:
            first, last = _day(ends[0], spec), _day(ends[1], spec)
            if first == last:
                raise StaffError(f"shift {spec!r}: the day range {item.strip()!r} starts and ends on the same day")
            # A range may wrap past Sunday: Fri-Mon is Fri, Sat, Sun, Mon.
            days = [(first + i) % 7 for i in range((last - first) % 7 + 1)]
        else:
            raise StaffError(f"shift {spec!r}: {item.strip()!r} is not a day or a range of days like Mon-Fri")
        out += [d for d in days if d not in out]
    return out


def _minutes(text: str, spec: str, *, end: bool) -> int:
    """Read "HH:MM" as minutes after midnight; 24:00 (1440) only as an end."""
    match = _CLOCK.match(text)
    if match:
        hours, minutes = int(match[1]), int(match[2])
        if (hours < 24 and minutes < 60) or (end and hours == 24 and minutes == 0):
            return hours * 60 + minutes
    allowed = "00:00 to 24:00" if end else "00:00 to 23:59"
    raise StaffError(f"shift {spec!r}: {text!r} is not a time of day; use HH:MM from {allowed}")


def parse_shift(spec: str) -> list[tuple[int, time, time]]:
    """Read a shift spec like "Mon-Fri 05:00-13:00" into (weekday, start, end) per day."""
    match = _SHIFT.match(spec or "")
    if not match:
        raise StaffError(f"{spec!r} is not a shift; write days and hours like {SHIFT_EXAMPLES}")
    days = _days(match["days"], spec)
    start = _minutes(match["start"], spec, end=False)
    end = _minutes(match["end"], spec, end=True)
    if start == end:
        raise StaffError(f"shift {spec!r} starts and ends at the same time; for a whole day write 00:00-24:00")
    start_t = time(start // 60, start % 60)
    end_t = time(end // 60 % 24, end % 60)  # 24:00 is stored as 00:00: midnight ending the day
    return [(day, start_t, end_t) for day in days]


def until_from_clock(text: str, now: datetime, policy: Policy) -> datetime:
    """Give the next moment the support clock reads "HH:MM": today, or tomorrow if already past."""
    match = _CLOCK.match((text or "").strip())
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise StaffError(f"{text!r} is not a time of day; use HH:MM on the support clock, e.g. 18:30")
    clock = time(int(match[1]), int(match[2]))
    today = now.astimezone(policy.timezone).date()
    for day in (today, today + timedelta(days=1)):
        # A clock time skipped or repeated by daylight saving resolves to its first reading (fold=0).
        moment = _aware(datetime.combine(day, clock), policy)
        if moment > now:
            return moment
    raise AssertionError("unreachable: tomorrow at any clock time is after now")


def _shift_rows(specs: list[str]) -> list[tuple[int, time, time]]:
    """Parse several shift specs into one list of rows."""
    if isinstance(specs, str):
        raise StaffError("shifts must be a list of specs, not one string")
    rows: list[tuple[int, time, time]] = []
    for spec in specs:
        if not isinstance(spec, str):
            raise StaffError(f"{spec!r} is not a shift; write days and hours like {SHIFT_EXAMPLES}")
        rows += parse_shift(spec)
    return rows


def _clean_name(name: str) -> str:
    """Trim a name and refuse one that is empty or too long."""
    if not isinstance(name, str) or not name.strip():
        raise StaffError("a name is required")
    name = " ".join(name.split())
    if len(name) > NAME_MAX:
        raise StaffError(f"the name {name[:30]!r}... is longer than {NAME_MAX} characters")
    return name


def _clean_team(team: str) -> str:
    """Refuse a team the levels cannot route to."""
    if team not in TEAMS:
        raise StaffError(f"team must be one of {', '.join(TEAMS)}, not {team!r}")
    return team


# --- the roster ----------------------------------------------------------------


def find(name: str) -> Staff | None:
    """Find a person by name, ignoring case and extra spaces."""
    if not isinstance(name, str) or not name.strip():
        return None
    wanted = " ".join(name.split()).lower()
    return db.session.execute(
        select(Staff).where(func.lower(Staff.name) == wanted).options(selectinload(Staff.shifts))
    ).scalar_one_or_none()


def _get(name: str) -> Staff:
    """Find a person by name, or say there is nobody by that name."""
    person = find(name)
    if person is None:
        raise StaffError(f"nobody called {name!r} is on the roster; `flask staff list` shows who is")
    return person


def everyone() -> list[Staff]:
    """List every person on the roster, active or not, by name."""
    return list(db.session.execute(select(Staff).options(selectinload(Staff.shifts)).order_by(Staff.name)).scalars())


def add(name: str, phone: str, team: str, shifts: list[str]) -> Staff:
    """Add a person to the roster with their weekly shifts."""
    name = _clean_name(name)
    e164 = parse_phone(phone)
    team = _clean_team(team)
    rows = _shift_rows(shifts)
    existing = find(name)
    if existing is not None:
        state = "" if existing.active else " (inactive: removed while the call log names them)"
        raise StaffError(f"{existing.name!r} is already on the roster{state}; change them with `flask staff import`")
    person = Staff(name=name, phone=e164, team=team, active=True)
    person.shifts = [Shift(weekday=d, start=s, end=e) for d, s, e in rows]
    db.session.add(person)
    try:
        db.session.commit()
    except IntegrityError:
        # Another supervisor added the same name between our check and commit.
        db.session.rollback()
        raise StaffError(f"{name!r} is already on the roster") from None
    return person


def set_shifts(name: str, shifts: list[str]) -> Staff:
    """Replace a person's weekly shifts."""
    rows = _shift_rows(shifts)
    person = _get(name)
    person.shifts = [Shift(weekday=d, start=s, end=e) for d, s, e in rows]
    db.session.commit()
    return person


def remove(name: str) -> str:
    """Take a person off the roster; give "deleted", or "deactivated" when the call log names them."""
    person = _get(name)
    # Calls and tickets keep their agent and assignee, so their history keeps its names.
    named = (
        db.session.execute(select(Call.id).where(Call.agent_id == person.id).limit(1)).first()
        or db.session.execute(select(Ticket.id).where(Ticket.assignee_id == person.id).limit(1)).first()
    )
    if named:
        person.active = False
        person.duty_override = None
        person.override_until = None
        db.session.commit()
        return "deactivated"
    db.session.delete(person)
    db.session.commit()
    return "deleted"


def set_duty(name: str, on: bool, until: datetime | None, now: datetime, policy: Policy) -> Staff:
    """Put a person on or off duty by hand, until `until` or the next local midnight."""
    person = _get(name)
    if until is None:
        until = next_midnight(now, policy)
    if until.tzinfo is None:
        raise StaffError("the end of an override needs a time zone")
    if until <= now:
        raise StaffError(f"the override would end at {say_clock(until, policy)}, which is not after now")
    if on and not person.active:
        raise StaffError(f"{person.name!r} is inactive (removed while the call log names them) and cannot be put on duty")
    person.duty_override = on
    person.override_until = until.astimezone(UTC)
    db.session.commit()
    return person


def clear_duty(name: str) -> Staff:
    """Drop a supervisor's override, so the person's shifts decide again."""
    person = _get(name)
    person.duty_override = None
    person.override_until = None
    db.session.commit()
    return person


# --- duty ----------------------------------------------------------------------


def next_midnight(now: datetime, policy: Policy) -> datetime:
    """Give the next local midnight in the support zone: the end of today."""
    tomorrow = now.astimezone(policy.timezone).date() + timedelta(days=1)
    return _aware(datetime.combine(tomorrow, time(0, 0)), policy)


def _aware(wall: datetime, policy: Policy) -> datetime:
    """Attach the support zone to a wall-clock moment and give it in UTC."""
    return wall.replace(tzinfo=policy.timezone).astimezone(UTC)


def _shift_end(wall: datetime, shifts: list[Shift]) -> datetime | None:
    """Give the wall-clock end of the latest-ending shift covering `wall`, or None."""
    best = None
    for s in shifts:
        for start_day in (wall.date(), wall.date() - timedelta(days=1)):
            if start_day.weekday() != s.weekday:
                continue
            begins = datetime.combine(start_day, s.start)
            end_day = start_day if s.end > s.start else start_day + timedelta(days=1)
            ends = datetime.combine(end_day, s.end)
            if begins <= wall < ends and (best is None or ends > best):
                best = ends
    return best


def duty(person: Staff, now: datetime, policy: Policy) -> Duty:
    """Tell whether a person is on duty now, why, and until when."""
    if not person.active:
        return Duty(False, "inactive")
    if person.duty_override is not None and (person.override_until is None or now < person.override_until):
        return Duty(person.duty_override, "override", person.override_until)
    wall = now.astimezone(policy.timezone).replace(tzinfo=None)
    end = _shift_end(wall, person.shifts)
    if end is None:
        return Duty(False, "none")
    # Back-to-back shifts (Sat 22:00-24:00, Sun 00:00-06:00) are one stretch of duty.
    for _ in range(CHAIN_LIMIT):
        later = _shift_end(end, person.shifts)
        if later is None or later <= end:
            break
        end = later
    return Duty(True, "shift", _aware(end, policy))


def is_on_duty(person: Staff, now: datetime, policy: Policy) -> bool:
    """Tell whether a person should be rung at this moment."""
    return duty(person, now, policy).on


def on_duty(team: str, now: datetime, policy: Policy) -> list[Staff]:
    """List a team's people on duty now, longest idle first."""
    team = _clean_team(team)
    members = db.session.execute(
        select(Staff).where(Staff.team == team, Staff.active.is_(True)).options(selectinload(Staff.shifts))
    ).scalars()
    ready = [p for p in members if is_on_duty(p, now, policy)]
    # Never called sorts first; then the oldest last call; the name breaks ties stably.
    ready.sort(key=lambda p: (p.last_call_at is not None, p.last_call_at or now, p.name.lower()))
    return ready


# --- roster files ----------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    """One checked roster entry, ready to write."""

    name: str
    phone: str
    team: str
    shifts: list[tuple[int, time, time]]
    active: bool


def _read_roster(path: str | Path) -> list[_Entry]:
    """Read and check a whole roster file; raise one error listing every problem."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise StaffError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise StaffError(f"{path}: is not valid YAML: {exc}") from None
    if not isinstance(data, dict) or "staff" not in data:
        raise StaffError(f"{path}: must be a mapping with a `staff:` list of people")
    if set(data) - {"staff"}:
        raise StaffError(f"{path}: unknown top-level keys {', '.join(sorted(map(str, set(data) - {'staff'})))}; only `staff` is read")
    items = data["staff"] or []
    if not isinstance(items, list):
        raise StaffError(f"{path}: `staff` must be a list of people")
    problems: list[str] = []
    entries: list[_Entry] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items, start=1):
        label = f"entry {index}"
        if not isinstance(item, dict):
            problems.append(f"{label}: must be a mapping with name, phone, team and shifts")
            continue
        if isinstance(item.get("name"), str) and item["name"].strip():
            label += f" ({' '.join(item['name'].split())})"
        try:
            unknown = set(item) - ROSTER_KEYS
            if unknown:
                raise StaffError(f"unknown keys {', '.join(sorted(map(str, unknown)))}; use {', '.join(sorted(ROSTER_KEYS))}")
            for key in ("name", "phone", "team"):
                if item.get(key) in (None, ""):
                    raise StaffError(f"{key} is required")
            name = _clean_name(item["name"])
            if name.lower() in seen:
                raise StaffError(f"the name is already used by entry {seen[name.lower()]}")
            seen[name.lower()] = index
            phone = parse_phone(str(item["phone"]))
            team = _clean_team(item["team"])
            rows = _shift_rows(item.get("shifts") or [])
            active = item.get("active", True)
            if not isinstance(active, bool):
                raise StaffError(f"active must be true or false, not {active!r}")
        except StaffError as exc:
            problems.append(f"{label}: {exc}")
            continue
        entries.append(_Entry(name, phone, team, rows, active))
    if problems:
        raise StaffError(f"{path}: nothing was imported:\n" + "\n".join(f"  {p}" for p in problems))
    return entries


def import_roster(path: str | Path) -> tuple[int, int]:
    """Create or update people by name from a YAML roster; write nothing unless all of it is good."""
    entries = _read_roster(path)
    created = updated = 0
    for entry in entries:
        person = find(entry.name)
        if person is None:
            person = Staff(name=entry.name)
            db.session.add(person)
            created += 1
        else:
            updated += 1
        person.name = entry.name
        person.phone = entry.phone
        person.team = entry.team
        person.active = entry.active
        person.shifts = [Shift(weekday=d, start=s, end=e) for d, s, e in entry.shifts]
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise StaffError(f"{path}: the roster changed while importing; nothing was imported, try again") from None
    return created, updated


# --- describing ------------------------------------------------------------------


def say_clock(moment: datetime, policy: Policy, now: datetime | None = None) -> str:
    """Say an instant on the support clock: "13:00", or "Tue 06:00" when not today."""
    local = moment.astimezone(policy.timezone)
    if now is not None and local.date() != now.astimezone(policy.timezone).date():
        return local.strftime("%a %H:%M")
    return local.strftime("%H:%M")


def _hhmm(t: time, *, end: bool = False) -> str:
    """Write a shift time; an end at 00:00 reads as 24:00 when it closes the day."""
    return "24:00" if end and t == time(0, 0) else t.strftime("%H:%M")


def format_shifts(shifts: list[Shift]) -> str:
    """Write shifts back as specs, "Mon-Fri 05:00-13:00; Sat 22:00-06:00", or "no shifts"."""
    groups: dict[tuple[time, time], list[int]] = {}
    for s in shifts:
        days = groups.setdefault((s.start, s.end), [])
        if s.weekday not in days:
            days.append(s.weekday)
    specs = []
    for (start, end), days in groups.items():
        days.sort()
        runs: list[list[int]] = []
        for d in days:
            if runs and runs[-1][-1] == d - 1:
                runs[-1].append(d)
            else:
                runs.append([d])
        text = ",".join(DAYS[r[0]] if len(r) == 1 else f"{DAYS[r[0]]}-{DAYS[r[-1]]}" for r in runs)
        specs.append(f"{text} {_hhmm(start)}-{_hhmm(end, end=True)}")
    return "; ".join(specs) or "no shifts"


def rota(person: Staff) -> str:
    """Say a person's shifts: "shifts Mon-Fri 05:00-13:00" or "no shifts"."""
    return f"shifts {format_shifts(person.shifts)}" if person.shifts else "no shifts"


def describe(person: Staff, now: datetime, policy: Policy) -> str:
    """Say one line about a person for listings, "*" first when on duty now."""
    state = duty(person, now, policy)
    if state.reason == "inactive":
        status = "inactive"
    elif state.reason == "override":
        until = f" until {say_clock(state.until, policy, now)}" if state.until else ""
        status = f"{'on' if state.on else 'off'} duty: override{until}"
    elif state.reason == "shift":
        status = f"on duty: shift until {say_clock(state.until, policy, now)}"
    else:
        status = "off duty"
    mark = "*" if state.on else " "
    return f"{mark} {person.name} ({person.team}, {person.phone}): {status}; {rota(person)}"
