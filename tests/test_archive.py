"""Archiving recordings into RECORDINGS_DIR, and the jobs seam that runs it off the caller's path."""

from __future__ import annotations

import base64
import logging
import os
import secrets
import threading
import time

import pytest
import requests
import responses

from ivr import archive, jobs, twilio_api
from ivr.models import Call, Recording, db
from tests.conftest import TOKEN

AC = "AC" + "0" * 32
SID = "RE" + "0123456789abcdef" * 2
BASE = f"https://api.twilio.com/2010-04-01/Accounts/{AC}/Recordings"
AUDIO = b"ID3\x04\x00fake mp3 bytes"


@pytest.fixture
def rec_dir(tmp_path):
    """Give the RECORDINGS_DIR of the test app (not created yet)."""
    return tmp_path / "rec"


@pytest.fixture
def app(app_factory, rec_dir):
    """Give an app that runs jobs inline and archives into rec_dir."""
    return app_factory(JOBS="inline", RECORDINGS_DIR=str(rec_dir))


@pytest.fixture
def mock():
    """Mock Twilio's API for one test."""
    # Any request not registered here fails as a connection error: no real network.
    with responses.RequestsMock(assert_all_requests_are_fired=False) as m:
        yield m


def add_recording(app, sid=SID, status="completed", url=None, **fields) -> int:
    """Insert a call and one recording of it; give the recording's id."""
    with app.app_context():
        call = Call(call_sid="CA" + secrets.token_hex(16), from_raw="+13125550199")
        db.session.add(call)
        db.session.flush()
        rec = Recording(sid=sid, call_id=call.id, status=status, url=f"{BASE}/{sid}" if url is None else url, **fields)
        db.session.add(rec)
        db.session.commit()
        return rec.id


def load(app, recording_id) -> dict:
    """Read a recording's archive columns afresh."""
    with app.app_context():
        rec = db.session.get(Recording, recording_id)
        return {
            "status": rec.archive_status,
            "path": rec.archive_path,
            "attempts": rec.archive_attempts,
            "error": rec.archive_error,
            "at": rec.archived_at,
        }


def run_archive(app, recording_id) -> bool:
    """Archive one recording as a job would."""
    with app.app_context():
        return archive.archive(recording_id)


def run_sync(app, include_failed=False) -> tuple[int, int]:
    """Run the cron sync."""
    with app.app_context():
        return archive.sync(include_failed)


def files(folder) -> list[str]:
    """List every file in the folder, hidden ones too."""
    return sorted(os.listdir(folder)) if folder.exists() else []


def media(mock, status=200, body=AUDIO, sid=SID):
    """Answer the download of a recording's mp3."""
    return mock.get(f"{BASE}/{sid}.mp3", status=status, body=body)


# -- archive --------------------------------------------------------------


def test_archive_writes_one_file_and_marks_it_archived(app, mock, rec_dir):
    rid = add_recording(app)
    download = media(mock)

    assert run_archive(app, rid) is True

    assert files(rec_dir) == [f"{SID}.mp3"]
    assert (rec_dir / f"{SID}.mp3").read_bytes() == AUDIO
    state = load(app, rid)
    assert state["status"] == "archived"
    assert state["path"] == f"{SID}.mp3"
    assert state["at"] is not None and state["attempts"] == 0 and state["error"] is None
    assert download.call_count == 1
    sent = mock.calls[0].request.headers["Authorization"]
    assert sent == "Basic " + base64.b64encode(f"{AC}:{TOKEN}".encode()).decode()


def test_server_error_leaves_it_pending_then_sync_archives_it(app, mock, rec_dir):
    rid = add_recording(app)
    failing = media(mock, status=500, body=b"oops")

    assert run_archive(app, rid) is False

    state = load(app, rid)
    assert (state["status"], state["attempts"], state["error"]) == ("pending", 1, "HTTP 500 from Twilio")
    assert files(rec_dir) == []  # no partial file, not even the temporary one

    mock.remove(failing)
    media(mock)
    assert run_sync(app) == (1, 0)
    assert load(app, rid)["status"] == "archived"
    assert files(rec_dir) == [f"{SID}.mp3"]


