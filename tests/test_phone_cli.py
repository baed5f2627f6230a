"""`flask --app wsgi call`, and the simulator's handling of <Dial> with agent whispers."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from ivr import phone
from ivr.models import Call, Ticket, db
from ivr.simulator import LineError, Simulator
from tests.conftest import TOKEN, _empty_tables, make_app

GREETING = "Thank you for calling OfficeSpace Software Support."
TECHNICAL_GOAL = "response goal for technical support is 4 hours"
SUPPORT = "+16462019664"
AGENT_1 = "+13125550101"
AGENT_2 = "+13125550102"


def calls_and_tickets(app):
    """Give every call and ticket in the log."""
    with app.app_context():
        calls = db.session.execute(select(Call)).scalars().all()
        tickets = db.session.execute(select(Ticket)).scalars().all()
        return [(c.call_sid, c.is_test, c.status) for c in calls], [t.number for t in tickets]


def call(app, *args, input=None):
    """Run `flask call` with these arguments."""
    return app.test_cli_runner().invoke(args=["call", *args], input=input)


# -- the command against the real app ------------------------------------------


def test_keys_on_christmas_open_a_ticket_and_take_a_voicemail(app):
    result = call(app, "--keys", "2", "--at", "2026-12-25 10:00")

    assert result.exit_code == 0, result.output
    out = result.output
    assert GREETING in out
    assert "CALLER presses 2" in out
    assert TECHNICAL_GOAL in out
    assert "Your ticket number is 1, 0, 0, 1." in out
    assert "(beep: recording)" in out
    assert f'CALLER leaves a message: "{phone.DEFAULT_MESSAGE}"' in out
    assert "Goodbye." in out
    assert "Ticket:  1001 (Technical Support" in out
    assert "Outcome: left a voicemail; the line hung up" in out
    calls, tickets = calls_and_tickets(app)
    assert len(calls) == 1 and tickets == [1001]
    sid, is_test, status = calls[0]
    assert is_test is True and status == "completed"
    assert f"Call:    {sid} (test call, completed" in out


def test_in_hours_the_call_still_gets_its_ticket_and_goal(app):
    result = call(app, "--keys", "2", "--at", "2026-12-01 10:00")

    assert result.exit_code == 0, result.output
    assert "(the clock reads Tuesday 2026-12-01 10:00 CST)" in result.output
    assert TECHNICAL_GOAL in result.output
    assert "1, 0, 0, 1" in result.output
    # Due four support hours after 10:00 Central.
    assert "due 2026-12-01 14:00 CST" in result.output
    assert calls_and_tickets(app)[1] == [1001]


def test_a_script_says_stays_silent_and_leaves_a_message(app, tmp_path):
    script = tmp_path / "call.txt"
    script.write_text(
        "# a technical caller who speaks instead of pressing\n\nsay technical problem\nsilence\nmessage My floor plan is gone\n"
    )

    result = call(app, "--script", str(script), "--at", "2026-12-25 10:00")

    assert result.exit_code == 0, result.output
    assert 'CALLER says "technical problem"' in result.output
    assert TECHNICAL_GOAL in result.output
    assert "CALLER says nothing" in result.output
    assert 'CALLER leaves a message: "My floor plan is gone"' in result.output
    assert "unused" not in result.output
    with app.app_context():
        ticket = db.session.execute(select(Ticket)).scalar_one()
        assert [r.transcript for r in ticket.recordings] == ["My floor plan is gone"]


def test_a_script_can_leave_no_message_and_hang_up(app, tmp_path):
    script = tmp_path / "call.txt"
    script.write_text("press 1\npress #\nno-message\n")

    result = call(app, "--script", str(script), "--at", "2026-12-25 10:00")

    assert result.exit_code == 0, result.output
    assert "CALLER leaves no message" in result.output
    assert "We did not receive a message." in result.output
    assert "Outcome: no voicemail; the line hung up" in result.output


def test_hangup_step_ends_the_call_early(app, tmp_path):
    script = tmp_path / "call.txt"
    script.write_text("hangup\npress 2\n")

    result = call(app, "--script", str(script))

    assert result.exit_code == 0, result.output
    assert "CALLER hangs up" in result.output
    assert "Outcome: no voicemail; the caller hung up" in result.output
    assert "1 step(s) left unused: press 2" in result.output
    calls, tickets = calls_and_tickets(app)
    assert [c[2] for c in calls] == ["completed"] and tickets == []


def test_unknown_script_step_is_refused_with_its_line_number(app, tmp_path):
    script = tmp_path / "call.txt"
    script.write_text("press 2\n\n# fine so far\njump to voicemail\n")

    result = call(app, "--script", str(script))

    assert result.exit_code == 2
    assert "line 4: unknown step 'jump'" in result.output
    assert calls_and_tickets(app) == ([], [])


@pytest.mark.parametrize(
    "text, error",
    [
        ("press two\n", "line 1: press takes keys"),
        ("say\n", "line 1: say needs the words"),
        ("silence\nagent maybe\n", "line 2: agent takes one of accept, reject, no-answer, busy"),
        ("hangup now\n", "line 1: hangup takes nothing after it"),
    ],
)
def test_malformed_script_steps_are_refused(app, tmp_path, text, error):
    script = tmp_path / "call.txt"
    script.write_text(text)

    result = call(app, "--script", str(script))

    assert result.exit_code == 2
    assert error in result.output


def test_a_step_that_does_not_fit_stops_the_call_and_hangs_up(app, tmp_path):
    script = tmp_path / "call.txt"
    script.write_text("press 2\nmessage too early\n")

    result = call(app, "--script", str(script), "--at", "2026-12-25 10:00")

    assert result.exit_code == 1
    assert "line 2: 'message too early' does not fit: the line is waiting for an answer at a menu" in result.output
    # The call was hung up rather than left open in the log.
    assert [c[2] for c in calls_and_tickets(app)[0]] == ["completed"]


@pytest.mark.parametrize("at", ["tomorrow", "2026-12-01", "2026-13-01 10:00", "12/01/2026 10:00"])
def test_bad_at_is_refused(app, at):
    result = call(app, "--keys", "2", "--at", at)

    assert result.exit_code == 2
    assert "Invalid value for '--at'" in result.output
    assert "expected 'YYYY-MM-DD HH:MM' in the support time zone (America/Chicago)" in result.output
    assert calls_and_tickets(app) == ([], [])


def test_at_a_time_the_clocks_skip_is_refused(app):
    result = call(app, "--keys", "2", "--at", "2026-03-08 02:30")

    assert result.exit_code == 2
    assert "does not exist in America/Chicago" in result.output


def test_bad_keys_are_refused(app):
    result = call(app, "--keys", "2a")

    assert result.exit_code == 2
    assert "'a' is not a key" in result.output


def test_keys_and_script_together_are_refused(app, tmp_path):
    script = tmp_path / "call.txt"
    script.write_text("press 2\n")

    result = call(app, "--keys", "2", "--script", str(script))

    assert result.exit_code == 2
    assert "--keys or --script, not both" in result.output


def test_url_with_at_is_refused(app):
    result = call(app, "--url", "http://127.0.0.1:5000", "--token", "x", "--at", "2026-12-01 10:00")

    assert result.exit_code == 2
    assert "--at cannot be used with --url" in result.output


def test_url_needs_a_token(app, monkeypatch):
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)

    result = call(app, "--url", "http://127.0.0.1:5000", "--keys", "2")

    assert result.exit_code == 2
    assert "give --token or set TWILIO_AUTH_TOKEN" in result.output


def test_token_without_url_is_refused(app):
    result = call(app, "--token", "x", "--keys", "2")

    assert result.exit_code == 2
    assert "--token is for --url" in result.output


def test_without_a_configured_token_a_random_one_signs_this_call(database_url, tmp_path):

    app = make_app(database_url, tmp_path, TWILIO_AUTH_TOKEN="")
    _empty_tables(app)
    try:
        result = call(app, "--keys", "2", "--at", "2026-12-25 10:00")

        assert result.exit_code == 0, result.output
        assert "signing with a random token for this call only" in result.output
        assert TECHNICAL_GOAL in result.output
        # Set on this app object only, never written anywhere.
        assert len(app.config["TWILIO_AUTH_TOKEN"]) >= 32
        assert calls_and_tickets(app)[1] == [1001]
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_interactive_call_reads_answers_from_the_terminal(app):
    result = call(app, "--at", "2026-12-25 10:00", input="3\n\nThe whole system is down\n")

    assert result.exit_code == 0, result.output
    assert "keys, words, or enter for silence" in result.output
    assert "CALLER presses 3" in result.output
    assert "CALLER says nothing" in result.output
    assert 'CALLER leaves a message: "The whole system is down"' in result.output
    assert "response goal for critical technical support is 2 hours" in result.output


def test_interactive_words_are_spoken_and_end_of_input_hangs_up(app):
    result = call(app, "--at", "2026-12-25 10:00", input="basic please\n")

    assert result.exit_code == 0, result.output
    assert 'CALLER says "basic please"' in result.output
    assert "CALLER hangs up" in result.output
    assert "the caller hung up" in result.output


def test_a_call_that_never_ends_is_hung_up_after_the_step_limit(app, monkeypatch):
    monkeypatch.setattr(phone, "MAX_STEPS", 2)

    result = call(app, "--keys", "****", "--at", "2026-12-25 10:00")

    assert result.exit_code == 0, result.output
    assert "(the simulator hangs up: 2 steps and the call goes on)" in result.output
    assert "the simulator hung up" in result.output
    assert [c[2] for c in calls_and_tickets(app)[0]] == ["completed"]


def test_url_sends_signed_http_to_the_service(app, monkeypatch):
    """Route the command's real HTTP requests into the app, as a running service would take them."""
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    client = app.test_client()
    seen = []

    def serve(request):
        parts = urlsplit(request.url)
        seen.append(parts.netloc)
        resp = client.post(parts.path, data=request.body, headers=dict(request.headers), base_url=f"{parts.scheme}://{parts.netloc}")
        return resp.status_code, {"Content-Type": resp.content_type}, resp.get_data()

    with responses.RequestsMock() as mock:
        mock.add_callback(responses.POST, re.compile(r"http://line\.test:8080/.*"), callback=serve)
        result = call(app, "--url", "http://line.test:8080", "--keys", "2")

    assert result.exit_code == 0, result.output
    assert TECHNICAL_GOAL in result.output
    assert "Ticket:  not looked up" in result.output
    assert set(seen) == {"line.test:8080"}
    assert calls_and_tickets(app)[1] == [1001]


