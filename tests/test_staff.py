"""The staff roster: phones, shifts, who is on duty, overrides, roster files and the `staff` commands."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from ivr import flows, staff
from ivr.models import Call, Shift, Staff, Ticket, db
from ivr.staff import StaffError

CENTRAL = ZoneInfo("America/Chicago")
FLOWS = Path(__file__).resolve().parent.parent / "flows"


def central(year, month, day, hour=0, minute=0, second=0) -> datetime:
    """Give a wall-clock moment in Central time."""
    return datetime(year, month, day, hour, minute, second, tzinfo=CENTRAL)


def utc(year, month, day, hour=0, minute=0) -> datetime:
    """Give a moment in UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def person(*specs: str, name: str = "Ana Diaz", active: bool = True, **fields) -> Staff:
    """Build an unsaved person with these shifts, for duty checks that need no database."""
    rows = [row for spec in specs for row in staff.parse_shift(spec)]
    return Staff(
        name=name,
        phone="+13125550101",
        team="support",
        active=active,
        shifts=[Shift(weekday=d, start=s, end=e) for d, s, e in rows],
        **fields,
    )


@pytest.fixture(scope="module")
def policy():
    """Give the real support policy (America/Chicago)."""
    return flows.load(FLOWS).policy


@pytest.fixture
def ctx(app):
    """Run the test inside an app context on an empty database."""
    with app.app_context():
        yield app


def count_staff() -> int:
    """Count the people on the roster."""
    return db.session.execute(select(func.count()).select_from(Staff)).scalar_one()


def count_shifts() -> int:
    """Count every stored shift row."""
    return db.session.execute(select(func.count()).select_from(Shift)).scalar_one()


# --- phones ------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["(312) 555-0101", "+1 312 555 0101", "312.555.0101", "312-555-0101", " 13125550101 "])
def test_phone_formats_people_write_become_e164(raw):
    """Accept the usual ways of writing a US number and give E.164."""
    assert staff.parse_phone(raw) == "+13125550101"


def test_phone_from_another_country_keeps_its_code():
    """Accept a number with its own country code."""
    assert staff.parse_phone("+44 20 7946 0958") == "+442079460958"


@pytest.mark.parametrize("raw", ["555-0101", "(000) 555-0101", "123", "+1 312 555", "312 555 01011", "call me", ""])
def test_phone_that_is_not_a_real_number_is_refused(raw):
    """Refuse numbers phonenumbers does not consider valid, naming the input."""
    with pytest.raises(StaffError, match="is not a valid phone number") as err:
        staff.parse_phone(raw)
    assert repr(raw.strip()) in str(err.value)


def test_phone_with_an_extension_is_refused():
    """Refuse an extension, which the line could not dial."""
    with pytest.raises(StaffError, match="has an extension"):
        staff.parse_phone("(312) 555-0101 ext. 12")


# --- shift specs ---------------------------------------------------------------


def test_shift_day_range_gives_one_row_per_day():
    """Expand Mon-Fri into five rows with the same hours."""
    assert staff.parse_shift("Mon-Fri 05:00-13:00") == [(d, time(5), time(13)) for d in range(5)]


def test_shift_past_midnight_keeps_an_end_before_its_start():
    """Store an overnight shift on its starting day with the earlier end."""
    assert staff.parse_shift("Sat 22:00-06:00") == [(5, time(22), time(6))]


def test_shift_day_list():
    """Read a comma list of days with half-hour times."""
    assert staff.parse_shift("Mon,Wed,Fri 09:00-17:30") == [
        (0, time(9), time(17, 30)),
        (2, time(9), time(17, 30)),
        (4, time(9), time(17, 30)),
    ]


def test_shift_whole_day_stores_24_00_as_midnight():
    """Store 00:00-24:00 as 00:00-00:00, a whole day."""
    assert staff.parse_shift("Sun 00:00-24:00") == [(6, time(0), time(0))]


def test_shift_day_range_wraps_past_sunday_and_ignores_case():
    """Read fri-MON as Friday, Saturday, Sunday and Monday."""
    assert [d for d, _, _ in staff.parse_shift("fri-MON 9:00-17:00")] == [4, 5, 6, 0]


def test_shift_full_day_names_and_spaces_are_read():
    """Accept full day names and spaces around the dashes."""
    assert staff.parse_shift("Monday - Wednesday 01:00 - 02:00") == [(d, time(1), time(2)) for d in range(3)]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("Mun 05:00-13:00", "'Mun' is not a day; use Mon, Tue, Wed, Thu, Fri, Sat, Sun"),
        ("Mon-Fry 05:00-13:00", "'Fry' is not a day"),
        ("Mon 25:00-13:00", "'25:00' is not a time of day; use HH:MM from 00:00 to 23:59"),
        ("Mon 05:00-13:60", "'13:60' is not a time of day; use HH:MM from 00:00 to 24:00"),
        ("Mon 24:00-05:00", "'24:00' is not a time of day; use HH:MM from 00:00 to 23:59"),
        ("Mon 5-13", "'5' is not a time of day"),
        ("Mon 05:00-05:00", "starts and ends at the same time; for a whole day write 00:00-24:00"),
        ("Mon 00:00-00:00", "starts and ends at the same time"),
        ("Mon-Mon 01:00-02:00", "the day range 'Mon-Mon' starts and ends on the same day"),
        ("Mon-Tue-Wed 01:00-02:00", "'Mon-Tue-Wed' is not a day or a range of days"),
        ("Mon,,Tue 01:00-02:00", "an empty day in the list"),
        ("Mon", "'Mon' is not a shift; write days and hours like"),
        ("09:00-17:00", "'09:00-17:00' is not a shift"),
        ("", "'' is not a shift"),
    ],
)
def test_shift_errors_say_what_is_wrong(spec, message):
    """Refuse a bad spec with a message naming the bad part."""
    with pytest.raises(StaffError) as err:
        staff.parse_shift(spec)
    assert message in str(err.value)


