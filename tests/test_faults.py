"""Faults the caller never hears: bugs, the database down mid-call, Twilio's API hanging.

The database outages are real where the machine allows: a SQLite file that is
no longer there, a PostgreSQL cluster of our own (never the shared test
server) stopped with pg_ctl and started again. Elsewhere the engine refuses
every connection, or every write, as a stopped or read-only server does.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
import requests
from flask_migrate import upgrade
from sqlalchemy import event, exc, func, select, text
from twilio.request_validator import RequestValidator

from ivr import jobs, journal, outage
from ivr.models import Call, CallEvent, Recording, TextMessage, Ticket, db
from ivr.simulator import Simulator, new_sid
from tests.conftest import CENTRAL, ROOT, TOKEN, make_app, transport

AC = "AC" + "0" * 32
MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{AC}/Messages.json"
GOAL_TECHNICAL = "Our response goal for technical support is 4 hours, so you will hear from us by 2 PM Central today."


def rows(app, model) -> list:
    """Read every row of a table, detached."""
    with app.app_context():
        found = db.session.execute(select(model).order_by(model.id)).scalars().all()
        db.session.expunge_all()
        return found


def count(app, model) -> int:
    """Count a table's rows."""
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def journal_status(app) -> dict:
    """Count what waits in the app's journal."""
    with app.app_context():
        return journal.status()


def phone(app) -> Simulator:
    """Give a simulated caller on this app."""
    return Simulator(send=transport(app.test_client()), token=TOKEN, mark_test=False)


# -- ways for the database to go away ------------------------------------------------------------


