"""Real parallel requests against gunicorn with several workers, as production runs on PostgreSQL.

Twilio retries webhooks (same `I-Twilio-Idempotency-Token`), delivers status
callbacks while the Dial action is still being answered, and many callers pick
a level at once. Whatever the interleaving: one call row per call, one ticket
per call, ticket numbers unique, and the outcome the serial order gives.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from ivr import staff
from ivr.models import Call, CallEvent, Recording, RingAttempt, Ticket, db, utcnow
from ivr.simulator import Simulator, new_sid
from tests.conftest import ROOT, TOKEN

pytestmark = pytest.mark.concurrency

WORKERS = 4
PARALLEL = 8
ANNA, BEN = "+13125550101", "+13125550102"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A running gunicorn: its base URL and its journal folder."""

    base: str
    journal: Path


@pytest.fixture(scope="module")
def server(database_url, tmp_path_factory):
    """Run gunicorn with several workers on the test database."""
    if not database_url.startswith("postgresql"):
        pytest.skip("several gunicorn workers share a PostgreSQL database in production; SQLite serialises writers (run make test-pg)")
    port = _free_port()
    here = tmp_path_factory.mktemp("gunicorn")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "SUPPORT_NUMBER": "+16462019664",
        "SECRET_KEY": "concurrency-test-secret-key-0123456789",
        "IVR_ENV": "development",
        "JOBS": "thread",
        "JOURNAL_DIR": str(here / "journal"),
        "RECORDINGS_DIR": str(here / "recordings"),
        "SMS_TO_CALLERS": "0",
        "TWILIO_TIMEOUT": "1",
        "PUBLIC_BASE_URL": "",
    }
    log = open(here / "gunicorn.log", "wb")  # noqa: SIM115 - closed in the finally below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(WORKERS),
            "--bind",
            f"127.0.0.1:{port}",
            "--timeout",
            "30",
            "--preload",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"gunicorn did not start:\n{(here / 'gunicorn.log').read_text()[-3000:]}")
                time.sleep(0.1)
        yield Server(base, here / "journal")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        errors = [line for line in (here / "gunicorn.log").read_text().splitlines() if "Traceback" in line]
        assert not errors, (here / "gunicorn.log").read_text()[-5000:]


@pytest.fixture
def line(app, server, no_network):
    """Give (app for reading the database, server base URL) with real HTTP to the server allowed."""
    no_network.add_passthru(server.base)
    yield app, server.base
    # Races are settled by the database: none may have fallen back to the outage journal.
    assert not (server.journal / "journal.jsonl").exists(), (server.journal / "journal.jsonl").read_text()[:3000]


def http(url: str, params: dict, headers: dict) -> tuple[int, str]:
    """Send one request to the running server."""
    resp = requests.post(url, data=params, headers=headers, timeout=30)
    return resp.status_code, resp.text


def phone(base: str, from_: str = "+13125550199") -> Simulator:
    """Give a simulated caller on the running server."""
    return Simulator(send=http, token=TOKEN, base_url=base, from_=from_)


def in_parallel(jobs: list) -> list:
    """Run callables at the same instant (a barrier), in threads; give their results in order."""
    barrier = threading.Barrier(len(jobs))

    def run(job):
        barrier.wait()
        return job()

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(run, jobs))


def scalar(app, query):
    """Run one query against the test database."""
    with app.app_context():
        try:
            return db.session.execute(query).scalar_one()
        finally:
            db.session.remove()


def ticket_numbers(body: str) -> list[str]:
    """Give the ticket numbers a TwiML answer speaks ("1, 0, 0, 4" -> "1004")."""
    return [m.replace(", ", "") for m in re.findall(r"Your ticket number is ((?:\d, )*\d)\.", body)]


