"""The call log page: filters, search, pages, CSV export, one call's detail, recordings."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from ivr.models import Call, Recording, Ticket, db, utcnow
from tests.console_fixtures import BEN, archive_recording

XSS_NAME = '<script>alert("name")</script>'
XSS_WORDS = "<img src=x onerror=alert(1)> my data is gone"


def sids(html: str) -> list[str]:
    """List the CallSids of the rows on a calls page, top to bottom."""
    return re.findall(r'data-testid="call-row" data-call-sid="([^"]+)"', html)


def page(browser, path: str) -> str:
    resp = browser.get(path)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_data(as_text=True)


@pytest.fixture
def day(team, real_caller, caller, at):
    """Play a day of calls on Tuesday 1 December 2026; give their CallSids by name."""
    at("2026-12-01 09:00")
    basic = real_caller("+13125550111").dial().press("1").silence().agent_answers()
    basic.hang_up(duration=200, talked=150)
    at("2026-12-01 10:00")
    vm = real_caller("+13125550122", caller_name=XSS_NAME).dial()
    at("2026-12-01 10:00:05")
    vm.press("2").silence()
    at("2026-12-01 10:00:30")
    vm.agent_does_not_answer().agent_does_not_answer()
    at("2026-12-01 10:01:00")
    vm.leave_message(XSS_WORDS)
    vm.hang_up()
    at("2026-12-01 11:00")
    menu = real_caller("+13125550133").dial()
    menu.hang_up(duration=5)
    at("2026-12-01 12:00")
    tech = real_caller("+13125550144").dial().press("2").silence().agent_answers()  # Ben
    tech.hang_up(duration=100)
    at("2026-12-01 13:00")
    test = caller("+13125550155", mark_test=True).dial().press("3")  # a simulated (test) call
    test.hang_up()
    at("2026-12-02 09:00")
    return {"basic": basic.call_sid, "voicemail": vm.call_sid, "menu": menu.call_sid, "tech": tech.call_sid, "test": test.call_sid}


def test_calls_newest_first_without_test_calls(day, logged_in_client):
    """The log lists real calls newest first; test calls only when asked for."""
    html = page(logged_in_client, "/console/calls")
    assert sids(html) == [day["tech"], day["menu"], day["voicemail"], day["basic"]]
    with_tests = sids(page(logged_in_client, "/console/calls?tests=1"))
    assert with_tests[0] == day["test"] and len(with_tests) == 5
    assert 'data-testid="test-call-tag"' in page(logged_in_client, "/console/calls?tests=1")


def test_calls_show_time_with_zone_caller_level_ticket_outcome_agent_and_times(day, logged_in_client):
    """Each row carries what a supervisor reads off a call."""
    html = page(logged_in_client, "/console/calls")
    row = html.split(f'data-call-sid="{day["basic"]}"')[1].split("</tr>")[0]
    assert "2026-12-01 09:00 CST" in row
    assert "+13125550111" in row and "Basic Product Support" in row
    assert ">1001</a>" in row and "answered" in row and "Anna" in row
    assert "2 min 30 s" in row  # talk time
    assert 'data-sla="met"' in row
    assert "America/Chicago" in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("level=technical", ["tech", "voicemail"]),
        ("level=none", ["menu"]),
        ("outcome=voicemail", ["voicemail"]),
        ("outcome=abandoned_in_menu", ["menu"]),
        ("outcome=answered", ["tech", "basic"]),
        ("sla=met", ["tech", "basic"]),
        ("sla=breached", ["voicemail"]),
        ("sla=on_track", []),
        ("q=1002", ["voicemail"]),
        ("q=(312) 555-0133", ["menu"]),
        ("q=5550144", ["tech"]),
        ("q=script", ["voicemail"]),
        ("from=2026-12-01&to=2026-12-01", ["tech", "menu", "voicemail", "basic"]),
        ("from=2026-12-02", []),
        ("to=2026-11-30", []),
    ],
)
def test_filters_and_search(day, logged_in_client, query, expected):
    """Each filter and the search box narrow the log to the right calls."""
    assert sids(page(logged_in_client, f"/console/calls?{query}")) == [day[name] for name in expected]


def test_filter_by_agent(day, app, logged_in_client):
    """The agent filter lists the calls a person took."""
    with app.app_context():
        ben = db.session.execute(select(Call).where(Call.call_sid == day["tech"])).scalar_one().agent_id
    assert sids(page(logged_in_client, f"/console/calls?agent={ben}")) == [day["tech"]]


def test_sla_at_risk_and_breached_follow_the_clock(day, logged_in_client, at):
    """The voicemail's Technical ticket (due 14:00:05) turns at risk an hour before, breached at the due time."""
    at("2026-12-01 13:00:04")
    assert sids(page(logged_in_client, "/console/calls?sla=on_track")) == [day["voicemail"]]
    at("2026-12-01 13:00:05")
    assert sids(page(logged_in_client, "/console/calls?sla=at_risk")) == [day["voicemail"]]
    at("2026-12-01 14:00:05")
    assert sids(page(logged_in_client, "/console/calls?sla=breached")) == [day["voicemail"]]
    assert sids(page(logged_in_client, "/console/calls?sla=at_risk")) == []


