"""Accounts: the `users` commands, signing in, throttling and locking, sessions and tokens."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from ivr import create_app, users
from ivr.models import ApiToken, User, db, utcnow
from tests.console_fixtures import AGENT, PASSWORD, SUPERVISOR


def run(app, *args, input=None):
    """Run a flask command and give its result."""
    return app.test_cli_runner().invoke(args=list(args), input=input)


def stored(app, email) -> User:
    with app.app_context():
        user = db.session.execute(select(User).where(User.email == email)).scalar_one()
        db.session.expunge(user)
        return user


# --- the commands -------------------------------------------------------------------


def test_users_add_reads_the_password_from_stdin_and_hashes_it(app):
    """`users add --password-stdin` keeps a scrypt hash, never the password."""
    result = run(app, "users", "add", "Sue@Example.com", "--role", "supervisor", "--password-stdin", input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "Added sue@example.com (supervisor)." in result.output
    user = stored(app, "sue@example.com")
    assert user.role == "supervisor" and user.active
    assert user.password_hash.startswith("scrypt:") and PASSWORD not in user.password_hash


def test_users_add_prompts_twice_for_the_password(app):
    """Without --password-stdin the password is asked for, hidden, and confirmed."""
    result = run(app, "users", "add", "ann@example.com", "--role", "agent", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "Password" in result.output and PASSWORD not in result.output


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["not-an-email", "--role", "agent"], PASSWORD, "is not an email address"),
        (["a@example.com", "--role", "agent"], "short", "at least 10 characters"),
        (["a@example.com", "--role", "agent", "--staff", "Nobody"], PASSWORD, "nobody called 'Nobody' is on the roster"),
    ],
)
def test_users_add_refuses_bad_input_with_a_clear_message(app, args, stdin, message):
    """Bad emails, short passwords and unknown roster names are refused, exit status 1."""
    result = run(app, "users", "add", *args, "--password-stdin", input=stdin + "\n")
    assert result.exit_code == 1
    assert message in result.output


def test_users_add_refuses_an_unknown_role_and_a_duplicate(app, supervisor):
    """The role is checked by the command; an email is one account."""
    assert run(app, "users", "add", "x@example.com", "--role", "admin", "--password-stdin", input=PASSWORD).exit_code == 2
    result = run(app, "users", "add", SUPERVISOR.upper(), "--role", "agent", "--password-stdin", input=PASSWORD)
    assert result.exit_code == 1 and "already has an account" in result.output


def test_users_token_prints_a_token_kept_only_as_a_hash(app, supervisor):
    """`users token` prints a new token once; the database holds its SHA-256."""
    result = run(app, "users", "token", supervisor)
    assert result.exit_code == 0
    token = result.output.strip()
    assert token.startswith("ivr_") and len(token) > 40
    with app.app_context():
        row = db.session.execute(select(ApiToken)).scalar_one()
        assert token not in (row.token_hash, row.prefix) and len(row.token_hash) == 64
        assert users.user_for_token(token, utcnow()).email == supervisor
        assert users.user_for_token(token + "x", utcnow()) is None


def test_users_list_shows_role_link_state_and_live_tokens(app, supervisor, agent):
    """`users list` names each account's role, roster link, state and token prefixes."""
    run(app, "users", "token", supervisor)
    run(app, "users", "disable", agent)
    out = run(app, "users", "list").output
    assert f"{AGENT} (agent, staff Ben): disabled" in out
    assert f"{SUPERVISOR} (supervisor): active, tokens ivr_" in out


def test_users_disable_revokes_tokens_and_enable_lets_them_sign_in_again(app, supervisor, browser):
    """A disabled account cannot sign in or use its token; enabling restores sign-in, not the token."""
    token = run(app, "users", "token", supervisor).output.strip()
    result = run(app, "users", "disable", supervisor)
    assert "Disabled sue@example.com; its tokens are revoked." in result.output
    assert "no active supervisor is left" in result.output
    assert browser.sign_in(supervisor).status_code == 401
    with app.app_context():
        assert users.user_for_token(token, utcnow()) is None
    run(app, "users", "enable", supervisor)
    assert browser.sign_in(supervisor).status_code == 302
    with app.app_context():
        assert users.user_for_token(token, utcnow()) is None


def test_users_password_unlock_link_and_revoke_tokens(app, supervisor, team):
    """The remaining commands change what they say they change."""
    assert run(app, "users", "password", supervisor, "--password-stdin", input="another long password\n").exit_code == 0
    with app.app_context():
        assert users.authenticate(supervisor, "another long password", utcnow()).user is not None
        user = users.find(supervisor)
        user.failed_logins, user.locked_until = 12, utcnow().replace(year=2100)
        db.session.commit()
    assert "Unlocked" in run(app, "users", "unlock", supervisor).output
    assert stored(app, supervisor).locked_until is None
    assert "is linked to Anna" in run(app, "users", "link", supervisor, "--staff", "anna").output
    assert "is linked to nobody" in run(app, "users", "link", supervisor).output
    run(app, "users", "token", supervisor)
    run(app, "users", "token", supervisor)
    assert "Revoked 2 token(s)." in run(app, "users", "revoke-tokens", supervisor).output
    assert "no account for 'ghost@example.com'" in run(app, "users", "disable", "ghost@example.com").output


# --- signing in ---------------------------------------------------------------------


