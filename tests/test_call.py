"""Calls to the support line, as a caller makes them."""

from __future__ import annotations

import shutil
import threading
import xml.etree.ElementTree as ET

import pytest
import yaml
from sqlalchemy import func, select

from ivr.models import Call, CallEvent, Recording, Ticket, db
from ivr.simulator import Simulator
from tests.conftest import TOKEN, transport

MENU = "Please choose a support level."


def one(app, model):
    """Give the only row of a table, failing if there is not exactly one."""
    with app.app_context():
        rows = db.session.execute(select(model)).scalars().all()
        assert len(rows) == 1, f"{len(rows)} {model.__name__} rows"
        db.session.expunge_all()
        return rows[0]


def count(app, model) -> int:
    """Count the rows of a table."""
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model)).scalar_one()


@pytest.mark.parametrize(
    ("key", "level", "spoken", "goal", "due"),
    [
        ("1", "basic", "basic product support", "24 hours", "by 5 PM Central tomorrow"),
        ("2", "technical", "technical support", "4 hours", "by 2 PM Central today"),
        ("3", "critical", "critical technical support", "2 hours", "by 12 PM Central today"),
    ],
)
def test_each_level_hears_its_goal_and_ticket_in_hours(app, caller, at, key, level, spoken, goal, due):
    """A caller in hours picks a level and hears its goal, due time and ticket number."""
    at("2026-12-01 10:00")  # a Tuesday
    call = caller().dial()
    assert call.heard[0] == "Thank you for calling OfficeSpace Software Support."
    assert MENU in call.heard[1]
    assert "press 1 or say basic product support" in call.heard[1]
    call.press(key)
    assert f"Our response goal for {spoken} is {goal}, so you will hear from us {due}." in call.said
    assert "Your ticket number is 1, 0, 0, 1." in call.said
    ticket = one(app, Ticket)
    assert (ticket.number, ticket.level, ticket.caller) == (1001, level, "+13125550199")


def test_after_hours_caller_hears_hours_and_leaves_voicemail_on_ticket(app, caller, at):
    """A Technical call on Friday night hears when support opens and leaves a message on the ticket."""
    at("2026-12-04 22:30")  # Friday, after closing
    call = caller().dial().press("2")
    assert "so you will hear from us by 9 AM Central on Monday" in call.said
    call.silence()  # no repeat of the ticket number
    assert "Our support team is available Monday through Friday, 5 AM to 10 PM Central time." in call.said
    assert "We open again at 5 AM Central on Monday." in call.said
    assert call.waiting.tag == "Record"
    call.leave_message("Our floor plan lost every desk on level 3.")
    assert call.heard[-1] == "Thank you, your message is on ticket 1, 0, 0, 1. We will respond by 9 AM Central on Monday. Goodbye."
    assert call.ended
    call.hang_up(duration=95)
    rec = one(app, Recording)
    ticket = one(app, Ticket)
    assert rec.ticket_id == ticket.id
    assert rec.status == "completed"
    assert rec.duration == 12
    assert rec.transcript == "Our floor plan lost every desk on level 3."
    assert rec.transcript_status == "completed"
    stored = one(app, Call)
    assert (stored.status, stored.duration, stored.level, stored.is_test) == ("completed", 95, "technical", False)


def test_christmas_on_a_weekday_is_closed(app, caller, at):
    """On 25 December at 10 AM the line takes a voicemail and names the next opening."""
    at("2026-12-25 10:00")  # a Friday
    call = caller().dial().press("3").silence()
    assert "We open again at 5 AM Central on Monday." in call.said
    assert call.waiting.tag == "Record"


def test_in_hours_nobody_available_goes_to_voicemail(app, caller, at):
    """With nobody to ring, a caller in hours is told so and can leave a message."""
    at("2026-12-01 10:00")
    call = caller().dial().press("2").silence()
    assert "Everyone on our team is helping other customers right now." in call.said
    assert "We open again" not in call.said
    call.leave_message()
    assert call.ended
    assert count(app, Recording) == 1


def test_speech_chooses_a_level(app, caller, at):
    """Saying "our whole system is down" opens a Critical ticket."""
    at("2026-12-01 10:00")
    call = caller().dial().say("our whole system is down")
    assert "Our response goal for critical technical support is 2 hours" in call.said
    assert one(app, Ticket).level == "critical"


def test_star_repeats_the_menu(app, caller, at):
    """Star plays the menu again without counting as a mistake."""
    at("2026-12-01 10:00")
    call = caller().dial().press("*")
    assert call.heard[-1].startswith(MENU)
    assert "Sorry" not in call.said
    assert count(app, Ticket) == 0


