"""The journal: what a webhook could not write to the database, kept on local disk until it can.

When the database is down or failing mid-call, the caller is still answered
(see `ivr.outage`), and the webhook's facts (who called, the level chosen and
the due time the caller heard, the recording, the transcript, the final status)
are appended to a journal of JSON lines under JOURNAL_DIR. `replay` writes them
into the database later: automatically after the next webhook that commits,
and with `flask --app wsgi journal replay`.

Several gunicorn workers append to one file at once, safely:

- each entry is one line written by a single `write` on a file opened with
  `O_APPEND`, so lines never interleave, then `fsync`ed before the webhook
  answers (a caller's message is not left in the page cache);
- writers hold a shared `flock` while appending, and check that the file they
  opened is still the journal: `replay` first renames the journal to a batch
  file, then takes an exclusive lock on it, which waits for writers already in
  it; a writer that finds the journal renamed under it simply opens the new one.

Replaying is idempotent, so a batch may be replayed again after a crash or a
second outage halfway: calls are keyed by CallSid, tickets by call (both
unique in the schema), recordings by RecordingSid, and trail events carry the
entry's id (Twilio's `I-Twilio-Idempotency-Token` when given, so a webhook
Twilio retried during the outage is one event). A batch whose every entry was
applied is moved to `replayed/`; an entry that fails for any reason other than
the database being unavailable goes to `rejected.jsonl` for an operator.
POSIX only (`fcntl`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import exc as sa_exc
from sqlalchemy import select, update

from . import archive, calls, jobs, tickets
from .line import keep_recording, keep_transcript
from .models import CallEvent, Recording, db, utcnow

log = logging.getLogger(__name__)

VERSION = 1
JOURNAL = "journal.jsonl"
BATCH_PREFIX = "replaying-"
REPLAYED = "replayed"
REJECTED = "rejected.jsonl"
LOCK = ".replay.lock"
# A webhook's parameters are short; these bound what a hostile or broken
# request can make us write to disk.
MAX_VALUE_CHARS = 20_000
MAX_PARAMS = 100
# Errors that say "the database is not there right now", as opposed to "this entry is bad".
UNAVAILABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError, sa_exc.DisconnectionError)
# PostgreSQL's codes for "not now": read-only (a standby, a failover), shutting down, too many connections.
UNAVAILABLE_SQLSTATES = frozenset({"25006", "57P01", "57P02", "57P03", "53300"})
# Endpoints whose parameters describe a recording worth keeping.
RECORDING_ENDPOINTS = ("recorded", "fallback_recorded", "recording_status")

cli = AppGroup("journal", help="Webhooks kept on disk while the database was unavailable.")


def folder() -> Path:
    """Give JOURNAL_DIR."""
    return Path(current_app.config["JOURNAL_DIR"])


def database_unavailable(error: BaseException) -> bool:
    """Tell whether an error means the database is unreachable or refusing writes, not a bug."""
    if isinstance(error, UNAVAILABLE):
        return True
    if not isinstance(error, sa_exc.DBAPIError):
        return False
    return bool(error.connection_invalidated) or getattr(error.orig, "sqlstate", None) in UNAVAILABLE_SQLSTATES


def entry_for(endpoint: str, params: dict, node: str | None = None, idempotency_token: str | None = None, **facts) -> dict:
    """Build one journal entry: a webhook's parameters plus what the line decided (level, due time)."""
    kept = {}
    for key, value in list(params.items())[:MAX_PARAMS]:
        kept[str(key)[:100]] = str(value)[:MAX_VALUE_CHARS]
    entry = {
        "v": VERSION,
        # Twilio's token makes a retried webhook the same entry; else a fresh id.
        "id": (idempotency_token or "")[:100] or uuid.uuid4().hex,
        "at": utcnow().isoformat(),
        "endpoint": endpoint,
        "node": node,
        "params": kept,
    }
    entry.update({k: v for k, v in facts.items() if v is not None})
    return entry


def append(entry: dict, directory: Path | None = None) -> None:
    """Append one entry to the journal, durably; raise OSError if it cannot be written."""
    directory = directory or folder()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    # ensure_ascii: the line holds no raw newline or odd byte whatever the caller said.
    data = (json.dumps(entry, ensure_ascii=True, separators=(",", ":"), default=str) + "\n").encode("ascii")
    path = directory / JOURNAL
    for _ in range(20):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            if not _is_current(fd, path):
                continue  # replay renamed it between our open and our lock: use the new one
            fresh = os.fstat(fd).st_size == 0
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(f"short write to the journal ({written} of {len(data)} bytes)")
            os.fsync(fd)
        finally:
            os.close(fd)
        if fresh:
            archive.fsync_dir(directory)
        return
    raise OSError("the journal kept being renamed under us")


