"""Tickets in the console: the list, one ticket, and the actions kept in its history."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from ivr import staff
from ivr.models import Ticket, TicketChange, db, utcnow
from tests.console_fixtures import SUPERVISOR


def numbers(html: str) -> list[int]:
    """List the ticket numbers of the rows on a tickets page."""
    return [int(n) for n in re.findall(r'data-testid="ticket-row" data-ticket="(\d+)"', html)]


def page(browser, path: str) -> str:
    resp = browser.get(path)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_data(as_text=True)


def ticket(app, number: int) -> Ticket:
    with app.app_context():
        t = db.session.get(Ticket, number - 1000)
        db.session.expunge(t)
        return t


def history(app, number: int) -> list[tuple[str, str, str, str | None]]:
    with app.app_context():
        rows = db.session.execute(select(TicketChange).where(TicketChange.ticket_id == number - 1000).order_by(TicketChange.id)).scalars()
        return [(c.actor, c.action, c.detail, c.note) for c in rows]


@pytest.fixture
def tickets(team, real_caller, caller, at):
    """Open four tickets on Tuesday 1 December: Ben takes 1001; 1002 and 1003 go to voicemail; 1004 is a test call."""
    at("2026-12-01 09:00")
    real_caller("+13125550111").dial().press("2").silence().agent_answers().hang_up()  # 1001, Ben (Technical)
    at("2026-12-01 10:00")
    vm = real_caller("+13125550122").dial().press("3").silence()  # 1002, Critical, due 12:00
    while vm.ringing_agent:
        vm.agent_does_not_answer()
    vm.leave_message("The system is down.")
    vm.hang_up()
    at("2026-12-01 11:00")
    basic = real_caller("+13125550133").dial().press("1").silence()  # 1003, Basic
    basic.agent_does_not_answer().leave_message("How do I add a floor?")
    basic.hang_up()
    at("2026-12-01 11:30")
    caller("+13125550144", mark_test=True).dial().press("1").hang_up()  # 1004, a test call
    return [1001, 1002, 1003]


def test_tickets_list_newest_first_with_state_sla_and_assignee(tickets, logged_in_client):
    """The list shows number, level, caller, times, state, SLA and assignee; test tickets hidden."""
    html = page(logged_in_client, "/console/tickets")
    assert numbers(html) == [1003, 1002, 1001]
    row = html.split('data-ticket="1001"')[1].split("</tr>")[0]
    assert "Technical Support" in row and "+13125550111" in row and "2026-12-01 09:00 CST" in row
    assert 'data-state="responded"' in row and 'data-sla="met"' in row and "Ben" in row
    assert numbers(page(logged_in_client, "/console/tickets?tests=1"))[0] == 1004


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("state=open", [1003, 1002]),
        ("state=responded", [1001]),
        ("level=critical", [1002]),
        ("sla=at_risk", [1002]),  # Critical, due 12:00, at 11:30
        ("sla=on_track", [1003]),
        ("sla=met", [1001]),
        ("assignee=none", [1003, 1002]),
        ("voicemail=1", [1003, 1002]),
        ("voicemail=1&state=open&order=due", [1002, 1003]),
        ("q=1002", [1002]),
        ("q=555-0133", [1003]),
        ("from=2026-12-02", []),
    ],
)
def test_ticket_filters(tickets, logged_in_client, query, expected):
    """Each ticket filter narrows the list."""
    assert numbers(page(logged_in_client, f"/console/tickets?{query}")) == expected


def test_voicemails_waiting_link_lists_open_tickets_with_a_voicemail(tickets, logged_in_client):
    """The nav's "Voicemails waiting" answers: which voicemails still wait for us."""
    html = page(logged_in_client, "/console/")
    link = re.search(r'href="([^"]+)" data-testid="nav-voicemails"', html).group(1).replace("&amp;", "&")
    listing = page(logged_in_client, link)
    assert numbers(listing) == [1003, 1002]
    assert "The system is down." in listing


def act(browser, number: int, **form):
    """Post an action on a ticket's page."""
    browser.get(f"/console/tickets/{number}")
    return browser.post(f"/console/tickets/{number}", form)


def test_supervisor_marks_responded_then_resolves_with_a_note_each_kept(tickets, app, logged_in_client, at):
    """Each action changes the ticket and leaves who and when in its history."""
    at("2026-12-01 11:40")
    resp = act(logged_in_client, 1002, action="responded", note="Called back; engineer on it.")
    assert resp.status_code == 303
    t = ticket(app, 1002)
    assert t.state == "responded" and t.first_response_at is not None
    at("2026-12-01 12:30")
    act(logged_in_client, 1002, action="resolved")
    assert ticket(app, 1002).state == "resolved"
    assert history(app, 1002) == [
        (SUPERVISOR, "responded", "open \u2192 responded", None),
        (SUPERVISOR, "note", "", "Called back; engineer on it."),
        (SUPERVISOR, "resolved", "responded \u2192 resolved", None),
    ]
    html = page(logged_in_client, "/console/tickets/1002")
    assert html.count('data-testid="history-entry"') == 3
    assert "2026-12-01 11:40 CST" in html and "Called back; engineer on it." in html
    assert 'data-sla="met"' in html  # responded at 11:40, due 12:00


