"""Self-service: known callers, status by phone, texts, callbacks and Spanish, as callers use them."""

from __future__ import annotations

import json

import pytest
import responses
from sqlalchemy import func, select

from ivr import callbacks, calllog, customers, staff, texts, updates
from ivr.models import Call, CallbackRequest, Recording, SmsOptOut, TextMessage, Ticket, db
from ivr.simulator import Simulator
from tests.conftest import TOKEN, transport

AC = "AC" + "0" * 32
MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{AC}/Messages.json"
CALLS = f"https://api.twilio.com/2010-04-01/Accounts/{AC}/Calls.json"
PAT = "+13125550199"
BEN = "+13125550102"


@pytest.fixture
def ben(app):
    """Put one engineer, Ben, on weekday shifts."""
    with app.app_context():
        staff.add("Ben", BEN, "engineering", ["Mon-Fri 05:00-22:00"])
    return app


def rows(app, model, *where):
    """Read rows of a table, detached so they can be inspected after the session."""
    with app.app_context():
        found = db.session.execute(select(model).where(*where).order_by(model.__table__.primary_key.columns.values()[0])).scalars().all()
        db.session.expunge_all()
        return found


def first_call(caller, at, key="2"):
    """Open a ticket from Pat's number and hang up: Pat is then a known caller."""
    at("2026-12-01 09:00")
    call = caller(PAT).dial().press(key).silence()
    call.hang_up()
    return call


def test_known_caller_continues_their_open_ticket(app, caller, at):
    """Pat calls again about an open Technical ticket: no new ticket, the message lands on it."""
    first_call(caller, at)
    at("2026-12-01 16:30")
    call = caller(PAT).dial()
    assert "You have an open technical support ticket, 1, 0, 0, 1. Press 1 if you are calling about it, or 2 for a new issue." in call.said
    call.press("1")
    assert "Ticket 1, 0, 0, 1 for technical support is open, with a response goal of 1 PM Central today." in call.said
    call.leave_message("Still broken after the update.")
    assert len(rows(app, Ticket)) == 1
    second = rows(app, Call, Call.call_sid == call.call_sid)[0]
    assert second.about_ticket_id == rows(app, Ticket)[0].id
    assert [r.ticket_id for r in rows(app, Recording)] == [rows(app, Ticket)[0].id]


def test_known_caller_can_open_a_new_issue(app, caller, at):
    """Pressing 2 goes to the level menu and opens a second ticket."""
    first_call(caller, at)
    call = caller(PAT).dial().press("2")
    assert call.heard[-1].startswith("Please choose a support level.")
    call.press("1")
    assert "Your ticket number is 1, 0, 0, 2." in call.said
    assert [t.level for t in rows(app, Ticket)] == ["technical", "basic"]


def test_resolved_tickets_are_not_offered(app, caller, at):
    """A caller whose only ticket is resolved hears the ordinary menu."""
    first_call(caller, at)
    with app.app_context():
        db.session.execute(select(Ticket)).scalar_one().state = "resolved"
        db.session.commit()
    call = caller(PAT).dial()
    assert "You have an open" not in call.said
    assert call.heard[-1].startswith("Please choose a support level.")


def test_company_from_the_directory_is_on_the_ticket_and_in_the_whisper(ben, caller, at, tmp_path):
    """A caller listed in the directory is named with their company to the agent."""
    csv_file = tmp_path / "contacts.csv"
    csv_file.write_text("company,name,phone\nAcme Floors,Pat Doe,(312) 555-0199\n")
    result = ben.test_cli_runner().invoke(args=["customers", "import", str(csv_file)])
    assert result.exit_code == 0, result.output
    assert "imported 1 contact(s)" in result.output
    at("2026-12-01 10:00")
    call = caller(PAT).dial().press("2").silence()
    call.agent_answers()
    assert any(line.startswith("AGENT hears: technical support call, ticket 1, 0, 0, 1, from Acme Floors,") for line in call.transcript)
    assert rows(ben, Ticket)[0].company == "Acme Floors"


def test_directory_import_refuses_a_bad_file_whole(app, tmp_path):
    """A CSV with one bad number imports nothing and names the line."""
    csv_file = tmp_path / "contacts.csv"
    csv_file.write_text("company,name,phone\nAcme,Pat,+13125550199\nAcme,Lee,not a phone\n")
    result = app.test_cli_runner().invoke(args=["customers", "import", str(csv_file)])
    assert result.exit_code == 1
    assert "line 3: 'not a phone' is not a phone number" in result.output
    with app.app_context():
        assert customers.contact_for(PAT) is None