def _is_current(fd: int, path: Path) -> bool:
    """Tell whether the open file is still the one at `path`."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def keep(entry: dict) -> bool:
    """Append an entry, never raising: if even the disk fails, the whole entry goes to the log."""
    try:
        append(entry)
        return True
    except Exception:
        # The last place left: an operator can still rebuild the call from the log line.
        log.exception("could not write to the journal; the entry was: %s", json.dumps(entry, default=str))
        return False


def pending(directory: Path | None = None) -> bool:
    """Tell, with one directory listing, whether anything waits to be replayed."""
    try:
        with os.scandir(directory or folder()) as it:
            return any(e.name == JOURNAL or (e.name.startswith(BATCH_PREFIX) and e.name.endswith(".jsonl")) for e in it)
    except FileNotFoundError:
        return False


def replay_soon() -> None:
    """Replay the journal off the caller's path if anything is waiting (cheap when nothing is)."""
    if pending():
        jobs.run_later(replay)


@dataclass
class Result:
    """What one replay did."""

    replayed: int = 0
    rejected: int = 0
    # True when the database failed again partway: the rest waits for the next replay.
    interrupted: bool = False
    # False when another process was replaying already.
    ran: bool = True


@contextlib.contextmanager
def _replay_lock(directory: Path, wait: bool) -> Iterator[bool]:
    """Let one replay run at a time across workers; yield whether this one may."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def _rotate(directory: Path) -> None:
    """Turn the journal into a batch, and wait for writers still appending to it."""
    source = directory / JOURNAL
    if not source.exists():
        return
    # A sequence number keeps batches in the order written (clocks may repeat or step back).
    seq = max((_sequence(p) for p in _batches(directory) + _batches(directory / REPLAYED)), default=0) + 1
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    target = directory / f"{BATCH_PREFIX}{seq:09d}-{stamp}-{os.getpid()}-{secrets.token_hex(3)}.jsonl"
    try:
        os.rename(source, target)
    except FileNotFoundError:
        return
    archive.fsync_dir(directory)
    fd = os.open(target, os.O_RDONLY)
    try:
        # Writers hold a shared lock while appending; this waits until the last one is done.
        fcntl.flock(fd, fcntl.LOCK_EX)
    finally:
        os.close(fd)


def _batches(directory: Path) -> list[Path]:
    """List the batches in a folder, oldest first."""
    return sorted(directory.glob(f"{BATCH_PREFIX}*.jsonl"), key=_sequence)


def _sequence(path: Path) -> int:
    """Read a batch's sequence number from its name."""
    try:
        return int(path.name[len(BATCH_PREFIX) :].split("-", 1)[0])
    except ValueError:
        return 0