def test_shifts_are_written_back_as_specs():
    """Group days with the same hours back into ranges and lists."""
    p = person("Mon-Fri 05:00-13:00", "Sat 22:00-06:00", "Sun 00:00-24:00", "Tue,Thu 14:00-18:00")
    assert staff.format_shifts(p.shifts) == "Mon-Fri 05:00-13:00; Sat 22:00-06:00; Sun 00:00-24:00; Tue,Thu 14:00-18:00"
    assert staff.format_shifts([]) == "no shifts"


# --- duty on shifts ------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "on"),
    [
        (central(2026, 11, 30, 4, 59, 59), False),  # Monday, a second before
        (central(2026, 11, 30, 5, 0), True),
        (central(2026, 11, 30, 12, 59, 59), True),
        (central(2026, 11, 30, 13, 0), False),  # the end itself is off
        (central(2026, 12, 4, 5, 0), True),  # Friday
        (central(2026, 11, 28, 10, 0), False),  # Saturday
    ],
)
def test_on_duty_at_the_edges_of_a_day_shift(policy, moment, on):
    """Be on duty from the start up to, not including, the end."""
    assert staff.is_on_duty(person("Mon-Fri 05:00-13:00"), moment, policy) is on


@pytest.mark.parametrize(
    ("moment", "on"),
    [
        (central(2026, 11, 28, 21, 59, 59), False),  # Saturday
        (central(2026, 11, 28, 22, 0), True),
        (central(2026, 11, 29, 0, 0), True),  # Sunday
        (central(2026, 11, 29, 5, 59), True),
        (central(2026, 11, 29, 6, 0), False),
        (central(2026, 11, 29, 22, 30), False),  # Sunday night is not Saturday night
        (central(2026, 11, 27, 23, 0), False),  # Friday night
        (central(2026, 11, 30, 5, 0), False),  # Monday morning
    ],
)
def test_a_shift_across_midnight_ends_the_next_morning(policy, moment, on):
    """Cover Saturday 22:00 to Sunday 06:00 for a Sat 22:00-06:00 shift."""
    assert staff.is_on_duty(person("Sat 22:00-06:00"), moment, policy) is on


@pytest.mark.parametrize(
    ("moment", "on"),
    [
        (central(2026, 11, 28, 23, 59, 59), False),
        (central(2026, 11, 29, 0, 0), True),
        (central(2026, 11, 29, 23, 59, 59), True),
        (central(2026, 11, 30, 0, 0), False),
    ],
)
def test_a_whole_day_shift_covers_midnight_to_midnight(policy, moment, on):
    """Cover all of Sunday, and nothing else, for Sun 00:00-24:00."""
    assert staff.is_on_duty(person("Sun 00:00-24:00"), moment, policy) is on


def test_overnight_shifts_on_wrapped_days_cover_the_following_mornings(policy):
    """Cover Monday 05:00 from Sunday's shift and Tuesday 05:00 from Monday's, not Wednesday's."""
    p = person("Sun-Mon 22:00-06:00")
    assert staff.is_on_duty(p, central(2026, 11, 30, 5, 0), policy) is True
    assert staff.is_on_duty(p, central(2026, 12, 1, 5, 0), policy) is True
    assert staff.is_on_duty(p, central(2026, 12, 2, 5, 0), policy) is False


@pytest.mark.parametrize("day", [8, 1], ids=["spring-forward", "fall-back"])
def test_dst_sundays_a_night_shift_is_read_on_the_wall_clock(policy, day):
    """Be on duty at 07:30 and off at 08:00 local on both daylight-saving Sundays for 00:00-08:00."""
    month = 3 if day == 8 else 11
    p = person("Sun 00:00-08:00")
    assert staff.is_on_duty(p, central(2026, month, day, 7, 30), policy) is True
    assert staff.is_on_duty(p, central(2026, month, day, 8, 0), policy) is False