def test_resolving_an_open_ticket_is_its_first_response_and_reopen_keeps_it(tickets, app, logged_in_client):
    """Resolve sets the first response; reopening keeps it, so the SLA stays decided."""
    act(logged_in_client, 1003, action="resolved")
    first = ticket(app, 1003).first_response_at
    assert first is not None
    act(logged_in_client, 1003, action="reopen")
    t = ticket(app, 1003)
    assert t.state == "open" and t.first_response_at == first
    assert [h[1] for h in history(app, 1003)] == ["resolved", "reopened"]


def test_reassign_and_unassign(tickets, app, logged_in_client):
    """A supervisor gives a ticket to someone on the roster, or to nobody."""
    with app.app_context():
        cara = staff.find("Cara").id
    act(logged_in_client, 1002, action="reassign", assignee=str(cara))
    assert ticket(app, 1002).assignee_id == cara
    act(logged_in_client, 1002, action="reassign", assignee="none")
    assert ticket(app, 1002).assignee_id is None
    assert [h[2] for h in history(app, 1002)] == ["nobody \u2192 Cara", "Cara \u2192 nobody"]


def test_an_impossible_action_is_explained(tickets, app, logged_in_client):
    """Marking a responded ticket responded again says why not, and changes nothing."""
    resp = act(logged_in_client, 1001, action="responded")
    assert resp.status_code == 303
    html = page(logged_in_client, "/console/tickets/1001")
    assert "Ticket 1001 is already responded." in html
    assert history(app, 1001) == []
    assert act(logged_in_client, 1001, action="note", note="   ").status_code == 303
    assert "The note is empty." in page(logged_in_client, "/console/tickets/1001")
    assert act(logged_in_client, 1001, action="explode").status_code == 400
    assert act(logged_in_client, 1001, action="reassign", assignee="99999").status_code == 400
    assert act(logged_in_client, 9999, action="resolved").status_code == 404


def test_agent_sees_and_works_only_their_own_tickets(tickets, app, agent_browser):
    """Ben (an agent) lists his tickets, resolves and notes them; others' tickets are refused."""
    assert numbers(page(agent_browser, "/console/tickets")) == [1001]
    assert numbers(page(agent_browser, "/console/tickets?assignee=none")) == []
    assert agent_browser.get("/console/tickets/1002").status_code == 403
    own = page(agent_browser, "/console/tickets/1001")
    assert 'data-testid="action-resolved"' in own and 'data-testid="action-reassign"' not in own
    assert act(agent_browser, 1001, action="note", note="Sent the fix.").status_code == 303
    assert act(agent_browser, 1001, action="resolved").status_code == 303
    assert ticket(app, 1001).state == "resolved"
    assert act(agent_browser, 1002, action="resolved").status_code == 403
    assert act(agent_browser, 1001, action="reassign", assignee="none").status_code == 403
    assert ticket(app, 1002).state == "open" and ticket(app, 1001).assignee_id is not None
    assert [h[0] for h in history(app, 1001)] == ["ben@example.com", "ben@example.com"]


def test_agent_without_a_roster_link_has_no_tickets(tickets, app, browser):
    """An agent account linked to nobody sees no tickets, and is told why."""
    from ivr import users

    with app.app_context():
        users.add("temp@example.com", "correct horse battery staple", "agent")
    browser.sign_in("temp@example.com")
    html = page(browser, "/console/tickets")
    assert numbers(html) == [] and "not linked to anyone on the roster" in html


def test_ticket_page_shows_call_voicemail_and_history_escaped(team, real_caller, logged_in_client, at):
    """The ticket page links its call and plays its voicemail transcript as text."""
    at("2026-12-01 15:00")
    call = real_caller(caller_name="<i>Eve</i>").dial().press("2").silence()
    call.agent_does_not_answer().agent_does_not_answer().leave_message("<script>x()</script>")
    call.hang_up()
    act(logged_in_client, 1001, action="note", note="<b>bold</b> claim")
    html = page(logged_in_client, "/console/tickets/1001")
    assert f'/console/calls/{call.call_sid}"' in html
    for raw in ("<script>x()</script>", "<i>Eve</i>", "<b>bold</b>"):
        assert raw not in html
    assert "&lt;script&gt;x()&lt;/script&gt;" in html and "&lt;b&gt;bold&lt;/b&gt; claim" in html


def test_due_time_and_first_response_show_the_zone(tickets, logged_in_client):
    """Times on the ticket page carry the zone."""
    html = page(logged_in_client, "/console/tickets/1002")
    assert "2026-12-01 12:00 CST" in html  # due
    assert utcnow().year == 2026