def test_a_bad_filter_is_explained_not_crashed_on(day, logged_in_client):
    """A date that is not a date, or an unknown level, says so with 400."""
    for query, words in (("from=yesterday", "is not a date"), ("level=gold", "is not one of"), ("after=garbage", "page position")):
        resp = logged_in_client.get(f"/console/calls?{query}")
        assert resp.status_code == 400
        assert words in resp.get_data(as_text=True)


def test_caller_name_and_transcript_are_escaped(day, logged_in_client):
    """Caller-supplied text is shown as text, never run as markup, on the list and the detail."""
    for path in ("/console/calls", f"/console/calls/{day['voicemail']}", "/console/tickets", "/console/tickets/1002"):
        html = page(logged_in_client, path)
        assert XSS_NAME not in html and "<img src=x" not in html, path
        assert "&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;" in html or path == "/console/tickets/1002"
    detail = page(logged_in_client, f"/console/calls/{day['voicemail']}")
    assert "&lt;img src=x onerror=alert(1)&gt; my data is gone" in detail


def test_speech_is_escaped_in_the_timeline_and_menu_path(team, real_caller, logged_in_client, at):
    """What a caller said reaches the page as text."""
    at("2026-12-01 10:00")
    call = real_caller().dial().say("<b>technical</b> problem")
    call.hang_up()
    html = page(logged_in_client, f"/console/calls/{call.call_sid}")
    assert "<b>technical</b>" not in html
    assert "Said \u201c&lt;b&gt;technical&lt;/b&gt; problem\u201d" in html


def test_keyset_pages_walk_forward_and_back_without_repeats(team, real_caller, logged_in_client, at):
    """Five calls in pages of two: newest first, each once, and back again."""
    made = []
    for minute in range(5):
        at(f"2026-12-01 10:0{minute}")
        call = real_caller(f"+1312555020{minute}").dial()
        call.hang_up()
        made.append(call.call_sid)
    made.reverse()
    seen, path, pages = [], "/console/calls?limit=2", []
    while path:
        html = page(logged_in_client, path)
        pages.append(html)
        seen += sids(html)
        nxt = re.search(r'href="([^"]+)" data-testid="page-next"', html)
        path = nxt.group(1).replace("&amp;", "&") if nxt else None
    assert seen == made and len(pages) == 3
    prev = re.search(r'href="([^"]+)" data-testid="page-prev"', pages[-1]).group(1).replace("&amp;", "&")
    assert sids(page(logged_in_client, prev)) == made[2:4]
    assert 'data-testid="page-prev"' not in pages[0]