def test_dst_sundays_the_same_local_hour_is_a_different_utc_instant(policy):
    """End a 00:00-08:00 shift at 13:00 UTC in March (CDT) and 14:00 UTC in November (CST)."""
    p = person("Sun 00:00-08:00")
    assert staff.is_on_duty(p, utc(2026, 3, 8, 12, 59), policy) is True
    assert staff.is_on_duty(p, utc(2026, 3, 8, 13, 0), policy) is False
    assert staff.is_on_duty(p, utc(2026, 11, 1, 13, 59), policy) is True
    assert staff.is_on_duty(p, utc(2026, 11, 1, 14, 0), policy) is False
    assert staff.duty(p, utc(2026, 3, 8, 12, 0), policy).until == utc(2026, 3, 8, 13, 0)
    assert staff.duty(p, utc(2026, 11, 1, 12, 0), policy).until == utc(2026, 11, 1, 14, 0)


def test_dst_overnight_shift_crossing_the_change_ends_at_local_six(policy):
    """End Saturday's 22:00-06:00 shift at 06:00 local on both change nights."""
    p = person("Sat 22:00-06:00")
    assert staff.duty(p, central(2026, 3, 8, 1, 30), policy) == staff.Duty(True, "shift", utc(2026, 3, 8, 11, 0))
    assert staff.duty(p, central(2026, 11, 1, 5, 59), policy) == staff.Duty(True, "shift", utc(2026, 11, 1, 12, 0))


def test_back_to_back_shifts_are_one_stretch(policy):
    """Report the end of the whole stretch when one shift runs into the next."""
    p = person("Sat 22:00-24:00", "Sun 00:00-06:00")
    assert staff.duty(p, central(2026, 11, 28, 23, 0), policy) == staff.Duty(True, "shift", central(2026, 11, 29, 6, 0))


def test_round_the_clock_rota_still_gives_an_end(policy):
    """Stop following a week of whole-day shifts and give a finite end."""
    p = person("Mon-Sun 00:00-24:00")
    state = staff.duty(p, central(2026, 11, 30, 12, 0), policy)
    assert state.on is True
    assert state.until > central(2026, 12, 7)


def test_nobody_with_no_shifts_is_on_duty(policy):
    """Be off duty with no shifts and no override."""
    assert staff.duty(person(), central(2026, 11, 30, 12, 0), policy) == staff.Duty(False, "none")


def test_inactive_person_is_never_on_duty(policy):
    """Keep an inactive person off duty despite a shift and an on-duty override."""
    p = person("Mon-Sun 00:00-24:00", active=False, duty_override=True, override_until=None)
    assert staff.duty(p, central(2026, 11, 30, 12, 0), policy) == staff.Duty(False, "inactive")


def test_unexpired_override_decides_and_expired_one_does_not(policy):
    """Let an override decide before its end and the shifts decide from its end on."""
    until = central(2026, 11, 30, 12, 0)
    p = person("Mon 05:00-13:00", duty_override=False, override_until=until)
    assert staff.duty(p, central(2026, 11, 30, 11, 59), policy) == staff.Duty(False, "override", until)
    assert staff.duty(p, until, policy) == staff.Duty(True, "shift", central(2026, 11, 30, 13, 0))


def test_override_without_an_end_lasts(policy):
    """Treat an override with no end as in force."""
    p = person(duty_override=True, override_until=None)
    assert staff.duty(p, central(2027, 6, 1, 3, 0), policy) == staff.Duty(True, "override", None)


# --- the roster in the database ----------------------------------------------------


def test_add_stores_e164_team_and_shifts(ctx):
    """Add a person and find them again by name in any case."""
    staff.add("Ana Diaz", "(312) 555-0101", "support", ["Mon-Fri 05:00-13:00", "Sat 22:00-06:00"])
    db.session.expire_all()
    found = staff.find("  ana   DIAZ ")
    assert (found.name, found.phone, found.team, found.active) == ("Ana Diaz", "+13125550101", "support", True)
    assert [(s.weekday, s.start, s.end) for s in found.shifts] == [(d, time(5), time(13)) for d in range(5)] + [(5, time(22), time(6))]
    assert staff.find("Bo Chen") is None


def test_add_refuses_a_name_already_used_in_any_case(ctx):
    """Refuse a second person whose name differs only in case."""
    staff.add("Ana Diaz", "(312) 555-0101", "support", [])
    with pytest.raises(StaffError, match="'Ana Diaz' is already on the roster"):
        staff.add("ANA DIAZ", "(312) 555-0102", "engineering", [])
    assert count_staff() == 1


@pytest.mark.parametrize(
    ("phone", "team", "shifts", "message"),
    [
        ("555-0101", "support", [], "'555-0101' is not a valid phone number"),
        ("(312) 555-0101", "sales", [], "team must be one of support, engineering, not 'sales'"),
        ("(312) 555-0101", "support", ["Mon 09:00-09:00"], "starts and ends at the same time"),
    ],
)
def test_add_with_bad_details_writes_nothing(ctx, phone, team, shifts, message):
    """Refuse a bad phone, team or shift and leave the roster empty."""
    with pytest.raises(StaffError, match=message):
        staff.add("Ana Diaz", phone, team, shifts)
    db.session.rollback()
    assert count_staff() == 0


def test_set_shifts_replaces_them(ctx):
    """Replace every shift with the new ones."""
    staff.add("Ana Diaz", "(312) 555-0101", "support", ["Mon-Fri 05:00-13:00"])
    staff.set_shifts("ana diaz", ["Sat 22:00-06:00"])
    db.session.expire_all()
    assert [(s.weekday, s.start, s.end) for s in staff.find("Ana Diaz").shifts] == [(5, time(22), time(6))]
    assert count_shifts() == 1


