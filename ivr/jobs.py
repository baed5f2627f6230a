"""Work done off the caller's path: downloads, texts, anything that talks to Twilio's REST API.

A webhook must answer Twilio in milliseconds (15 s is a hard limit, and the
caller hears silence meanwhile), so nothing slow or fallible runs inside it.
`run_later` hands such work to a background thread and returns at once. The
thread lives in the web worker: if the worker stops, the job is lost. That is
accepted on purpose, because every job is idempotent and has a cron command
that finds and retries whatever is left (`flask recordings sync`,
`flask texts send`): the thread is the fast path, cron the safety net.

Modes (config `JOBS`):

- ``"thread"`` (default): a daemon thread started right away.
- ``"inline"``: run now, synchronously; tests use it so effects are visible
  when the request returns.

Either way the job runs in a fresh app context, so it gets its own database
session and commits its own work. The caller must therefore commit whatever
the job needs to read *before* calling `run_later`: the job cannot see the
caller's uncommitted rows, and on PostgreSQL an inline job would wait forever
on a row the caller still holds locked.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from flask import Flask, current_app, g, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
MODES = ("thread", "inline")


def run_later(fn: Callable[..., object], *args: object) -> None:
    """Run `fn(*args)` off the caller's path, in its own app context; never raise its errors."""
    app = current_app._get_current_object()
    mode = app.config.get("JOBS", "thread")
    if mode == "inline":
        _run(app, fn, args)
    elif mode == "thread":
        name = f"job-{getattr(fn, '__qualname__', fn)}"
        threading.Thread(target=_run, args=(app, fn, args), name=name, daemon=True).start()
    else:
        # A configuration mistake, not a job failure: say so loudly.
        raise ValueError(f"JOBS must be one of {', '.join(MODES)}, not {mode!r}")


def _run(app: Flask, fn: Callable[..., object], args: tuple) -> None:
    """Run one job in a fresh app context, logging instead of raising."""
    try:
        with app.app_context():
            fn(*args)
    except Exception:
        # A job has nobody to raise to; cron retries whatever it left undone.
        log.exception("job %s%r failed", getattr(fn, "__qualname__", fn), args)


def after_commit(fn: Callable[..., object], *args: object) -> None:
    """Run `fn(*args)` off the caller's path once the current transaction has committed."""
    g.setdefault("ivr_after_commit", []).append((fn, args))


@event.listens_for(Session, "after_commit")
def _run_committed(session: Session) -> None:
    """Start the jobs held back until this commit: they can now read what it wrote."""
    if has_app_context():
        for fn, args in g.pop("ivr_after_commit", []):
            run_later(fn, *args)


@event.listens_for(Session, "after_rollback")
def _drop_uncommitted(session: Session) -> None:
    """Forget jobs whose rows were rolled back: there is nothing for them to do."""
    if has_app_context():
        g.pop("ivr_after_commit", None)