def test_calls_at_the_same_instant_are_paged_by_id(team, real_caller, logged_in_client, at):
    """Calls that share a start time (frozen clock) are neither lost nor repeated across pages."""
    at("2026-12-01 10:00")
    made = []
    for n in range(3):
        call = real_caller(f"+1312555030{n}").dial()
        call.hang_up()
        made.append(call.call_sid)
    first = page(logged_in_client, "/console/calls?limit=2")
    nxt = re.search(r'href="([^"]+)" data-testid="page-next"', first).group(1).replace("&amp;", "&")
    assert sids(first) + sids(page(logged_in_client, nxt)) == made[::-1]


def read_csv(resp) -> list[dict]:
    return list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))


def test_csv_export_is_exactly_the_filtered_rows(day, logged_in_client):
    """The export streams the same calls the filtered page shows, with the same columns."""
    resp = logged_in_client.get("/console/calls.csv?level=technical")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert resp.is_streamed
    assert 'attachment; filename="calls-' in resp.headers["Content-Disposition"]
    rows = read_csv(resp)
    assert [r["call_sid"] for r in rows] == sids(page(logged_in_client, "/console/calls?level=technical"))
    vm = next(r for r in rows if r["call_sid"] == day["voicemail"])
    assert vm["started"] == "2026-12-01T10:00:00-06:00"
    assert vm["ticket"] == "1002" and vm["outcome"] == "voicemail" and vm["caller"] == "+13125550122"
    assert vm["transcript"] == XSS_WORDS and vm["caller_name"] == XSS_NAME
    assert [r["call_sid"] for r in read_csv(logged_in_client.get("/console/calls.csv"))] == sids(page(logged_in_client, "/console/calls"))
    assert len(read_csv(logged_in_client.get("/console/calls.csv?tests=1"))) == 5


def test_csv_export_defuses_spreadsheet_formulas(team, real_caller, logged_in_client, at):
    """A caller name starting with = is written so a spreadsheet shows it rather than runs it."""
    at("2026-12-01 10:00")
    real_caller(caller_name='=HYPERLINK("http://evil.example")').dial().hang_up()
    row = read_csv(logged_in_client.get("/console/calls.csv"))[0]
    assert row["caller_name"] == '\'=HYPERLINK("http://evil.example")'
    assert row["caller"] == "+13125550199"


def test_csv_export_streams_in_batches(team, real_caller, logged_in_client, at, app, monkeypatch):
    """Rows are read a batch at a time, so a big export never holds the whole log."""
    from ivr import calllog

    at("2026-12-01 10:00")
    for n in range(5):
        real_caller(f"+1312555040{n}").dial().hang_up()
    real_iter = calllog.iter_calls
    monkeypatch.setattr(calllog, "iter_calls", lambda f, flow, now, batch=500: real_iter(f, flow, now, batch=2))
    assert len(read_csv(logged_in_client.get("/console/calls.csv"))) == 5


def test_call_detail_has_timeline_menu_path_recordings_and_ticket(day, logged_in_client):
    """One call: every webhook in order, the way through the menu, the voicemail and the ticket."""
    html = page(logged_in_client, f"/console/calls/{day['voicemail']}")
    endpoints = re.findall(r'data-testid="timeline-event" data-endpoint="([^"]+)"', html)
    assert endpoints[0] == "incoming" and "gather" in endpoints and endpoints[-1] in ("status", "transcription")
    path = html.split('data-testid="menu-path"')[1].split("</ol>")[0]
    order = [
        "Called the line",
        "Pressed 2",
        "Chose Technical Support: ticket 1002 opened",
        "Staff phones started ringing",
        "Left a voicemail",
    ]
    positions = [path.index(step) for step in order]
    assert positions == sorted(positions)
    assert "Ticket 1002" in html and "Technical Support" in html
    assert 'data-testid="transcript"' in html
    assert 'data-testid="recording-pending"' in html  # not archived: no player yet