def test_status_by_phone_for_the_caller_who_opened_it(app, caller, at):
    """From the number that opened it, keying the ticket number reads its state and goal."""
    first_call(caller, at)
    at("2026-12-01 10:00")
    call = caller(PAT).dial().press("2").press("4")
    assert call.heard[-1] == "Please enter your ticket number, then press pound."
    assert call.waiting.get("finishOnKey") == "#" and call.waiting.get("input") == "dtmf"
    call.press("1001")
    assert "Ticket 1, 0, 0, 1 is open. It is not assigned yet. We aim to respond by 1 PM Central today." in call.said


def test_status_from_another_phone_needs_the_pin(app, caller, at):
    """Another number must key the PIN; a wrong one reveals nothing, the right one reads the state."""
    first_call(caller, at)
    pin = rows(app, Ticket)[0].pin
    wrong = "0000" if pin != "0000" else "1111"
    call = caller("+13125550777").dial().press("4").press("1001")
    assert call.heard[-1].startswith("Please enter the four digit PIN for that ticket.")
    call.press(wrong)
    assert "Sorry, that PIN does not match." in call.heard
    assert "is open" not in call.said and "1, 0, 0, 1" not in call.said
    call.press(pin)
    assert "Ticket 1, 0, 0, 1 is open." in call.said


def test_status_of_a_ticket_that_does_not_exist_is_never_confirmed(app, caller, at):
    """Keying a number with no ticket asks for a PIN like any other, then gives up politely."""
    at("2026-12-01 10:00")
    call = caller().dial().press("4").press("9999")
    assert call.heard[-1].startswith("Please enter the four digit PIN")
    call.press("1234").press("1234").press("1234")
    assert "Sorry, we could not check that ticket. Let's go back to the main menu." in call.said
    assert call.heard[-1].startswith("Please choose a support level.")


@pytest.fixture
def texting(app_factory):
    """Give the app with caller texts switched on."""
    return app_factory(SMS_TO_CALLERS=True)


def texting_caller(app, number=PAT):
    """Make a caller on the texting app."""
    return Simulator(send=transport(app.test_client()), token=TOKEN, from_=number, mark_test=False)


def test_confirmation_text_after_a_ticket_opens(texting, at, no_network):
    """The caller gets a text with the ticket number, level, goal, due time, PIN and the policy's contacts."""
    no_network.add(responses.POST, MESSAGES, json={"sid": "SM" + "1" * 32, "status": "queued"}, status=201)
    at("2026-12-01 10:00")
    texting_caller(texting).dial().press("2")
    [sent] = rows(texting, TextMessage)
    ticket = rows(texting, Ticket)[0]
    assert (sent.to, sent.purpose, sent.status) == (PAT, "confirmation", "sent")
    assert sent.body == (
        f"OfficeSpace Support: ticket 1001 (Technical Support) is open. Our response goal is 4 hours: by 2 PM Central today. "
        f"PIN for status by phone: {ticket.pin}. Email support@officespacesoftware.com or visit support.officespacesoftware.com. "
        "Reply STOP to opt out."
    )
    form = dict(p.split("=", 1) for p in no_network.calls[0].request.body.split("&"))
    assert form["To"] == "%2B13125550199" and form["From"] == "%2B16462019664"


