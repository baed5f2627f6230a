"""The overview: today and the last 7 days by level, rates, waits, goals met, and what needs attention."""

from __future__ import annotations

import re

import pytest

from ivr import calllog
from ivr.models import utcnow


def cell(html: str, table: str, level: str, col: str) -> str:
    """Read one cell of an overview table."""
    body = html.split(f'data-testid="{table}"')[1].split("</table>")[0]
    row = body.split(f'data-level="{level}"')[1].split("</tr>")[0]
    return re.sub(r"\s+", " ", row.split(f'data-col="{col}">')[1].split("</td>")[0]).strip()


@pytest.fixture
def week(team, real_caller, caller, at):
    """Calls on Monday 30 Nov and Tuesday 1 Dec 2026; the overview is read Tuesday 12:00."""
    at("2026-11-30 10:00")
    real_caller("+13125550101").dial().press("1").silence().agent_answers().hang_up()  # answered, Basic
    at("2026-12-01 09:00:00")
    first = real_caller("+13125550102").dial().press("2").silence()
    at("2026-12-01 09:00:30")
    first.agent_answers()  # 30 s of ringing
    first.hang_up()
    at("2026-12-01 10:00:00")
    second = real_caller("+13125550103").dial().press("2").silence()
    at("2026-12-01 10:00:10")
    second.agent_answers()  # 10 s
    second.hang_up()
    at("2026-12-01 11:00")
    real_caller("+13125550104").dial().hang_up()  # abandoned in the menu
    at("2026-12-01 11:10")
    vm = real_caller("+13125550105").dial().press("3").silence()
    while vm.ringing_agent:
        vm.agent_does_not_answer()
    vm.leave_message("Everything is down.")  # Critical, due 13:10
    vm.hang_up()
    at("2026-12-01 11:20")
    caller("+13125550106", mark_test=True).dial().press("1").hang_up()  # a test call
    at("2026-12-01 12:00")


def test_today_counts_rates_and_waits_by_level(week, logged_in_client):
    """Today: calls per level, answered and abandoned shares, average ringing time of answered calls."""
    html = logged_in_client.get("/console/").get_data(as_text=True)
    assert cell(html, "stats-today", "all", "calls") == "4"
    assert cell(html, "stats-today", "technical", "calls") == "2"
    assert cell(html, "stats-today", "critical", "calls") == "1"
    assert cell(html, "stats-today", "none", "calls") == "1"
    assert cell(html, "stats-today", "all", "answer-rate") == "50%"
    assert cell(html, "stats-today", "all", "abandon-rate") == "25%"
    assert cell(html, "stats-today", "technical", "wait") == "20 s"
    assert cell(html, "stats-today", "all", "voicemail") == "1"
    assert cell(html, "stats-today", "technical", "goal").startswith("100%")
    assert cell(html, "stats-today", "critical", "goal") == "\u2014"  # open, not yet due: undecided


def test_week_includes_yesterday_and_the_chart_has_a_bar_per_day(week, logged_in_client):
    """The last 7 days add Monday's call; the chart draws each day's calls by level."""
    html = logged_in_client.get("/console/").get_data(as_text=True)
    assert cell(html, "stats-week", "all", "calls") == "5"
    assert cell(html, "stats-week", "basic", "calls") == "1"
    chart = html.split('data-testid="calls-chart"')[1].split("</svg>")[0]
    assert 'data-day="2026-11-30" data-level="basic" data-count="1"' in chart
    assert 'data-day="2026-12-01" data-level="technical" data-count="2"' in chart
    assert "Wed 25" in chart and "Tue 01" in chart  # seven days, ending today


def test_attention_tiles_count_at_risk_overdue_and_waiting_voicemails(week, logged_in_client, at):
    """What needs doing now: the Critical voicemail is waiting, then at risk, then overdue."""
    html = logged_in_client.get("/console/").get_data(as_text=True)
    assert re.search(r"<strong>1</strong> voicemail waiting", html)
    assert re.search(r"<strong>0</strong> tickets at risk", html)
    at("2026-12-01 12:30")
    assert re.search(r"<strong>1</strong> ticket at risk", logged_in_client.get("/console/").get_data(as_text=True))
    at("2026-12-01 13:30")
    html = logged_in_client.get("/console/").get_data(as_text=True)
    assert re.search(r"<strong>1</strong> past due with no response", html)
    assert cell(html, "stats-today", "critical", "goal").startswith("0%")


def test_test_calls_are_left_out_unless_asked_for(week, logged_in_client):
    """The simulated call counts only with "show test calls"."""
    assert cell(logged_in_client.get("/console/?tests=1").get_data(as_text=True), "stats-today", "all", "calls") == "5"


def test_overview_of_an_empty_log(app, logged_in_client):
    """No calls: dashes, not division by zero."""
    html = logged_in_client.get("/console/").get_data(as_text=True)
    assert cell(html, "stats-today", "all", "answer-rate") == "\u2014"
    assert 'data-testid="calls-chart"' in html
    with app.app_context():
        data = calllog.overview(app.extensions["ivr.flow"], utcnow())
        assert data.peak == 1 and data.week["all"].average_wait is None