def test_remove_deletes_someone_the_log_never_named(ctx):
    """Delete a person and their shifts when no call or ticket names them."""
    staff.add("Ana Diaz", "(312) 555-0101", "support", ["Mon-Fri 05:00-13:00"])
    assert staff.remove("ana diaz") == "deleted"
    assert (count_staff(), count_shifts()) == (0, 0)


@pytest.mark.parametrize("link", ["call", "ticket"])
def test_remove_deactivates_someone_the_log_names(ctx, policy, link):
    """Keep a person a call or ticket names, inactive, so the log keeps its names."""
    ana = staff.add("Ana Diaz", "(312) 555-0101", "support", ["Mon-Fri 05:00-13:00"])
    staff.set_duty("Ana Diaz", True, None, central(2026, 11, 30, 12, 0), policy)
    call = Call(call_sid="CA" + "1" * 32, agent_id=ana.id if link == "call" else None)
    db.session.add(call)
    if link == "ticket":
        db.session.add(Ticket(call=call, level="basic", due_at=utc(2026, 12, 1), assignee_id=ana.id))
    db.session.commit()
    assert staff.remove("Ana Diaz") == "deactivated"
    db.session.expire_all()
    kept = staff.find("Ana Diaz")
    assert (kept.active, kept.duty_override, kept.override_until, len(kept.shifts)) == (False, None, None, 5)


def test_remove_unknown_name_says_nobody_is_called_that(ctx):
    """Refuse to remove a name that is not on the roster."""
    with pytest.raises(StaffError, match="nobody called 'Zed' is on the roster"):
        staff.remove("Zed")


# --- overrides -------------------------------------------------------------------


def test_on_duty_override_without_end_lasts_until_local_midnight(ctx, policy):
    """Put someone with no shifts on duty until the next local midnight."""
    staff.add("Ana Diaz", "(312) 555-0101", "support", [])
    now = central(2026, 12, 1, 10, 0)
    staff.set_duty("Ana Diaz", True, None, now, policy)
    db.session.expire_all()
    ana = staff.find("Ana Diaz")
    assert ana.override_until == central(2026, 12, 2, 0, 0)
    assert ana.override_until == utc(2026, 12, 2, 6, 0)
    assert staff.is_on_duty(ana, central(2026, 12, 1, 23, 59, 59), policy) is True
    assert staff.is_on_duty(ana, central(2026, 12, 2, 0, 0), policy) is False


def test_midnight_after_a_dst_sunday_is_local(policy):
    """End a default override at local midnight even on the day the clocks change."""
    assert staff.next_midnight(central(2026, 3, 8, 10, 0), policy) == utc(2026, 3, 9, 5, 0)
    assert staff.next_midnight(central(2026, 11, 1, 10, 0), policy) == utc(2026, 11, 2, 6, 0)


def test_off_duty_override_beats_a_shift_until_it_expires(ctx, policy):
    """Keep someone off during their shift until the override ends, then let the shift decide."""
    staff.add("Ana Diaz", "(312) 555-0101", "support", ["Tue 05:00-13:00"])
    staff.set_duty("Ana Diaz", False, central(2026, 12, 1, 11, 0), central(2026, 12, 1, 10, 0), policy)
    db.session.expire_all()
    ana = staff.find("Ana Diaz")
    assert staff.is_on_duty(ana, central(2026, 12, 1, 10, 59), policy) is False
    assert staff.is_on_duty(ana, central(2026, 12, 1, 11, 0), policy) is True
    assert staff.on_duty("support", central(2026, 12, 1, 10, 30), policy) == []


def test_clear_duty_hands_back_to_the_shifts(ctx, policy):
    """Drop an override so the shift decides at once."""
    staff.add("Ana Diaz", "(312) 555-0101", "support", ["Tue 05:00-13:00"])
    now = central(2026, 12, 1, 10, 0)
    staff.set_duty("Ana Diaz", False, None, now, policy)
    ana = staff.clear_duty("ana diaz")
    assert (ana.duty_override, ana.override_until) == (None, None)
    assert staff.is_on_duty(ana, now, policy) is True


def test_override_ending_in_the_past_is_refused(ctx, policy):
    """Refuse an override whose end is not after now."""
    staff.add("Ana Diaz", "(312) 555-0101", "support", [])
    now = central(2026, 12, 1, 10, 0)
    with pytest.raises(StaffError, match="would end at 10:00, which is not after now"):
        staff.set_duty("Ana Diaz", True, now, now, policy)


def test_inactive_person_cannot_be_put_on_duty(ctx, policy):
    """Refuse an on-duty override that could never take effect."""
    ana = staff.add("Ana Diaz", "(312) 555-0101", "support", [])
    ana.active = False
    db.session.commit()
    with pytest.raises(StaffError, match="'Ana Diaz' is inactive"):
        staff.set_duty("Ana Diaz", True, None, central(2026, 12, 1, 10, 0), policy)