def _reject(directory: Path, line: str, why: str) -> None:
    """Set an entry aside for an operator, with the reason."""
    record = {"rejected_at": utcnow().isoformat(), "why": why[:500], "line": line}
    data = (json.dumps(record, ensure_ascii=True) + "\n").encode("ascii")
    fd = os.open(directory / REJECTED, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def replay(wait: bool = False) -> Result:
    """Write every journaled entry into the database, once; stop early if it is unavailable again."""
    directory = folder()
    result = Result()
    with _replay_lock(directory, wait) as mine:
        if not mine:
            return Result(ran=False)
        # Entries written while we replay form a new journal: go round until none is left.
        for _ in range(10):
            _rotate(directory)
            batches = _batches(directory)
            if not batches:
                break
            for batch in batches:
                if not _replay_batch(directory, batch, result):
                    result.interrupted = True
                    return result
    if result.replayed or result.rejected:
        log.warning("journal replayed: %s entries written, %s rejected", result.replayed, result.rejected)
    return result


def _replay_batch(directory: Path, batch: Path, result: Result) -> bool:
    """Apply one batch; move it to replayed/ when done; False if the database went away."""
    flow = current_app.extensions["ivr.flow"]
    for line in batch.read_text(encoding="ascii", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict) or not isinstance(entry.get("params"), dict):
                raise ValueError("not a journal entry")
        except ValueError as error:
            _reject(directory, line, f"unreadable: {error}")
            result.rejected += 1
            continue
        if not _replay_entry(directory, flow, entry, line, result):
            return False
    done = directory / REPLAYED
    done.mkdir(exist_ok=True, mode=0o700)
    os.replace(batch, done / batch.name)
    archive.fsync_dir(directory)
    return True


def _replay_entry(directory: Path, flow, entry: dict, line: str, result: Result) -> bool:
    """Apply one entry, retrying a lost race once; False if the database is unavailable."""
    for attempt in (1, 2):
        try:
            archive_ids = apply(flow, entry)
            db.session.commit()
        except Exception as error:
            db.session.rollback()
            if database_unavailable(error):
                log.warning("journal replay stopped, the database is unavailable: %s", type(error).__name__)
                return False
            if isinstance(error, sa_exc.IntegrityError) and attempt == 1:
                continue  # a webhook wrote the same row at the same moment: go again, it is there now
            log.exception("journal entry %s could not be replayed; set aside in %s", entry.get("id"), REJECTED)
            _reject(directory, line, f"{type(error).__name__}: {error}")
            result.rejected += 1
            return True
        result.replayed += 1
        for recording_id in archive_ids:
            archive.schedule(recording_id)
        return True
    return True  # pragma: no cover - the loop always returns


def _instant(value, default: datetime) -> datetime:
    """Read an ISO instant from an entry; the default when absent or unreadable."""
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return default
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def apply(flow, entry: dict) -> list[int]:
    """Write one entry's facts to the call log (the caller commits); give recordings to archive."""
    params = {k: v for k, v in entry["params"].items() if isinstance(v, str)}
    if not calls.plausible_sid(params.get("CallSid", "")):
        return []  # e.g. a fallback request without a call: its log line is all there is
    at = _instant(entry.get("at"), utcnow())
    call = calls.get_or_start(params)
    if call.started_at is None or call.started_at > at:
        # Created now by the replay, or by a later webhook: the call began when the entry says.
        call.started_at = at
    _note_once(call, entry, params, at)

    level = entry.get("level")
    if level in flow.levels:
        call.level = call.level or level
        had_ticket = tickets.for_call(call) is not None
        ticket = tickets.open_for_call(flow, call, call.level, now=at)
        if not had_ticket:
            # Keep the due time the caller was promised during the outage.
            ticket.due_at = _instant(entry.get("due_at"), ticket.due_at)
        db.session.flush()
        # A message left before the ticket existed belongs on it too.
        db.session.execute(
            update(Recording)
            .where(Recording.call_id == call.id, Recording.ticket_id.is_(None))
            .values(ticket_id=ticket.id)
            .execution_options(synchronize_session=False)
        )

    endpoint = entry.get("endpoint")
    rec = None
    if endpoint in RECORDING_ENDPOINTS and params.get("RecordingSid") and (params.get("RecordingUrl") or params.get("RecordingStatus")):
        rec = keep_recording(call, params)
    elif endpoint == "transcription" and params.get("RecordingSid"):
        rec = keep_transcript(call, params)
    elif endpoint == "status":
        ended = call.ended_at
        calls.record_status(call, params)
        if ended is None and call.ended_at is not None:
            call.ended_at = at
    elif endpoint == "dialed" and params.get("DialCallStatus"):
        call.dial_status = params["DialCallStatus"][:32]
    calls.refresh_outcome(call)
    db.session.flush()
    if rec is not None and rec.status == "completed" and rec.archive_status == "pending":
        return [rec.id]
    return []


def _note_once(call, entry: dict, params: dict, at: datetime) -> None:
    """Put the entry on the call's trail, unless an earlier replay did."""
    entry_id = str(entry.get("id", ""))[:100]
    seen = db.session.execute(select(CallEvent.params).where(CallEvent.call_id == call.id)).scalars()
    if any(isinstance(p, dict) and p.get("journal") == entry_id for p in seen):
        return
    kept = {k: params[k][: calls.MAX_PARAM_CHARS] for k in calls.TRAIL_PARAMS if params.get(k)}
    kept["journal"] = entry_id
    endpoint = str(entry.get("endpoint") or "journal")[:64]
    db.session.add(CallEvent(call=call, endpoint=endpoint, params=kept, at=at))


def status(directory: Path | None = None) -> dict[str, int]:
    """Count the entries waiting, and those set aside."""
    directory = directory or folder()

    def lines(path: Path) -> int:
        try:
            return sum(1 for line in path.read_bytes().splitlines() if line.strip())
        except FileNotFoundError:
            return 0

    waiting = lines(directory / JOURNAL) + sum(lines(b) for b in _batches(directory)) if directory.exists() else 0
    return {"pending": waiting, "rejected": lines(directory / REJECTED)}


@cli.command("replay")
def replay_command() -> None:
    """Write journaled webhooks into the database now; exit 1 if it is still unavailable."""
    started = time.monotonic()
    result = replay(wait=True)
    left = status()
    click.echo(
        f"replayed {result.replayed}, rejected {result.rejected}, still pending {left['pending']} "
        f"({time.monotonic() - started:.1f} s; rejected entries are in {folder() / REJECTED})"
    )
    if result.interrupted:
        raise SystemExit("the database is still unavailable; the rest stays in the journal")


@cli.command("status")
def status_command() -> None:
    """Print how many journaled entries wait for the database."""
    counts = status()
    click.echo(f"pending {counts['pending']}, rejected {counts['rejected']} ({folder()})")
