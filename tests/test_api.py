"""The JSON API: bearer tokens, the log and tickets with the console's filters, changes, errors, OpenAPI."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from ivr import staff, users
from ivr.models import Recording, TicketChange, db, utcnow
from tests.console_fixtures import AGENT, SUPERVISOR, archive_recording

ROUTES = [
    ("get", "/api/calls"),
    ("get", "/api/calls/CA0123"),
    ("get", "/api/recordings/RE0123456789abcdef0123456789abcdef.mp3"),
    ("get", "/api/tickets"),
    ("get", "/api/tickets/1001"),
    ("patch", "/api/tickets/1001"),
    ("get", "/api/staff"),
    ("get", "/api/closures"),
    ("post", "/api/closures"),
    ("post", "/api/closures/1/end"),
    ("get", "/api/openapi.json"),
]


@pytest.fixture
def calls(team, real_caller, caller, at):
    """Three real calls on Tuesday 1 December (1001 answered by Ben, 1002 a voicemail, one abandoned) and a test call."""
    at("2026-12-01 09:00")
    answered = real_caller("+13125550111").dial().press("2").silence().agent_answers()
    answered.hang_up(duration=300, talked=240)
    at("2026-12-01 10:00")
    vm = real_caller("+13125550122", caller_name="<b>Pat</b>").dial().press("1").silence()
    vm.agent_does_not_answer().leave_message("How do I export a floor plan?")
    vm.hang_up()
    at("2026-12-01 11:00")
    menu = real_caller("+13125550133").dial()
    menu.hang_up(duration=4)
    caller("+13125550144", mark_test=True).dial().hang_up()
    at("2026-12-01 11:30")
    return {"answered": answered.call_sid, "voicemail": vm.call_sid, "menu": menu.call_sid}


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_needs_a_token(app, api, method, path):
    """No token, a malformed header or an unknown token: 401 with a JSON message."""
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer ivr_not-a-real-token"}):
        client = app.test_client()
        resp = getattr(client, method)(path, headers=headers, json={})
        assert resp.status_code == 401, (headers, resp.get_data(as_text=True))
        assert resp.is_json and resp.json["error"]["status"] == 401
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_console_session_is_not_an_api_token(app, logged_in_client):
    """The API ignores the session cookie, so another site cannot use a supervisor's browser on it."""
    logged_in_client.get("/console/")
    assert logged_in_client.client.get("/api/calls").status_code == 401


def test_a_disabled_users_token_is_refused(app, api, api_token):
    """Disabling an account stops its tokens at once."""
    assert api(api_token).get("/api/calls").status_code == 200
    with app.app_context():
        users.disable(SUPERVISOR, utcnow())
    resp = api(api_token).get("/api/calls")
    assert resp.status_code == 401 and "disabled" in resp.json["error"]["message"]


def test_calls_list_with_filters_and_pages(calls, api, api_token):
    """GET /api/calls lists real calls newest first, filters like the console, and pages with links."""
    a = api(api_token)
    body = a.get("/api/calls").json
    assert [c["call_sid"] for c in body["calls"]] == [calls["menu"], calls["voicemail"], calls["answered"]]
    vm = body["calls"][1]
    assert vm["caller"] == {"number": "+13125550122", "raw": "+13125550122", "name": "<b>Pat</b>"}
    assert vm["outcome"] == "voicemail" and vm["ticket"]["number"] == 1002 and vm["ticket"]["sla"] == "on_track"
    assert vm["recordings"][0]["transcript"] == "How do I export a floor plan?"
    assert vm["started_at"] == "2026-12-01T16:00:00Z"
    answered = body["calls"][2]
    assert answered["agent"]["name"] == "Ben" and answered["talk_seconds"] == 240
    assert [c["call_sid"] for c in a.get("/api/calls?outcome=voicemail").json["calls"]] == [calls["voicemail"]]
    assert [c["call_sid"] for c in a.get("/api/calls?q=1001").json["calls"]] == [calls["answered"]]
    assert len(a.get("/api/calls?tests=1").json["calls"]) == 4
    first = a.get("/api/calls?limit=2").json
    assert len(first["calls"]) == 2 and first["prev"] is None and "limit=2" in first["next"]
    second = a.get(first["next"]).json
    assert [c["call_sid"] for c in second["calls"]] == [calls["answered"]] and second["next"] is None
    assert [c["call_sid"] for c in a.get(second["prev"]).json["calls"]] == [calls["menu"], calls["voicemail"]]


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("from=nope", "from"),
        ("level=gold", "level"),
        ("sla=late", "sla"),
        ("limit=0", "limit"),
        ("limit=1000", "limit"),
        ("after=x_y", "after"),
    ],
)
def test_bad_filters_are_422_naming_the_parameter(app, api, api_token, query, param):
    """A filter value that cannot be used is a 422 that names it."""
    resp = api(api_token).get(f"/api/calls?{query}")
    assert resp.status_code == 422 and resp.json["error"]["param"] == param


