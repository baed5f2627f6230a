"""Console and API accounts: roles, passwords, sign-in throttling and API tokens.

Two roles: a supervisor reads and changes everything; an agent reads the call
log and the tickets assigned to their roster entry, and works those tickets
(responded, resolved, notes) but cannot reassign them or change the roster.

Passwords are hashed with Werkzeug's scrypt. Failed sign-ins slow an account
down, then lock it for a while:

- after `SLOW_AFTER` failures in a row each further try must wait, doubling
  from 1 second up to `MAX_DELAY` (tries in the wait are refused unchecked);
- after `LOCK_AFTER` failures the account is locked for `LOCK_FOR`;
- a good sign-in resets the count. The counters live on the user row, so every
  worker sees them; an unknown email costs a hash check too, so timing does
  not tell which emails exist.

API tokens are 256-bit random strings shown once and stored as SHA-256: a
token that long needs no slow hash, and the lookup is one indexed equality.

Every function that writes owns its transaction and commits.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from werkzeug.security import check_password_hash, generate_password_hash

from . import staff as roster
from .models import ApiToken, User, db

ROLES = ("supervisor", "agent")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # scrypt on a megabyte of "password" is a cheap way to tie up a worker
SLOW_AFTER = 3
LOCK_AFTER = 10
MAX_DELAY = timedelta(seconds=30)
LOCK_FOR = timedelta(minutes=15)
TOKEN_PREFIX = "ivr_"
# Writing last_used_at on every API request would make reads write; once a minute is plenty.
TOKEN_TOUCH_EVERY = timedelta(minutes=1)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class UserError(ValueError):
    """An account request that cannot be carried out; the message says why, for a person."""


@dataclass(frozen=True)
class SignIn:
    """The result of a sign-in: the user, or why not and how long to wait."""

    user: User | None
    error: str = ""
    retry_after: int = 0  # seconds; set when the account is slowed down or locked


def _hash(password: str) -> str:
    """Hash a password with the configured scheme (scrypt unless PASSWORD_HASH_METHOD says otherwise)."""
    return generate_password_hash(password, method=current_app.config.get("PASSWORD_HASH_METHOD", "scrypt"))


def normalize_email(email: str) -> str:
    """Give an email as stored (trimmed, lower-case), or refuse one that is not an email."""
    text = (email or "").strip().lower()
    if len(text) > 254 or not _EMAIL.match(text):
        raise UserError(f"{email!r} is not an email address")
    return text


def check_password(password: str) -> str:
    """Refuse a password too short or too long to be kept."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise UserError(f"the password must be at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise UserError(f"the password must be at most {MAX_PASSWORD} characters")
    return password


def find(email: str) -> User | None:
    """Find an account by email, whatever its case."""
    text = (email or "").strip().lower()
    if not text:
        return None
    return db.session.execute(select(User).where(User.email == text)).scalar_one_or_none()


def _get(email: str) -> User:
    """Find an account or say there is none."""
    user = find(email)
    if user is None:
        raise UserError(f"no account for {email!r}; `flask users list` shows who has one")
    return user


def everyone() -> list[User]:
    """List every account, by email."""
    return list(
        db.session.execute(select(User).options(selectinload(User.tokens), selectinload(User.staff)).order_by(User.email)).scalars()
    )


def _staff_id(staff_name: str | None) -> int | None:
    """Give the roster id for an agent's name, or refuse an unknown name."""
    if not staff_name:
        return None
    person = roster.find(staff_name)
    if person is None:
        raise UserError(f"nobody called {staff_name!r} is on the roster; `flask staff list` shows who is")
    return person.id


def add(email: str, password: str, role: str, staff_name: str | None = None) -> User:
    """Create an account with a role; an agent may be linked to their roster entry."""
    email = normalize_email(email)
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    check_password(password)
    if find(email) is not None:
        raise UserError(f"{email} already has an account")
    user = User(email=email, password_hash=_hash(password), role=role, staff_id=_staff_id(staff_name), active=True)
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        # Added by someone else between the check and the commit.
        db.session.rollback()
        raise UserError(f"{email} already has an account") from None
    return user


def set_password(email: str, password: str) -> User:
    """Replace an account's password and clear any lock."""
    user = _get(email)
    user.password_hash = _hash(check_password(password))
    user.failed_logins = 0
    user.locked_until = None
    db.session.commit()
    return user


def link_staff(email: str, staff_name: str | None) -> User:
    """Link an account to a roster entry (or unlink it with None)."""
    user = _get(email)
    user.staff_id = _staff_id(staff_name)
    db.session.commit()
    return user


