"""The roster page: who is on duty, on/off duty by hand, shifts, adding and removing; closures."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from ivr import closures, staff
from ivr.flows import Closure
from ivr.models import ClosureEntry, Staff, db, utcnow
from tests.conftest import CENTRAL
from tests.console_fixtures import SUPERVISOR


def person(app, name: str) -> Staff:
    with app.app_context():
        p = staff.find(name)
        db.session.expunge(p)
        return p


def staff_id(app, name: str) -> int:
    return person(app, name).id


def duty_cell(html: str, name: str) -> str:
    row = html.split(f'data-staff="{name}"')[1].split("</tr>")[0]
    return re.sub(r"\s+", " ", row.split('data-testid="duty-state">')[1].split("</td>")[0])


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CENTRAL)


def test_roster_shows_who_is_on_duty_now_and_why(team, logged_in_client, at):
    """Tuesday 10:00 everyone's shift runs; Saturday nobody's does."""
    at("2026-12-01 10:00")
    html = logged_in_client.get("/console/roster").get_data(as_text=True)
    assert "on duty" in duty_cell(html, "Ben") and "shift until Tue 22:00 CST" in duty_cell(html, "Ben")
    assert "Mon-Fri 05:00-22:00" in html
    at("2026-12-05 10:00")
    logged_in_client.sign_in(SUPERVISOR)  # four days on: a new working day, a new session
    html = logged_in_client.get("/console/roster").get_data(as_text=True)
    assert duty_cell(html, "Ben").strip().startswith('<span class="duty duty-off">off duty')


def test_set_on_duty_until_a_time_then_back_to_shifts(team, app, logged_in_client, at):
    """A supervisor puts Ben on duty on Saturday until 14:00, then hands him back to his shifts."""
    at("2026-12-05 10:00")
    ben = staff_id(app, "Ben")
    logged_in_client.get("/console/roster")
    resp = logged_in_client.post(f"/console/roster/{ben}/duty", {"duty": "on", "until": "14:00"})
    assert resp.status_code == 303
    p = person(app, "Ben")
    assert p.duty_override is True and p.override_until == local("2026-12-05 14:00")
    html = logged_in_client.get("/console/roster").get_data(as_text=True)
    assert "Ben is on duty until 2026-12-05 14:00 CST." in html
    assert "set by hand until Sat 14:00 CST" in duty_cell(html, "Ben")
    logged_in_client.post(f"/console/roster/{ben}/duty", {"duty": "clear"})
    assert person(app, "Ben").duty_override is None


def test_set_off_duty_defaults_to_midnight(team, app, logged_in_client, at):
    """Off duty without a time lasts until midnight tonight."""
    at("2026-12-01 10:00")
    logged_in_client.get("/console/roster")
    logged_in_client.post(f"/console/roster/{staff_id(app, 'Anna')}/duty", {"duty": "off"})
    p = person(app, "Anna")
    assert p.duty_override is False and p.override_until == local("2026-12-02 00:00")


def test_bad_duty_requests_are_explained(team, app, logged_in_client, at):
    """A time that is not a time is refused with the roster's own message."""
    at("2026-12-01 10:00")
    logged_in_client.get("/console/roster")
    logged_in_client.post(f"/console/roster/{staff_id(app, 'Anna')}/duty", {"duty": "on", "until": "25:99"})
    assert "is not a time of day" in logged_in_client.get("/console/roster").get_data(as_text=True)
    assert logged_in_client.post(f"/console/roster/{staff_id(app, 'Anna')}/duty", {"duty": "sideways"}).status_code == 400
    assert logged_in_client.post("/console/roster/99999/duty", {"duty": "on"}).status_code == 404


