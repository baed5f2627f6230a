"""Calls put through to the on-duty staff: whisper, accept, hunt, voicemail, outcomes."""

from __future__ import annotations

import dataclasses
import re

import pytest
import responses
from sqlalchemy import select

from ivr import staff
from ivr.models import Call, RingAttempt, TextMessage, Ticket, db, utcnow
from ivr.simulator import Simulator
from tests.conftest import TOKEN, transport
from tests.test_call import one

ANNA = "+13125550101"  # support, weekdays
BEN = "+13125550102"  # engineering, weekdays
CARA = "+13125550103"  # engineering, weekdays
DAN = "+13125550104"  # engineering, weekdays


@pytest.fixture
def roster(app):
    """Put one support person and three engineers on weekday shifts."""
    with app.app_context():
        staff.add("Anna", ANNA, "support", ["Mon-Fri 05:00-22:00"])
        staff.add("Ben", BEN, "engineering", ["Mon-Fri 05:00-22:00"])
        staff.add("Cara", CARA, "engineering", ["Mon-Fri 05:00-22:00"])
        staff.add("Dan", DAN, "engineering", ["Mon-Fri 05:00-14:00"])
    return app


def stored_call(app, sid) -> Call:
    """Read a call back from the database."""
    with app.app_context():
        call = db.session.execute(select(Call).where(Call.call_sid == sid)).scalar_one()
        db.session.expunge(call)
        return call


def test_basic_call_rings_support_who_hears_the_whisper_and_accepts(roster, caller, at):
    """A Basic call in hours rings Anna, who hears what it is, presses 1 and gets the ticket."""
    at("2026-12-01 10:00")
    call = caller(caller_name="Pat Doe").dial().press("1").silence()
    assert "Please hold while we connect you to our support team." in call.said
    assert call.ringing_agent == ANNA
    call.agent_answers()
    assert (
        "AGENT hears: basic product support call, ticket 1, 0, 0, 1, from Pat Doe, 3, 1, 2, 5, 5, 5, 0, 1, 9, 9. "
        "Press 1 to accept this call, or hang up to pass it on." in call.transcript
    )
    assert call.talking and call.connected_to == ANNA
    call.hang_up(duration=300, talked=240)
    stored = stored_call(roster, call.call_sid)
    ticket = one(roster, Ticket)
    assert stored.outcome == "answered"
    assert stored.talk_seconds == 240
    assert stored.answered_at is not None and stored.agent_id == ticket.assignee_id
    assert ticket.first_response_at == stored.answered_at
    assert ticket.state == "responded"


def test_dial_uses_the_support_number_as_caller_id_and_rings_engineers_one_by_one(roster, caller, at):
    """Technical rings the on-duty engineers one by one, showing the support number."""
    at("2026-12-01 15:00")  # Dan's shift ended at 14:00
    call = caller().dial().press("2").silence()
    dial = call.waiting
    assert dial.tag == "Dial"
    assert dial.get("callerId") == "+16462019664"
    assert dial.get("sequential") == "true"
    assert dial.get("timeout") == "20"
    assert dial.get("ringTone") == "us"
    assert [n.text for n in dial.findall("Number")] == [BEN, CARA]


def test_a_rejecting_agent_passes_the_call_to_the_next(roster, caller, at):
    """Ben declines (presses nothing): Cara is rung next, accepts, and gets the ticket."""
    at("2026-12-01 15:00")
    call = caller().dial().press("2").silence()
    call.agent_answers(accept=False)
    assert f"(agent {BEN} declined)" in call.transcript
    assert call.ringing_agent == CARA
    call.agent_answers()
    assert call.connected_to == CARA
    call.hang_up()
    with roster.app_context():
        attempts = {a.staff_id: a.result for a in db.session.execute(select(RingAttempt)).scalars()}
        cara = staff.find("Cara")
        ben = staff.find("Ben")
        assert attempts == {ben.id: "rejected", cara.id: "accepted"}
        assert db.session.execute(select(Ticket)).scalar_one().assignee_id == cara.id


def test_everyone_rejects_then_voicemail_with_ticket_and_goal(roster, caller, at):
    """When nobody accepts, the caller is told, leaves a message, and hears ticket and goal again."""
    at("2026-12-01 15:00")
    call = caller().dial().press("2").silence()
    call.agent_answers(accept=False)
    call.agent_does_not_answer()
    assert "Everyone on our team is helping other customers right now." in call.said
    call.leave_message("Data export fails with error 500.")
    assert call.heard[-1] == "Thank you, your message is on ticket 1, 0, 0, 1. We will respond by 7 PM Central today. Goodbye."
    call.hang_up()
    stored = stored_call(roster, call.call_sid)
    assert stored.outcome == "voicemail"
    assert stored.agent_id is None
    assert one(roster, Ticket).assignee_id is None