def disable(email: str, now: datetime) -> User:
    """Stop an account signing in or using its tokens; its sessions end at their next request."""
    user = _get(email)
    user.active = False
    for token in user.tokens:
        if token.revoked_at is None:
            token.revoked_at = now
    db.session.commit()
    return user


def enable(email: str) -> User:
    """Let a disabled account sign in again (its old tokens stay revoked)."""
    user = _get(email)
    user.active = True
    user.failed_logins = 0
    user.locked_until = None
    db.session.commit()
    return user


def unlock(email: str) -> User:
    """Clear an account's failed sign-ins, so it may try again at once."""
    user = _get(email)
    user.failed_logins = 0
    user.locked_until = None
    db.session.commit()
    return user


@functools.cache
def _decoy_hash() -> str:
    """Give a hash to check unknown emails against, so they take as long as known ones."""
    return generate_password_hash(secrets.token_hex(16))


def _delay(failures: int) -> timedelta | None:
    """Give how long an account must wait after this many failures in a row, if at all."""
    if failures >= LOCK_AFTER:
        return LOCK_FOR
    if failures >= SLOW_AFTER:
        return min(timedelta(seconds=2 ** (failures - SLOW_AFTER)), MAX_DELAY)
    return None


def _wait_words(seconds: int) -> str:
    """Say a wait as a person would."""
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{(seconds + 59) // 60} minutes"


def authenticate(email: str, password: str, now: datetime) -> SignIn:
    """Check an email and password, counting failures; give the user or why not."""
    wrong = SignIn(None, "Wrong email or password.")
    text = (email or "").strip().lower()
    if not text or not isinstance(password, str) or len(password) > MAX_PASSWORD:
        return wrong
    # Locked so two workers checking the same account count both failures.
    user = db.session.execute(select(User).where(User.email == text).with_for_update()).scalar_one_or_none()
    if user is None or not user.active:
        check_password_hash(_decoy_hash(), password)
        db.session.commit()
        return wrong
    if user.locked_until is not None and now < user.locked_until:
        wait = max(1, int((user.locked_until - now).total_seconds() + 0.999))
        db.session.commit()
        what = "locked" if user.failed_logins >= LOCK_AFTER else "slowed down"
        return SignIn(None, f"Too many failed sign-ins: this account is {what}. Try again in {_wait_words(wait)}.", wait)
    if check_password_hash(user.password_hash, password):
        user.failed_logins = 0
        user.locked_until = None
        user.last_login_at = now
        db.session.commit()
        return SignIn(user)
    user.failed_logins = (user.failed_logins or 0) + 1
    delay = _delay(user.failed_logins)
    user.locked_until = now + delay if delay else None
    db.session.commit()
    if delay and user.failed_logins >= LOCK_AFTER:
        return SignIn(
            None,
            f"Wrong email or password. The account is now locked for {_wait_words(int(delay.total_seconds()))}.",
            int(delay.total_seconds()),
        )
    return wrong


def _hash_token(token: str) -> str:
    """Give the stored form of an API token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token(email: str) -> str:
    """Make a new API token for an account; it is shown once and kept only as a hash."""
    user = _get(email)
    if not user.active:
        raise UserError(f"{user.email} is disabled; enable it before making a token")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    db.session.add(ApiToken(user=user, token_hash=_hash_token(token), prefix=token[: len(TOKEN_PREFIX) + 6]))
    db.session.commit()
    return token


def revoke_tokens(email: str, now: datetime) -> int:
    """Revoke every token of an account; give how many were live."""
    user = _get(email)
    live = [t for t in user.tokens if t.revoked_at is None]
    for token in live:
        token.revoked_at = now
    db.session.commit()
    return len(live)


def user_for_token(token: str, now: datetime) -> User | None:
    """Give the active account a live API token belongs to, or None."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = db.session.execute(
        select(ApiToken).where(ApiToken.token_hash == _hash_token(token), ApiToken.revoked_at.is_(None))
    ).scalar_one_or_none()
    if row is None or not row.user.active:
        return None
    if row.last_used_at is None or now - row.last_used_at > TOKEN_TOUCH_EVERY:
        row.last_used_at = now
        db.session.commit()
    return row.user


def count_supervisors() -> int:
    """Count the active supervisor accounts."""
    return db.session.execute(select(func.count()).select_from(User).where(User.role == "supervisor", User.active.is_(True))).scalar_one()