def test_timeout_leaves_it_pending(app, mock, rec_dir):
    rid = add_recording(app)
    media(mock, body=requests.exceptions.ConnectTimeout("connect timed out"))

    assert run_archive(app, rid) is False

    state = load(app, rid)
    assert (state["status"], state["attempts"]) == ("pending", 1)
    assert state["error"].startswith("timed out")
    assert files(rec_dir) == []


def test_connection_error_leaves_it_pending(app, mock):
    rid = add_recording(app)
    media(mock, body=requests.exceptions.ConnectionError("refused"))

    assert run_archive(app, rid) is False

    state = load(app, rid)
    assert (state["status"], state["error"]) == ("pending", "could not connect: ConnectionError")


def test_not_ready_then_archived_by_sync(app, mock, rec_dir):
    rid = add_recording(app)
    missing = media(mock, status=404)

    assert run_archive(app, rid) is False
    assert load(app, rid)["error"] == "not ready yet"

    mock.remove(missing)
    media(mock)
    assert run_sync(app) == (1, 0)
    state = load(app, rid)
    assert (state["status"], state["attempts"]) == ("archived", 1)
    assert state["error"] is None


def test_archiving_twice_downloads_once_and_keeps_one_file(app, mock, rec_dir):
    rid = add_recording(app)
    download = media(mock)

    assert run_archive(app, rid) is True
    assert run_archive(app, rid) is True
    assert run_sync(app) == (0, 0)

    assert download.call_count == 1
    assert files(rec_dir) == [f"{SID}.mp3"]


def test_a_file_left_by_an_interrupted_run_is_adopted_without_download(app, mock, rec_dir):
    # Only os.replace creates <sid>.mp3, so it is complete even if the run died before its UPDATE.
    rid = add_recording(app)
    rec_dir.mkdir()
    (rec_dir / f"{SID}.mp3").write_bytes(AUDIO)

    assert run_archive(app, rid) is True

    assert len(mock.calls) == 0
    assert load(app, rid)["status"] == "archived"


def test_delete_at_twilio_after_archiving_when_configured(app_factory, mock, rec_dir):
    app = app_factory(JOBS="inline", RECORDINGS_DIR=str(rec_dir), ARCHIVE_DELETE_AT_TWILIO=True)
    rid = add_recording(app)
    media(mock)
    delete = mock.delete(f"{BASE}/{SID}.json", status=204)

    assert run_archive(app, rid) is True

    assert delete.call_count == 1
    assert [c.request.method for c in mock.calls] == ["GET", "DELETE"]  # the copy is safe before the delete
    assert load(app, rid)["status"] == "archived"


def test_failed_delete_at_twilio_is_logged_not_fatal(app_factory, mock, rec_dir, caplog):
    app = app_factory(JOBS="inline", RECORDINGS_DIR=str(rec_dir), ARCHIVE_DELETE_AT_TWILIO=True)
    rid = add_recording(app)
    media(mock)
    mock.delete(f"{BASE}/{SID}.json", status=500, json={"code": 20500, "message": "Internal Server Error"})

    with caplog.at_level(logging.WARNING, logger="ivr.archive"):
        assert run_archive(app, rid) is True

    assert load(app, rid)["status"] == "archived"
    assert "not deleted at Twilio: 20500: Unable to delete record: Internal Server Error" in caplog.text


def test_no_delete_at_twilio_by_default(app, mock):
    rid = add_recording(app)
    media(mock)

    assert run_archive(app, rid) is True

    assert [c.request.method for c in mock.calls] == ["GET"]


@pytest.mark.parametrize(
    "sid",
    [
        "../../../etc/passwd",
        "RE" + "0" * 31 + "/",
        "RE" + "g" * 32,
        "RE" + "0" * 32 + "\n",
        "re" + "0" * 32,
        "RE" + "0" * 33,
        "",
    ],
)
def test_a_bad_sid_is_refused(app, mock, tmp_path, sid):
    rid = add_recording(app, sid=sid, url=f"{BASE}/{SID}")

    assert run_archive(app, rid) is False

    assert len(mock.calls) == 0
    state = load(app, rid)
    assert state["status"] == "failed"
    assert state["error"].startswith("refused")
    assert not any(p.suffix == ".mp3" for p in tmp_path.rglob("*"))


