"""End to end in a real browser: the console served on 127.0.0.1, driven in headless Chromium by Playwright.

Debian's Chromium (/usr/bin/chromium) is used, never a browser Playwright
downloads. The calls are seeded with the simulator at a recent moment the line
was open (time travel only while seeding); the browser and the server run on
the real clock. Screenshots of each main page go to $BROWSER_SCREENSHOTS, or
to the test's tmp dir.
"""

from __future__ import annotations

import csv
import os
import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from playwright.sync_api import Page, expect, sync_playwright
from sqlalchemy import select
from werkzeug.serving import make_server

from ivr import hours, staff
from ivr.models import Ticket, db
from tests.console_fixtures import PASSWORD, archive_recording

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
# As root on this machine Chromium needs --no-sandbox; the rest keep it off the (closed) network.
# Playwright adds --headless and a new empty --user-data-dir of its own for each launch.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000
DANA = "+13125550104"


def silent_mp3(frames: int = 40) -> bytes:
    """Make a real MP3 of silence: MPEG-1 Layer III frames, 128 kbit/s, 44.1 kHz, mono, ~26 ms each."""
    frame = bytes([0xFF, 0xFB, 0x90, 0xC0]) + bytes(413)  # 417-byte frame; zero side info decodes as silence
    return frame * frames


AUDIO = silent_mp3()


@pytest.fixture(scope="module")
def chromium():
    """Launch Debian's Chromium headless once for the module; skip when it is not installed."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: `apt-get install -y chromium` (.ci/run installs it)")
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def _open_moment(policy) -> datetime:
    """Find a recent moment, at least 15 minutes ago, with the line open for the next 10 minutes."""
    moment = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=15)
    while not (hours.is_open(policy, moment) and hours.is_open(policy, moment + timedelta(minutes=10))):
        moment -= timedelta(minutes=15)
    return moment


@pytest.fixture
def seeded(app, team, supervisor, real_caller):
    """Play four real calls at a recent open moment (one a voicemail, archived as a real MP3) and add Dana, off duty."""
    start = _open_moment(app.extensions["ivr.flow"].policy)
    # The clock moves between steps as on a real line, so waits, menu paths and the chart read true.
    with time_machine.travel(start, tick=False) as clock:

        def after(seconds: int) -> None:
            clock.move_to(start + timedelta(seconds=seconds))

        basic = real_caller("+13125550111").dial().press("1")
        after(5)
        basic.silence()
        after(15)
        basic.agent_answers()  # Anna
        after(165)
        basic.hang_up(duration=165, talked=150)
        after(180)
        vm = real_caller("+13125550122", caller_name="Pat Doe").dial()
        after(185)
        vm.press("2")
        after(190)
        vm.silence()
        after(210)
        vm.agent_does_not_answer()  # Ben
        after(230)
        vm.agent_does_not_answer()  # Cara
        after(260)
        vm.leave_message("The floor plan export fails with error 500.")
        after(275)
        vm.hang_up(duration=95)
        after(300)
        menu = real_caller("+13125550133").dial()
        after(305)
        menu.hang_up(duration=5)
        after(360)
        tech = real_caller("+13125550144").dial().press("2")
        after(365)
        tech.silence()
        after(372)
        tech.agent_answers()  # Ben
        after(460)
        tech.hang_up(duration=100, talked=88)
    archive_recording(app, vm.last_recording_sid, AUDIO)
    with app.app_context():
        staff.add("Dana", DANA, "support", [])  # no shifts: off duty until put on by hand
        tickets = {t.call.call_sid: t.number for t in db.session.execute(select(Ticket)).scalars()}
    sids = {"basic": basic.call_sid, "voicemail": vm.call_sid, "menu": menu.call_sid, "tech": tech.call_sid}
    return {
        "sids": sids,
        "recording": vm.last_recording_sid,
        "ticket": tickets[vm.call_sid],
        "day": start.astimezone(app.extensions["ivr.flow"].policy.timezone).date().isoformat(),
    }


@pytest.fixture
def live(app, seeded):
    """Serve the seeded app for real on a free 127.0.0.1 port, in a thread."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="console-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