def test_url_with_the_wrong_token_explains_the_403(app):
    def serve(request):
        parts = urlsplit(request.url)
        resp = app.test_client().post(parts.path, data=request.body, headers=dict(request.headers))
        return resp.status_code, {}, resp.get_data()

    with responses.RequestsMock() as mock:
        mock.add_callback(responses.POST, re.compile(r"http://localhost/.*"), callback=serve)
        result = call(app, "--url", "http://localhost", "--token", "wrong", "--keys", "2")

    assert result.exit_code == 1
    assert "answered HTTP 403" in result.output
    assert "the signature was refused" in result.output
    assert calls_and_tickets(app) == ([], [])


# -- <Dial> in the simulator, against a fake line ------------------------------


class FakeLine:
    """Answer each path with canned TwiML, checking every signature as the app would."""

    def __init__(self, routes: dict):
        self.routes = routes
        self.requests: list[tuple[str, dict]] = []

    def __call__(self, url: str, params: dict, headers: dict) -> tuple[int, str]:
        assert RequestValidator(TOKEN).validate(url, params, headers["X-Twilio-Signature"]), url
        path = urlsplit(url).path
        self.requests.append((path, dict(params)))
        answer = self.routes[path]
        return 200, answer(params) if callable(answer) else answer

    def posted(self, path: str) -> list[dict]:
        """Give the parameters of every request to this path."""
        return [p for seen, p in self.requests if seen == path]