@pytest.mark.parametrize(
    ("clock", "until"),
    [
        ("18:30", central(2026, 12, 1, 18, 30)),
        ("10:01", central(2026, 12, 1, 10, 1)),
        ("10:00", central(2026, 12, 2, 10, 0)),  # now is not "later today"
        ("09:00", central(2026, 12, 2, 9, 0)),
        ("0:15", central(2026, 12, 2, 0, 15)),
    ],
)
def test_until_from_clock_is_today_or_tomorrow(policy, clock, until):
    """Read HH:MM as the next time the support clock shows it."""
    assert staff.until_from_clock(clock, central(2026, 12, 1, 10, 0), policy) == until


def test_until_from_clock_across_spring_forward(policy):
    """Read 08:00 on Saturday night as Sunday 08:00 CDT, 13:00 UTC."""
    assert staff.until_from_clock("08:00", central(2026, 3, 7, 23, 0), policy) == utc(2026, 3, 8, 13, 0)


@pytest.mark.parametrize("clock", ["24:00", "9", "9pm", "12:60", ""])
def test_until_from_clock_refuses_what_is_not_a_time(policy, clock):
    """Refuse text that is not HH:MM."""
    with pytest.raises(StaffError, match="is not a time of day; use HH:MM"):
        staff.until_from_clock(clock, central(2026, 12, 1, 10, 0), policy)


# --- who is on duty --------------------------------------------------------------


def test_on_duty_with_nobody_on_shift_is_empty(ctx, policy):
    """Give nobody when no one's shift covers the moment."""
    staff.add("Ana Diaz", "(312) 555-0101", "support", ["Mon-Fri 05:00-13:00"])
    assert staff.on_duty("support", central(2026, 11, 28, 10, 0), policy) == []


def test_on_duty_picks_the_team_member_on_shift(ctx, policy):
    """Give only the active member of the team whose shift covers now."""
    staff.add("Ana Diaz", "(312) 555-0101", "support", ["Tue 05:00-13:00"])
    staff.add("Bo Chen", "(312) 555-0102", "support", ["Tue 13:00-22:00"])
    staff.add("Cy Eng", "(312) 555-0103", "engineering", ["Tue 05:00-13:00"])
    gone = staff.add("Di Old", "(312) 555-0104", "support", ["Tue 05:00-13:00"])
    gone.active = False
    db.session.commit()
    now = central(2026, 12, 1, 10, 0)
    assert [p.name for p in staff.on_duty("support", now, policy)] == ["Ana Diaz"]
    assert [p.name for p in staff.on_duty("engineering", now, policy)] == ["Cy Eng"]


def test_on_duty_rings_the_longest_idle_first(ctx, policy):
    """Order never-called people by name first, then by oldest last call."""
    now = central(2026, 12, 1, 10, 0)
    last_calls = {"Ana": now - timedelta(minutes=5), "Bo": None, "Cy": now - timedelta(hours=2), "Di": None, "Ed": now - timedelta(hours=1)}
    for i, (name, last) in enumerate(last_calls.items()):
        p = staff.add(name, f"(312) 555-010{i}", "engineering", ["Tue 05:00-13:00"])
        p.last_call_at = last
    staff.add("Fay", "(312) 555-0109", "engineering", [])
    staff.set_duty("Fay", True, None, now, policy)  # an override counts as on duty
    db.session.commit()
    assert [p.name for p in staff.on_duty("engineering", now, policy)] == ["Bo", "Di", "Fay", "Cy", "Ed", "Ana"]


def test_on_duty_for_an_unknown_team_is_an_error(ctx, policy):
    """Refuse a team no level routes to."""
    with pytest.raises(StaffError, match="team must be one of support, engineering"):
        staff.on_duty("sales", central(2026, 12, 1, 10, 0), policy)


# --- roster files ----------------------------------------------------------------

ROSTER = """\
staff:
  - name: Ana Diaz
    phone: (312) 555-0101
    team: support
    shifts: ["Mon-Fri 05:00-13:00"]
  - name: Bo Chen
    phone: "+1 312 555 0102"
    team: engineering
    shifts: ["Sat 22:00-06:00", "Sun 00:00-24:00"]
    active: true
"""


def write(tmp_path, text: str) -> Path:
    """Write a roster file."""
    path = tmp_path / "roster.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_import_creates_people(ctx, tmp_path):
    """Create every person in a new roster."""
    assert staff.import_roster(write(tmp_path, ROSTER)) == (2, 0)
    bo = staff.find("Bo Chen")
    assert (bo.phone, bo.team, bo.active, staff.format_shifts(bo.shifts)) == (
        "+13125550102",
        "engineering",
        True,
        "Sat 22:00-06:00; Sun 00:00-24:00",
    )
    assert count_shifts() == 7


