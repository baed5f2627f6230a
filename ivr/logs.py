"""What reaches the logs: phone numbers cut to their last 4 digits, secrets never.

Callers' numbers turn up in log lines in many ways: our own messages, a
database error quoting the row it could not write, a library's debug output.
So the masking is done where every log record is made (a record factory),
not by a filter on one handler: it then holds for gunicorn's handlers, Flask's,
pytest's and any added later. Tracebacks are formatted and masked at once, as
database errors quote their parameters there.

The auth token, the secret key and the database password are replaced by
`[secret]` wherever they appear. `LOG_MASK_PHONES=0` shows full numbers (for
a developer's own machine); secrets are masked whatever it says. The factory
is process-wide: the last app created sets whether numbers are masked. Ten- or
eleven-digit ids are masked too: the price of never missing a number.
"""

from __future__ import annotations

import logging
import re
import threading
import traceback

from flask import Flask
from sqlalchemy.engine import make_url

# A number in international form (+ then 8 to 15 digits, spaces or dashes between)
# or a North American one written out: (312) 555-0199, 312-555-0199, 13125550199.
# The lookarounds keep SIDs, hex and longer digit runs (ids, timestamps) whole.
PHONE = re.compile(
    r"(?<![\w+])(?:"
    r"\+\d(?:[\s.\-()]{0,2}\d){7,14}"
    r"|(?:1[\s.\-]?)?\(?\d{3}\)?[\s.\-]?\d{3}[\s.\-]\d{4}"
    r"|1?\d{10}"
    r")(?![\w])"
)
SECRET = "[secret]"
# Tokens shorter than this would mask ordinary words; Twilio's are 32 characters.
MIN_SECRET_CHARS = 8

_lock = threading.Lock()
_secrets: set[str] = set()
_mask_phones = True
_installed = False
_original_factory = logging.getLogRecordFactory()


def mask_phone(match: re.Match) -> str:
    """Replace one phone number with its last 4 digits."""
    digits = re.sub(r"\D", "", match.group(0))
    return "***" + digits[-4:]


def mask(text: str) -> str:
    """Mask the secrets, and the phone numbers when configured, in a piece of log text."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, SECRET)
    if _mask_phones:
        text = PHONE.sub(mask_phone, text)
    return text


def _masked_record(*args, **kwargs) -> logging.LogRecord:
    """Make a log record whose message, traceback and stack are already masked."""
    record = _original_factory(*args, **kwargs)
    try:
        message = record.getMessage()
    except Exception:
        # A bad format string: leave it for logging to report as usual.
        return record
    record.msg, record.args = mask(message), None
    if record.exc_info and record.exc_info[0] is not None:
        record.exc_text = mask("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
    if record.stack_info:
        record.stack_info = mask(record.stack_info)
    return record


def _secrets_of(app: Flask) -> list[str]:
    """Give the app's secrets: the auth token, the secret key, the database password."""
    found = [app.config.get(key) for key in ("TWILIO_AUTH_TOKEN", "SECRET_KEY")]
    try:
        found.append(make_url(app.config.get("SQLALCHEMY_DATABASE_URI") or "").password)
    except Exception:
        pass  # not a URL SQLAlchemy reads: the app will say so itself
    return [value for value in found if isinstance(value, str) and value]


def install(app: Flask) -> None:
    """Mask this app's secrets (and phone numbers unless LOG_MASK_PHONES is off) in every log record."""
    global _installed, _mask_phones
    with _lock:
        for value in _secrets_of(app):
            if len(value) >= MIN_SECRET_CHARS:
                _secrets.add(value)
        _mask_phones = bool(app.config.get("LOG_MASK_PHONES", True))
        if not _installed:
            logging.setLogRecordFactory(_masked_record)
            _installed = True
