"""SLA states and the query layer's small parts, without pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ivr import calllog
from ivr.console.views import _csv_cell
from ivr.models import Ticket
from tests.conftest import CENTRAL


def central(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CENTRAL)


@pytest.fixture
def flow(app):
    return app.extensions["ivr.flow"]


def test_risk_window_is_a_quarter_of_the_goal_or_an_hour(flow):
    """Basic (24 h) turns at risk 6 hours before due; Technical and Critical one hour before."""
    assert calllog.risk_window(flow.levels["basic"]) == timedelta(hours=6)
    assert calllog.risk_window(flow.levels["technical"]) == timedelta(hours=1)
    assert calllog.risk_window(flow.levels["critical"]) == timedelta(hours=1)
    assert calllog.risk_window(None) == timedelta(hours=1)


@pytest.mark.parametrize(
    ("first_response", "now", "state"),
    [
        (None, "2026-12-07 06:59:59", "on_track"),  # due Monday 08:00; the weekend is not "at risk"
        (None, "2026-12-07 07:00:00", "at_risk"),
        (None, "2026-12-07 07:59:59", "at_risk"),
        (None, "2026-12-07 08:00:00", "breached"),
        ("2026-12-07 08:00:00", "2026-12-09 00:00", "met"),  # on the dot counts
        ("2026-12-07 08:00:01", "2026-12-09 00:00", "breached"),
    ],
)
def test_sla_state_of_a_technical_ticket_opened_friday_night(flow, first_response, now, state):
    """A Technical ticket opened Friday 21:00 is due Monday 08:00 on the support-hours clock."""
    ticket = Ticket(
        level="technical",
        opened_at=central("2026-12-04 21:00"),
        due_at=central("2026-12-07 08:00"),
        first_response_at=central(first_response) if first_response else None,
    )
    assert calllog.sla_state(ticket, flow, central(now)) == state


def test_cursor_round_trip_keeps_microseconds(app):
    """A page position survives its trip through a URL to the microsecond."""
    moment = datetime(2026, 12, 1, 16, 0, 0, 123456, tzinfo=UTC)
    cursor = calllog.Cursor(moment, 42)
    back = calllog.Cursor.parse(str(cursor), "after")
    assert back == cursor
    with pytest.raises(calllog.FilterError):
        calllog.Cursor.parse("12.5_x", "after")


def test_filters_read_back_as_the_same_query(flow):
    """A filter turned back into query parameters reads as the same filter (page links, CSV link)."""
    args = {
        "from": "2026-12-01",
        "to": "2026-12-02",
        "level": "critical",
        "outcome": "voicemail",
        "agent": "3",
        "sla": "at_risk",
        "q": "312",
        "tests": "1",
    }
    f = calllog.parse_call_filter(args, flow)
    assert f.args() == args
    assert calllog.parse_call_filter(f.args(), flow) == f
    with pytest.raises(calllog.FilterError, match="ends before it starts"):
        calllog.parse_call_filter({"from": "2026-12-02", "to": "2026-12-01"}, flow)
    with pytest.raises(calllog.FilterError, match="at most 100"):
        calllog.parse_call_filter({"q": "9" * 101}, flow)


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=SUM(A1)", "'=SUM(A1)"),
        ("@cmd", "'@cmd"),
        ("-2+3", "'-2+3"),
        ("+13125550199", "+13125550199"),
        ("plain text", "plain text"),
        (None, ""),
        (42, "42"),
    ],
)
def test_csv_cells_defuse_formulas_but_keep_phone_numbers(value, written):
    """Spreadsheet formulas are neutralised; E.164 numbers stay as they are."""
    assert _csv_cell(value) == written


@pytest.mark.parametrize(
    "args",
    [
        {"from": "9999-12-31"},
        {"to": "0001-01-01"},
        {"agent": "99999999999999999999"},
        {"agent": "²"},
        {"agent": "9" * 5000},
        {"limit": "9" * 5000},
    ],
)
def test_filters_refuse_values_the_database_cannot_take(flow, args):
    """Out-of-range ids and dates are filter errors (422/400), not database overflows (500)."""
    with pytest.raises(calllog.FilterError):
        calllog.parse_call_filter(args, flow)
        calllog.page_size(args)


@pytest.mark.parametrize(
    "path", ["/console/tickets/99999999999999999999", "/console/roster/99999999999999999999/duty", "/console/closures/99999999999/end"]
)
def test_huge_ids_in_urls_are_not_found(logged_in_client, path):
    """A number past the id columns' range is simply not found."""
    resp = logged_in_client.post(path, {"action": "resolved", "duty": "on"}) if "tickets" not in path else logged_in_client.get(path)
    assert resp.status_code in (303, 404)