def test_import_updates_by_name_and_leaves_others_alone(ctx, tmp_path):
    """Update matched names, create new ones and keep people the file does not list."""
    staff.add("Zoe Keep", "(312) 555-0109", "support", ["Sat 10:00-12:00"])
    staff.add("ana diaz", "(312) 555-0199", "engineering", ["Sun 10:00-12:00"])
    assert staff.import_roster(write(tmp_path, ROSTER)) == (1, 1)
    db.session.expire_all()
    ana = staff.find("Ana Diaz")
    assert (ana.name, ana.phone, ana.team, staff.format_shifts(ana.shifts)) == (
        "Ana Diaz",
        "+13125550101",
        "support",
        "Mon-Fri 05:00-13:00",
    )
    assert staff.format_shifts(staff.find("Zoe Keep").shifts) == "Sat 10:00-12:00"
    assert count_staff() == 3


def test_import_can_deactivate(ctx, tmp_path):
    """Set active: false from the file."""
    staff.import_roster(write(tmp_path, "staff:\n  - {name: Ana Diaz, phone: '3125550101', team: support, active: false}\n"))
    assert staff.find("Ana Diaz").active is False


def test_bad_roster_writes_nothing_and_names_every_bad_entry(ctx, tmp_path):
    """Refuse the whole file, listing each bad entry by index and name, and change nothing."""
    staff.add("Ana Diaz", "(312) 555-0199", "support", [])
    bad = ROSTER + (
        "  - {name: Cy Eng, phone: '555', team: engineering}\n"
        "  - {name: Di Ops, phone: '3125550104', team: ops, shifts: ['Mon 09:00-17:00']}\n"
        "  - {phone: '3125550105', team: support}\n"
        "  - {name: Ed Fox, phone: '3125550106', team: support, shift: ['Mon 09:00-17:00']}\n"
        "  - {name: ANA DIAZ, phone: '3125550107', team: support}\n"
        "  - {name: Fay Gee, phone: '3125550108', team: support, shifts: 'Mon 09:00-17:00'}\n"
        "  - {name: Gus Ho, phone: '3125550109', team: support, shifts: ['Mun 09:00-17:00'], active: yes please}\n"
        "  - just a name\n"
    )
    with pytest.raises(StaffError) as err:
        staff.import_roster(write(tmp_path, bad))
    lines = str(err.value).splitlines()
    assert lines[0].endswith("roster.yaml: nothing was imported:")
    assert lines[1:] == [
        "  entry 3 (Cy Eng): '555' is not a valid phone number; give it with its area code, e.g. (312) 555-0101 or +1 312 555 0101",
        "  entry 4 (Di Ops): team must be one of support, engineering, not 'ops'",
        "  entry 5: name is required",
        "  entry 6 (Ed Fox): unknown keys shift; use active, name, phone, shifts, team",
        "  entry 7 (ANA DIAZ): the name is already used by entry 1",
        "  entry 8 (Fay Gee): shifts must be a list of specs, not one string",
        "  entry 9 (Gus Ho): shift 'Mun 09:00-17:00': 'Mun' is not a day; use Mon, Tue, Wed, Thu, Fri, Sat, Sun",
        "  entry 10: must be a mapping with name, phone, team and shifts",
    ]
    db.session.expire_all()
    assert count_staff() == 1
    assert staff.find("Ana Diaz").phone == "+13125550199"
    assert staff.find("Bo Chen") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- name: Ana\n", "must be a mapping with a `staff:` list of people"),
        ("people: []\n", "must be a mapping with a `staff:` list of people"),
        ("staff: []\nextra: 1\n", "unknown top-level keys extra"),
        ("staff: {name: Ana}\n", "`staff` must be a list of people"),
        ("staff: [unclosed\n", "is not valid YAML"),
    ],
)
def test_roster_file_shape_errors(ctx, tmp_path, text, message):
    """Refuse a file that is not a roster, naming the file."""
    with pytest.raises(StaffError, match=message) as err:
        staff.import_roster(write(tmp_path, text))
    assert str(err.value).startswith(str(tmp_path / "roster.yaml"))


def test_empty_roster_imports_nobody(ctx, tmp_path):
    """Import an empty list as nothing to do."""
    assert staff.import_roster(write(tmp_path, "staff: []\n")) == (0, 0)


def test_missing_roster_file_is_an_error(ctx, tmp_path):
    """Say a missing file cannot be read."""
    with pytest.raises(StaffError, match="nope.yaml: cannot be read: No such file or directory"):
        staff.import_roster(tmp_path / "nope.yaml")


# --- describing ------------------------------------------------------------------


def test_describe_says_why_someone_is_or_is_not_on_duty(policy):
    """Mark on-duty people with * and give the reason and its end."""
    now = central(2026, 12, 1, 10, 0)
    on_shift = person("Mon-Fri 05:00-13:00")
    overnight = person("Tue 22:00-06:00", name="Bo Chen", duty_override=True, override_until=central(2026, 12, 1, 18, 0))
    off = person("Tue 05:00-13:00", name="Cy Eng", duty_override=False, override_until=central(2026, 12, 2, 0, 0))
    assert (
        staff.describe(on_shift, now, policy)
        == "* Ana Diaz (support, +13125550101): on duty: shift until 13:00; shifts Mon-Fri 05:00-13:00"
    )
    assert (
        staff.describe(overnight, now, policy) == "* Bo Chen (support, +13125550101): on duty: override until 18:00; shifts Tue 22:00-06:00"
    )
    assert (
        staff.describe(off, now, policy) == "  Cy Eng (support, +13125550101): off duty: override until Wed 00:00; shifts Tue 05:00-13:00"
    )
    assert staff.describe(person(), now, policy) == "  Ana Diaz (support, +13125550101): off duty; no shifts"
    assert staff.describe(person(active=False), now, policy) == "  Ana Diaz (support, +13125550101): inactive; no shifts"