def test_one_call_with_events_path_and_attempts(calls, app, api, api_token):
    """GET /api/calls/<sid> adds the webhooks, the menu path and the ring attempts."""
    body = api(api_token).get(f"/api/calls/{calls['answered']}").json
    assert body["events"][0]["endpoint"] == "incoming"
    assert any(step["step"] == "Pressed 2" for step in body["path"])
    assert body["ring_attempts"][0]["staff"]["name"] == "Ben" and body["ring_attempts"][0]["result"] == "accepted"
    assert body["ticket"]["history"] == []
    assert api(api_token).get("/api/calls/CAnope").status_code == 404


def test_recording_audio_through_the_api(calls, app, api, api_token):
    """An archived recording's audio_url serves the file to a token holder; bad names are 404."""
    with app.app_context():
        sid = db.session.execute(select(Recording.sid)).scalar_one()
    assert api(api_token).get(f"/api/calls/{calls['voicemail']}").json["recordings"][0]["audio_url"] is None
    archive_recording(app, sid, b"ID3 voicemail")
    url = api(api_token).get(f"/api/calls/{calls['voicemail']}").json["recordings"][0]["audio_url"]
    with api(api_token).get(url) as resp:
        assert resp.status_code == 200 and resp.get_data() == b"ID3 voicemail"
    assert api(None).get(url).status_code == 401
    assert api(api_token).get("/api/recordings/..%2f..%2fetc%2fpasswd").status_code == 404


def test_tickets_list_and_one_ticket(calls, api, api_token):
    """GET /api/tickets and /api/tickets/<number> with state, SLA, assignee, voicemail and history."""
    body = api(api_token).get("/api/tickets").json
    assert [t["number"] for t in body["tickets"]] == [1002, 1001]
    assert body["tickets"][0]["voicemail"]["transcript"] == "How do I export a floor plan?"
    assert [t["number"] for t in api(api_token).get("/api/tickets?state=responded").json["tickets"]] == [1001]
    one = api(api_token).get("/api/tickets/1001").json
    assert one["assignee"]["name"] == "Ben" and one["state"] == "responded" and one["sla"] == "met"
    assert one["history"] == []
    assert api(api_token).get("/api/tickets/4242").status_code == 404


def test_patch_resolves_reassigns_and_notes_keeping_history(calls, app, api, api_token):
    """PATCH changes state, assignee and adds a note in one go; the history says who and when."""
    resp = api(api_token).patch("/api/tickets/1002", json={"state": "resolved", "assignee": "Cara", "note": "Sent the export guide."})
    assert resp.status_code == 200, resp.json
    body = resp.json
    assert body["state"] == "resolved" and body["assignee"]["name"] == "Cara" and body["first_response_at"] == "2026-12-01T17:30:00Z"
    assert [(h["by"], h["action"]) for h in body["history"]] == [(SUPERVISOR, "reassigned"), (SUPERVISOR, "resolved"), (SUPERVISOR, "note")]
    assert body["history"][0]["at"] == "2026-12-01T17:30:00Z"
    with app.app_context():
        ben = staff.find("Ben").id
    assert api(api_token).patch("/api/tickets/1002", json={"assignee": ben}).json["assignee"]["name"] == "Ben"
    assert api(api_token).patch("/api/tickets/1002", json={"assignee": None}).json["assignee"] is None


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ("not json", 400, "JSON object"),
        ([1, 2], 400, "JSON object"),
        ({}, 422, "Nothing to change"),
        ({"colour": "red"}, 422, "Unknown field(s) colour"),
        ({"state": "closed"}, 422, "state must be one of"),
        ({"state": 3}, 422, "state must be a string"),
        ({"assignee": "Nobody"}, 422, "is not on the roster"),
        ({"note": "x" * 5001}, 422, "at most 5000"),
        ({"state": "responded"}, 409, "already responded"),
    ],
)
def test_patch_errors(calls, app, api, api_token, body, status, words):
    """Each bad PATCH has its status and a message saying what is wrong; nothing changes."""
    if isinstance(body, str):
        resp = api(api_token).patch("/api/tickets/1001", data=body, content_type="text/plain")
    else:
        resp = api(api_token).patch("/api/tickets/1001", json=body)
    assert resp.status_code == status and words in resp.json["error"]["message"]
    with app.app_context():
        assert db.session.execute(select(TicketChange)).first() is None


def test_patch_an_unknown_ticket_is_404(app, api, api_token):
    assert api(api_token).patch("/api/tickets/9999", json={"state": "resolved"}).status_code == 404


