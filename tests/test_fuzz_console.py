"""Bad input on the console's forms and the JSON API, generated; stored XSS and path tricks as properties.

The console and API have their own example tests (CSRF, sign-in, tokens, a
traversal list); these add generated input: any query, any form field, any
JSON shape, any recording name, any caller-supplied text. Never a 500 or a
traceback; nothing outside RECORDINGS_DIR is served; nothing a caller said is
rendered as markup.
"""

from __future__ import annotations

import json
import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.simulator import new_sid

FUZZ = settings(
    # CI replays the same examples every run, so a landing never hangs on a lucky draw; locally each run explores anew.
    derandomize=bool(os.environ.get("CI")),
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
ODD = st.one_of(
    st.sampled_from(["", " ", "0", "-1", "2147483648", "99999999999999999999", "1e309", "NaN", "null", "true", "none"]),
    st.sampled_from(["2026-13-45", "2026-12-01T25:00", "9999-12-31", "0001-01-01", "yesterday", "<b>x</b>", "'; drop table calls;--"]),
    st.sampled_from(["\x00", "\u202e", "💥" * 40, "x" * 5000, "../../etc/passwd", "%s%n", "{}", "[]"]),
    st.text(max_size=30),
    st.integers().map(str),
)
CALL_FILTERS = ["from", "to", "level", "outcome", "agent", "sla", "q", "tests", "after", "before", "limit", "page"]
TICKET_FILTERS = ["from", "to", "state", "level", "sla", "assignee", "q", "voicemail", "tests", "order", "after", "before", "limit"]
query = st.dictionaries(st.sampled_from(sorted({*CALL_FILTERS, *TICKET_FILTERS, "next", "x"})), ODD, max_size=6)
JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20), ODD),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=8,
)
XSS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
    "</textarea><script>alert(1)</script>",
    "<a href=javascript:alert(1)>x</a>",
    "<iframe srcdoc='<script>alert(1)</script>'>",
]
TRICKS = ["..", "%2e%2e", "..%2f", "....//", "secret.mp3", "etc", "passwd", "RE" + "0" * 32 + ".mp3", "\x00", "~"]
PAGES = ["/console/", "/console/calls", "/console/tickets", "/console/roster"]


def assert_clean(resp) -> None:
    """Assert an answer is no server error and shows no internals."""
    body = resp.get_data(as_text=True)
    assert resp.status_code < 500, body[:500]
    assert "Traceback" not in body and 'File "' not in body, body[:500]


@pytest.fixture
def a_ticket(app, caller, at):
    """Give the number of a ticket opened by a call, so ticket URLs and forms reach a real one."""
    at("2026-12-01 10:00")
    caller().dial().press("2")
    return 1001


def test_api_reads_take_any_query(app, api, api_token, a_ticket):
    """Any query on any API list or item gives JSON and never a 500."""
    client = api(api_token)
    paths = st.one_of(
        st.sampled_from(["/api/calls", "/api/tickets", "/api/staff", "/api/closures", f"/api/tickets/{a_ticket}"]),
        st.integers(min_value=-5, max_value=2**70).map(lambda n: f"/api/tickets/{n}"),
        st.text(alphabet="CAxyz0123456789abcdef%.-_", max_size=40).map(lambda s: f"/api/calls/{s}"),
    )

    @FUZZ
    @given(path=paths, args=query)
    def check(path, args):
        resp = client.get(path, query_string=args)
        assert_clean(resp)
        assert resp.mimetype == "application/json", (path, resp.status_code, resp.mimetype)

    check()


def test_api_writes_take_any_body(app, api, api_token, a_ticket):
    """Any JSON (or not JSON) sent to PATCH a ticket or add a closure: a 2xx or a clean 4xx in JSON."""
    client = api(api_token)
    bodies = st.one_of(JSON.map(json.dumps), st.text(max_size=50), st.binary(max_size=50))
    targets = st.sampled_from([("patch", f"/api/tickets/{a_ticket}"), ("post", "/api/closures"), ("post", "/api/closures/1/end")])
    types = st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", ""])

    @FUZZ
    @given(target=targets, body=bodies, content_type=types)
    def check(target, body, content_type):
        method, path = target
        resp = getattr(client, method)(path, data=body, content_type=content_type or None)
        assert_clean(resp)
        assert resp.mimetype == "application/json"

    check()


def test_console_pages_take_any_query(app, logged_in_client, a_ticket):
    """Any query on the console's pages: a page, a redirect or a clean 4xx, never a 500."""
    paths = st.one_of(st.sampled_from([*PAGES, f"/console/tickets/{a_ticket}", "/console/calls.csv", "/console/test-call"]))

    @FUZZ
    @given(path=paths, args=query)
    def check(path, args):
        assert_clean(logged_in_client.get(path, query_string=args))

    check()