def test_sign_in_and_out(app, supervisor, browser):
    """A good password opens the console; signing out closes it."""
    page = browser.get("/console/login")
    assert page.status_code == 200 and 'name="csrf_token"' in page.get_data(as_text=True)
    resp = browser.sign_in(supervisor)
    assert resp.status_code == 302 and resp.headers["Location"] == "/console/"
    assert browser.get("/console/").status_code == 200
    assert stored(app, supervisor).last_login_at is not None
    out = browser.post("/console/logout")
    assert out.status_code == 302 and out.headers["Location"] == "/console/login"
    assert browser.get("/console/").status_code == 302


def test_wrong_password_and_unknown_email_get_the_same_answer(app, supervisor, browser):
    """Nobody learns which emails have accounts."""
    wrong = browser.sign_in(supervisor, "not the password at all")
    unknown = browser.sign_in("nobody@example.com")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong email or password." in wrong.get_data(as_text=True)
    assert "Wrong email or password." in unknown.get_data(as_text=True)


def test_sign_in_without_the_form_token_is_refused(app, supervisor, browser):
    """The sign-in form is CSRF-protected too (no logging someone into our account)."""
    resp = browser.post("/console/login", {"email": supervisor, "password": PASSWORD}, csrf=False)
    assert resp.status_code == 400
    assert "CSRF token is missing" in resp.get_data(as_text=True)


def test_sign_in_goes_back_to_the_page_asked_for_but_never_off_site(app, supervisor, browser):
    """`next` is followed only to console paths."""
    first = browser.get("/console/calls?level=basic")
    assert first.status_code == 302 and "next=%2Fconsole%2Fcalls%3Flevel%3Dbasic" in first.headers["Location"]
    browser.get("/console/login")
    resp = browser.post("/console/login", {"email": supervisor, "password": PASSWORD, "next": "/console/calls?level=basic"})
    assert resp.headers["Location"] == "/console/calls?level=basic"
    for evil in ("https://evil.example/", "//evil.example/console", "/console\\@evil.example"):
        browser.get(resp.headers["Location"])  # as a browser follows the redirect, with the new session's form token
        browser.post("/console/logout")
        browser.get("/console/login")
        resp = browser.post("/console/login", {"email": supervisor, "password": PASSWORD, "next": evil})
        assert resp.headers["Location"] == "/console/", evil


def test_failed_sign_ins_slow_down_then_lock_until_the_lock_expires(app, supervisor, browser, at):
    """Three failures make each try wait; ten lock the account for 15 minutes; time unlocks it."""
    at("2026-12-01 10:00:00")
    for _ in range(3):
        assert browser.sign_in(supervisor, "wrong password!").status_code == 401
    # Slowed: even the right password is refused, unchecked, until the wait is over.
    slowed = browser.sign_in(supervisor)
    assert slowed.status_code == 429 and slowed.headers["Retry-After"] == "1"
    assert "slowed down" in slowed.get_data(as_text=True)
    at("2026-12-01 10:00:02")
    assert browser.sign_in(supervisor, "wrong password!").status_code == 401  # 4th failure: wait 2 s
    assert browser.sign_in(supervisor, "wrong password!").status_code == 429
    with app.app_context():
        user = users.find(supervisor)
        user.failed_logins, user.locked_until = 9, None
        db.session.commit()
    locked = browser.sign_in(supervisor, "wrong password!")  # the 10th failure
    assert locked.status_code == 429 and "locked for 15 minutes" in locked.get_data(as_text=True)
    at("2026-12-01 10:14:00")
    refused = browser.sign_in(supervisor)
    assert refused.status_code == 429 and "locked" in refused.get_data(as_text=True)
    assert int(refused.headers["Retry-After"]) <= 120
    at("2026-12-01 10:16:00")
    assert browser.sign_in(supervisor).status_code == 302
    user = stored(app, supervisor)
    assert (user.failed_logins, user.locked_until) == (0, None)


def test_a_disabled_account_loses_its_open_session(app, supervisor, logged_in_client):
    """Disabling takes effect at the next request, not at the next sign-in."""
    assert logged_in_client.get("/console/calls").status_code == 200
    with app.app_context():
        users.disable(supervisor, utcnow())
    assert logged_in_client.get("/console/calls").status_code == 302


def test_session_cookie_is_httponly_and_samesite_in_development(app, supervisor, browser):
    """The session cookie cannot be read by scripts nor sent cross-site; HTTP is fine on a laptop."""
    cookie = browser.sign_in(supervisor).headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie
    assert "Expires=" in cookie  # a 12-hour session, not one kept forever


def test_session_cookie_is_secure_outside_development(database_url, tmp_path, monkeypatch):
    """In production the cookie is sent over HTTPS only."""
    monkeypatch.setenv("IVR_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "RECORDINGS_DIR": str(tmp_path)})
    assert app.config["SESSION_COOKIE_SECURE"] is True
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_token_use_is_noted_at_most_once_a_minute(app, supervisor, at):
    """last_used_at tells an operator a token is in use, without a write per request."""
    at("2026-12-01 10:00")
    with app.app_context():
        token = users.new_token(supervisor)
        users.user_for_token(token, utcnow())
        first = db.session.execute(select(ApiToken)).scalar_one().last_used_at
    at("2026-12-01 10:00:30")
    with app.app_context():
        users.user_for_token(token, utcnow())
        assert db.session.execute(select(ApiToken)).scalar_one().last_used_at == first