def test_agent_token_reads_the_log_and_works_only_their_tickets(calls, app, api, agent_token):
    """Ben's token reads every call, lists his tickets, resolves his own; others' are 403."""
    a = api(agent_token)
    assert len(a.get("/api/calls").json["calls"]) == 3
    assert [t["number"] for t in a.get("/api/tickets").json["tickets"]] == [1001]
    assert a.get("/api/tickets/1002").status_code == 403
    assert a.patch("/api/tickets/1002", json={"note": "mine now"}).status_code == 403
    assert a.patch("/api/tickets/1001", json={"assignee": None}).status_code == 403
    resp = a.patch("/api/tickets/1001", json={"state": "resolved", "note": "Fixed."})
    assert resp.status_code == 200 and [h["by"] for h in resp.json["history"]] == [AGENT, AGENT]
    assert "history" not in a.get(f"/api/calls/{calls['voicemail']}").json["ticket"]
    assert a.post("/api/closures", json={"start": "2026-12-02T05:00", "end": "2026-12-02T09:00"}).status_code == 403


def test_staff_lists_the_roster_and_who_is_on_duty(team, app, api, api_token, at):
    """GET /api/staff: team, phone, shifts, on duty now and why."""
    at("2026-12-01 10:00")
    with app.app_context():
        staff.set_duty("Cara", False, None, utcnow(), app.extensions["ivr.flow"].policy)
    people = {p["name"]: p for p in api(api_token).get("/api/staff").json["staff"]}
    assert people["Ben"]["on_duty"] is True and people["Ben"]["duty_reason"] == "shift"
    assert people["Ben"]["shifts"] == "Mon-Fri 05:00-22:00" and people["Ben"]["phone"] == "+13125550102"
    assert people["Cara"]["on_duty"] is False and people["Cara"]["duty_reason"] == "override"
    assert people["Cara"]["duty_until"] == "2026-12-02T06:00:00Z"


def test_closures_through_the_api(app, api, api_token, at):
    """POST a closure in support time, list it, end it; errors are 422 and 409."""
    at("2026-12-01 10:00")
    a = api(api_token)
    resp = a.post("/api/closures", json={"start": "2026-12-01T09:00", "end": "2026-12-01T18:00", "message": "Upgrade in progress."})
    assert resp.status_code == 201
    made = resp.json
    assert made["start"] == "2026-12-01T15:00:00Z" and made["created_by"] == SUPERVISOR
    assert [c["id"] for c in a.get("/api/closures").json["closures"]] == [made["id"]]
    assert a.post("/api/closures", json={"start": "2026-12-01T09:00Z", "end": "2026-12-01T08:00Z"}).status_code == 422
    assert a.post("/api/closures", data="x", content_type="text/plain").status_code == 400
    ended = a.post(f"/api/closures/{made['id']}/end")
    assert ended.status_code == 200 and ended.json["end"] == "2026-12-01T16:00:00Z"
    assert a.post(f"/api/closures/{made['id']}/end").status_code == 409
    assert a.post("/api/closures/999/end").status_code == 404
    assert a.get("/api/closures").json["recent"][0]["ended_by"] == SUPERVISOR


def test_unknown_api_urls_and_methods_answer_json(app, api, api_token):
    """404 and 405 under /api are JSON too."""
    resp = api(api_token).get("/api/nothing-here")
    assert resp.status_code == 404 and resp.is_json
    resp = api(api_token).client.delete("/api/calls", headers=api(api_token).headers)
    assert resp.status_code == 405 and resp.is_json
    assert not app.test_client().get("/not-api").is_json


def test_openapi_describes_every_route(app, api, api_token):
    """/api/openapi.json is OpenAPI 3.1 and names every route, method and error the API answers."""
    spec = api(api_token).get("/api/openapi.json").json
    assert spec["openapi"].startswith("3.1")
    described = {(m, "/api" + p.replace("{call_sid}", "<call_sid>")) for p, ops in spec["paths"].items() for m in ops}
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            served |= {(m.lower(), rule.rule) for m in rule.methods - {"HEAD", "OPTIONS"}}
    normalise = {
        "/api/calls/<call_sid>": "/api/calls/<call_sid>",
        "/api/recordings/<path:name>": "/api/recordings/{sid}.mp3",
        "/api/tickets/<int:number>": "/api/tickets/{number}",
        "/api/closures/<int:closure_id>/end": "/api/closures/{id}/end",
        "/api/callbacks/<int:request_id>/start": "/api/callbacks/{id}/start",
    }
    assert {(m, normalise.get(r, r)) for m, r in served} == described
    patch = spec["paths"]["/tickets/{number}"]["patch"]
    assert set(patch["responses"]) == {"200", "400", "401", "403", "404", "409", "422"}
    assert spec["components"]["schemas"]["TicketPatch"]["properties"]["state"]["enum"] == ["open", "responded", "resolved"]