def test_the_same_incoming_webhook_delivered_in_parallel_is_one_call(line):
    """Eight deliveries of one incoming webhook at once (a retry storm) make one call and the same greeting."""
    app, base = line
    sim = phone(base)
    params = sim.params(CallStatus="ringing")
    token = {"I-Twilio-Idempotency-Token": "9b0c0f3e-0000-4000-8000-000000000001"}
    url = f"{base}/voice/incoming"

    results = in_parallel([lambda: signed_post(url, params, token)] * PARALLEL)
    assert [status for status, _ in results] == [200] * PARALLEL
    assert len({body for _, body in results}) == 1
    assert "Please choose a support level." in results[0][1]
    assert scalar(app, select(func.count()).select_from(Call)) == 1
    assert scalar(app, select(func.count()).select_from(CallEvent)) == PARALLEL


def signed_post(url: str, params: dict, extra_headers: dict) -> tuple[int, str]:
    """Post as Twilio would, with extra headers (the idempotency token of a retry)."""
    headers = {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, params), **extra_headers}
    return http(url, params, headers)


def test_the_same_level_choice_delivered_in_parallel_opens_one_ticket(line):
    """Eight deliveries of one level choice at once open one ticket, and every answer speaks its number."""
    app, base = line
    sim = phone(base).dial()
    url = f"{base}{sim.waiting.get('action')}"
    params = sim.params(Digits="2")
    token = {"I-Twilio-Idempotency-Token": "9b0c0f3e-0000-4000-8000-000000000002"}
    results = in_parallel([lambda: signed_post(url, params, token)] * PARALLEL)
    assert [status for status, _ in results] == [200] * PARALLEL
    number = scalar(app, select(Ticket.id)) + 1000
    assert [ticket_numbers(body) for _, body in results] == [[str(number)]] * PARALLEL
    assert scalar(app, select(func.count()).select_from(Ticket)) == 1
    assert scalar(app, select(func.count()).select_from(Call)) == 1


def test_many_callers_choosing_a_level_at_the_same_instant_get_unique_tickets(line):
    """Ten callers press a level at the same instant: ten tickets, ten different numbers, each told their own."""
    app, base = line
    callers = [phone(base, from_=f"+1312555{n:04d}") for n in range(10)]
    in_parallel([c.dial for c in callers])
    in_parallel([lambda c=c, n=n: c.press(str(1 + n % 3)) for n, c in enumerate(callers)])
    told = {}
    for c in callers:
        (spoken,) = ticket_numbers(c.said)
        told[c.call_sid] = int(spoken)
    assert len(set(told.values())) == 10
    with app.app_context():
        stored = {t.call.call_sid: t.number for t in db.session.execute(select(Ticket)).scalars()}
        levels = {c.call_sid: c.level for c in db.session.execute(select(Call)).scalars()}
        db.session.remove()
    assert stored == told
    assert [levels[c.call_sid] for c in callers] == [("basic", "technical", "critical")[n % 3] for n in range(10)]


@pytest.fixture
def two_engineers(line):
    """Put two engineers on duty by hand for the next day, whatever the time of the run."""
    app, base = line
    with app.app_context():
        policy = app.extensions["ivr.flow"].policy
        now = utcnow()
        for name, number in (("Anna", ANNA), ("Ben", BEN)):
            staff.add(name, number, "engineering", [])
            staff.set_duty(name, True, now + timedelta(days=1), now, policy)
        ids = {p.name: p.id for p in staff.everyone()}
        db.session.remove()
    return app, base, ids


def ring(base: str) -> tuple[Simulator, ET.Element]:
    """Make a Critical call and ring the engineers now, whatever the time: give the call and its Dial."""
    sim = phone(base).dial().press("3")
    status, body = sim.post("/voice/node/connect", sim.params())
    assert status == 200, body
    dial = ET.fromstring(body).find("Dial")
    assert dial is not None, body
    return sim, dial