def test_critical_rings_all_at_once_then_the_rest_one_by_one(roster, caller, at):
    """Critical rings every engineer at once; a voicemail-box pick-up is declined and the others are tried."""
    at("2026-12-01 10:00")
    call = caller().dial().press("3").silence()
    first = call.waiting
    assert first.get("sequential") is None
    assert [n.text for n in first.findall("Number")] == [BEN, CARA, DAN]
    call.agent_answers(accept=False)  # Ben's voicemail box picks up and says nothing
    second = call.waiting
    assert second.tag == "Dial" and second.get("sequential") == "true"
    assert [n.text for n in second.findall("Number")] == [CARA, DAN]
    call.agent_answers()
    assert call.connected_to == CARA
    assert stored_call(roster, call.call_sid).outcome == "answered"


def test_nobody_on_duty_goes_straight_to_voicemail(roster, caller, at):
    """With the engineers all set off duty, a Technical caller goes to voicemail, nothing rings."""
    at("2026-12-01 10:00")
    with roster.app_context():
        policy = roster.extensions["ivr.flow"].policy
        for name in ("Ben", "Cara", "Dan"):
            staff.set_duty(name, False, None, utcnow(), policy)
    call = caller().dial().press("2").silence()
    assert "Please hold" not in call.said
    assert "Everyone on our team is helping other customers right now." in call.said
    assert call.waiting.tag == "Record"


def test_an_agent_already_on_a_call_is_skipped(roster, caller, at):
    """Ben is talking to one customer, so the next Technical call rings Cara and Dan only."""
    at("2026-12-01 10:00")
    first = caller("+13125550201").dial().press("2").silence()
    first.agent_answers()
    assert first.connected_to == BEN
    second = caller("+13125550202").dial().press("2").silence()
    assert [n.text for n in second.waiting.findall("Number")] == [CARA, DAN]
    first.hang_up()
    third = caller("+13125550203").dial().press("2").silence()
    assert BEN in [n.text for n in third.waiting.findall("Number")]


def test_longest_idle_engineer_is_rung_first(roster, caller, at):
    """After Ben takes a call, the next call rings Cara first."""
    at("2026-12-01 10:00")
    caller("+13125550201").dial().press("2").silence().agent_answers().hang_up()
    nxt = caller("+13125550202").dial().press("2").silence()
    assert [n.text for n in nxt.waiting.findall("Number")] == [CARA, DAN, BEN]


def test_hanging_up_while_ringing_is_abandoned_while_ringing(roster, caller, at):
    """A caller who gives up while the phones ring is logged as abandoned while ringing."""
    at("2026-12-01 10:00")
    call = caller().dial().press("2").silence()
    call.hang_up(duration=40)
    assert stored_call(roster, call.call_sid).outcome == "abandoned_while_ringing"


def test_hanging_up_in_the_menu_is_abandoned_in_menu(roster, caller, at):
    """A caller who hangs up before choosing is logged as abandoned in the menu."""
    at("2026-12-01 10:00")
    call = caller().dial()
    call.hang_up(duration=8)
    stored = stored_call(roster, call.call_sid)
    assert stored.outcome == "abandoned_in_menu"


def test_hanging_up_at_the_beep_is_no_agent(roster, caller, at):
    """Nobody accepted and no message was left: no agent."""
    at("2026-12-01 15:00")
    call = caller().dial().press("2").silence()
    call.agent_does_not_answer().agent_does_not_answer()
    call.hang_up()
    assert stored_call(roster, call.call_sid).outcome == "no_agent"


def test_callbacks_repeated_and_out_of_order_give_the_same_outcome(roster, caller, at):
    """The final status before the Dial action, and both twice, still make the call answered."""
    at("2026-12-01 10:00")
    call = caller().dial().press("2").silence()
    call.agent_answers()
    dial_action = call.waiting.get("action")
    done = call.params(CallStatus="completed", CallDuration="200", SequenceNumber="5")
    action = call.params(DialCallStatus="completed", DialCallDuration="150", DialBridged="true", DialCallSid="CA" + "1" * 32)
    for url, params in [("/voice/status", done), (dial_action, action), ("/voice/status", done), (dial_action, action)]:
        status, _ = call.post(url, params)
        assert status == 200
    stored = stored_call(roster, call.call_sid)
    assert (stored.outcome, stored.status, stored.duration, stored.talk_seconds) == ("answered", "completed", 200, 150)


