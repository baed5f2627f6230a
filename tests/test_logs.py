"""No secret and no full phone number in the logs: masked where every log record is made."""

from __future__ import annotations

import logging
import re
import secrets

import pytest

from ivr import journal, logs, texts
from ivr.models import db
from ivr.simulator import Simulator
from tests.conftest import TOKEN, transport

CALLER = "+13125550199"
ENGINEER = "+13125550111"
AC = "AC" + "0" * 32
MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{AC}/Messages.json"


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("call from +13125550199 failed", "call from ***0199 failed"),
        ("From=+1 (312) 555-0199", "From=***0199"),
        ("dial 312-555-0199 now", "dial ***0199 now"),
        ("(312) 555-0199", "***0199"),
        ("13125550199", "***0199"),
        ("London +44 20 7946 0958", "London ***0958"),
        ("[parameters: ('+13125550199', 'CA0123')]", "[parameters: ('***0199', 'CA0123')]"),
    ],
)
def test_phone_numbers_are_cut_to_their_last_four_digits(app, raw, masked):
    """Mask numbers in any common spelling, keeping the last 4 digits to tell calls apart."""
    assert logs.mask(raw) == masked


@pytest.mark.parametrize(
    "kept",
    [
        "CA0123456789abcdef0123456789abcdef",
        "RE" + "1" * 32,
        "2026-12-01 10:00:00.123456",
        "ticket 1001 due in 14400 s",
        "127.0.0.1:5432",
        "recording 42 took 1234567 ms",
    ],
)
def test_sids_dates_and_small_numbers_are_left_alone(app, kept):
    """Leave SIDs, timestamps, addresses and counts readable."""
    assert logs.mask(kept) == kept


def test_a_call_that_fails_texts_and_errors_logs_no_number_and_no_secret(app_factory, caplog, at, monkeypatch, no_network):
    """A whole bad night, logged at DEBUG by every library: only masked numbers, never the auth token."""
    import dataclasses

    app = app_factory()
    app.extensions["ivr.flow"] = dataclasses.replace(app.extensions["ivr.flow"], on_call_engineers=(ENGINEER,))
    no_network.post(MESSAGES, status=500, json={"code": 20500, "message": f"Internal error for {ENGINEER}", "status": 500})
    caplog.set_level(logging.DEBUG)
    at("2026-12-05 23:00")  # Saturday night: Critical texts the on-call engineer, and Twilio fails
    call = Simulator(send=transport(app.test_client()), token=TOKEN, from_=CALLER, mark_test=False).dial().press("3").silence()

    def broken(*args, **kwargs):
        raise RuntimeError(f"could not store the call from {CALLER} (token {TOKEN})")

    monkeypatch.setattr("ivr.calls.get_or_start", broken)
    monkeypatch.setattr(journal, "append", broken)
    call.leave_message()  # fails: logged with traceback, and the journal entry (with From) goes to the log too
    logging.getLogger("anything").warning("configured with %s and %s", TOKEN, app.config["SECRET_KEY"])

    text = caplog.text
    assert "text 1 to ***0111 not sent" in text
    assert "could not write to the journal" in text and "Traceback" in text
    assert "***0199" in text
    for number in (CALLER, CALLER[2:], ENGINEER, ENGINEER[2:]):
        assert number not in text
    assert TOKEN not in text and app.config["SECRET_KEY"] not in text
    assert "[secret]" in text


def test_the_database_password_is_never_logged(app_factory, caplog):
    """A password in DATABASE_URL is masked like the other secrets."""
    password = secrets.token_hex(12)
    url = app_factory().config["SQLALCHEMY_DATABASE_URI"]
    with_password = re.sub(r"^(postgresql\+psycopg://)([^@/]+)@", rf"\g<1>\g<2>:{password}@", url)
    app_factory(SQLALCHEMY_DATABASE_URI=with_password if with_password != url else f"postgresql+psycopg://u:{password}@nowhere/db")
    logging.getLogger("ivr").error("connecting to postgresql+psycopg://u:%s@db/ivr", password)
    assert password not in caplog.text and "[secret]" in caplog.text


def test_full_numbers_are_logged_only_when_masking_is_turned_off(app_factory, caplog, monkeypatch):
    """LOG_MASK_PHONES=0 (a developer's machine) shows numbers; secrets stay masked."""
    monkeypatch.setattr(logs, "_mask_phones", logs._mask_phones)  # restored after, for the tests that follow
    app_factory(LOG_MASK_PHONES=False)
    logging.getLogger("ivr").warning("call from %s with %s", CALLER, TOKEN)
    assert f"call from {CALLER} with [secret]" in caplog.text


def test_texts_module_logs_through_the_mask(app, caplog, no_network):
    """The outbox's own failure line, which names the number, is masked."""
    no_network.post(MESSAGES, status=400, json={"code": 21211, "message": "Invalid 'To'", "status": 400})
    with app.app_context():
        message = texts.queue(ENGINEER, "hello")
        db.session.commit()
        texts.send(message.id)
    assert "to ***0111 not sent" in caplog.text and ENGINEER not in caplog.text