def test_unknown_key_then_a_good_one(app, caller, at):
    """A wrong key is explained and the menu asked again; the next key works."""
    at("2026-12-01 10:00")
    call = caller().dial().press("7")
    assert call.heard[-2:] == ["Sorry, I didn't catch that.", call.heard[-1]]
    assert call.heard[-1].startswith(MENU)
    call.press("1")
    assert one(app, Ticket).level == "basic"


def test_unrecognised_words_are_explained(app, caller, at):
    """Words the menu does not know get an apology and the menu again."""
    at("2026-12-01 10:00")
    call = caller().dial().say("banana bread recipe")
    assert "Sorry, I didn't catch that." in call.heard
    assert count(app, Ticket) == 0


def test_silence_three_times_goes_on_as_basic(app, caller, at):
    """Three silent tries never drop the caller: a Basic ticket is opened."""
    at("2026-12-01 10:00")
    call = caller().dial().silence()
    assert "Sorry, I didn't hear a choice." in call.heard
    call.silence()
    assert count(app, Ticket) == 0
    call.silence()
    assert "Let me open a ticket for basic product support, and we will take it from there." in call.said
    assert "Our response goal for basic product support is 24 hours" in call.said
    assert one(app, Ticket).level == "basic"
    assert not call.ended


def test_long_digit_strings_and_hash_are_bad_input(app, caller, at):
    """A string of digits or a lone # is a mistake, not a crash."""
    at("2026-12-01 10:00")
    call = caller().dial().press("2222222222")
    assert "Sorry, I didn't catch that." in call.heard
    call.press("#")
    assert call.heard.count("Sorry, I didn't catch that.") == 2
    call.press("8")
    assert "Let me open a ticket for basic product support" in call.said


def test_repeating_the_ticket_number(app, caller, at):
    """Pressing 1 after the ticket number hears it again, twice over."""
    at("2026-12-01 10:00")
    call = caller().dial().press("2").press("1")
    assert "Your ticket number is 1, 0, 0, 1. Again, 1, 0, 0, 1." in call.said


def test_closure_notice_is_said_in_the_greeting(app_factory, tmp_path, at):
    """An active closure's message is heard before the menu."""
    flows = tmp_path / "flows"
    shutil.copytree("flows", flows)
    policy = yaml.safe_load((flows / "policy.yaml").read_text())
    policy["support"]["closures"] = [
        {"start": "2026-12-01 08:00", "end": "2026-12-01 12:00", "message": "Support is closed this morning for scheduled maintenance."}
    ]
    (flows / "policy.yaml").write_text(yaml.safe_dump(policy))
    app = app_factory(FLOWS_DIR=str(flows))
    at("2026-12-01 10:00")
    call = Simulator(send=transport(app.test_client()), token=TOKEN).dial()
    assert call.heard[1] == "Support is closed this morning for scheduled maintenance."
    call.press("2").silence()
    assert "We open again at 12 PM Central today." in call.said


def test_status_callbacks_record_final_status_in_any_order(app, caller, at):
    """A late "ringing" after "completed" changes nothing; the duration is kept."""
    at("2026-12-01 10:00")
    call = caller().dial()
    call.post("/voice/status", call.params(CallStatus="completed", CallDuration="42", SequenceNumber="3"))
    call.post("/voice/status", call.params(CallStatus="in-progress", SequenceNumber="2"))
    call.post("/voice/status", call.params(CallStatus="completed", CallDuration="42", SequenceNumber="3"))
    stored = one(app, Call)
    assert (stored.status, stored.duration) == ("completed", 42)
    assert stored.ended_at is not None


def test_repeated_incoming_webhook_is_one_call(app, caller, at):
    """Twilio retrying the incoming webhook gives the same greeting and one call row."""
    at("2026-12-01 10:00")
    first = caller().dial()
    again = caller(call_sid=first.call_sid).dial()
    assert again.heard == first.heard
    assert count(app, Call) == 1
    assert count(app, CallEvent) == 2


def test_repeated_level_choice_opens_one_ticket(app, caller, at):
    """The same level choice delivered twice opens one ticket and says the same number."""
    at("2026-12-01 10:00")
    call = caller().dial()
    gather = call.waiting.get("action")
    first = call.post(gather, call.params(Digits="2"))
    second = call.post(gather, call.params(Digits="2"))
    assert first[0] == second[0] == 200
    assert "1, 0, 0, 1" in first[1] and "1, 0, 0, 1" in second[1]
    assert count(app, Ticket) == 1


