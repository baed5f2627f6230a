"""`flask --app wsgi call`: try the line from a terminal, no phone needed.

The command plays one call with the simulator: signed webhooks go through the
real app (in-process, or over HTTP to a running service with --url), the
caller's answers come from --keys, a script file, or the keyboard, and the
transcript is printed as the call goes.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import click
import requests
import time_machine
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from .models import Call, Ticket, db
from .simulator import LineError, Simulator, Transport

DEFAULT_FROM = "+13125550199"
DEFAULT_TO = "+16462019664"
DEFAULT_MESSAGE = "This is a test message from the call simulator."
# Caller actions in one call: a menu that loops forever still ends.
MAX_STEPS = 100
AGENT_OUTCOMES = ("accept", "reject", "no-answer", "busy")
KEYS = frozenset("0123456789*#")
AT_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")
# Twilio's own limit for answering a webhook.
HTTP_TIMEOUT = 15
STEP_HELP = "press KEYS, say WORDS, silence, message TEXT, no-message, agent accept|reject|no-answer|busy, hangup"

# What the line waits for, as `state()` names it, and the steps that answer it.
FITS = {
    "menu": ("press", "say", "silence"),
    "record": ("message", "no-message"),
    "ringing": ("agent",),
    "talking": (),
}
WAITING_FOR = {
    "menu": "an answer at a menu (Gather)",
    "record": "a voicemail (Record)",
    "ringing": "an agent to answer (Dial)",
    "talking": "the caller to hang up (talking to an agent)",
}


class ScriptError(ValueError):
    """A script line that is not a step."""


@dataclass(frozen=True)
class Step:
    """One thing the caller, or the agent being rung, does."""

    kind: str
    arg: str = ""
    # Where the step came from, for error messages: "line 3" or "--keys".
    origin: str = ""

    def __str__(self) -> str:
        return f"{self.kind} {self.arg}".strip()


def parse_script(text: str) -> list[Step]:
    """Turn a script, one step a line, into steps; raise ScriptError naming the bad line."""
    steps = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        # Only whole-line comments: "#" is also a key ("press #").
        if not line or line.startswith("#"):
            continue
        word, _, arg = line.partition(" ")
        word, arg = word.lower(), arg.strip()
        where = f"line {number}"
        if word == "press":
            keys = "".join(arg.split())
            if not keys or not set(keys) <= KEYS:
                raise ScriptError(f"{where}: press takes keys (0-9, * and #), not {arg!r}")
            steps.append(Step("press", keys, where))
        elif word == "say":
            if not arg:
                raise ScriptError(f"{where}: say needs the words to say")
            steps.append(Step("say", arg, where))
        elif word == "message":
            steps.append(Step("message", arg or DEFAULT_MESSAGE, where))
        elif word == "agent":
            if arg.lower() not in AGENT_OUTCOMES:
                raise ScriptError(f"{where}: agent takes one of {', '.join(AGENT_OUTCOMES)}, not {arg!r}")
            steps.append(Step("agent", arg.lower(), where))
        elif word in ("silence", "no-message", "hangup"):
            if arg:
                raise ScriptError(f"{where}: {word} takes nothing after it, not {arg!r}")
            steps.append(Step(word, "", where))
        else:
            raise ScriptError(f"{where}: unknown step {word!r}; the steps are: {STEP_HELP}")
    return steps


def parse_keys(keys: str) -> list[Step]:
    """Turn --keys into one menu answer per key."""
    keys = "".join(keys.split())
    bad = sorted(set(keys) - KEYS)
    if bad:
        raise ScriptError(f"keys are 0-9, * and #; {', '.join(repr(k) for k in bad)} is not a key")
    return [Step("press", k, "--keys") for k in keys]


def parse_moment(text: str, zone: ZoneInfo) -> datetime:
    """Read --at as a local moment in the support time zone; raise ValueError if it is not one."""
    for fmt in AT_FORMATS:
        try:
            naive = datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
        moment = naive.replace(tzinfo=zone)
        # A time skipped when clocks spring forward would silently become another.
        if moment.astimezone(ZoneInfo("UTC")).astimezone(zone).replace(tzinfo=None) != naive:
            raise ValueError(f"{text!r} does not exist in {zone.key}: the clocks skip it when daylight saving starts")
        return moment
    raise ValueError(f"expected 'YYYY-MM-DD HH:MM' in the support time zone ({zone.key}), e.g. '2026-12-01 10:00'; got {text!r}")


def state(sim: Simulator) -> str | None:
    """Name what the line waits for: menu, record, ringing, talking; None once the call ended."""
    if sim.ended or sim.waiting is None:
        return None
    if sim.waiting.tag == "Gather":
        return "menu"
    if sim.waiting.tag == "Record":
        return "record"
    return "talking" if sim.talking else "ringing"


def default_step(where: str) -> Step:
    """Give what happens when the script has run out."""
    return {
        "menu": Step("silence"),
        "record": Step("message", DEFAULT_MESSAGE),
        "ringing": Step("agent", "accept"),
    }.get(where, Step("hangup"))


def perform(sim: Simulator, step: Step) -> None:
    """Carry out one step on the call."""
    kind, arg = step.kind, step.arg
    if kind == "press":
        sim.press(arg)
    elif kind == "say":
        sim.say(arg)
    elif kind == "silence":
        sim.silence()
    elif kind == "message":
        sim.leave_message(arg or DEFAULT_MESSAGE)
    elif kind == "no-message":
        sim.say_nothing_at_the_beep()
    elif kind == "agent":
        if arg in ("accept", "reject"):
            sim.agent_answers(accept=arg == "accept")
        elif arg == "no-answer":
            sim.agent_does_not_answer()
        else:
            sim.agent_busy()


class Scripted:
    """Steps from --keys or a script; defaults once they run out."""

    def __init__(self, steps: list[Step]):
        self.steps = list(steps)

    def __call__(self, sim: Simulator) -> Step:
        """Give the next step for what the line waits for now."""
        where = state(sim)
        if self.steps:
            step = self.steps[0]
            if step.kind == "hangup" or step.kind in FITS[where]:
                return self.steps.pop(0)
            if step.origin != "--keys":
                raise ScriptError(f"{step.origin}: {str(step)!r} does not fit: the line is waiting for {WAITING_FOR[where]}")
            # Keys answer menus; a voicemail or a Dial in between takes its default.
        return default_step(where)


def interactive(sim: Simulator) -> Step:
    """Ask on the terminal what the caller (or the agent) does next; Ctrl-D hangs up."""
    where = state(sim)
    try:
        if where == "menu":
            answer = click.prompt("keys, words, or enter for silence", default="", show_default=False).strip()
            if not answer:
                return Step("silence")
            keys = "".join(answer.split())
            return Step("press", keys) if set(keys) <= KEYS else Step("say", answer)
        if where == "record":
            message = click.prompt("your message (enter for none)", default="", show_default=False).strip()
            return Step("message", message) if message else Step("no-message")
        if where == "ringing":
            outcome = click.prompt(f"agent {sim.ringing_agent}", type=click.Choice(AGENT_OUTCOMES), default="accept", show_choices=True)
            return Step("agent", outcome)
        click.prompt("talking with the agent; enter to hang up", default="", show_default=False)
    except click.Abort:
        click.echo()
    return Step("hangup")


def app_transport(base_url: str) -> Transport:
    """Send webhooks through this app's own WSGI stack, signature check included."""
    client = current_app.test_client()

    def send(url: str, params: dict, headers: dict) -> tuple[int, str]:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        resp = client.post(path, data=params, headers=headers, base_url=f"{parts.scheme}://{parts.netloc}")
        # The command's app context outlives each request: drop the session as a
        # real request's teardown would, so no webhook sees another's objects.
        db.session.remove()
        return resp.status_code, resp.get_data(as_text=True)

    return send