def test_edit_shifts(team, app, logged_in_client):
    """Shifts are replaced from the text box, one spec a line; a bad spec changes nothing."""
    cara = staff_id(app, "Cara")
    logged_in_client.get("/console/roster")
    logged_in_client.post(f"/console/roster/{cara}/shifts", {"shifts": "Mon-Wed 05:00-13:00\nSat 22:00-06:00\n"})
    assert staff.format_shifts(person(app, "Cara").shifts) == "Mon-Wed 05:00-13:00; Sat 22:00-06:00"
    logged_in_client.post(f"/console/roster/{cara}/shifts", {"shifts": "Someday 05:00-13:00"})
    assert "&#39;Someday&#39; is not a day" in logged_in_client.get("/console/roster").get_data(as_text=True)
    assert staff.format_shifts(person(app, "Cara").shifts) == "Mon-Wed 05:00-13:00; Sat 22:00-06:00"


def test_add_and_remove_people(team, app, logged_in_client):
    """A supervisor adds someone with shifts and removes them again."""
    logged_in_client.get("/console/roster")
    resp = logged_in_client.post(
        "/console/roster/add", {"name": "Dana", "phone": "(312) 555-0107", "team": "support", "shifts": "Mon-Fri 09:00-17:00"}
    )
    assert resp.status_code == 303
    dana = person(app, "Dana")
    assert dana.phone == "+13125550107" and dana.team == "support"
    logged_in_client.post("/console/roster/add", {"name": "Dana", "phone": "(312) 555-0107", "team": "support"})
    assert "already on the roster" in logged_in_client.get("/console/roster").get_data(as_text=True)
    logged_in_client.post(f"/console/roster/{dana.id}/remove")
    with app.app_context():
        assert staff.find("Dana") is None


def test_agent_sees_the_roster_but_cannot_change_it(team, app, agent_browser):
    """Ben reads who is on duty; his attempts to change it are refused."""
    html = agent_browser.get("/console/roster").get_data(as_text=True)
    assert 'data-staff="Anna"' in html and 'data-testid="duty-on"' not in html
    assert agent_browser.post(f"/console/roster/{staff_id(app, 'Anna')}/duty", {"duty": "off"}).status_code == 403
    assert person(app, "Anna").duty_override is None


# --- closures -----------------------------------------------------------------------


def test_supervisor_adds_a_closure_with_its_message(team, app, logged_in_client, at):
    """A closure is stored in UTC from support-clock times, with who added it, and listed."""
    at("2026-12-01 10:00")
    logged_in_client.get("/console/roster")
    resp = logged_in_client.post(
        "/console/closures",
        {"start": "2026-12-03T12:00", "end": "2026-12-03T15:30", "message": "We are closed this afternoon for a system upgrade."},
    )
    assert resp.status_code == 303
    with app.app_context():
        entry = db.session.execute(select(ClosureEntry)).scalar_one()
        assert entry.start == local("2026-12-03 12:00") and entry.end == local("2026-12-03 15:30")
        assert entry.created_by == "sue@example.com"
    html = logged_in_client.get("/console/roster").get_data(as_text=True)
    assert "Closed from 2026-12-03 12:00 CST to 2026-12-03 15:30 CST." in html
    assert "We are closed this afternoon for a system upgrade." in html
    assert 'data-testid="closure-row"' in html


@pytest.mark.parametrize(
    ("form", "words"),
    [
        ({"start": "tomorrow", "end": "2026-12-03T15:30"}, "is not a date and time"),
        ({"start": "2026-12-03T15:30", "end": "2026-12-03T12:00"}, "must end after it starts"),
        ({"start": "2026-11-01T12:00", "end": "2026-11-02T12:00"}, "would be over already"),
        ({"start": "2026-12-03T12:00", "end": "2026-12-03T15:30", "message": "x" * 1001}, "callers hear at most 1000"),
    ],
)
def test_bad_closures_are_refused_with_a_reason(team, app, logged_in_client, at, form, words):
    """Closures that cannot be are explained, and nothing is stored."""
    at("2026-12-01 10:00")
    logged_in_client.get("/console/roster")
    logged_in_client.post("/console/closures", form)
    assert words in logged_in_client.get("/console/roster").get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(select(ClosureEntry)).first() is None