@pytest.fixture
def shots(tmp_path):
    """Give the folder screenshots go to."""
    folder = Path(os.environ.get("BROWSER_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(chromium, live):
    """Open a fresh browser context on the server; fail the test on any 5xx answer or script error."""
    context = chromium.new_context(base_url=live, accept_downloads=True, viewport={"width": 1366, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    problems: list[str] = []
    tab.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 500 else None)
    tab.on("pageerror", lambda e: problems.append(f"script error: {e}"))
    yield tab
    context.close()
    assert problems == []


def sign_in(page: Page, email: str) -> None:
    """Sign in through the form, as a person would."""
    page.goto("/console/")
    expect(page).to_have_url(re.compile(r"/console/login"))
    expect(page.get_by_test_id("login-submit")).to_be_visible()
    page.get_by_test_id("login-email").fill(email)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("signed-in-as")).to_contain_text(email)


def shot(page: Page, folder: Path, name: str) -> Path:
    """Screenshot the whole page, check a PNG was written and that nothing sticks out sideways at laptop width."""
    path = folder / f"{name}.png"
    overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    page.screenshot(path=str(path), full_page=True)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert overflow <= 0, f"{name}: the page is {overflow}px wider than the {page.viewport_size['width']}px window (see {path})"
    return path


def row_sids(page: Page) -> list[str]:
    """List the CallSids of the rows on the calls page, top to bottom."""
    return [row.get_attribute("data-call-sid") for row in page.get_by_test_id("call-row").all()]


def test_sign_in_filter_by_level_open_a_call_and_play_its_voicemail(page, seeded, supervisor, shots):
    """A supervisor signs in, narrows the log to Technical, opens the voicemail and its recording plays."""
    sids = seeded["sids"]
    page.goto("/console/calls")
    expect(page).to_have_url(re.compile(r"/console/login\?next=%2Fconsole%2Fcalls$"))
    shot(page, shots, "login")
    sign_in(page, supervisor)
    shot(page, shots, "overview")
    page.get_by_test_id("nav-calls").click()
    expect(page.get_by_test_id("call-row")).to_have_count(4)
    assert row_sids(page) == [sids["tech"], sids["menu"], sids["voicemail"], sids["basic"]]

    page.get_by_test_id("filter-level").select_option("technical")
    page.get_by_test_id("apply-filters").click()
    expect(page).to_have_url(re.compile(r"[?&]level=technical"))
    expect(page.get_by_test_id("call-row")).to_have_count(2)
    assert row_sids(page) == [sids["tech"], sids["voicemail"]]
    shot(page, shots, "calls-technical")

    page.locator(f'[data-testid="call-row"][data-call-sid="{sids["voicemail"]}"]').get_by_test_id("call-link").click()
    expect(page).to_have_url(re.compile(re.escape(f"/console/calls/{sids['voicemail']}") + "$"))
    expect(page.get_by_test_id("menu-path")).to_contain_text("Left a voicemail")
    expect(page.get_by_test_id("transcript")).to_contain_text("The floor plan export fails with error 500.")
    player = page.get_by_test_id("recording-player")
    expect(player).to_have_attribute("src", f"/console/recordings/{seeded['recording']}.mp3")
    shot(page, shots, "call")

    # preload="none": nothing loads until it is played. Muted, so no autoplay rule can refuse it.
    player.evaluate("a => { a.muted = true; return a.play(); }")
    page.wait_for_function("a => a.currentTime > 0.2 || a.ended", arg=player.element_handle())
    state = player.evaluate("a => ({ready: a.readyState, network: a.networkState, error: a.error && a.error.code, duration: a.duration})")
    assert state["error"] is None and state["ready"] >= 2, state  # HAVE_CURRENT_DATA or better
    assert state["network"] != 3, state  # not NETWORK_NO_SOURCE
    assert state["duration"] == pytest.approx(40 * 1152 / 44100, abs=0.1), state

    # The same URL through the browser's session: the archived file itself, as audio/mpeg.
    audio = page.request.get(player.get_attribute("src"))
    assert audio.status == 200 and audio.headers["content-type"] == "audio/mpeg"
    assert audio.body() == AUDIO


def test_export_csv_downloads_exactly_the_filtered_calls(page, seeded, supervisor):
    """The Export CSV link on a filtered log downloads those calls and no others."""
    sids = seeded["sids"]
    sign_in(page, supervisor)
    page.goto(f"/console/calls?from={seeded['day']}&to={seeded['day']}")
    page.get_by_test_id("filter-level").select_option("technical")
    page.get_by_test_id("apply-filters").click()
    expect(page.get_by_test_id("call-row")).to_have_count(2)
    with page.expect_download() as info:
        page.get_by_test_id("export-csv").click()
    download = info.value
    assert download.suggested_filename.startswith("calls-") and download.suggested_filename.endswith(".csv")
    with open(download.path(), newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["call_sid"] for r in rows] == [sids["tech"], sids["voicemail"]] == row_sids(page)
    assert {r["level"] for r in rows} == {"technical"}
    vm = rows[1]
    assert vm["outcome"] == "voicemail" and vm["ticket"] == str(seeded["ticket"]) and vm["caller_name"] == "Pat Doe"
    assert vm["transcript"] == "The floor plan export fails with error 500."
    assert rows[0]["agent"] == "Ben" and rows[0]["outcome"] == "answered"


def test_put_someone_on_duty_from_the_roster(page, seeded, supervisor, shots):
    """Dana, who has no shifts, is put on duty by hand and the roster says so."""
    sign_in(page, supervisor)
    page.get_by_test_id("nav-roster").click()
    dana = page.locator('[data-testid="staff-row"][data-staff="Dana"]')
    expect(dana).to_have_attribute("data-on-duty", "no")
    expect(page.get_by_test_id("staff-row")).to_have_count(4)
    dana.get_by_test_id("duty-on").click()
    expect(page.get_by_test_id("flash")).to_be_visible()
    expect(dana).to_have_attribute("data-on-duty", "yes")
    expect(dana.get_by_test_id("duty-state")).to_contain_text("on duty")
    expect(dana.get_by_test_id("duty-state")).to_contain_text("set by hand")
    expect(dana.get_by_test_id("duty-clear")).to_be_visible()
    shot(page, shots, "roster")


def test_resolve_a_ticket(page, seeded, supervisor, shots):
    """The voicemail's ticket is opened from the tickets list and resolved; its history records who did it."""
    number = seeded["ticket"]
    sign_in(page, supervisor)
    page.get_by_test_id("nav-tickets").click()
    row = page.locator(f'[data-testid="ticket-row"][data-ticket="{number}"]')
    expect(row.get_by_test_id("ticket-state")).to_have_attribute("data-state", "open")
    shot(page, shots, "tickets")
    row.get_by_test_id("ticket-link").click()
    expect(page.locator("h1")).to_contain_text(f"Ticket {number}")
    expect(page.get_by_test_id("ticket-voicemail").get_by_test_id("recording-player")).to_be_visible()
    page.get_by_test_id("action-resolved").click()
    expect(page.get_by_test_id("ticket-facts").get_by_test_id("ticket-state")).to_have_attribute("data-state", "resolved")
    expect(page.locator('[data-testid="history-entry"][data-action="resolved"]')).to_contain_text(supervisor)
    expect(page.get_by_test_id("action-reopen")).to_be_visible()
    expect(page.get_by_test_id("action-resolved")).to_have_count(0)
    shot(page, shots, "ticket")
    page.get_by_test_id("nav-tickets").click()
    expect(row.get_by_test_id("ticket-state")).to_have_attribute("data-state", "resolved")