# --- the `flask staff` commands ----------------------------------------------------


@pytest.fixture
def flask_staff(app):
    """Run `flask staff ...` against the app and give the result."""
    runner = app.test_cli_runner()

    def run(*args):
        return runner.invoke(args=["staff", *args])

    return run


def test_cli_add_then_list(app, flask_staff, at):
    """Add people and list them with the on-duty mark."""
    at("2026-12-01 10:00")
    result = flask_staff("add", "--name", "Ana Diaz", "--phone", "(312) 555-0101", "--team", "support", "--shift", "Mon-Fri 05:00-13:00")
    assert result.exit_code == 0, result.output
    assert result.output == "Added Ana Diaz (support, +13125550101); shifts Mon-Fri 05:00-13:00.\n"
    flask_staff(
        "add",
        "--name",
        "Bo Chen",
        "--phone",
        "312.555.0102",
        "--team",
        "engineering",
        "--shift",
        "Sat 22:00-06:00",
        "--shift",
        "Sun 00:00-24:00",
    )
    result = flask_staff("list")
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "* Ana Diaz (support, +13125550101): on duty: shift until 13:00; shifts Mon-Fri 05:00-13:00",
        "  Bo Chen (engineering, +13125550102): off duty; shifts Sat 22:00-06:00; Sun 00:00-24:00",
    ]
    assert flask_staff("list", "--team", "engineering").output.splitlines() == [
        "  Bo Chen (engineering, +13125550102): off duty; shifts Sat 22:00-06:00; Sun 00:00-24:00"
    ]


def test_cli_list_with_nobody(flask_staff):
    """Say how to add people when the roster is empty."""
    result = flask_staff("list")
    assert (result.exit_code, result.output) == (
        0,
        "Nobody on the roster yet; add people with `flask staff add` or `flask staff import`.\n",
    )


def test_cli_add_bad_phone_fails_cleanly(app, flask_staff):
    """Exit 1 with the message and no traceback, adding nobody."""
    result = flask_staff("add", "--name", "Ana Diaz", "--phone", "555", "--team", "support")
    assert result.exit_code == 1
    assert "Error: '555' is not a valid phone number" in result.output
    assert "Traceback" not in result.output
    with app.app_context():
        assert count_staff() == 0


def test_cli_add_unknown_team_is_a_usage_error(flask_staff):
    """Let click refuse a team outside the choices."""
    result = flask_staff("add", "--name", "Ana Diaz", "--phone", "(312) 555-0101", "--team", "sales")
    assert result.exit_code == 2
    assert "'sales' is not one of 'support', 'engineering'" in result.output


def test_cli_on_duty_until_and_its_expiry(flask_staff, at):
    """Put someone on duty until 11:00 and see it end by travelling there."""
    at("2026-12-01 10:00")
    flask_staff("add", "--name", "Ana Diaz", "--phone", "(312) 555-0101", "--team", "support")
    result = flask_staff("on-duty", "ana diaz", "--until", "11:00")
    assert (result.exit_code, result.output) == (0, "Ana Diaz is on duty until 11:00.\n")
    assert flask_staff("list").output == "* Ana Diaz (support, +13125550101): on duty: override until 11:00; no shifts\n"
    at("2026-12-01 11:00")
    assert flask_staff("list").output == "  Ana Diaz (support, +13125550101): off duty; no shifts\n"


def test_cli_off_duty_defaults_to_midnight_and_beats_the_shift(flask_staff, at):
    """Take someone off duty for the rest of the local day, then the shift returns."""
    at("2026-12-01 10:00")
    flask_staff("add", "--name", "Ana Diaz", "--phone", "(312) 555-0101", "--team", "support", "--shift", "Mon-Sun 05:00-13:00")
    result = flask_staff("off-duty", "Ana Diaz")
    assert (result.exit_code, result.output) == (0, "Ana Diaz is off duty until Wed 00:00.\n")
    assert flask_staff("list").output.startswith("  Ana Diaz (support, +13125550101): off duty: override until Wed 00:00;")
    at("2026-12-02 10:00")
    assert flask_staff("list").output.startswith("* Ana Diaz (support, +13125550101): on duty: shift until 13:00;")


def test_cli_on_duty_past_clock_means_tomorrow(flask_staff, at):
    """Read an --until already past today as tomorrow."""
    at("2026-12-01 10:00")
    flask_staff("add", "--name", "Ana Diaz", "--phone", "(312) 555-0101", "--team", "support")
    assert flask_staff("on-duty", "Ana Diaz", "--until", "09:30").output == "Ana Diaz is on duty until Wed 09:30.\n"


