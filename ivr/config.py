"""Configuration from the environment, with safe defaults for one machine."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _instance_secret(instance: Path) -> str:
    """Give a random key kept in instance/, so every worker and restart shares it.

    Nothing insecure is baked into the code, and development needs no set-up.
    """
    path = instance / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        key = secrets.token_hex(32)
        try:
            with open(path, "x") as f:
                f.write(key)
            path.chmod(0o600)
            return key
        except FileExistsError:
            # Another worker wrote it first; use theirs.
            return path.read_text().strip()


def from_env(instance_path: str) -> dict:
    """Read the service's settings from environment variables."""
    env = os.environ.get
    development = env("IVR_ENV", "development") == "development"
    secret = env("SECRET_KEY")
    if not secret:
        if not development:
            raise RuntimeError("SECRET_KEY must be set outside development (IVR_ENV=development)")
        secret = _instance_secret(Path(instance_path))
    return {
        "SECRET_KEY": secret,
        "DEVELOPMENT": development,
        "SQLALCHEMY_DATABASE_URI": env("DATABASE_URL") or f"sqlite:///{Path(instance_path) / 'ivr.sqlite3'}",
        "TWILIO_ACCOUNT_SID": env("TWILIO_ACCOUNT_SID", ""),
        "TWILIO_AUTH_TOKEN": env("TWILIO_AUTH_TOKEN", ""),
        "SUPPORT_NUMBER": env("SUPPORT_NUMBER", ""),
        "PUBLIC_BASE_URL": env("PUBLIC_BASE_URL", ""),
        "TRUST_PROXY": env("TRUST_PROXY", "0") == "1",
        # Texts to callers (ticket confirmations, updates); needs the Twilio account too.
        "SMS_TO_CALLERS": env("SMS_TO_CALLERS", "1") == "1",
        "FLOWS_DIR": env("FLOWS_DIR") or str(ROOT / "flows"),
        "RECORDINGS_DIR": env("RECORDINGS_DIR") or str(ROOT / "recordings"),
        # How work off the caller's path runs: "thread" (serving) or "inline" (tests); see ivr/jobs.py.
        "JOBS": _jobs_mode(env("JOBS", "thread")),
        # Seconds before a REST call to Twilio gives up (the library's default is to wait forever).
        "TWILIO_TIMEOUT": float(env("TWILIO_TIMEOUT", "10")),
        # Delete a recording at Twilio once it is archived in RECORDINGS_DIR.
        "ARCHIVE_DELETE_AT_TWILIO": env("ARCHIVE_DELETE_AT_TWILIO", "0") == "1",
        # Webhooks the database could not take (an outage) wait here to be replayed; see ivr/journal.py.
        "JOURNAL_DIR": env("JOURNAL_DIR") or str(Path(instance_path) / "journal"),
        # A number rung (in support hours) after the apology when something fails; empty: voicemail.
        "FALLBACK_NUMBER": env("FALLBACK_NUMBER", ""),
        # Phone numbers in the logs show only their last 4 digits.
        "LOG_MASK_PHONES": env("LOG_MASK_PHONES", "1") != "0",
        # Console sessions: never readable by scripts, not sent on cross-site requests,
        # HTTPS only outside development, and signed in for a working day at most.
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": not development,
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=12),
    }


def _jobs_mode(value: str) -> str:
    """Check JOBS at start-up rather than on the first call that needs it."""
    if value not in ("thread", "inline"):
        raise RuntimeError(f"JOBS must be thread or inline, not {value!r}")
    return value