def dial_twiml(*agents: str, action: str | None = "/voice/dialed", sequential: bool = True, whisper: bool = True) -> str:
    """Build a Dial that rings these agents, each with the whisper."""
    url = ' url="/voice/whisper" method="POST"' if whisper else ""
    numbers = "".join(f"<Number{url}>{a}</Number>" for a in agents)
    attrs = f' action="{action}"' if action else ""
    attrs += ' sequential="true"' if sequential else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Response><Say>Please hold.</Say>'
        f'<Dial{attrs} callerId="{SUPPORT}" timeout="20">{numbers}</Dial>'
        f"<Say>Only without an action.</Say></Response>"
    )


WHISPER = (
    '<Response><Gather input="dtmf" numDigits="1" timeout="6" action="/voice/whisper/answer" method="POST" '
    'actionOnEmptyResult="true"><Say>Technical support call. Press 1 to accept.</Say></Gather><Hangup/></Response>'
)


def whisper_answer(params: dict) -> str:
    """Bridge on 1, reject otherwise, as the line's whisper does."""
    return "<Response/>" if params.get("Digits") == "1" else "<Response><Hangup/></Response>"


def dialed(params: dict) -> str:
    """Answer the Dial's action: goodbye after a conversation, voicemail otherwise."""
    if params["DialCallStatus"] == "completed":
        return "<Response><Hangup/></Response>"
    return '<Response><Say>Nobody could take your call.</Say><Record action="/voice/recorded"/></Response>'


