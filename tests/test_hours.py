"""Support hours, response goals and spoken times, on the real policy with explicit instants."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ivr import flows, hours
from ivr.flows import Closure

CENTRAL = ZoneInfo("America/Chicago")
CST = timedelta(hours=-6)
CDT = timedelta(hours=-5)


def central(year, month, day, hour=0, minute=0, second=0) -> datetime:
    """Give a wall-clock moment in Central time."""
    return datetime(year, month, day, hour, minute, second, tzinfo=CENTRAL)


def local(moment: datetime) -> datetime:
    """Show an instant on the Central wall clock."""
    return moment.astimezone(CENTRAL)


@pytest.fixture(scope="module")
def flow():
    """Give the real flows folder."""
    return flows.load("flows")


@pytest.fixture(scope="module")
def policy(flow):
    """Give the real support policy."""
    return flow.policy


@pytest.fixture(scope="module")
def levels(flow):
    """Give the real support levels by id."""
    return flow.levels


# -- is_open: the edges of a working day ---------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (central(2026, 3, 4, 4, 59, 59), False),
        (central(2026, 3, 4, 5, 0), True),
        (central(2026, 3, 4, 12, 0), True),
        (central(2026, 3, 4, 21, 59, 59), True),
        (central(2026, 3, 4, 22, 0), False),
        (central(2026, 3, 4, 23, 30), False),
        (central(2026, 3, 5, 0, 0), False),
    ],
    ids=["04:59:59", "05:00", "noon", "21:59:59", "22:00", "23:30", "midnight"],
)
def test_weekday_is_open_from_five_up_to_ten(policy, moment, expected):
    """Open on a Wednesday from 05:00 up to, not including, 22:00."""
    assert hours.is_open(policy, moment) is expected


@pytest.mark.parametrize(
    "moment",
    [central(2026, 3, 7, 5, 0), central(2026, 3, 7, 12, 0), central(2026, 3, 8, 12, 0), central(2026, 3, 1, 21, 59)],
    ids=["saturday-05:00", "saturday-noon", "sunday-noon", "sunday-21:59"],
)
def test_weekend_is_closed(policy, moment):
    """Stay closed on Saturday and Sunday during the weekday hours."""
    assert hours.is_open(policy, moment) is False


def test_is_open_accepts_any_zone(policy):
    """Judge an instant given in UTC the same as on the Central clock."""
    assert hours.is_open(policy, datetime(2026, 3, 4, 10, 59, 59, tzinfo=UTC)) is False  # 04:59:59 CST
    assert hours.is_open(policy, datetime(2026, 3, 4, 11, 0, tzinfo=UTC)) is True  # 05:00 CST


# -- daylight saving -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sunday", "monday", "offset_before", "offset_after"),
    [
        (central(2026, 3, 8), central(2026, 3, 9), CST, CDT),
        (central(2026, 11, 1), central(2026, 11, 2), CDT, CST),
    ],
    ids=["spring-forward", "fall-back"],
)
def test_dst_sunday_closed_and_monday_opens_at_five_local(policy, sunday, monday, offset_before, offset_after):
    """Stay closed on the DST Sunday and open at 05:00 local on the Monday after, at the new offset."""
    for hour in (1, 2, 3, 5, 12, 21):  # 02:00 is skipped or repeated on these nights: it must not crash
        assert hours.is_open(policy, sunday + timedelta(hours=hour)) is False
    assert hours.is_open(policy, monday.replace(hour=4, minute=59, second=59)) is False
    assert hours.is_open(policy, monday.replace(hour=5)) is True

    opens = hours.next_open(policy, sunday.replace(hour=12))
    assert local(opens) == monday.replace(hour=5)
    assert (local(opens).hour, local(opens).minute) == (5, 0)
    assert local(opens).utcoffset() == offset_after
    friday_opening = (monday - timedelta(days=3)).replace(hour=5)
    assert friday_opening.utcoffset() == offset_before
    assert opens - friday_opening == timedelta(days=3) - (offset_after - offset_before)


def test_spring_forward_monday_opens_at_ten_utc_not_eleven(policy):
    """Open at 10:00 UTC on 9 March 2026, an hour earlier in UTC than the Monday before."""
    assert hours.next_open(policy, central(2026, 3, 6, 22, 0)) == datetime(2026, 3, 9, 10, 0, tzinfo=UTC)
    assert hours.next_open(policy, central(2026, 2, 27, 22, 0)) == datetime(2026, 3, 2, 11, 0, tzinfo=UTC)


def test_fall_back_monday_opens_at_eleven_utc(policy):
    """Open at 11:00 UTC on 2 November 2026, an hour later in UTC than the Monday before."""
    assert hours.next_open(policy, central(2026, 10, 30, 22, 0)) == datetime(2026, 11, 2, 11, 0, tzinfo=UTC)
    assert hours.next_open(policy, central(2026, 10, 23, 22, 0)) == datetime(2026, 10, 26, 10, 0, tzinfo=UTC)


# -- holidays ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "day",
    [central(2026, 1, 1), central(2026, 12, 25)],
    ids=["new-year-thursday", "christmas-friday"],
)
def test_holiday_closed_all_day(policy, day):
    """Stay closed through every hour of New Year's Day and Christmas, though both fall on weekdays."""
    assert day.weekday() < 5
    for minute in range(0, 24 * 60, 15):
        assert hours.is_open(policy, day + timedelta(minutes=minute)) is False