def test_recording_player_plays_the_archived_file(day, app, logged_in_client):
    """Once archived, the page has a player whose source is served, only to signed-in people."""
    with app.app_context():
        sid = db.session.execute(select(Recording.sid)).scalar_one()
    archive_recording(app, sid, b"ID3 the audio")
    html = page(logged_in_client, f"/console/calls/{day['voicemail']}")
    src = re.search(r'<audio controls preload="none" src="([^"]+)" data-testid="recording-player"', html).group(1)
    assert src == f"/console/recordings/{sid}.mp3"
    with logged_in_client.get(src) as audio:
        assert audio.status_code == 200 and audio.mimetype == "audio/mpeg"
        assert audio.get_data() == b"ID3 the audio"
    assert 'data-testid="recording-player"' in page(logged_in_client, "/console/calls")
    assert app.test_client().get(src).status_code == 302


@pytest.mark.parametrize(
    "name",
    [
        "../../../../etc/passwd",
        "..%2f..%2f..%2fetc%2fpasswd",
        "%2e%2e/%2e%2e/etc/passwd",
        "RE0123456789abcdef0123456789abcdef.mp3/../../secret.mp3",
        "/etc/passwd",
        "secret.mp3",
        "RE0123456789abcdef0123456789abcdef.wav",
        "RE0123456789abcdef0123456789abcdef.mp3",  # well formed, but no such recording
    ],
)
def test_recording_download_refuses_anything_but_a_known_archived_sid(app, logged_in_client, name, tmp_path):
    """Path tricks and unknown names get 404; nothing outside RECORDINGS_DIR is read."""
    (tmp_path / "secret.mp3").write_bytes(b"secret")
    resp = logged_in_client.get(f"/console/recordings/{name}")
    # 308: Werkzeug merges the doubled slash of "recordings//etc" by redirecting, still to a recording name.
    assert resp.status_code == 404 or (
        resp.status_code == 308 and urlsplit(resp.headers["Location"]).path.startswith("/console/recordings/")
    )
    assert b"secret" not in resp.get_data() and b"root:" not in resp.get_data()


def test_transcript_failed_and_pending_are_said(team, real_caller, logged_in_client, app, at):
    """A voicemail without text says whether its transcript is still coming or failed."""
    at("2026-12-01 15:00")
    call = real_caller().dial().press("2").silence()
    call.agent_does_not_answer().agent_does_not_answer().leave_message("hello")
    call.hang_up()
    with app.app_context():
        rec = db.session.execute(select(Recording)).scalar_one()
        rec.transcript_status, rec.transcript = "failed", None
        db.session.commit()
    assert "transcript failed" in page(logged_in_client, f"/console/calls/{call.call_sid}")
    with app.app_context():
        db.session.execute(select(Recording)).scalar_one().transcript_status = "pending"
        db.session.commit()
    assert "transcript pending" in page(logged_in_client, f"/console/calls/{call.call_sid}")


def test_wait_is_ringing_time(team, real_caller, logged_in_client, app, at):
    """Wait runs from when staff were rung to when an agent accepted."""
    at("2026-12-01 10:00:00")
    call = real_caller().dial().press("1").silence()
    at("2026-12-01 10:00:25")
    call.agent_answers()
    call.hang_up()
    html = page(logged_in_client, f"/console/calls/{call.call_sid}")
    assert "<dt>Wait</dt><dd>25 s</dd>" in html
    with app.app_context():
        ticket = db.session.execute(select(Ticket)).scalar_one()
        assert ticket.first_response_at - ticket.opened_at == timedelta(seconds=25)
        assert utcnow() > ticket.opened_at


def test_agent_reads_the_whole_log(day, agent_browser):
    """An agent reads every call, like a supervisor."""
    assert sids(page(agent_browser, "/console/calls")) == [day["tech"], day["menu"], day["voicemail"], day["basic"]]
    assert BEN in page(agent_browser, "/console/roster")