def test_cli_clear_duty(flask_staff, at):
    """Drop an override and show the shift state again."""
    at("2026-12-01 10:00")
    flask_staff("add", "--name", "Ana Diaz", "--phone", "(312) 555-0101", "--team", "support", "--shift", "Tue 05:00-13:00")
    flask_staff("off-duty", "Ana Diaz")
    result = flask_staff("clear-duty", "Ana Diaz")
    assert (result.exit_code, result.output) == (
        0,
        "* Ana Diaz (support, +13125550101): on duty: shift until 13:00; shifts Tue 05:00-13:00\n",
    )


@pytest.mark.parametrize("command", ["on-duty", "off-duty", "clear-duty", "remove"])
def test_cli_unknown_name_fails_cleanly(flask_staff, command):
    """Exit 1 naming the unknown person."""
    result = flask_staff(command, "Zed")
    assert result.exit_code == 1
    assert result.output == "Error: nobody called 'Zed' is on the roster; `flask staff list` shows who is\n"


def test_cli_bad_until_fails_cleanly(flask_staff):
    """Exit 1 when --until is not a time of day."""
    flask_staff("add", "--name", "Ana Diaz", "--phone", "(312) 555-0101", "--team", "support")
    result = flask_staff("off-duty", "Ana Diaz", "--until", "25:00")
    assert result.exit_code == 1
    assert result.output == "Error: '25:00' is not a time of day; use HH:MM on the support clock, e.g. 18:30\n"


def test_cli_shifts_replaces_and_refuses_nothing_given(flask_staff):
    """Replace shifts, clear them with --none, and refuse a call with neither."""
    flask_staff("add", "--name", "Ana Diaz", "--phone", "(312) 555-0101", "--team", "support", "--shift", "Mon 09:00-17:00")
    result = flask_staff("shifts", "Ana Diaz", "--shift", "Tue-Thu 10:00-18:00", "--shift", "Sat 22:00-06:00")
    assert (result.exit_code, result.output) == (0, "Ana Diaz: shifts Tue-Thu 10:00-18:00; Sat 22:00-06:00.\n")
    assert flask_staff("shifts", "Ana Diaz", "--none").output == "Ana Diaz: no shifts.\n"
    result = flask_staff("shifts", "Ana Diaz")
    assert result.exit_code == 2
    assert "give the new shifts with --shift (repeatable), or --none to remove them all" in result.output
    result = flask_staff("shifts", "Ana Diaz", "--shift", "Mon 9-5")
    assert (result.exit_code, result.output) == (1, "Error: shift 'Mon 9-5': '9' is not a time of day; use HH:MM from 00:00 to 23:59\n")


def test_cli_remove_deletes_or_deactivates(app, flask_staff):
    """Delete someone unused; deactivate someone a call names, and say so."""
    flask_staff("add", "--name", "Ana Diaz", "--phone", "(312) 555-0101", "--team", "support")
    flask_staff("add", "--name", "Bo Chen", "--phone", "(312) 555-0102", "--team", "engineering")
    with app.app_context():
        db.session.add(Call(call_sid="CA" + "2" * 32, agent_id=staff.find("Bo Chen").id))
        db.session.commit()
    assert flask_staff("remove", "ana diaz").output == "Removed Ana Diaz.\n"
    result = flask_staff("remove", "Bo Chen")
    assert (result.exit_code, result.output) == (
        0,
        "Deactivated Bo Chen: calls or tickets name them, so they stay in the log but are never rung.\n",
    )
    assert flask_staff("list").output == "  Bo Chen (engineering, +13125550102): inactive; no shifts\n"


def test_cli_import_good_and_bad(flask_staff, tmp_path):
    """Import a roster, then refuse a bad one with exit 1 and every problem listed."""
    good = write(tmp_path, ROSTER)
    result = flask_staff("import", str(good))
    assert (result.exit_code, result.output) == (0, f"Imported {good}: 2 added, 0 updated.\n")
    assert flask_staff("import", str(good)).output == f"Imported {good}: 0 added, 2 updated.\n"
    bad = tmp_path / "bad.yaml"
    bad.write_text("staff:\n  - {name: Cy Eng, phone: '555', team: engineering}\n", encoding="utf-8")
    result = flask_staff("import", str(bad))
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"Error: {bad}: nothing was imported:",
        "  entry 1 (Cy Eng): '555' is not a valid phone number; give it with its area code, e.g. (312) 555-0101 or +1 312 555 0101",
    ]
    result = flask_staff("import", str(tmp_path / "missing.yaml"))
    assert result.exit_code == 1
    assert "missing.yaml: cannot be read" in result.output


@pytest.mark.parametrize(
    ("command", "text"),
    [
        ((), "Manage the people who take calls"),
        (("add",), "--shift TEXT"),
        (("list",), "marks who is on duty now"),
        (("on-duty",), "--until HH:MM"),
        (("off-duty",), "Take NAME off duty now"),
        (("clear-duty",), "so their shifts decide again"),
        (("shifts",), "--none"),
        (("remove",), "deactivated instead of deleted"),
        (("import",), "all or nothing"),
    ],
)
def test_cli_help(flask_staff, command, text):
    """Give help for the group and every command."""
    result = flask_staff(*command, "--help")
    assert result.exit_code == 0
    assert text in " ".join(result.output.split())