def http_transport() -> Transport:
    """Send webhooks over HTTP to a running service."""
    session = requests.Session()

    def send(url: str, params: dict, headers: dict) -> tuple[int, str]:
        try:
            resp = session.post(url, data=params, headers=headers, timeout=HTTP_TIMEOUT, allow_redirects=False)
        except requests.RequestException as exc:
            raise LineError(f"could not reach {url}: {exc}") from exc
        return resp.status_code, resp.text

    return send


def run(sim: Simulator, next_step: Callable[[Simulator], Step]) -> str:
    """Play the call to its end; give who ended it."""
    started = time.monotonic()
    sim.dial()
    ended_by = "the line"
    talking_since = None
    for _ in range(MAX_STEPS):
        if state(sim) is None:
            break
        step = next_step(sim)
        if step.kind == "hangup":
            ended_by = "the caller"
            break
        perform(sim, step)
        if sim.talking and talking_since is None:
            talking_since = time.monotonic()
    else:
        if state(sim) is not None:
            click.echo(f"(the simulator hangs up: {MAX_STEPS} steps and the call goes on)")
            ended_by = "the simulator"
    talked = round(time.monotonic() - talking_since) if talking_since is not None and sim.talking else None
    sim.hang_up(duration=max(1, round(time.monotonic() - started)), talked=talked)
    return ended_by