def test_day_after_new_year_opens_at_five(policy):
    """Open again on Friday 2 January 2026 at 05:00."""
    assert hours.next_open(policy, central(2026, 1, 1, 10, 0)) == central(2026, 1, 2, 5, 0)
    assert hours.is_open(policy, central(2026, 1, 2, 5, 0)) is True


# -- next_open -----------------------------------------------------------------------------------


def test_next_open_from_friday_closing_is_monday_five(policy):
    """Open next on Monday at 05:00 when asked at Friday 22:00."""
    assert local(hours.next_open(policy, central(2026, 3, 13, 22, 0))) == central(2026, 3, 16, 5, 0)


def test_next_open_from_christmas_eve_closing_skips_christmas_and_weekend(policy):
    """Open next on Monday 28 December 05:00 when asked at Thursday 24 December 2026 22:00."""
    assert local(hours.next_open(policy, central(2026, 12, 24, 22, 0))) == central(2026, 12, 28, 5, 0)


def test_next_open_while_open_is_now(policy):
    """Give the very instant asked about when support is open."""
    now = central(2026, 3, 4, 14, 7, 30)
    assert hours.next_open(policy, now) == now


def test_next_open_before_opening_is_same_day(policy):
    """Open next at 05:00 the same day when asked at 04:59:59."""
    assert hours.next_open(policy, central(2026, 3, 4, 4, 59, 59)) == central(2026, 3, 4, 5, 0)


# -- due_at on the support-hours clock -----------------------------------------------------------


def test_technical_opened_friday_21_is_due_monday_08(policy, levels):
    """Count the Friday's last hour and three Monday hours for a 4-hour Technical goal."""
    assert levels["technical"].goal_hours == 4
    assert local(hours.due_at(policy, levels["technical"], central(2026, 3, 13, 21, 0))) == central(2026, 3, 16, 8, 0)


def test_critical_opened_wednesday_21_is_due_thursday_06(policy, levels):
    """Count one Wednesday hour and one Thursday hour for a 2-hour Critical goal."""
    assert levels["critical"].goal_hours == 2
    assert local(hours.due_at(policy, levels["critical"], central(2026, 3, 11, 21, 0))) == central(2026, 3, 12, 6, 0)


def test_basic_goal_spans_more_than_one_day(policy, levels):
    """Spread a 24-hour Basic goal over two 17-hour days: Monday 05:00 is due Tuesday 12:00."""
    assert levels["basic"].goal_hours == 24
    assert local(hours.due_at(policy, levels["basic"], central(2026, 3, 16, 5, 0))) == central(2026, 3, 17, 12, 0)


def test_basic_opened_thursday_evening_runs_over_the_weekend(policy, levels):
    """Carry a Basic goal from Thursday 20:00 across Friday and the weekend to Monday 10:00."""
    # Thursday 2 h, Friday 17 h, Monday 5 h.
    assert local(hours.due_at(policy, levels["basic"], central(2026, 3, 12, 20, 0))) == central(2026, 3, 16, 10, 0)


def test_goal_opened_on_saturday_starts_counting_monday_five(policy, levels):
    """Start the clock at Monday 05:00 for a ticket opened on Saturday."""
    opened = central(2026, 3, 14, 11, 30)
    assert local(hours.due_at(policy, levels["critical"], opened)) == central(2026, 3, 16, 7, 0)
    assert local(hours.due_at(policy, levels["technical"], opened)) == central(2026, 3, 16, 9, 0)


def test_goal_opened_at_closing_time_starts_next_morning(policy, levels):
    """Start the clock at 05:00 the next day for a ticket opened at 22:00 exactly."""
    assert local(hours.due_at(policy, levels["critical"], central(2026, 3, 11, 22, 0))) == central(2026, 3, 12, 7, 0)