class Refused:
    """Refuse every new connection (a stopped server), or only writes (a read-only file or standby)."""

    def __init__(self, app, writes_only: bool = False):
        with app.app_context():
            self.engine = db.engine
        self.writes_only = writes_only
        self.down = False

    def _refuse_connect(self, *args, **kwargs):
        raise self.engine.dialect.loaded_dbapi.OperationalError("connection refused: the database is down")

    def _refuse_write(self, conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            raise self.engine.dialect.loaded_dbapi.OperationalError("attempt to write a readonly database")

    def stop(self) -> None:
        """Take the database away."""
        if self.writes_only:
            event.listen(self.engine, "before_cursor_execute", self._refuse_write)
        else:
            event.listen(self.engine, "do_connect", self._refuse_connect)
            self.engine.dispose()
        self.down = True

    def start(self) -> None:
        """Bring it back."""
        if not self.down:
            return
        if self.writes_only:
            event.remove(self.engine, "before_cursor_execute", self._refuse_write)
        else:
            event.remove(self.engine, "do_connect", self._refuse_connect)
        self.down = False


class SqliteFileGone:
    """Put a directory where the SQLite file was: every connection fails, as with a lost disk."""

    def __init__(self, app, path: Path):
        with app.app_context():
            self.engine = db.engine
        self.path = path
        self.away = path.with_name(path.name + ".away")
        self.down = False

    def stop(self) -> None:
        """Take the file away (root ignores file modes, so chmod would not do)."""
        self.engine.dispose()
        for suffix in ("-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        os.rename(self.path, self.away)
        self.path.mkdir()
        self.down = True

    def start(self) -> None:
        """Put the file back."""
        if not self.down:
            return
        self.path.rmdir()
        os.rename(self.away, self.path)
        self.engine.dispose()
        self.down = False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin() -> Path | None:
    """Find PostgreSQL's server binaries (Debian keeps them off the PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


@dataclass
class Cluster:
    """A PostgreSQL cluster of this test module's own, on a port of its own."""

    bin: Path
    data: Path
    port: int
    as_postgres: list[str]

    @property
    def url(self) -> str:
        """Give its SQLAlchemy URL."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str) -> None:
        """Run pg_ctl on this cluster as its owner."""
        subprocess.run(
            [*self.as_postgres, str(self.bin / "pg_ctl"), "-D", str(self.data), *args], check=True, capture_output=True, timeout=60
        )

    def start(self) -> None:
        """Start the server and wait until it takes connections."""
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.pg_ctl("-l", str(self.data / "server.log"), "-o", options, "-w", "start")

    def stop(self) -> None:
        """Stop the server now, as an operator or a crash would, cutting connections."""
        self.pg_ctl("-m", "fast", "-w", "stop")


@pytest.fixture(scope="module")
def throwaway_postgres():
    """Create, start and finally remove a PostgreSQL cluster nobody else uses."""
    bin_dir = _pg_bin()
    if bin_dir is None or not (bin_dir / "initdb").exists():
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    as_postgres: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="ivr-faults-pg-"))
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root: the cluster belongs to the postgres user.
        if not shutil.which("runuser"):
            pytest.skip("running as root without runuser to become postgres")
        try:
            import pwd

            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("no postgres user to own a throwaway cluster")
        os.chown(root, owner.pw_uid, owner.pw_gid)
        as_postgres = ["runuser", "-u", "postgres", "--"]
    data = root / "data"
    cluster = Cluster(bin_dir, data, _free_port(), as_postgres)
    try:
        subprocess.run(
            [*as_postgres, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        cluster.start()
        schema_app = make_app(cluster.url, root)
        with schema_app.app_context():
            upgrade(directory=str(ROOT / "migrations"))
            db.engine.dispose()
        yield cluster
    finally:
        with contextlib.suppress(Exception):
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


class Stopped:
    """Stop the throwaway cluster for real, and start it again."""

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.down = False

    def stop(self) -> None:
        """Stop PostgreSQL."""
        self.cluster.stop()
        self.down = True

    def start(self) -> None:
        """Start PostgreSQL."""
        if self.down:
            self.cluster.start()
            self.down = False


def _empty(app) -> None:
    with app.app_context():
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            conn.execute(text("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE"))


OUTAGES = ["connections-refused", "writes-refused", "sqlite-file-gone", "postgres-stopped"]


@pytest.fixture(params=OUTAGES)
def broken(request, app_factory, tmp_path):
    """Give (app, outage): an app on a database this test may take away, and the means to."""
    kind = request.param
    if kind == "postgres-stopped":
        cluster = request.getfixturevalue("throwaway_postgres")
        app = make_app(cluster.url, tmp_path)
        _empty(app)
        fault = Stopped(cluster)
    elif kind == "sqlite-file-gone":
        path = tmp_path / "line.sqlite3"
        app = make_app(f"sqlite:///{path}", tmp_path)
        with app.app_context():
            upgrade(directory=str(ROOT / "migrations"))
        fault = SqliteFileGone(app, path)
    else:
        app = app_factory()
        fault = Refused(app, writes_only=kind == "writes-refused")
    try:
        yield app, fault
    finally:
        fault.start()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


# -- the database goes away mid-call -------------------------------------------------------------


def test_database_down_mid_call_keeps_call_ticket_and_recording(broken, at):
    """The database goes away after the greeting: the caller hears the goal and leaves a message; all is there after."""
    app, fault = broken
    at("2026-12-01 10:00")  # a Tuesday, in hours
    call = phone(app).dial()
    assert "Please choose a support level." in call.said

    fault.stop()
    call.press("2")
    assert outage.APOLOGY in call.said
    assert GOAL_TECHNICAL in call.said
    assert outage.OUTAGE_NO_TICKET in call.said
    assert call.waiting.tag == "Record"
    call.leave_message("Our floor plan lost every desk on level 3.")
    assert call.heard[-1] == outage.FALLBACK_THANKS
    call.hang_up(duration=80)
    assert journal_status(app)["pending"] == 5  # level choice, message, recording status, transcript, final status

    fault.start()
    phone(app).dial()  # the next webhook the database takes replays the journal
    assert journal_status(app) == {"pending": 0, "rejected": 0}

    stored = next(c for c in rows(app, Call) if c.call_sid == call.call_sid)
    ticket = rows(app, Ticket)[0]
    (rec,) = rows(app, Recording)
    assert (stored.level, stored.status, stored.duration, stored.outcome) == ("technical", "completed", 80, "voicemail")
    assert ticket.call_id == stored.id and ticket.level == "technical"
    assert ticket.due_at == datetime(2026, 12, 1, 14, 0, tzinfo=CENTRAL)  # as the caller was told
    assert ticket.opened_at == datetime(2026, 12, 1, 10, 0, tzinfo=CENTRAL)
    assert (rec.call_id, rec.ticket_id, rec.status, rec.duration) == (stored.id, ticket.id, "completed", 12)
    assert rec.transcript == "Our floor plan lost every desk on level 3."
    assert count(app, Ticket) == 1


def test_database_down_from_the_first_ring(broken, at):
    """With the database down before the call, the caller still hears the menu, chooses, and leaves a message."""
    app, fault = broken
    at("2026-12-04 22:30")  # Friday night: the goal runs from Monday's opening
    fault.stop()
    call = phone(app).dial()
    assert call.heard[0] == "Thank you for calling OfficeSpace Software Support."
    assert "Please choose a support level." in call.said
    call.say("our whole system is down")
    assert "Our response goal for critical technical support is 2 hours, so you will hear from us by 7 AM Central on Monday." in call.said
    call.leave_message("Everything is down.").hang_up(duration=50)

    fault.start()
    with app.app_context():
        result = journal.replay()
    assert (result.replayed, result.rejected, result.interrupted) == (6, 0, False)
    (stored,) = rows(app, Call)
    (ticket,) = rows(app, Ticket)
    (rec,) = rows(app, Recording)
    assert (stored.call_sid, stored.from_raw, stored.from_e164, stored.level) == (call.call_sid, "+13125550199", "+13125550199", "critical")
    assert stored.started_at == datetime(2026, 12, 4, 22, 30, tzinfo=CENTRAL)
    assert (ticket.level, ticket.caller) == ("critical", "+13125550199")
    assert ticket.due_at == datetime(2026, 12, 7, 7, 0, tzinfo=CENTRAL)
    assert rec.ticket_id == ticket.id and rec.transcript == "Everything is down."
    trail = [e.endpoint for e in rows(app, CallEvent)]
    assert trail == ["incoming", "gather", "fallback_recorded", "recording_status", "transcription", "status"]


def test_replaying_twice_or_after_a_crash_writes_nothing_twice(app, at, tmp_path):
    """A batch replayed again (a crash before it was set aside) adds no call, ticket, recording or event."""
    fault = Refused(app)
    at("2026-12-01 10:00")
    fault.stop()
    call = phone(app).dial().press("1").leave_message().hang_up()
    fault.start()
    with app.app_context():
        assert journal.replay().replayed == 6
        # As if the process died after writing but before moving the batch aside.
        for done in (Path(app.config["JOURNAL_DIR"]) / journal.REPLAYED).iterdir():
            os.rename(done, Path(app.config["JOURNAL_DIR"]) / done.name)
        assert journal.replay().replayed == 6
        assert journal.replay().replayed == 0
    assert [count(app, m) for m in (Call, Ticket, Recording, CallEvent)] == [1, 1, 1, 6]
    assert rows(app, Call)[0].call_sid == call.call_sid


def test_a_retried_webhook_during_an_outage_is_one_event(app, at):
    """Twilio retrying a webhook (same I-Twilio-Idempotency-Token) while the database is down gives one trail event."""
    fault = Refused(app)
    at("2026-12-01 10:00")
    call = phone(app).dial()
    gather = call.waiting.get("action")
    fault.stop()
    client = app.test_client()
    params = call.params(Digits="3")
    headers = {
        "X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(f"http://localhost{gather}", params),
        "I-Twilio-Idempotency-Token": "b5a1c1e4-retry",
    }
    bodies = [client.post(gather, data=params, headers=headers) for _ in range(2)]
    assert [b.status_code for b in bodies] == [200, 200]
    assert bodies[0].get_data() == bodies[1].get_data()
    fault.start()
    with app.app_context():
        journal.replay()
    events = [e.endpoint for e in rows(app, CallEvent)]
    assert events == ["incoming", "gather"]
    assert rows(app, Ticket)[0].level == "critical"


def test_outage_menu_counts_failed_tries_in_the_url(app, at):
    """Three wrong keys during an outage still end as the menu says (a Basic goal), not in a loop."""
    fault = Refused(app)
    at("2026-12-01 10:00")
    fault.stop()
    call = phone(app).dial().press("7")
    assert call.waiting.get("action").endswith("?attempt=1")
    call.press("8")
    assert call.waiting.get("action").endswith("?attempt=2")
    call.press("#")
    assert "Let me open a ticket for basic product support" in call.said
    assert "Our response goal for basic product support is 24 hours" in call.said
    assert call.waiting.tag == "Record"


def test_fallback_url_works_with_the_database_down(app, at):
    """Twilio's Fallback URL answers without the database; the message and the error code reach the log later."""
    fault = Refused(app)
    at("2026-12-01 10:00")
    fault.stop()
    sim = phone(app)
    status, body = sim.post("/voice/fallback", sim.params(ErrorCode="11200", ErrorUrl="https://line.example/voice/incoming"))
    assert status == 200
    root = ET.fromstring(body)
    assert root.find("Record").get("action") == "/voice/fallback/recorded"
    assert outage.APOLOGY in body
    rec = {"RecordingSid": new_sid("RE"), "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{AC}/Recordings/RE1"}
    status, body = sim.post("/voice/fallback/recorded", sim.params(**rec, RecordingDuration="9"))
    assert status == 200 and outage.FALLBACK_THANKS in body
    fault.start()
    with app.app_context():
        journal.replay()
    (stored,) = rows(app, Call)
    assert stored.call_sid == sim.call_sid
    assert [(e.endpoint, e.params.get("ErrorCode")) for e in rows(app, CallEvent)] == [("fallback", "11200"), ("fallback_recorded", None)]
    assert rows(app, Recording)[0].sid == rec["RecordingSid"]


def test_fallback_number_is_rung_in_hours_when_configured(app_factory, at):
    """With FALLBACK_NUMBER set, a failure in hours rings it after the apology; no answer then takes a voicemail."""
    app = app_factory(FALLBACK_NUMBER="+13125550777")
    at("2026-12-01 10:00")
    call = phone(app).dial()
    Refused(app).stop()
    call.press("2")
    assert GOAL_TECHNICAL in call.said
    assert call.ringing_agent == "+13125550777"
    call.agent_does_not_answer()
    assert call.waiting.tag == "Record"
    assert call.heard[-1] == outage.FALLBACK_VOICEMAIL


def test_a_failing_journal_still_answers_and_logs_the_entry(app, at, monkeypatch, caplog):
    """If even the journal cannot be written, the caller is answered and the entry is in the log."""
    at("2026-12-01 10:00")
    call = phone(app).dial()
    Refused(app).stop()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(journal, "append", disk_full)
    call.press("2")
    assert GOAL_TECHNICAL in call.said
    assert "could not write to the journal; the entry was:" in caplog.text
    assert call.call_sid in caplog.text and '"level": "technical"' in caplog.text


# -- any exception in any webhook -----------------------------------------------------------------

EVERYTHING = {
    "Digits": "2",
    "SpeechResult": "technical",
    "RecordingSid": "RE" + "3" * 32,
    "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{AC}/Recordings/RE" + "3" * 32,
    "RecordingStatus": "completed",
    "RecordingDuration": "10",
    "TranscriptionSid": "TR" + "4" * 32,
    "TranscriptionText": "hello",
    "TranscriptionStatus": "completed",
    "DialCallStatus": "no-answer",
    "ErrorCode": "11200",
    "SequenceNumber": "3",
}


def voice_paths(app) -> list[str]:
    """Give a concrete path for every POST route under /voice/, whoever added it."""
    urls = app.url_map.bind("localhost")
    rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/voice/") and "POST" in (r.methods or ())]
    return sorted({urls.build(r.endpoint, dict.fromkeys(r.arguments, 1), method="POST") for r in rules})


def test_every_voice_webhook_answers_twiml_when_it_raises(app, at, monkeypatch, caplog):
    """A bug anywhere below any /voice/* webhook still answers 200 TwiML, logged with traceback and CallSid."""
    at("2026-12-01 10:00")

    def boom(*args, **kwargs):
        raise RuntimeError("boom in the call log")

    for name in ("get_or_start", "find_for_update", "find", "note", "record_status"):
        monkeypatch.setattr(f"ivr.calls.{name}", boom)
    # The fallback URL touches no database; a full disk is what can fail there.
    monkeypatch.setattr(journal, "append", boom)
    paths = voice_paths(app)
    assert {"/voice/incoming", "/voice/status", "/voice/recording-status", "/voice/transcription", "/voice/whisper/1"} <= set(paths)
    failures = []
    for path in paths:
        sim = phone(app)
        caplog.clear()
        status, body = sim.post(path, sim.params(ParentCallSid=sim.call_sid, **EVERYTHING))
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            root = None
        logged = [r for r in caplog.records if r.exc_info]
        if status != 200 or root is None or root.tag != "Response" or "Traceback" in body:
            failures.append(f"{path}: HTTP {status} {body[:200]!r}")
        elif not logged or sim.call_sid not in caplog.text:
            failures.append(f"{path}: failure not logged with its traceback and CallSid")
    assert failures == []


# -- Twilio's REST API slow or down ---------------------------------------------------------------


@pytest.fixture
def on_call_app(app_factory):
    """Give an app that texts two on-call engineers about Critical tickets after hours."""
    import dataclasses

    app = app_factory()
    app.extensions["ivr.flow"] = dataclasses.replace(app.extensions["ivr.flow"], on_call_engineers=("+13125550111", "+13125550112"))
    return app


def test_webhooks_never_call_twilio_rest_themselves(on_call_app, at, monkeypatch, no_network):
    """No webhook talks to Twilio's API: texts and archiving wait for jobs, which then do."""
    no_network.post(MESSAGES, status=201, json={"sid": "SM" + "5" * 32, "status": "queued"})
    no_network.get(re.compile(rf"https://api\.twilio\.com/2010-04-01/Accounts/{AC}/Recordings/RE\w+\.mp3"), body=b"ID3 audio")
    deferred = []
    monkeypatch.setattr(jobs, "run_later", lambda fn, *args: deferred.append((fn, args)))
    at("2026-12-05 23:00")  # Saturday night: a Critical ticket texts the on-call engineers
    call = phone(on_call_app).dial().press("3").silence().leave_message().hang_up()
    assert call.ended
    assert len(no_network.calls) == 0, [c.request.url for c in no_network.calls]
    assert {fn.__qualname__ for fn, _ in deferred} >= {"send", "archive"}
    with on_call_app.app_context():
        for fn, args in deferred:
            fn(*args)
    assert {c.request.method for c in no_network.calls} == {"POST", "GET"}
    assert [t.status for t in rows(on_call_app, TextMessage)] == ["sent", "sent"]


def test_a_webhook_answers_while_twilio_hangs(on_call_app, at, monkeypatch):
    """With jobs in threads, the webhook has answered while its text is still stuck in Twilio's API."""
    sending, release = threading.Event(), threading.Event()
    hung = []

    def hang(self, request, **kwargs):
        # The test client runs the webhook on this test's own thread: a REST call there is the failure.
        on_webhook = threading.current_thread() is threading.main_thread()
        hung.append((request.url, on_webhook))
        if not on_webhook:
            sending.set()
            release.wait(timeout=60)  # not a timing: the test releases it once the webhook has answered
        raise requests.ConnectionError("Twilio did not answer")

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", hang)
    on_call_app.config["JOBS"] = "thread"
    at("2026-12-05 23:00")
    call = phone(on_call_app).dial()
    call.press("3").silence()  # a Critical ticket after hours: two texts to the on-call engineers
    try:
        assert call.waiting.tag == "Record"
        assert sending.wait(timeout=20), "the text was never tried"
        assert not release.is_set()
    finally:
        release.set()
        for thread in threading.enumerate():
            if thread.name.startswith("job-"):
                thread.join(timeout=60)
    assert hung and all(url.startswith("https://api.twilio.com/") and not on_webhook for url, on_webhook in hung)
    assert {t.status for t in rows(on_call_app, TextMessage)} == {"pending"}
    assert {t.attempts for t in rows(on_call_app, TextMessage)} == {1}


def test_journal_lines_stay_whole_with_many_writers(tmp_path):
    """Processes and threads appending at once never tear or interleave a line."""
    directory = tmp_path / "journal"
    per_thread, processes, threads = 60, 4, 2
    script = f"""
import sys, threading
from pathlib import Path
from ivr import journal

def write(tag):
    for i in range({per_thread}):
        journal.append({{"id": f"{{tag}}-{{i}}", "params": {{"TranscriptionText": "x" * (i * 37 % 5000)}}}}, Path(sys.argv[1]))

threads = [threading.Thread(target=write, args=(sys.argv[2] + str(t),)) for t in range({threads})]
for t in threads:
    t.start()
for t in threads:
    t.join()
"""
    workers = [subprocess.Popen([sys.executable, "-c", script, str(directory), f"p{n}t"], cwd=ROOT) for n in range(processes)]
    assert [w.wait(timeout=120) for w in workers] == [0] * processes
    lines = (directory / journal.JOURNAL).read_text().splitlines()
    ids = [json.loads(line)["id"] for line in lines]
    assert len(ids) == len(set(ids)) == per_thread * processes * threads


def test_replay_waits_for_a_writer_and_loses_nothing(app, tmp_path):
    """Entries appended while a replay renames the journal land in this batch or the next, never nowhere."""
    directory = Path(app.config["JOURNAL_DIR"])
    written = []

    def writer():
        for i in range(300):
            with app.app_context():
                entry = journal.entry_for("status", {"CallSid": f"CA{i:032x}", "CallStatus": "ringing"})
            journal.append(entry, directory)
            written.append(entry["id"])

    thread = threading.Thread(target=writer)
    thread.start()
    with app.app_context():
        while thread.is_alive():
            journal.replay()
        thread.join()
        journal.replay()
        assert journal.status()["pending"] == 0
    assert len(written) == 300
    assert count(app, Call) == 300


def test_an_entry_that_cannot_be_replayed_is_set_aside_not_retried_forever(app, monkeypatch):
    """An unreadable line or an entry that hits a bug goes to rejected.jsonl; the others are written."""
    directory = Path(app.config["JOURNAL_DIR"])
    with app.app_context():
        entries = [journal.entry_for("incoming", {"CallSid": f"CA{n:032x}", "From": "+13125550100"}) for n in range(3)]
    entries[1]["id"] = "poison"
    journal.append(entries[0], directory)
    journal.append(entries[1], directory)
    with open(directory / journal.JOURNAL, "a") as f:
        f.write("{not json\n")
    journal.append(entries[2], directory)
    apply = journal.apply

    def buggy(flow, entry):
        if entry["id"] == "poison":
            raise KeyError("a bug")
        return apply(flow, entry)

    monkeypatch.setattr(journal, "apply", buggy)
    with app.app_context():
        result = journal.replay()
        assert journal.replay().replayed == 0  # set aside once, not retried on every replay
    assert (result.replayed, result.rejected) == (2, 2)
    rejected = [json.loads(line) for line in (directory / journal.REJECTED).read_text().splitlines()]
    assert [r["why"].split(":")[0] for r in rejected] == ["KeyError", "unreadable"]
    assert count(app, Call) == 2


def test_replay_stops_when_the_database_goes_away_again(app):
    """A replay that meets the outage again keeps the rest for next time."""
    directory = Path(app.config["JOURNAL_DIR"])
    with app.app_context():
        for n in range(3):
            journal.append(journal.entry_for("incoming", {"CallSid": f"CA{n:032x}"}), directory)
    fault = Refused(app)
    fault.stop()
    with app.app_context():
        result = journal.replay()
    assert result.interrupted and result.replayed == 0
    fault.start()
    with app.app_context():
        assert journal.replay().replayed == 3


def test_journal_replay_command(app, at):
    """`flask journal replay` writes what an outage left and says how much."""
    fault = Refused(app)
    at("2026-12-01 10:00")
    fault.stop()
    phone(app).dial().press("2")
    runner = app.test_cli_runner()
    down = runner.invoke(args=["journal", "replay"])
    assert down.exit_code == 1
    assert "still unavailable" in down.output
    fault.start()
    status = runner.invoke(args=["journal", "status"])
    assert "pending 2" in status.output
    result = runner.invoke(args=["journal", "replay"])
    assert result.exit_code == 0, result.output
    assert "replayed 2, rejected 0, still pending 0" in result.output
    assert count(app, Ticket) == 1


def test_database_unavailable_tells_outages_from_bugs():
    """Connection and read-only errors wait for the database; data errors are the entry's fault."""
    assert journal.database_unavailable(exc.OperationalError("SELECT 1", {}, Exception("down")))
    assert not journal.database_unavailable(exc.DataError("INSERT", {}, Exception("too long")))
    assert not journal.database_unavailable(RuntimeError("bug"))