def fake_line(dial: str, **routes) -> FakeLine:
    """Make a line whose incoming call rings with this Dial."""
    return FakeLine(
        {
            "/voice/incoming": dial,
            "/voice/whisper": WHISPER,
            "/voice/whisper/answer": whisper_answer,
            "/voice/dialed": dialed,
            "/voice/status": "<Response/>",
            **routes,
        }
    )


def simulator(line: FakeLine) -> Simulator:
    """Make a caller on the fake line."""
    return Simulator(send=line, token=TOKEN, to=SUPPORT)


def test_sequential_hunt_first_rejects_second_accepts_then_caller_hangs_up():
    line = fake_line(dial_twiml(AGENT_1, AGENT_2))
    sim = simulator(line).dial()
    assert sim.waiting.tag == "Dial" and sim.ringing_agent == AGENT_1

    sim.agent_answers(accept=False)
    assert sim.ringing_agent == AGENT_2 and not sim.talking
    sim.agent_answers()

    assert sim.talking and sim.connected_to == AGENT_2
    assert f"(connected to {AGENT_2})" in sim.transcript
    assert "AGENT hears: Technical support call. Press 1 to accept." in sim.transcript
    whispers = line.posted("/voice/whisper")
    assert [w["To"] for w in whispers] == [AGENT_1, AGENT_2]
    for w in whispers:
        assert w["ParentCallSid"] == sim.call_sid
        assert w["Direction"] == "outbound-dial"
        assert w["From"] == SUPPORT
        assert w["CallSid"].startswith("CA") and w["CallSid"] != sim.call_sid
        assert w["SimulatedCall"] == "true"
    assert whispers[0]["CallSid"] != whispers[1]["CallSid"]
    answers = line.posted("/voice/whisper/answer")
    assert ["Digits" in answers[0], answers[1]["Digits"]] == [False, "1"]
    assert [a["CallSid"] for a in answers] == [w["CallSid"] for w in whispers]
    assert line.posted("/voice/dialed") == []  # not while they talk

    sim.hang_up(duration=90, talked=75)

    (action,) = line.posted("/voice/dialed")
    assert action["CallSid"] == sim.call_sid
    assert action["DialCallStatus"] == "completed"
    assert action["DialBridged"] == "true"
    assert action["DialCallDuration"] == "75"
    assert action["DialCallSid"] == whispers[1]["CallSid"]
    assert action["CallStatus"] == "completed"
    assert line.requests[-1][0] == "/voice/status"
    assert line.requests[-1][1]["CallDuration"] == "90"
    assert sim.ended and not sim.talking and sim.dial_status == "completed"
    assert "Only without an action." not in sim.said


def test_everyone_rejects_the_dial_action_hears_no_answer_unbridged():
    line = fake_line(dial_twiml(AGENT_1, AGENT_2))
    sim = simulator(line).dial()

    sim.agent_answers(accept=False).agent_answers(accept=False)

    (action,) = line.posted("/voice/dialed")
    assert action["DialCallStatus"] == "no-answer"
    assert action["DialBridged"] == "false"
    assert action["DialCallDuration"] == "0"
    assert action["DialCallSid"] == line.posted("/voice/whisper")[1]["CallSid"]
    assert action["CallStatus"] == "in-progress"
    # The caller goes on with what the action answers; verbs after the Dial never run.
    assert "Nobody could take your call." in sim.said
    assert "Only without an action." not in sim.said
    assert sim.waiting.tag == "Record"
    assert sim.connected_to is None and sim.dial_status == "no-answer"