def test_credentials_go_only_to_twilio(app, mock, rec_dir):
    http = add_recording(app, url=f"http://api.twilio.com/2010-04-01/Accounts/{AC}/Recordings/{SID}")
    other = add_recording(app, sid="RE" + "1" * 32, url="https://api.twilio.com.evil.example/Recordings/x")

    assert run_archive(app, http) is False
    assert run_archive(app, other) is False

    assert len(mock.calls) == 0
    assert load(app, http)["error"] == "refused: credentials go only to https://*.twilio.com, not http://api.twilio.com"
    assert load(app, other)["status"] == "pending"
    assert files(rec_dir) == []


def test_only_completed_recordings_with_a_url_are_archived(app, mock, rec_dir):
    in_progress = add_recording(app, status="in-progress")
    absent = add_recording(app, sid="RE" + "1" * 32, status="absent")
    no_url = add_recording(app, sid="RE" + "2" * 32, url="")

    assert [run_archive(app, r) for r in (in_progress, absent, no_url)] == [False, False, False]
    assert run_sync(app, include_failed=True) == (0, 0)

    assert len(mock.calls) == 0
    assert {load(app, r)["attempts"] for r in (in_progress, absent, no_url)} == {0}


def test_ten_failures_mark_it_failed_and_only_sync_all_retries(app, mock, rec_dir):
    rid = add_recording(app)
    failing = media(mock, status=503)

    for _ in range(archive.MAX_ATTEMPTS - 1):
        assert run_sync(app) == (0, 1)
    assert load(app, rid)["status"] == "pending"
    assert run_sync(app) == (0, 0)
    state = load(app, rid)
    assert (state["status"], state["attempts"], state["error"]) == ("failed", 10, "HTTP 503 from Twilio")

    assert run_sync(app) == (0, 0)
    assert failing.call_count == archive.MAX_ATTEMPTS  # plain sync leaves failed ones alone

    mock.remove(failing)
    media(mock)
    assert run_sync(app, include_failed=True) == (1, 0)
    assert load(app, rid)["status"] == "archived"


def test_a_failure_reported_after_another_run_archived_it_changes_nothing(app, mock, rec_dir):
    rid = add_recording(app)

    def meanwhile_another_run_archives_it(request):
        # As a concurrent cron run would: the file in place and the row archived, then deleted at Twilio.
        with app.app_context():
            rec_dir.mkdir(exist_ok=True)
            (rec_dir / f"{SID}.mp3").write_bytes(AUDIO)
            db.session.get(Recording, rid).archive_status = "archived"
            db.session.commit()
        return 404, {}, b""

    mock.add_callback(responses.GET, f"{BASE}/{SID}.mp3", callback=meanwhile_another_run_archives_it)

    assert run_archive(app, rid) is False

    state = load(app, rid)
    assert (state["status"], state["attempts"], state["error"]) == ("archived", 0, None)
    assert files(rec_dir) == [f"{SID}.mp3"]


def test_only_the_run_that_archived_it_deletes_at_twilio(app_factory, mock, rec_dir):
    app = app_factory(JOBS="inline", RECORDINGS_DIR=str(rec_dir), ARCHIVE_DELETE_AT_TWILIO=True)
    rid = add_recording(app)

    def meanwhile_another_run_archives_it(request):
        with app.app_context():
            db.session.get(Recording, rid).archive_status = "archived"
            db.session.commit()
        return 200, {}, AUDIO

    mock.add_callback(responses.GET, f"{BASE}/{SID}.mp3", callback=meanwhile_another_run_archives_it)

    assert run_archive(app, rid) is True

    assert [c.request.method for c in mock.calls] == ["GET"]  # the other run deletes, not this one
    assert files(rec_dir) == [f"{SID}.mp3"]