def test_console_forms_take_any_fields(app, logged_in_client, a_ticket, team):
    """Any values in any console form, with a good CSRF token: saved, refused with a message, never a 500."""
    logged_in_client.get("/console/roster")
    forms = st.sampled_from(
        [
            (f"/console/tickets/{a_ticket}", ["action", "assignee", "note", "state"]),
            ("/console/roster/add", ["name", "phone", "team", "shifts"]),
            ("/console/roster/1/duty", ["duty", "until"]),
            ("/console/roster/2/shifts", ["shifts"]),
            ("/console/closures", ["start", "end", "message"]),
            ("/console/closures/1/end", []),
            ("/console/test-call", ["action", "from", "caller_name", "state", "arg"]),
            ("/console/roster/99999999999/remove", []),
        ]
    )

    @FUZZ
    @given(form=forms, data=st.data())
    def check(form, data):
        path, fields = form
        values = data.draw(st.fixed_dictionaries({}, optional={f: ODD for f in fields}))
        assert_clean(logged_in_client.post(path, values))

    check()


def test_recording_names_never_escape_the_recordings_folder(app, logged_in_client, api, api_token, tmp_path):
    """Any recording name, traversal tricks included: 404 (or a redirect within /recordings/), never a file from elsewhere."""
    (tmp_path / "secret.mp3").write_bytes(b"SECRET-OUTSIDE")
    names = st.one_of(
        st.text(max_size=40),
        st.lists(st.sampled_from(TRICKS), max_size=6).map("/".join),
    )
    client = api(api_token)

    @FUZZ
    @given(name=names, where=st.sampled_from(["console", "api"]))
    def check(name, where):
        if where == "console":
            resp = logged_in_client.get(f"/console/recordings/{name}")
        else:
            resp = client.get(f"/api/recordings/{name}")
        assert_clean(resp)
        assert resp.status_code in (301, 308, 400, 404), (name, resp.status_code)
        if resp.status_code in (301, 308):
            assert "/recordings/" in resp.headers["Location"]
        assert b"SECRET-OUTSIDE" not in resp.get_data() and b"root:" not in resp.get_data()

    check()


def test_recordings_are_served_only_to_the_signed_in(app, client, api):
    """Without a session or a token, any recording name is refused before anything is looked up."""
    stranger = api(None)

    @FUZZ
    @given(name=st.one_of(st.just("RE" + "1" * 32 + ".mp3"), st.text(alphabet="RE0123456789abcdef.mp3/", max_size=40)))
    def check(name):
        console = client.get(f"/console/recordings/{name}")
        assert console.status_code in (302, 308, 404) and (console.status_code != 302 or "/console/login" in console.headers["Location"])
        assert stranger.get(f"/api/recordings/{name}").status_code in (401, 308, 404)

    check()


def test_nothing_a_caller_says_is_rendered_as_markup(app, caller, logged_in_client, at):
    """Caller ID, caller name, words, keys and voicemail text carrying markup are shown escaped on every page."""
    at("2026-12-01 10:00")
    fields = st.sampled_from(["from_", "caller_name", "speech", "digits", "transcript"])
    payloads = st.tuples(st.sampled_from(XSS), st.text(alphabet="abc <>\"'&", max_size=8)).map(lambda t: t[1] + t[0])

    # A whole call and five pages per example: fewer examples, the same fields every time.
    @settings(FUZZ, max_examples=15)
    @given(field=fields, payload=payloads)
    def check(field, payload):
        sim = caller(
            from_=payload if field == "from_" else "+13125550199",
            caller_name=payload if field == "caller_name" else "Pat",
            mark_test=False,
        ).dial()
        answers = [("say", payload) if field == "speech" else ("press", payload) if field == "digits" else ("say", "technical")]
        answers.append(("say", "technical"))
        for _ in range(8):
            if sim.ended or sim.waiting is None:
                break
            if sim.waiting.tag == "Record":
                sim.leave_message(payload if field == "transcript" else "fine")
            elif sim.waiting.tag == "Dial":
                sim.agent_does_not_answer()
            elif answers:
                how, what = answers.pop(0)
                if how == "say":
                    sim.say(what)
                else:
                    sim.press(what)
            else:
                sim.silence()
        number = re.search(r"Your ticket number is ((?:\d, )*\d)", sim.said)
        pages = ["/console/", "/console/calls", f"/console/calls/{sim.call_sid}", "/console/tickets"]
        if number:
            pages.append(f"/console/tickets/{number.group(1).replace(', ', '')}")
        for page in pages:
            resp = logged_in_client.get(page)
            html = resp.get_data(as_text=True)
            assert resp.status_code == 200, (page, resp.status_code)
            assert payload not in html, f"{page} shows {payload!r} unescaped"

    check()


def test_the_calls_export_never_starts_a_cell_with_a_formula(app, caller, logged_in_client, at):
    """A caller name like "=HYPERLINK(...)" reaches the CSV export defused, not as a spreadsheet formula."""
    at("2026-12-01 10:00")
    caller(caller_name='=HYPERLINK("http://evil.example","x")', mark_test=False, call_sid=new_sid("CA")).dial().press("1")
    resp = logged_in_client.get("/console/calls.csv")
    assert resp.status_code == 200
    cells = [cell for line in resp.get_data(as_text=True).splitlines() for cell in line.split(",")]
    assert not any(cell.lstrip('"').startswith(("=", "+", "-", "@")) and "HYPERLINK" in cell for cell in cells)