def test_the_dial_reports_the_last_legs_status():
    line = fake_line(dial_twiml(AGENT_1, AGENT_2))
    sim = simulator(line).dial()

    sim.agent_does_not_answer().agent_busy()

    assert line.posted("/voice/whisper") == []  # nobody picked up
    (action,) = line.posted("/voice/dialed")
    assert action["DialCallStatus"] == "busy" and action["DialBridged"] == "false"
    assert f"(agent {AGENT_1} does not answer)" in sim.transcript
    assert f"(agent {AGENT_2} is busy)" in sim.transcript


def test_a_whisper_that_ends_without_hangup_bridges_and_no_whisper_bridges_at_once():
    line = fake_line(dial_twiml(AGENT_1, whisper=False))
    sim = simulator(line).dial().agent_answers()
    assert sim.talking and line.posted("/voice/whisper") == []

    line = fake_line(dial_twiml(AGENT_1), **{"/voice/whisper": "<Response><Say>Incoming support call.</Say></Response>"})
    sim = simulator(line).dial().agent_answers()
    assert sim.talking and sim.connected_to == AGENT_1


def test_a_dial_without_action_goes_on_with_the_next_verb():
    line = fake_line(dial_twiml(AGENT_1, action=None))
    sim = simulator(line).dial()

    sim.agent_does_not_answer()

    assert line.posted("/voice/dialed") == []
    assert "Only without an action." in sim.said
    assert sim.ended


def test_hanging_up_while_agents_ring_cancels_the_dial():
    line = fake_line(dial_twiml(AGENT_1, AGENT_2))
    sim = simulator(line).dial()

    sim.hang_up()

    (action,) = line.posted("/voice/dialed")
    assert action["DialCallStatus"] == "canceled" and action["DialBridged"] == "false"
    assert line.requests[-1][0] == "/voice/status"


def test_a_whisper_may_not_use_other_verbs():
    line = fake_line(dial_twiml(AGENT_1), **{"/voice/whisper": "<Response><Record/></Response>"})
    sim = simulator(line).dial()

    with pytest.raises(LineError, match="<Record>"):
        sim.agent_answers()


def test_agent_steps_need_a_ringing_dial():
    line = fake_line(dial_twiml(AGENT_1))
    sim = simulator(line).dial()
    with pytest.raises(LineError, match="waiting for Dial, not Gather"):
        sim.press("1")

    sim.agent_answers()
    with pytest.raises(LineError, match="already talking"):
        sim.agent_busy()

    gather = FakeLine({"/voice/incoming": WHISPER})
    with pytest.raises(LineError, match="waiting for Gather, not Dial"):
        simulator(gather).dial().agent_answers()


def test_the_command_plays_agent_steps_over_http(app, tmp_path):
    """The --url path drives a fake line that rings agents: reject, then accept, then hang up."""
    line = fake_line(dial_twiml(AGENT_1, AGENT_2))

    def serve(request):
        params = dict(parse_qsl(request.body))
        status, body = line(request.url, params, {"X-Twilio-Signature": request.headers["X-Twilio-Signature"]})
        return status, {"Content-Type": "text/xml"}, body

    script = tmp_path / "call.txt"
    script.write_text("agent reject\n")
    with responses.RequestsMock() as mock:
        mock.add_callback(responses.POST, re.compile(r"http://line\.test/.*"), callback=serve)
        result = call(app, "--url", "http://line.test", "--token", TOKEN, "--script", str(script))

    assert result.exit_code == 0, result.output
    out = result.output
    assert f"(agent {AGENT_1} declined)" in out
    # Steps ran out at the Dial: the next agent accepts, and once connected the caller hangs up.
    assert f"(connected to {AGENT_2})" in out
    assert "CALLER hangs up" in out
    assert f"Outcome: talked with agent {AGENT_2}; no voicemail; the caller hung up" in out
    assert line.posted("/voice/dialed")[0]["DialCallStatus"] == "completed"
