"""Keep a copy of every completed recording in RECORDINGS_DIR, as `<RecordingSid>.mp3`.

The recording-status webhook schedules `archive` off the caller's path; the
cron command `flask recordings sync` retries whatever is still pending (a
worker stopped, Twilio not ready, a network failure).

Running twice at once is safe, by construction rather than by a lock:

- the audio is written to a hidden temporary file in the same folder and moved
  into place with `os.replace`, which is atomic: readers see no file or the
  whole file, never part of one, and a second writer replaces identical bytes;
- an existing `<sid>.mp3` is proof of a finished download (only `os.replace`
  creates it), so a later run records it as archived without downloading;
- the database is changed by conditional UPDATEs that never touch a row already
  archived, and count failures in SQL (`attempts + 1`), so no update is lost
  and a late failure cannot undo a success. Only the run whose UPDATE marked
  the row archived deletes the recording at Twilio.

The worst a race costs is one extra download. A row lock held during the
download was rejected: the recording and transcription webhooks update the
same row and would wait on it, and webhooks must answer in milliseconds.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import time
from pathlib import Path

import click
import requests
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import case, func, select, update
from twilio.base.exceptions import TwilioException

from . import jobs, twilio_api
from .models import Recording, db, utcnow

log = logging.getLogger(__name__)

# A RecordingSid is used in a file name and a URL: nothing else may pass.
SID_PATTERN = re.compile(r"RE[0-9a-fA-F]{32}")
MAX_ATTEMPTS = 10
ERROR_CHARS = 500  # archive_error is a String(500); PostgreSQL refuses longer values
# Temporary files older than this were left by a process that died mid-download.
STALE_PART_SECONDS = 3600

cli = AppGroup("recordings", help="Archive recordings from Twilio into RECORDINGS_DIR.")


def valid_sid(sid: str) -> bool:
    """Tell whether this is a well-formed RecordingSid, safe in a path and a URL."""
    return bool(SID_PATTERN.fullmatch(sid or ""))


def file_name(sid: str) -> str:
    """Give the archived file's name, relative to RECORDINGS_DIR."""
    if not valid_sid(sid):
        raise ValueError(f"not a RecordingSid: {sid!r}")
    return f"{sid}.mp3"


def folder() -> Path:
    """Give RECORDINGS_DIR."""
    return Path(current_app.config["RECORDINGS_DIR"])


def schedule(recording_id: int) -> None:
    """Archive this recording off the caller's path (commit the row first)."""
    jobs.run_later(archive, recording_id)


def archive(recording_id: int) -> bool:
    """Download one completed recording into RECORDINGS_DIR; tell whether it is archived.

    Owns its transactions: it commits, so call it with a clean session (jobs and cron do).
    """
    rec = db.session.get(Recording, recording_id)
    if rec is None or rec.status != "completed" or not rec.url:
        return False
    if rec.archive_status == "archived":
        return True
    sid, url = rec.sid, rec.url
    if not valid_sid(sid):
        # Never retried into a download: the sid would become a path and a URL.
        log.error("recording %s has an invalid sid %r: not archived", recording_id, sid)
        _record_failure(recording_id, "refused: not a valid RecordingSid", final=True)
        return False
    # End the read transaction: none stays open while we talk to Twilio.
    db.session.commit()

    name = file_name(sid)
    target = folder() / name
    if not target.exists():
        try:
            data = twilio_api.fetch_media(url)
            _write_atomically(target, data)
        except twilio_api.MediaError as exc:
            _record_failure(recording_id, str(exc))
            return False
        except OSError as exc:
            _record_failure(recording_id, f"could not write the file: {exc.strerror or exc}")
            return False
    won = _record_success(recording_id, name)
    if won and current_app.config.get("ARCHIVE_DELETE_AT_TWILIO"):
        delete_at_twilio(sid)
    return True


def _write_atomically(target: Path, data: bytes) -> None:
    """Write `target` whole or not at all."""
    target.parent.mkdir(parents=True, exist_ok=True)
    # Same folder, so os.replace is a rename on one file system; the dot hides it from listings.
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            # On disk before it counts as archived: the copy at Twilio may be deleted next.
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)


def fsync_dir(path: Path) -> None:
    """Make a new or renamed file's name durable (POSIX); best effort elsewhere."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _record_success(recording_id: int, name: str) -> bool:
    """Mark the row archived unless another run did; tell whether this run did."""
    result = db.session.execute(
        update(Recording)
        .where(Recording.id == recording_id, Recording.archive_status != "archived")
        .values(archive_status="archived", archive_path=name, archived_at=utcnow(), archive_error=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    db.session.expire_all()
    return result.rowcount == 1


def _record_failure(recording_id: int, message: str, final: bool = False) -> None:
    """Count a failed attempt; the tenth (or a `final` one) marks the row failed."""
    attempts = Recording.archive_attempts + 1
    status = "failed" if final else case((attempts >= MAX_ATTEMPTS, "failed"), else_=Recording.archive_status)
    db.session.execute(
        update(Recording)
        # A failure reported after another run archived the row changes nothing.
        .where(Recording.id == recording_id, Recording.archive_status != "archived")
        .values(archive_attempts=attempts, archive_error=message[:ERROR_CHARS], archive_status=status)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    db.session.expire_all()
    log.warning("recording %s not archived: %s", recording_id, message)


def delete_at_twilio(sid: str) -> bool:
    """Delete a recording at Twilio (it is archived here); log a failure and carry on."""
    try:
        twilio_api.rest_client().recordings(sid).delete()
    except (TwilioException, requests.RequestException) as exc:
        log.warning("recording %s archived but not deleted at Twilio: %s", sid, _short(exc))
        return False
    return True


def _short(exc: Exception) -> str:
    """Describe a Twilio error in one short line."""
    code, msg = getattr(exc, "code", None), getattr(exc, "msg", None) or getattr(exc, "detail", None)
    return f"{code}: {msg}" if code else (msg or type(exc).__name__)


def sync(include_failed: bool = False) -> tuple[int, int]:
    """Archive every pending recording (and failed ones if asked); give (archived, still pending)."""
    statuses = ["pending", "failed"] if include_failed else ["pending"]
    eligible = (Recording.status == "completed", Recording.url != "")
    ids = db.session.execute(select(Recording.id).where(Recording.archive_status.in_(statuses), *eligible).order_by(Recording.id)).scalars()
    ids = list(ids)
    db.session.commit()
    archived = 0
    for recording_id in ids:
        try:
            archived += archive(recording_id)
        except Exception:
            # One bad row must not stop the rest; it stays pending for the next run.
            log.exception("archiving recording %s failed", recording_id)
            db.session.rollback()
    _remove_stale_parts()
    pending = db.session.execute(
        select(func.count()).select_from(Recording).where(Recording.archive_status == "pending", *eligible)
    ).scalar_one()
    return archived, pending


def _remove_stale_parts() -> None:
    """Remove temporary files left by a process that died mid-download."""
    cutoff = time.time() - STALE_PART_SECONDS
    try:
        parts = list(folder().glob(".RE*.part"))
    except OSError:
        return
    for part in parts:
        try:
            if part.stat().st_mtime < cutoff:
                part.unlink()
        except OSError:
            pass  # gone already, or another run removed it


@cli.command("sync")
@click.option("--all", "include_failed", is_flag=True, help="Also retry recordings marked failed.")
def sync_command(include_failed: bool) -> None:
    """Archive pending recordings (run from cron); print what happened."""
    archived, pending = sync(include_failed)
    click.echo(f"archived {archived}, still pending {pending}")