def test_goal_that_ends_at_closing_time_is_due_at_closing_time(policy, levels):
    """Fall due at 22:00 when the goal uses the day's last open minute."""
    assert local(hours.due_at(policy, levels["critical"], central(2026, 3, 11, 20, 0))) == central(2026, 3, 11, 22, 0)


def test_goal_skips_christmas(policy, levels):
    """Pause a Technical goal over Christmas Day and the weekend after it."""
    # Thursday 24 December 2026 21:00: one hour, then Monday 28 December 05:00 + 3 h.
    assert local(hours.due_at(policy, levels["technical"], central(2026, 12, 24, 21, 0))) == central(2026, 12, 28, 8, 0)


def test_goal_across_spring_forward_keeps_wall_clock(policy, levels):
    """Fall due at Monday 08:00 CDT for a Technical ticket opened Friday 6 March 2026 21:00 CST."""
    due = local(hours.due_at(policy, levels["technical"], central(2026, 3, 6, 21, 0)))
    assert due == central(2026, 3, 9, 8, 0)
    assert due.utcoffset() == CDT
    assert due.astimezone(UTC) == datetime(2026, 3, 9, 13, 0, tzinfo=UTC)


def test_goal_across_fall_back_keeps_wall_clock(policy, levels):
    """Fall due at Monday 08:00 CST for a Technical ticket opened Friday 30 October 2026 21:00 CDT."""
    due = local(hours.due_at(policy, levels["technical"], central(2026, 10, 30, 21, 0)))
    assert due == central(2026, 11, 2, 8, 0)
    assert due.utcoffset() == CST
    assert due.astimezone(UTC) == datetime(2026, 11, 2, 14, 0, tzinfo=UTC)


def test_basic_goal_across_spring_forward_counts_seventeen_hour_days(policy, levels):
    """Count Monday 9 March 2026 as a full 17-hour day despite the clock change the day before."""
    # Friday 20:00 CST: Friday 2 h, Monday 17 h, Tuesday 5 h.
    assert local(hours.due_at(policy, levels["basic"], central(2026, 3, 6, 20, 0))) == central(2026, 3, 10, 10, 0)


# -- due_at on the calendar clock ----------------------------------------------------------------


def test_calendar_clock_is_opened_plus_goal(policy, levels):
    """Run a calendar-clock goal around the clock: Friday 21:00 plus 4 hours is Saturday 01:00."""
    technical = dataclasses.replace(levels["technical"], clock="calendar")
    assert local(hours.due_at(policy, technical, central(2026, 3, 13, 21, 0))) == central(2026, 3, 14, 1, 0)


def test_calendar_clock_counts_real_hours_across_dst(policy, levels):
    """Add 24 elapsed hours, not 24 wall-clock hours, across the spring-forward night."""
    basic = dataclasses.replace(levels["basic"], clock="calendar")
    opened = central(2026, 3, 7, 20, 0)
    due = hours.due_at(policy, basic, opened)
    assert due - opened == timedelta(hours=24)
    assert local(due) == central(2026, 3, 8, 21, 0)


def test_calendar_clock_ignores_holidays(policy, levels):
    """Let a calendar-clock Critical goal fall due on Christmas Day."""
    critical = dataclasses.replace(levels["critical"], clock="calendar")
    assert local(hours.due_at(policy, critical, central(2026, 12, 25, 9, 0))) == central(2026, 12, 25, 11, 0)


# -- configured closures -------------------------------------------------------------------------

OUTAGE = "We are upgrading our systems until noon; please leave a message."


@pytest.fixture
def closed_tuesday_morning(policy):
    """Give the policy with a closure on Tuesday 17 March 2026 from 09:00 to 12:00."""
    closure = Closure(central(2026, 3, 17, 9, 0), central(2026, 3, 17, 12, 0), OUTAGE)
    return dataclasses.replace(policy, closures=(closure,))


def test_closure_closes_support(closed_tuesday_morning):
    """Close support from the closure's start up to its end."""
    assert hours.is_open(closed_tuesday_morning, central(2026, 3, 17, 8, 59, 59)) is True
    assert hours.is_open(closed_tuesday_morning, central(2026, 3, 17, 9, 0)) is False
    assert hours.is_open(closed_tuesday_morning, central(2026, 3, 17, 11, 59, 59)) is False
    assert hours.is_open(closed_tuesday_morning, central(2026, 3, 17, 12, 0)) is True


def test_closure_moves_next_open_to_its_end(closed_tuesday_morning):
    """Open next at the closure's end when asked during it."""
    assert hours.next_open(closed_tuesday_morning, central(2026, 3, 17, 10, 0)) == central(2026, 3, 17, 12, 0)