def outcome(sim: Simulator, ended_by: str) -> str:
    """Say in a few words how the call went."""
    parts = []
    if sim.connected_to:
        parts.append(f"talked with agent {sim.connected_to}")
    elif sim.dial_status:
        parts.append(f"no agent took the call ({sim.dial_status})")
    parts.append("left a voicemail" if sim.last_recording_sid else "no voicemail")
    parts.append(f"{ended_by} hung up")
    return "; ".join(parts)


def summary(sim: Simulator, ended_by: str, in_process: bool) -> list[str]:
    """Give the closing lines: call, ticket, outcome."""
    lines = ["", "--- summary ---"]
    ticket_line = "Ticket:  not looked up (the call went to --url)"
    if in_process:
        call = db.session.execute(select(Call).where(Call.call_sid == sim.call_sid)).scalar_one_or_none()
        if call is None:
            lines.append(f"Call:    {sim.call_sid} (not in the call log)")
            ticket_line = "Ticket:  none"
        else:
            kind = "test call" if call.is_test else "call"
            took = f", {call.duration} s" if call.duration is not None else ""
            lines.append(f"Call:    {sim.call_sid} ({kind}, {call.status}{took})")
            ticket = db.session.execute(select(Ticket).where(Ticket.call_id == call.id)).scalar_one_or_none()
            ticket_line = "Ticket:  none"
            if ticket:
                flow = current_app.extensions["ivr.flow"]
                level = flow.levels.get(ticket.level)
                due = ticket.due_at.astimezone(flow.policy.timezone).strftime("%Y-%m-%d %H:%M %Z")
                ticket_line = f"Ticket:  {ticket.number} ({level.name if level else ticket.level}, due {due})"
    else:
        lines.append(f"Call:    {sim.call_sid}")
    lines.append(ticket_line)
    lines.append(f"Outcome: {outcome(sim, ended_by)}")
    return lines