def test_an_opted_out_caller_is_never_texted_again(texting, at, no_network):
    """Twilio's 21610 marks the number opted out; the next ticket sends nothing."""
    no_network.add(
        responses.POST, MESSAGES, status=400, json={"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400}
    )
    at("2026-12-01 10:00")
    texting_caller(texting).dial().press("2")
    [refused] = rows(texting, TextMessage)
    assert refused.status == "failed" and refused.last_error.startswith("21610")
    assert [o.phone for o in rows(texting, SmsOptOut)] == [PAT]
    texting_caller(texting).dial().press("2").press("2")  # known caller: a new issue
    assert len(rows(texting, Ticket)) == 2
    assert len(rows(texting, TextMessage)) == 1
    assert len(no_network.calls) == 1


def test_a_failed_text_is_retried_by_the_outbox(texting, at, no_network):
    """A 500 leaves the text pending; `flask texts send` delivers it later."""
    no_network.add(responses.POST, MESSAGES, status=500, json={"code": 20500, "message": "Internal Server Error", "status": 500})
    at("2026-12-01 10:00")
    texting_caller(texting).dial().press("2")
    assert rows(texting, TextMessage)[0].status == "pending"
    no_network.replace(responses.POST, MESSAGES, json={"sid": "SM" + "2" * 32, "status": "queued"}, status=201)
    result = texting.test_cli_runner().invoke(args=["texts", "send"])
    assert result.exit_code == 0, result.output
    assert rows(texting, TextMessage)[0].status == "sent"


def test_landlines_and_withheld_numbers_get_no_text(texting, at, no_network):
    """A toll-free or withheld number is never texted."""
    at("2026-12-01 10:00")
    texting_caller(texting, "+18005551212").dial().press("2")
    texting_caller(texting, "anonymous").dial().press("2")
    assert rows(texting, TextMessage) == []
    assert len(no_network.calls) == 0


def test_caller_asks_for_updates_and_gets_one_when_the_ticket_is_resolved(texting, at, no_network):
    """Pressing 2 after the ticket number asks for texts; resolving the ticket sends one."""
    no_network.add(responses.POST, MESSAGES, json={"sid": "SM" + "3" * 32, "status": "queued"}, status=201)
    at("2026-12-01 10:00")
    call = texting_caller(texting).dial().press("2").press("2")
    assert "We will text you when your ticket is updated." in call.said
    with texting.test_request_context():
        ticket = db.session.execute(select(Ticket)).scalar_one()
        assert ticket.wants_updates
        ticket.state = "resolved"
        updates.ticket_changed(ticket)
        db.session.commit()
    update = rows(texting, TextMessage, TextMessage.purpose == "update")
    assert [(u.body, u.status) for u in update] == [("OfficeSpace Support: ticket 1001 is resolved.", "sent")]


def test_no_update_text_unless_asked(texting, at, no_network):
    """A caller who did not ask for updates gets none when the ticket changes."""
    no_network.add(responses.POST, MESSAGES, json={"sid": "SM" + "4" * 32, "status": "queued"}, status=201)
    at("2026-12-01 10:00")
    texting_caller(texting).dial().press("2")
    with texting.test_request_context():
        ticket = db.session.execute(select(Ticket)).scalar_one()
        ticket.state = "responded"
        assert updates.ticket_changed(ticket) is None
        db.session.commit()
    assert [t.purpose for t in rows(texting, TextMessage)] == ["confirmation"]


def busy_ben(caller, at):
    """Put Ben on a call with another customer."""
    at("2026-12-01 10:00")
    other = caller("+13125550201").dial().press("2").silence()
    other.agent_answers()
    assert other.connected_to == BEN
    return other


def test_everyone_busy_offers_a_callback_which_is_queued(ben, caller, at):
    """With Ben on a call, Pat can press 1 to be called back, and hangs up with the ticket number."""
    busy_ben(caller, at)
    call = caller(PAT).dial().press("3").silence()
    assert "Everyone on our team is on a call right now. To keep your place and have us call you back at 3, 1, 2, 5, 5, 5, 0, 1, 9, 9" in (
        call.said
    )
    call.press("1")
    assert call.heard[-1].startswith("Thank you. We will call you back at 3, 1, 2, 5, 5, 5, 0, 1, 9, 9 as soon as someone is free.")
    assert call.ended
    with ben.app_context():
        [entry] = callbacks.waiting()
        assert (entry.phone, entry.level, entry.state) == (PAT, "critical", "waiting")


def test_callbacks_are_served_by_level_then_time(ben, caller, at):
    """A later Critical request is called back before an earlier Basic one; Technical in between."""
    with ben.app_context():
        staff.add("Anna", "+13125550101", "support", ["Mon-Fri 05:00-22:00"])
    busy_ben(caller, at)
    anna_busy = caller("+13125550202").dial().press("1").silence()
    anna_busy.agent_answers()
    for number, key in (("+13125550301", "1"), ("+13125550302", "2"), ("+13125550303", "3")):
        caller(number).dial().press(key).silence().press("1")
    with ben.app_context():
        assert [e.level for e in callbacks.waiting()] == ["critical", "technical", "basic"]


def test_a_caller_who_prefers_a_message_leaves_one(ben, caller, at):
    """Pressing 2 at the callback offer takes a voicemail instead."""
    busy_ben(caller, at)
    call = caller(PAT).dial().press("2").silence().press("2")
    assert call.waiting.tag == "Record"
    with ben.app_context():
        assert callbacks.waiting() == []


def test_an_agent_calls_back_and_the_customer_is_bridged(ben, caller, at, no_network):
    """Starting a callback rings Ben through the Calls API; he presses 1, Pat is dialled and reached."""
    other = busy_ben(caller, at)
    caller(PAT).dial().press("2").silence().press("1")
    other.hang_up()
    no_network.add(responses.POST, CALLS, json={"sid": "CA" + "e" * 32, "status": "queued"}, status=201)
    with ben.test_request_context():
        [entry] = callbacks.waiting()
        callbacks.start(entry.id, staff.find("Ben"))
        entry_id = entry.id
    form = dict(p.split("=", 1) for p in no_network.calls[-1].request.body.split("&"))
    assert form["To"] == "%2B13125550102"
    assert form["Url"].endswith(f"%2Fvoice%2Fcallback%2F{entry_id}%2Fagent")
    agent_leg = Simulator(send=transport(ben.test_client()), token=TOKEN, from_="+16462019664", to=BEN, call_sid="CA" + "e" * 32)
    agent_leg.pick_up(f"/voice/callback/{entry_id}/agent")
    assert (
        agent_leg.heard[-1]
        == "Callback for technical support ticket 1, 0, 0, 2, customer 3, 1, 2, 5, 5, 5, 0, 1, 9, 9. Press 1 to call them now."
    )
    agent_leg.press("1")
    assert [n.text for n in agent_leg.waiting.findall("Number")] == [PAT]
    agent_leg.agent_answers()  # Pat picks up
    agent_leg.hang_up(duration=120)
    assert "The callback is complete. Goodbye." in agent_leg.said
    [entry] = rows(ben, CallbackRequest)
    assert entry.state == "done"
    ticket = rows(ben, Ticket, Ticket.id == entry.ticket_id)[0]
    with ben.app_context():
        assert ticket.assignee_id == staff.find("Ben").id
        logged = db.session.execute(select(func.count()).select_from(Call).where(Call.about_ticket_id == ticket.id)).scalar_one()
    assert ticket.first_response_at is not None and ticket.state == "responded"
    assert logged == 1


def test_a_callback_ringing_fails_and_stays_queued(ben, caller, at, no_network):
    """If Twilio cannot place the call, the request stays waiting with the error kept."""
    busy_ben(caller, at)
    caller(PAT).dial().press("2").silence().press("1")
    no_network.add(responses.POST, CALLS, status=500, json={"code": 20500, "message": "down", "status": 500})
    with ben.test_request_context():
        [entry] = callbacks.waiting()
        with pytest.raises(callbacks.CallbackError):
            callbacks.start(entry.id, staff.find("Ben"))
    [entry] = rows(ben, CallbackRequest)
    assert entry.state == "waiting" and entry.attempts == 1 and entry.last_error


def test_the_whole_spanish_path(ben, caller, at):
    """Nine switches to Spanish: the menu, goal, due time and ticket are spoken in Spanish with a Spanish voice."""
    at("2026-12-04 21:00")  # Friday evening
    call = caller(PAT).dial()
    assert "Para español, oprima 9." in call.heard[-1]
    call.press("9")
    assert call.heard[-1].startswith("Por favor elija un nivel de soporte. Para Soporte Básico de Producto")
    says = call.waiting.findall("Say")
    assert {s.get("voice") for s in says} == {"Polly.Lupe-Neural"}
    assert call.waiting.get("language") == "es-US"
    call.say("nuestro sistema está caído")
    assert (
        "Nuestra meta de respuesta para soporte técnico crítico es de 2 horas, así que le responderemos antes de las "
        "6 AM hora del Centro el lunes. Su número de ticket es 1, 0, 0, 1." in call.said
    )
    call.silence()
    assert "Por favor espere mientras lo comunicamos con nuestro equipo." in call.said
    call.agent_answers(accept=False)
    assert any("AGENT hears: critical technical support call" in line and "a Spanish-speaking caller" in line for line in call.transcript)
    assert "Todo nuestro equipo está ayudando a otros clientes en este momento." in call.said
    call.leave_message("El sistema no carga.")
    assert call.heard[-1].startswith("Gracias, su mensaje está en el ticket 1, 0, 0, 1.")
    ticket = rows(ben, Ticket)[0]
    assert (ticket.language, ticket.level) == ("es", "critical")


def test_spanish_after_hours_names_the_next_opening_in_spanish(app, caller, at):
    """Outside hours the Spanish caller hears the hours and the next opening in Spanish."""
    at("2026-12-05 10:00")  # Saturday
    call = caller().dial().press("9").press("1").silence()
    assert (
        "Nuestro equipo de soporte atiende de lunes a viernes, de 5 de la mañana a 10 de la noche, hora del Centro. "
        "Abrimos otra vez 5 AM hora del Centro el lunes." in call.said
    )


def test_opt_out_is_kept_even_when_sending_is_retried(app, no_network):
    """An outbox retry that meets 21610 records the opt-out once."""
    no_network.add(responses.POST, MESSAGES, status=400, json={"code": 21610, "message": "unsubscribed", "status": 400})
    with app.app_context():
        first = texts.queue(PAT, "hello", purpose="confirmation")
        second = texts.queue(PAT, "again", purpose="update")
        db.session.commit()
        texts.send(first.id)
        texts.send(second.id)
        assert db.session.execute(select(func.count()).select_from(SmsOptOut)).scalar_one() == 1
        assert not updates.can_text(PAT)
    assert json.loads(no_network.calls[0].response.text)["code"] == 21610


def test_a_test_call_ticket_is_not_offered_to_a_real_caller(app, caller, at):
    """A supervisor's simulated call from Pat's number leaves no open ticket for Pat's real calls."""
    at("2026-12-01 09:00")
    caller(PAT, mark_test=True).dial().press("2").hang_up()
    call = caller(PAT).dial()
    assert "You have an open" not in call.said
    assert call.heard[-1].startswith("Please choose a support level.")


def test_an_agent_who_does_not_answer_the_callback_puts_it_back_in_the_queue(ben, caller, at, no_network):
    """If Ben's phone rings out, Twilio's status callback returns the request to the queue."""
    busy_ben(caller, at)
    caller(PAT).dial().press("2").silence().press("1")
    no_network.add(responses.POST, CALLS, json={"sid": "CA" + "f" * 32, "status": "queued"}, status=201)
    with ben.test_request_context():
        [entry] = callbacks.waiting()
        callbacks.start(entry.id, staff.find("Ben"))
    form = dict(p.split("=", 1) for p in no_network.calls[-1].request.body.split("&"))
    status_url = form["StatusCallback"].replace("%2F", "/").split("localhost", 1)[1]
    leg = Simulator(send=transport(ben.test_client()), token=TOKEN, from_="+16462019664", to=BEN, call_sid="CA" + "f" * 32)
    code, _ = leg.post(status_url, leg.params(CallStatus="no-answer", Direction="outbound-api"))
    assert code == 200
    [entry] = rows(ben, CallbackRequest)
    assert (entry.state, entry.last_error) == ("waiting", "agent's phone: no-answer")


def test_the_log_shows_a_continued_ticket_on_the_second_call(app, caller, at, logged_in_client):
    """The call log and call page show the ticket a known caller's call continued."""
    first_call(caller, at)
    at("2026-12-01 16:30")
    second = caller(PAT).dial().press("1")
    second.hang_up()
    page = logged_in_client.get(f"/console/calls/{second.call_sid}").get_data(as_text=True)
    assert "Continued open ticket 1001" in page
    with app.test_request_context():
        detail = calllog.call_detail(second.call_sid, app.extensions["ivr.flow"], rows(app, Call)[0].started_at)
        assert detail.row.ticket.number == 1001


def test_a_supervisor_resolving_in_the_console_texts_the_caller_who_asked(app, caller, at, logged_in_client, no_network):
    """Pat asked for updates; the supervisor marks the ticket responded in the console and Pat gets a text."""
    app.config["SMS_TO_CALLERS"] = True
    no_network.add(responses.POST, MESSAGES, json={"sid": "SM" + "6" * 32, "status": "queued"}, status=201)
    at("2026-12-01 10:00")
    caller(PAT).dial().press("2").press("2").hang_up()
    logged_in_client.get("/console/tickets/1001")
    resp = logged_in_client.post("/console/tickets/1001", {"action": "responded"})
    assert resp.status_code == 303
    texts_sent = rows(app, TextMessage, TextMessage.purpose == "update")
    assert [(t.to, t.body, t.status) for t in texts_sent] == [
        (PAT, "OfficeSpace Support: ticket 1001 is being worked on: we have responded.", "sent")
    ]


def test_nine_in_spanish_switches_back_to_english(app, caller, at):
    """The Spanish menu's "For English, press 9" does what it says."""
    at("2026-12-01 10:00")
    call = caller().dial().press("9")
    assert "For English, press 9." in call.heard[-1]
    call.press("9")
    assert call.heard[-1].startswith("Please choose a support level.")
    call.press("2")
    assert "Our response goal for technical support is 4 hours" in call.said
    assert rows(app, Ticket)[0].language == "en"
