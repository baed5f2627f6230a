"""Who may open what in the console: sign-in, roles, form tokens, headers."""

from __future__ import annotations

import pytest

from tests.console_fixtures import ANNA

PAGES = [
    "/console/",
    "/console/calls",
    "/console/calls.csv",
    "/console/calls/CA0123",
    "/console/tickets",
    "/console/tickets/1001",
    "/console/roster",
    "/console/test-call",
    "/console/recordings/RE0123456789abcdef0123456789abcdef.mp3",
]
FORMS = [
    "/console/logout",
    "/console/tickets/1001",
    "/console/roster/add",
    "/console/roster/1/duty",
    "/console/roster/1/shifts",
    "/console/roster/1/remove",
    "/console/closures",
    "/console/closures/1/end",
    "/console/test-call",
]
SUPERVISOR_ONLY_FORMS = [
    ("/console/roster/add", {"name": "Zed", "phone": ANNA, "team": "support"}),
    ("/console/roster/1/duty", {"duty": "on"}),
    ("/console/roster/1/shifts", {"shifts": "Mon 05:00-06:00"}),
    ("/console/roster/1/remove", {}),
    ("/console/closures", {"start": "2026-12-02 05:00", "end": "2026-12-02 09:00", "message": "closed"}),
    ("/console/closures/1/end", {}),
    ("/console/test-call", {"action": "start"}),
]


@pytest.mark.parametrize("path", PAGES)
def test_nothing_is_served_without_signing_in(app, client, path):
    """Every console URL, recordings included, sends a stranger to the sign-in page."""
    resp = client.get(path)
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/console/login?next=")


@pytest.mark.parametrize("path", FORMS)
def test_no_form_is_accepted_without_signing_in(app, browser, path):
    """A POST from someone not signed in changes nothing and goes to the sign-in page."""
    browser.get("/console/login")
    resp = browser.post(path, {"action": "note", "note": "x"})
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/console/login")


@pytest.mark.parametrize("path", FORMS)
def test_every_form_needs_its_csrf_token(app, logged_in_client, path):
    """A signed-in supervisor's browser posting without the form token gets 400, whatever the form."""
    resp = logged_in_client.post(path, {"action": "note", "note": "x"}, csrf=False)
    assert resp.status_code == 400
    assert "The CSRF token is missing." in resp.get_data(as_text=True)


def test_a_wrong_csrf_token_is_refused(app, logged_in_client):
    """A token from elsewhere is no better than none."""
    resp = logged_in_client.post("/console/closures", {"csrf_token": "forged", "start": "x"})
    assert resp.status_code == 400


@pytest.mark.parametrize(("path", "data"), SUPERVISOR_ONLY_FORMS)
def test_agents_cannot_change_the_roster_closures_or_make_test_calls(app, agent_browser, path, data):
    """An agent's forms for supervisors' work are refused with 403."""
    resp = agent_browser.post(path, data)
    assert resp.status_code == 403
    assert "Only a supervisor can do this." in resp.get_data(as_text=True)


def test_agents_can_read_the_log_overview_and_roster(app, agent_browser):
    """Reading is open to agents; the supervisors' controls are not shown to them."""
    for path in ("/console/", "/console/calls", "/console/tickets", "/console/roster", "/console/calls.csv"):
        assert agent_browser.get(path).status_code == 200, path
    roster = agent_browser.get("/console/roster").get_data(as_text=True)
    assert 'data-testid="duty-on"' not in roster and 'data-testid="add-closure"' not in roster
    assert agent_browser.get("/console/test-call").status_code == 403
    assert 'data-testid="nav-test-call"' not in agent_browser.get("/console/").get_data(as_text=True)


def test_console_pages_are_kept_out_of_caches_and_frames(app, logged_in_client):
    """Call data stays out of shared caches; the console cannot be framed; scripts only from us."""
    resp = logged_in_client.get("/console/calls")
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]


def test_the_stylesheet_and_script_are_served_to_the_sign_in_page(app, client):
    """The public assets live outside /console, so the sign-in page is styled."""
    with client.get("/assets/console/console.css") as css:
        assert css.status_code == 200 and css.mimetype == "text/css"
    with client.get("/assets/console/test_call.js") as js:
        assert js.status_code == 200
    page = client.get("/console/login").get_data(as_text=True)
    assert "/assets/console/console.css" in page


def test_unknown_console_pages_are_404_once_signed_in(app, logged_in_client):
    """A signed-in supervisor sees a 404 page for a URL that does not exist."""
    assert logged_in_client.get("/console/no-such-page").status_code == 404
    assert logged_in_client.get("/console/calls/CA0000").status_code == 404
    assert logged_in_client.get("/console/tickets/999999").status_code == 404


def test_webhooks_need_no_form_token(app, real_caller, at):
    """CSRF is the console's: Twilio's signed webhooks are never refused for want of a form token."""
    at("2026-12-01 10:00")
    call = real_caller().dial().press("1")
    assert "Your ticket number is 1, 0, 0, 1." in call.said