def test_closure_message_is_escaped(team, logged_in_client, at):
    """A closure's message is shown as text."""
    at("2026-12-01 10:00")
    logged_in_client.get("/console/roster")
    logged_in_client.post("/console/closures", {"start": "2026-12-01T09:00", "end": "2026-12-01T18:00", "message": "<script>x</script>"})
    html = logged_in_client.get("/console/roster").get_data(as_text=True)
    assert "<script>x</script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    assert "in force" in html


def test_ending_a_closure_early_and_cancelling_one_to_come(team, app, logged_in_client, at):
    """End now shortens one in force; cancel makes one to come close nothing."""
    at("2026-12-01 10:00")
    with app.app_context():
        now = utcnow()
        running = closures.add(local("2026-12-01 09:00"), local("2026-12-01 18:00"), "Down for an upgrade.", "ops", now).id
        later = closures.add(local("2026-12-04 09:00"), local("2026-12-04 18:00"), "Staff day.", "ops", now).id
        assert [c.message for c in closures.active_closures_from_db(now)] == ["Down for an upgrade."]
    logged_in_client.get("/console/roster")
    logged_in_client.post(f"/console/closures/{running}/end")
    logged_in_client.post(f"/console/closures/{later}/end")
    with app.app_context():
        assert closures.active_closures_from_db(utcnow()) == []
        assert closures.closures_from_db(utcnow()) == []
        entry = db.session.get(ClosureEntry, running)
        assert entry.ended_by == "sue@example.com" and entry.effective_end == local("2026-12-01 10:00")
    html = logged_in_client.get("/console/roster").get_data(as_text=True)
    assert "ended early by sue@example.com" in html
    logged_in_client.post(f"/console/closures/{running}/end")
    assert "this closure is already over" in logged_in_client.get("/console/roster").get_data(as_text=True)


def test_closures_for_the_line_come_as_flow_closures(app, at):
    """The lead's hook: closures in force at an instant, and every one still to close after it."""
    at("2026-12-01 10:00")
    with app.app_context():
        now = utcnow()
        closures.add(local("2026-12-01 09:00"), local("2026-12-01 12:00"), "Morning outage.", "ops", now)
        closures.add(local("2026-12-02 09:00"), local("2026-12-02 12:00"), "", "ops", now)
        assert closures.active_closures_from_db(local("2026-12-01 08:59")) == []
        assert closures.active_closures_from_db(local("2026-12-01 09:00")) == [
            Closure(local("2026-12-01 09:00").astimezone(UTC), local("2026-12-01 12:00").astimezone(UTC), "Morning outage.")
        ]
        assert closures.active_closures_from_db(local("2026-12-01 12:00")) == []
        assert [c.start for c in closures.closures_from_db(now)] == [local("2026-12-01 09:00"), local("2026-12-02 09:00")]
        assert len(closures.closures_from_db(local("2026-12-01 12:00"))) == 1


def test_policy_closures_are_listed_read_only(app_factory, supervisor, tmp_path, at):
    """Closures from policy.yaml show on the roster, marked as the file's, with no end button."""
    import shutil

    from tests.conftest import ROOT
    from tests.console_fixtures import Browser

    flows = tmp_path / "flows"
    shutil.copytree(ROOT / "flows", flows)
    policy = (flows / "policy.yaml").read_text()
    closure = '  closures:\n    - {start: "2026-12-24 12:00", end: "2026-12-26 05:00", message: "Closed for the holidays."}\n'
    (flows / "policy.yaml").write_text(policy.replace("  closures: []\n", closure))
    at("2026-12-01 10:00")
    browser = Browser(app_factory(FLOWS_DIR=str(flows)).test_client(), supervisor)
    html = browser.get("/console/roster").get_data(as_text=True)
    row = html.split('data-testid="policy-closure-row"')[1].split("</tr>")[0]
    assert "2026-12-24 12:00 CST" in row and "Closed for the holidays." in row and "policy.yaml" in row
    assert 'data-testid="end-closure"' not in html