def test_two_agents_pressing_1_at_the_same_instant_one_gets_the_call(two_engineers):
    """Both engineers accept at once: exactly one is connected, the other hears it is taken."""
    app, base, ids = two_engineers
    sim, dial = ring(base)
    legs = {n.text: n.get("url") for n in dial.findall("Number")}
    assert set(legs) == {ANNA, BEN}
    leg_params = {number: sim.params(CallSid=new_sid("CA"), ParentCallSid=sim.call_sid, Direction="outbound-dial") for number in legs}
    for number, url in legs.items():
        assert sim.post(url, leg_params[number])[0] == 200  # each hears the whisper
    results = in_parallel([lambda n=n, u=u: sim.post(u + "/answer", {**leg_params[n], "Digits": "1"}) for n, u in legs.items()])
    bodies = [body for status, body in results if status == 200]
    assert len(bodies) == 2
    bridged = [b for b in bodies if b.strip().endswith("<Response />")]
    taken = [b for b in bodies if "A colleague has already taken this call." in b]
    assert (len(bridged), len(taken)) == (1, 1)
    with app.app_context():
        call = db.session.execute(select(Call).where(Call.call_sid == sim.call_sid)).scalar_one()
        ticket = db.session.execute(select(Ticket)).scalar_one()
        results = sorted(a.result for a in db.session.execute(select(RingAttempt)).scalars())
        assert call.agent_id in ids.values() and ticket.assignee_id == call.agent_id
        assert results == ["accepted", "rejected"]
        db.session.remove()


def test_status_callbacks_racing_the_dial_action_give_the_serial_outcome(two_engineers):
    """The final status and the Dial action, each delivered twice, all at once: answered, with both durations."""
    app, base, ids = two_engineers
    sim, dial = ring(base)
    url = dial.find("Number").get("url")
    leg = sim.params(CallSid=new_sid("CA"), ParentCallSid=sim.call_sid, Direction="outbound-dial")
    sim.post(url, leg)
    assert sim.post(url + "/answer", {**leg, "Digits": "1"})[0] == 200
    done = sim.params(CallStatus="completed", CallDuration="200", SequenceNumber="5")
    action = sim.params(DialCallStatus="completed", DialCallDuration="150", DialBridged="true", DialCallSid=leg["CallSid"])
    dial_action = dial.get("action")
    results = in_parallel([lambda: sim.post("/voice/status", done), lambda: sim.post(dial_action, action)] * 2)
    assert [status for status, _ in results] == [200] * 4
    with app.app_context():
        call = db.session.execute(select(Call).where(Call.call_sid == sim.call_sid)).scalar_one()
        assert (call.outcome, call.status, call.duration, call.talk_seconds) == ("answered", "completed", 200, 150)
        assert db.session.execute(select(func.count()).select_from(Ticket)).scalar_one() == 1
        db.session.remove()


def test_the_recording_action_and_its_callbacks_racing_keep_one_recording(line):
    """The Record action, the recording status and the transcription, twice each at once: one recording, with its text."""
    app, base = line
    sim = phone(base).dial().press("2")
    status, body = sim.post("/voice/node/voicemail", sim.params())
    record = ET.fromstring(body).find("Record")
    assert status == 200 and record is not None
    rec = {
        "RecordingSid": new_sid("RE"),
        # Never fetched: archiving sends credentials only to Twilio's hosts, so the server makes no real request.
        "RecordingUrl": "https://recordings.example.invalid/RE" + "1" * 32,
        "RecordingDuration": "14",
    }
    requests_ = [
        (record.get("action"), sim.params(**rec)),
        (record.get("recordingStatusCallback"), sim.params(RecordingStatus="completed", **rec)),
        (record.get("transcribeCallback"), sim.params(TranscriptionText="It is broken.", TranscriptionStatus="completed", **rec)),
    ]
    results = in_parallel([lambda u=u, p=p: sim.post(u, p) for u, p in requests_] * 2)
    assert [status for status, _ in results] == [200] * 6
    with app.app_context():
        (stored,) = db.session.execute(select(Recording)).scalars().all()
        ticket = db.session.execute(select(Ticket)).scalar_one()
        assert (stored.status, stored.duration, stored.transcript, stored.ticket_id) == ("completed", 14, "It is broken.", ticket.id)
        db.session.remove()