def test_closure_pauses_the_goal_clock(closed_tuesday_morning, levels):
    """Count one hour before the closure and three after it for a Technical ticket opened at 08:00."""
    due = hours.due_at(closed_tuesday_morning, levels["technical"], central(2026, 3, 17, 8, 0))
    assert local(due) == central(2026, 3, 17, 15, 0)


def test_closure_does_not_pause_a_calendar_clock(closed_tuesday_morning, levels):
    """Run a calendar-clock goal straight through a closure."""
    technical = dataclasses.replace(levels["technical"], clock="calendar")
    due = hours.due_at(closed_tuesday_morning, technical, central(2026, 3, 17, 8, 0))
    assert local(due) == central(2026, 3, 17, 12, 0)


def test_active_closures_gives_the_message_while_in_force(closed_tuesday_morning):
    """List the closure's message from its start up to, not including, its end."""
    assert hours.active_closures(closed_tuesday_morning, central(2026, 3, 17, 8, 59, 59)) == []
    assert hours.active_closures(closed_tuesday_morning, central(2026, 3, 17, 9, 0)) == [OUTAGE]
    assert hours.active_closures(closed_tuesday_morning, datetime(2026, 3, 17, 16, 30, tzinfo=UTC)) == [OUTAGE]
    assert hours.active_closures(closed_tuesday_morning, central(2026, 3, 17, 12, 0)) == []


def test_real_policy_has_no_active_closures(policy):
    """List nothing for the shipped policy, which configures no closures."""
    assert hours.active_closures(policy, central(2026, 3, 17, 10, 0)) == []


def test_closure_over_new_year_keeps_support_closed(policy):
    """Keep support closed from New Year's Eve 18:00 until Monday 4 January 2027 05:00."""
    closure = Closure(central(2026, 12, 31, 18, 0), central(2027, 1, 2, 5, 0), "Happy new year.")
    closed = dataclasses.replace(policy, closures=(closure,))
    assert hours.is_open(closed, central(2026, 12, 31, 17, 59)) is True
    assert hours.is_open(closed, central(2026, 12, 31, 18, 0)) is False
    assert hours.next_open(closed, central(2026, 12, 31, 18, 0)) == central(2027, 1, 4, 5, 0)


# -- spoken_time ---------------------------------------------------------------------------------


def test_spoken_time_today(policy):
    """Say a time later today with its minutes: "3:15 PM Central today"."""
    assert hours.spoken_time(policy, central(2026, 3, 4, 15, 15), central(2026, 3, 4, 11, 15)) == "3:15 PM Central today"


def test_spoken_time_on_the_hour_drops_the_minutes(policy):
    """Say a whole hour without ":00": "8 AM Central on Monday" from a Friday."""
    assert hours.spoken_time(policy, central(2026, 3, 16, 8, 0), central(2026, 3, 13, 21, 0)) == "8 AM Central on Monday"


def test_spoken_time_tomorrow(policy):
    """Say "tomorrow" for the next local day: "6 AM Central tomorrow"."""
    assert hours.spoken_time(policy, central(2026, 3, 12, 6, 0), central(2026, 3, 11, 21, 0)) == "6 AM Central tomorrow"


def test_spoken_time_uses_local_dates_not_utc_dates(policy):
    """Say "tomorrow" at 23:30 Central, though it is already the next day in UTC."""
    now = central(2026, 3, 11, 23, 30).astimezone(UTC)
    moment = central(2026, 3, 12, 6, 0).astimezone(UTC)
    assert now.date() == moment.date()
    assert hours.spoken_time(policy, moment, now) == "6 AM Central tomorrow"


def test_spoken_time_noon(policy):
    """Say noon as "12 PM"."""
    assert hours.spoken_time(policy, central(2026, 3, 4, 12, 0), central(2026, 3, 4, 9, 0)) == "12 PM Central today"


def test_spoken_time_a_week_or_more_away_names_the_date(policy):
    """Say the weekday and date for a moment a week or more away."""
    said = hours.spoken_time(policy, central(2026, 3, 23, 9, 30), central(2026, 3, 13, 21, 0))
    assert said == "9:30 AM Central on Monday, March 23"


def test_spoken_due_time_for_friday_technical_ticket(policy, levels):
    """Tell a Friday 21:00 Technical caller they will hear back by "8 AM Central on Monday"."""
    opened = central(2026, 3, 13, 21, 0)
    due = hours.due_at(policy, levels["technical"], opened)
    assert hours.spoken_time(policy, due, opened) == "8 AM Central on Monday"