def test_sync_removes_stale_temporary_files_only(app, rec_dir):
    rec_dir.mkdir()
    stale, fresh = rec_dir / f".{SID}.old.part", rec_dir / f".{SID}.new.part"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    hours_ago = time.time() - 2 * archive.STALE_PART_SECONDS
    os.utime(stale, (hours_ago, hours_ago))

    run_sync(app)

    assert files(rec_dir) == [fresh.name]


def test_schedule_archives_through_the_jobs_seam(app, mock, rec_dir):
    rid = add_recording(app)
    media(mock)

    with app.test_request_context():
        archive.schedule(rid)

    assert load(app, rid)["status"] == "archived"


def test_cli_sync(app, mock, rec_dir):
    add_recording(app)
    add_recording(app, sid="RE" + "1" * 32)
    media(mock)
    media(mock, status=404, sid="RE" + "1" * 32)

    result = app.test_cli_runner().invoke(args=["recordings", "sync"])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "archived 1, still pending 1"
    assert app.test_cli_runner().invoke(args=["recordings", "sync", "--all"]).exit_code == 0


# -- twilio_api -----------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"{BASE}/{SID}", f"{BASE}/{SID}.mp3"),
        (f"{BASE}/{SID}.wav", f"{BASE}/{SID}.wav"),
        (f"{BASE}/{SID}.mp3", f"{BASE}/{SID}.mp3"),
        (f"{BASE}/{SID}?RequestedChannels=1", f"{BASE}/{SID}.mp3?RequestedChannels=1"),
    ],
)
def test_media_url(url, expected):
    assert twilio_api.media_url(url) == expected


def test_fetch_media_uses_the_configured_timeout(app_factory, mock):
    app = app_factory(TWILIO_TIMEOUT=3.5)
    media(mock)
    with app.app_context():
        assert twilio_api.fetch_media(f"{BASE}/{SID}") == AUDIO
        assert twilio_api.rest_client().http_client.timeout == 3.5
    assert mock.calls[0].request.req_kwargs["timeout"] == 3.5


@pytest.mark.parametrize(("status", "error"), [(404, twilio_api.MediaNotReady), (401, twilio_api.MediaError), (502, twilio_api.MediaError)])
def test_fetch_media_errors(app, mock, status, error):
    media(mock, status=status, body=b"")
    with app.app_context(), pytest.raises(error):
        twilio_api.fetch_media(f"{BASE}/{SID}")


def test_an_empty_download_is_an_error(app, mock):
    media(mock, body=b"")
    with app.app_context(), pytest.raises(twilio_api.MediaError, match="empty"):
        twilio_api.fetch_media(f"{BASE}/{SID}")


# -- jobs -----------------------------------------------------------------


def test_inline_job_runs_now_in_its_own_app_context(app):
    seen = []
    with app.test_request_context():
        outer = db.session()
        jobs.run_later(lambda x: seen.append((x, db.session() is outer)), 7)
    assert seen == [(7, False)]


def test_thread_job_runs_in_the_background_with_the_app(app_factory):
    app = app_factory(JOBS="thread")
    done = threading.Event()
    seen = []

    def job(x):
        from flask import current_app

        seen.append((x, current_app.name, threading.current_thread() is not threading.main_thread()))
        done.set()

    with app.test_request_context():
        jobs.run_later(job, 1)
    assert done.wait(5)
    assert seen == [(1, app.name, True)]


@pytest.mark.parametrize("mode", ["inline", "thread"])
def test_a_failing_job_is_logged_not_raised(app_factory, caplog, mode):
    app = app_factory(JOBS=mode)
    done = threading.Event()

    def job():
        done.set()
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="ivr.jobs"), app.test_request_context():
        jobs.run_later(job)
        assert done.wait(5)
        for _ in range(100):  # the thread logs just after it sets the event
            if "boom" in caplog.text:
                break
            time.sleep(0.01)
    assert "boom" in caplog.text


def test_an_unknown_jobs_mode_is_refused(app_factory):
    app = app_factory(JOBS="celery")
    with app.app_context(), pytest.raises(ValueError, match="JOBS"):
        jobs.run_later(print)
