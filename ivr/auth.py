"""Who may see the console and the API: sessions, CSRF, roles and bearer tokens.

The console signs people in with a session cookie (Flask-Login) and checks a
CSRF token on every form it posts (Flask-WTF), only on its own blueprint: the
Twilio webhooks are signed, not cookie-authenticated, and must never be
refused for want of a form token. The API takes only `Authorization: Bearer`
tokens, never the cookie, so a page on another site cannot call it with a
supervisor's session and it needs no CSRF token.
"""

from __future__ import annotations

import functools

from flask import Flask, abort, g, jsonify, request
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFProtect

from . import users
from .models import User, db, utcnow

login_manager = LoginManager()
csrf = CSRFProtect()


def init_app(app: Flask) -> None:
    """Set up sign-in sessions and form tokens."""
    # Only the console's own before_request checks form tokens (see module docstring).
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    # A token lives as long as the session: a page left open over lunch still posts.
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "console.login"
    login_manager.login_message = "Please sign in to see the console."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    """Give the signed-in account, unless it was disabled since."""
    try:
        user = db.session.get(User, int(user_id))
    except ValueError:
        return None
    return user if user is not None and user.active else None


def supervisor_required(view):
    """Refuse with 403 unless a supervisor is signed in (sign in first if nobody is)."""

    @functools.wraps(view)
    def checked(*args, **kwargs):
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if not current_user.is_supervisor:
            abort(403, "Only a supervisor can do this.")
        return view(*args, **kwargs)

    return checked


def api_error(status: int, message: str, **extra):
    """Answer an API request with a JSON error."""
    resp = jsonify({"error": {"status": status, "message": message, **extra}})
    resp.status_code = status
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="support-line"'
    return resp


def token_required(view):
    """Refuse with 401 unless the request carries a live bearer token of an active account."""

    @functools.wraps(view)
    def checked(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return api_error(401, "Send an API token: Authorization: Bearer <token> (`flask users token EMAIL` makes one).")
        user = users.user_for_token(token.strip(), utcnow())
        if user is None:
            return api_error(401, "The API token is unknown, revoked, or its account is disabled.")
        g.api_user = user
        return view(*args, **kwargs)

    return checked