def test_dial_status_completed_without_an_accept_is_not_answered(roster, caller, at):
    """Whatever DialCallStatus says, only an agent's 1 makes a call answered."""
    at("2026-12-01 10:00")
    call = caller().dial().press("2").silence()
    status, body = call.post(call.waiting.get("action"), call.params(DialCallStatus="completed", DialBridged="false"))
    assert status == 200
    assert "<Record" in body and "<Dial" not in body
    stored = stored_call(roster, call.call_sid)
    assert stored.answered_at is None and stored.outcome is None


def test_a_second_agent_cannot_take_a_taken_call(roster, caller, at):
    """If two agents press 1 on one call, the second hears it is taken and is hung up."""
    at("2026-12-01 10:00")
    call = caller().dial().press("3").silence()
    numbers = call.waiting.findall("Number")
    ben_url, cara_url = numbers[0].get("url"), numbers[1].get("url")
    answer = call.params(Digits="1", ParentCallSid=call.call_sid, Direction="outbound-dial")
    s1, body1 = call.post(ben_url + "/answer", {**answer, "CallSid": "CA" + "b" * 32})
    s2, body2 = call.post(cara_url + "/answer", {**answer, "CallSid": "CA" + "c" * 32})
    assert (s1, s2) == (200, 200)
    assert body1.endswith("<Response />")
    assert "A colleague has already taken this call." in body2 and "<Hangup />" in body2
    with roster.app_context():
        assert db.session.execute(select(Ticket)).scalar_one().assignee_id == staff.find("Ben").id


def test_whisper_for_an_unknown_call_hangs_up_the_leg(roster, caller):
    """A whisper naming no known call hangs up that leg instead of bridging a stranger."""
    sim = caller()
    status, body = sim.post("/voice/whisper/1", sim.params(ParentCallSid="CA" + "9" * 32))
    assert status == 200 and "<Hangup />" in body


@responses.activate
def test_critical_after_hours_texts_the_on_call_engineers(app_factory, caller, at, tmp_path):
    """A Critical ticket at night queues a text to each on-call engineer, without delaying the caller."""
    app = app_factory()
    flow = app.extensions["ivr.flow"]
    app.extensions["ivr.flow"] = dataclasses.replace(flow, on_call_engineers=("+13125550111", "+13125550112"))
    url = "https://api.twilio.com/2010-04-01/Accounts/" + "AC" + "0" * 32 + "/Messages.json"
    responses.add(responses.POST, url, json={"sid": "SM" + "1" * 32, "status": "queued"}, status=201)

    at("2026-12-05 23:00")  # Saturday night
    call = Simulator(send=transport(app.test_client()), token=TOKEN, mark_test=False).dial().press("3").silence()
    assert call.waiting.tag == "Record"
    with app.app_context():
        texts = db.session.execute(select(TextMessage).order_by(TextMessage.to)).scalars().all()
        assert [t.to for t in texts] == ["+13125550111", "+13125550112"]
        assert all("1001" in t.body and "+13125550199" in t.body and f"/console/calls/{call.call_sid}" in t.body for t in texts)
        assert [t.status for t in texts] == ["sent", "sent"]


def test_nobody_answers_and_the_message_lands_on_the_ticket_as_audio_and_text(roster, caller, at, no_network, tmp_path):
    """Everyone declines; the voicemail is archived into recordings/ and its transcript is on the ticket."""
    at("2026-12-01 15:00")
    call = caller().dial().press("2").silence()
    call.agent_answers(accept=False)
    call.agent_does_not_answer()
    sid_holder = {}

    def media(request):
        sid_holder["url"] = request.url
        return (200, {"Content-Type": "audio/mpeg"}, b"ID3 fake mp3 bytes")

    no_network.add_callback(responses.GET, re.compile(r"https://api\.twilio\.com/.*/Recordings/RE[0-9a-f]{32}\.mp3"), callback=media)
    call.leave_message("The floor plan editor shows a blank page.")
    call.hang_up()
    with roster.app_context():
        ticket = db.session.execute(select(Ticket)).scalar_one()
        [rec] = ticket.recordings
        assert rec.transcript == "The floor plan editor shows a blank page."
        assert rec.archive_status == "archived"
        archived = tmp_path / "recordings" / rec.archive_path
    assert archived.read_bytes() == b"ID3 fake mp3 bytes"
    assert sid_holder["url"].endswith(f"/Recordings/{call.last_recording_sid}.mp3")