def test_concurrent_level_choices_open_one_ticket(app, caller, at):
    """Two level choices for one call racing in two threads open one ticket."""
    at("2026-12-01 10:00")
    call = caller().dial()
    gather = call.waiting.get("action")
    bodies = []

    def choose():
        sim = caller(call_sid=call.call_sid)
        sim.send = transport(app.test_client())
        bodies.append(sim.post(gather, sim.params(Digits="3")))

    threads = [threading.Thread(target=choose) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [status for status, _ in bodies] == [200] * 4
    assert all("1, 0, 0, 1" in body for _, body in bodies)
    assert count(app, Ticket) == 1


def test_two_callers_get_different_ticket_numbers(app, caller, at):
    """Each call gets its own sequential ticket number."""
    at("2026-12-01 10:00")
    a = caller("+13125550101").dial().press("1")
    b = caller("+13125550102").dial().press("2")
    assert "Your ticket number is 1, 0, 0, 1." in a.said
    assert "Your ticket number is 1, 0, 0, 2." in b.said


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("anonymous", None),
        ("unknown", None),
        ("client:alice", None),
        ("", None),
        ("+1 (312) 555-0101", "+13125550101"),
        ("3125550101", "+13125550101"),
        ("+44 20 7946 0958", "+442079460958"),
        ("12", None),
        ("not a number ☎", None),
    ],
)
def test_any_caller_id_is_kept_and_parsed_when_possible(app, caller, at, raw, e164):
    """Odd caller IDs never crash the call; the raw value is always kept."""
    at("2026-12-01 10:00")
    call = caller(raw).dial().press("1")
    assert "Your ticket number is" in call.said
    stored = one(app, Call)
    assert (stored.from_raw, stored.from_e164) == (raw, e164)


def test_missing_parameters_get_valid_twiml(app, caller):
    """A signed request without CallSid is refused with TwiML, writing nothing."""
    sim = caller()
    status, body = sim.post("/voice/incoming", {"From": "+13125550101"})
    assert status == 400
    root = ET.fromstring(body)
    assert root.find("Say") is not None and root.find("Hangup") is not None
    assert count(app, Call) == 0


def test_empty_digits_and_speech_are_silence(app, caller, at):
    """Empty Digits and SpeechResult count as no input."""
    at("2026-12-01 10:00")
    call = caller().dial()
    status, body = call.post(call.waiting.get("action"), call.params(Digits="", SpeechResult=""))
    assert status == 200
    assert "Sorry, I didn't hear a choice." in body


def test_a_failure_still_answers_the_caller(app, caller, at, monkeypatch):
    """A bug in the flow walker still gives an apology and a voicemail, never a 500."""
    at("2026-12-01 10:00")
    call = caller().dial()

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("ivr.tickets.open_for_call", broken)
    call.press("2")
    assert "We're sorry, something went wrong on our side." in call.said
    assert call.waiting.tag == "Record"
    call.leave_message("Please call me back.")
    assert call.heard[-1] == "Thank you. We have your message and will call you back. Goodbye."
    rec = one(app, Recording)
    assert rec.transcript == "Please call me back."


def test_event_trail_keeps_each_webhook(app, caller, at):
    """Every webhook of a call is on its trail, with the keys pressed."""
    at("2026-12-01 10:00")
    caller().dial().press("2").silence().leave_message().hang_up()
    with app.app_context():
        events = db.session.execute(select(CallEvent).order_by(CallEvent.id)).scalars().all()
        trail = [(e.endpoint, e.params.get("Digits")) for e in events]
    assert trail[:3] == [("incoming", None), ("gather", "2"), ("gather", None)]
    assert [e for e, _ in trail[3:]] == ["recorded", "recording_status", "transcription", "status"]


def test_a_closure_added_in_the_console_closes_the_line_and_pauses_the_clock(app, caller, at):
    """A supervisor's closure is said in the greeting, sends callers to voicemail and moves the due time."""
    from datetime import datetime

    from ivr import closures
    from tests.conftest import CENTRAL

    at("2026-12-01 09:00")
    with app.app_context():
        closures.add(
            datetime(2026, 12, 1, 8, 0, tzinfo=CENTRAL),
            datetime(2026, 12, 1, 12, 0, tzinfo=CENTRAL),
            "Our support team is at a training session until noon.",
            "supervisor@example.com",
            datetime(2026, 12, 1, 7, 0, tzinfo=CENTRAL),
        )
    call = caller().dial()
    assert call.heard[1] == "Our support team is at a training session until noon."
    call.press("2")
    assert "so you will hear from us by 4 PM Central today." in call.said  # 4 support hours from noon
    call.silence()
    assert "We open again at 12 PM Central today." in call.said
    assert call.waiting.tag == "Record"


def test_simulated_calls_are_marked_and_wake_nobody(app_factory, at, no_network):
    """A simulated call is stored as a test call, and its voicemail triggers no download or text."""
    app = app_factory(SMS_TO_CALLERS=True)
    at("2026-12-05 23:00")
    call = Simulator(send=transport(app.test_client()), token=TOKEN, mark_test=True).dial().press("3").silence().leave_message()
    call.hang_up()
    stored = one(app, Call)
    assert stored.is_test
    assert one(app, Recording).archive_status == "pending"
    assert len(no_network.calls) == 0