@click.command("call")
@click.option("--from", "from_", default=DEFAULT_FROM, show_default=True, help="The caller's number (any caller ID Twilio may send).")
@click.option("--to", default=None, help=f"The number called (default: SUPPORT_NUMBER, else {DEFAULT_TO}).")
@click.option(
    "--at",
    "at",
    metavar='"YYYY-MM-DD HH:MM"',
    help="Place the call at this local time in the support time zone of the flows (not with --url).",
)
@click.option("--keys", help="Menu answers, one key each: --keys 21 presses 2, then 1 at the next menu.")
@click.option("--script", type=click.File("r", encoding="utf-8"), help="A file of steps, one a line (see above); - reads stdin.")
@click.option("--url", help="Call a running service at this base URL (http://host:port) over HTTP instead.")
@click.option("--token", help="The auth token the service at --url checks signatures with (default: TWILIO_AUTH_TOKEN).")
@with_appcontext
def call(from_, to, at, keys, script, url, token) -> None:
    """Call the support line from the terminal, no phone needed.

    Every webhook is signed as Twilio signs it and checked by the real app.
    By default they go through this app in-process, signed with its
    TWILIO_AUTH_TOKEN; when none is configured, a random token is set for
    this process only, so the signature check still runs. With --url they
    go over HTTP to a running service, signed with --token or the
    TWILIO_AUTH_TOKEN environment variable. Calls are marked as tests.

    Without --keys or --script you answer each prompt yourself (Ctrl-D hangs
    up). A script has one step a line; blank lines and lines starting with
    # are skipped:

    \b
      press 2                          keys at a menu
      say technical problem            words at a menu
      silence                          no answer at a menu
      message My floor plan is gone    a voicemail
      no-message                       silence at the beep
      agent accept                     the agent being rung accepts
                                       (or: reject, no-answer, busy)
      hangup                           the caller hangs up

    When the steps run out: silence at a menu, a short test message at the
    beep, an agent who accepts, and a hang-up once connected.
    """
    if keys is not None and script is not None:
        raise click.UsageError("give --keys or --script, not both")
    if url and at:
        raise click.UsageError("--at cannot be used with --url: a running service keeps its own clock; only an in-process call can move it")
    if token and not url:
        raise click.UsageError("--token is for --url; an in-process call signs with the app's TWILIO_AUTH_TOKEN")
    try:
        steps = parse_keys(keys) if keys is not None else parse_script(script.read()) if script is not None else None
    except ScriptError as exc:
        raise click.BadParameter(str(exc), param_hint="'--keys'" if keys is not None else "'--script'") from None

    moment = None
    if at:
        zone = current_app.extensions["ivr.flow"].policy.timezone
        try:
            moment = parse_moment(at, zone)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="'--at'") from None

    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise click.BadParameter(f"expected a base URL like http://localhost:5000, got {url!r}", param_hint="'--url'")
        token = token or os.environ.get("TWILIO_AUTH_TOKEN")
        if not token:
            raise click.UsageError("--url needs the service's auth token: give --token or set TWILIO_AUTH_TOKEN")
        base_url, send = f"{parts.scheme}://{parts.netloc}", http_transport()
    else:
        token = current_app.config.get("TWILIO_AUTH_TOKEN")
        if not token:
            token = current_app.config["TWILIO_AUTH_TOKEN"] = secrets.token_urlsafe(32)
            click.echo("(no TWILIO_AUTH_TOKEN configured: signing with a random token for this call only)")
        base_url = (current_app.config.get("PUBLIC_BASE_URL") or "http://localhost").rstrip("/")
        send = app_transport(base_url)

    sim = Simulator(
        send=send,
        token=token,
        base_url=base_url,
        from_=from_,
        to=to or current_app.config.get("SUPPORT_NUMBER") or DEFAULT_TO,
        on_transcript=click.echo,
    )
    scripted = Scripted(steps) if steps is not None else None
    if scripted is None:
        click.echo("(answer each prompt as the caller; Ctrl-D hangs up)")
    if moment:
        click.echo(f"(the clock reads {moment:%A %Y-%m-%d %H:%M %Z})")
    travel = time_machine.travel(moment, tick=True) if moment else contextlib.nullcontext()
    with travel:
        try:
            ended_by = run(sim, scripted or interactive)
        except (LineError, ScriptError) as exc:
            _hang_up_after(sim)
            hint = ""
            if "HTTP 403" in str(exc):
                hint = "\n(403: the signature was refused; check the token, and that the URL signed is the one the service checks)"
            raise click.ClickException(f"the call stopped: {exc}{hint}") from None
        for line in summary(sim, ended_by, in_process=not url):
            click.echo(line)
    if scripted and scripted.steps:
        click.echo(f"({len(scripted.steps)} step(s) left unused: {', '.join(str(s) for s in scripted.steps)})")


def _hang_up_after(sim: Simulator) -> None:
    """End a call that went wrong, so it does not stay open in the log."""
    try:
        sim.hang_up(duration=1)
    except Exception as exc:  # the line is already failing; the first error is the one to show
        click.echo(f"(could not send the final status: {exc})", err=True)
