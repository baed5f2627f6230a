"""The console's pages: thin views over `calllog`, `tickets`, `staff`, `closures` and the simulator.

Routes (all under /console, all need a signed-in account; POSTs need the form's CSRF token):

    GET/POST /login, POST /logout
    GET  /                          overview: today and the last 7 days
    GET  /calls                     the call log (filters, search, keyset pages)
    GET  /calls.csv                 the filtered log as CSV, streamed
    GET  /calls/<CallSid>           one call: timeline, menu path, recordings, ticket
    GET  /recordings/<sid>.mp3      an archived recording's audio
    GET  /tickets                   tickets (agents: their own)
    GET  /tickets/<number>          one ticket and its history
    POST /tickets/<number>          act on it: responded, resolved, reopen, reassign, note
    GET  /roster                    staff, on duty now, closures
    POST /roster/add, /roster/<id>/duty, /roster/<id>/shifts, /roster/<id>/remove   (supervisors)
    POST /closures, /closures/<id>/end                                             (supervisors)
    GET/POST /test-call             play a test call step by step                 (supervisors)
    GET  /callbacks                 callers waiting to be called back, next first; done this week
    POST /callbacks/<id>/start      ring an agent to call back (agents: only themselves)
    GET  /customers                 the customer directory: companies and contacts
    POST /customers/contacts, /customers/contacts/<id>, /customers/contacts/<id>/remove,
         /customers/import                                                       (supervisors)
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_from_directory,
    session,
    stream_with_context,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf.csrf import CSRFError
from sqlalchemy import func, select
from werkzeug.exceptions import HTTPException

from .. import archive, callbacks, calllog, closures, customers, routing, staff, users
from .. import tickets as ticket_work
from ..auth import csrf, supervisor_required
from ..flows import TEAMS, Flow
from ..models import CallbackRequest, Contact, Recording, Staff, Ticket, db, utcnow
from . import bp, testcall

OUTCOME_LABELS = {
    "answered": "answered",
    "voicemail": "voicemail",
    "abandoned_in_menu": "abandoned in menu",
    "abandoned_while_ringing": "abandoned while ringing",
    "no_agent": "no agent",
    "failed": "failed",
    calllog.IN_PROGRESS: "in progress",
}
ACTIONS = {"responded": "responded", "resolved": "resolved", "reopen": "open"}
# Characters that make a spreadsheet run a cell as a formula (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Callbacks done or given up are listed for a week: long enough to answer "did we call them back?".
RECENT_CALLBACKS = timedelta(days=7)
# A directory upload is a few thousand lines at most; refuse more before reading it all.
IMPORT_MAX_BYTES = 2 * 1024 * 1024


def flow() -> Flow:
    """Give the flow loaded at start-up."""
    return current_app.extensions["ivr.flow"]


# --- every request -----------------------------------------------------------------


@bp.before_request
def _guard():
    """Check the form token on every POST, and send anyone not signed in to the sign-in page."""
    if request.method == "POST":
        csrf.protect()
    if request.endpoint != "console.login" and not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    return None


@bp.after_request
def _headers(resp: Response) -> Response:
    """Keep console pages out of caches and frames, and scripts to our own."""
    resp.headers.setdefault("Cache-Control", "no-store")
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "same-origin"
    resp.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "media-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )
    return resp


@bp.errorhandler(CSRFError)
def _csrf_failed(exc: CSRFError):
    """Explain a missing or stale form token (400)."""
    return render_template("console/error.html", code=400, message=f"{exc.description} Reload the page and try again."), 400


@bp.errorhandler(403)
@bp.errorhandler(404)
@bp.errorhandler(400)
def _http_error(exc: HTTPException):
    """Show an error on a console page."""
    return render_template("console/error.html", code=exc.code, message=exc.description), exc.code


@bp.app_template_filter("local")
def _local(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Show an instant on the support clock, with the zone: "2026-12-01 10:00 CST"."""
    if moment is None:
        return ""
    return moment.astimezone(flow().policy.timezone).strftime(f"{fmt} %Z")


@bp.app_template_filter("seconds")
def _seconds(value: float | int | None) -> str:
    """Show a duration: "45 s", "3 min 05 s", "1 h 02 min"."""
    if value is None:
        return ""
    value = round(value)
    if value < 60:
        return f"{value} s"
    if value < 3600:
        return f"{value // 60} min {value % 60:02d} s"
    return f"{value // 3600} h {value % 3600 // 60:02d} min"


@bp.app_template_filter("pct")
def _pct(value: float | None) -> str:
    """Show a share as a percentage, or a dash when there is nothing to count."""
    return "\u2014" if value is None else f"{value * 100:.0f}%"


@bp.app_template_filter("until")
def _until(moment: datetime | None) -> str:
    """Say how far away an instant is: "in 2 h 10 min" or "5 min ago"."""
    if moment is None:
        return ""
    delta = (moment - utcnow()).total_seconds()
    text = _seconds(abs(delta))
    return f"in {text}" if delta >= 0 else f"{text} ago"


@bp.context_processor
def _globals() -> dict:
    """Give every console template the flow, labels and zone."""
    f = flow()
    languages = _language_names(f)
    return {
        "flow": f,
        "zone": f.policy.timezone.key,
        "outcome_labels": OUTCOME_LABELS,
        "sla_labels": calllog.SLA_LABELS,
        "level_name": lambda lid: f.levels[lid].name if lid in f.levels else (lid or "\u2014"),
        "language_name": lambda code: languages.get(code or "", code or "\u2014"),
        "first_language": f.code,
        # Called by the nav only once someone is signed in: one COUNT per page.
        "callbacks_waiting": lambda: db.session.execute(
            select(func.count()).select_from(CallbackRequest).where(CallbackRequest.state == "waiting")
        ).scalar_one(),
    }


def _language_names(f: Flow) -> dict[str, str]:
    """Name every language the line speaks by its code: {"en": "English", "es": "Spanish"}."""
    return {f.code: f.name, **{code: t.name for code, t in f.translations.items()}}


def _safe_next(target: str | None) -> str:
    """Give a local console path to go back to, never another site."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/console") and "\\" not in target:
            return target
    return url_for("console.overview")


# --- signing in --------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with an email and password; repeated failures slow down, then lock, the account."""
    if current_user.is_authenticated and request.method == "GET":
        return redirect(_safe_next(request.args.get("next")))
    error, status, retry_after = None, 200, 0
    if request.method == "POST":
        result = users.authenticate(request.form.get("email", ""), request.form.get("password", ""), utcnow())
        if result.user is not None:
            session.clear()  # a new session for the new sign-in
            login_user(result.user)
            session.permanent = True
            return redirect(_safe_next(request.form.get("next")))
        error, retry_after = result.error, result.retry_after
        status = 429 if retry_after else 401
    resp = Response(render_template("console/login.html", error=error, next=request.values.get("next", "")), status)
    if retry_after:
        resp.headers["Retry-After"] = str(retry_after)
    return resp


@bp.post("/logout")
def logout():
    """Sign out."""
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("console.login"))


# --- overview ----------------------------------------------------------------------


@bp.get("/")
@login_required
def overview():
    """Show today and the last 7 days: calls by level, rates, waits, goals met, and what needs attention."""
    include_tests = request.args.get("tests", "") in ("1", "on", "true")
    data = calllog.overview(flow(), utcnow(), include_tests=include_tests)
    return render_template("console/overview.html", data=data, include_tests=include_tests)


# --- calls -------------------------------------------------------------------------


def _call_filter():
    """Read the call filters, or give the error to show."""
    try:
        f = calllog.parse_call_filter(request.args, flow())
        after = calllog.Cursor.parse(request.args.get("after"), "after")
        before = calllog.Cursor.parse(request.args.get("before"), "before")
        return f, after, before, calllog.page_size(request.args), None
    except calllog.FilterError as exc:
        return calllog.CallFilter(), None, None, calllog.PAGE_SIZE, str(exc)


@bp.get("/calls")
@login_required
def calls():
    """List calls, newest first, filtered and searched, a page at a time."""
    f, after, before, limit, error = _call_filter()
    page = calllog.calls_page(f, flow(), utcnow(), after=after, before=before, limit=limit)
    args = f.args() | ({"limit": str(limit)} if limit != calllog.PAGE_SIZE else {})
    status = 400 if error else 200
    return render_template("console/calls.html", page=page, f=f, args=args, error=error, staff=calllog.staff_choices()), status


def _csv_cell(value) -> str:
    """Write a value for a spreadsheet, defusing text a spreadsheet would run as a formula."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_START) and not text[1:].replace(" ", "").isdigit():
        return "'" + text
    return text


CSV_COLUMNS = (
    "started",
    "call_sid",
    "caller",
    "caller_name",
    "level",
    "ticket",
    "outcome",
    "agent",
    "wait_seconds",
    "talk_seconds",
    "duration_seconds",
    "sla",
    "voicemail_seconds",
    "transcript",
    "test_call",
)


@bp.get("/calls.csv")
@login_required
def calls_csv():
    """Export exactly the filtered calls as CSV, streamed row by row."""
    f, _, _, _, error = _call_filter()
    if error:
        abort(400, error)
    fl, now = flow(), utcnow()

    def rows():
        buffer = io.StringIO()
        out = csv.writer(buffer)
        out.writerow(CSV_COLUMNS)
        for row in calllog.iter_calls(f, fl, now):
            c, t, vm = row.call, row.ticket, row.voicemail
            out.writerow(
                [
                    _csv_cell(v)
                    for v in (
                        c.started_at.astimezone(fl.policy.timezone).isoformat(timespec="seconds"),
                        c.call_sid,
                        c.caller,
                        c.caller_name,
                        c.level,
                        t.number if t else "",
                        c.outcome or calllog.IN_PROGRESS,
                        c.agent.name if c.agent else "",
                        row.wait,
                        c.talk_seconds,
                        c.duration,
                        row.sla,
                        vm.duration if vm else "",
                        vm.transcript if vm and vm.transcript_status == "completed" else "",
                        "yes" if c.is_test else "",
                    )
                ]
            )
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        if buffer.getvalue():
            yield buffer.getvalue()

    stamp = now.astimezone(fl.policy.timezone).strftime("%Y%m%d-%H%M")
    return Response(
        stream_with_context(rows()),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="calls-{stamp}.csv"'},
    )


@bp.get("/calls/<call_sid>")
@login_required
def call(call_sid: str):
    """Show one call: its timeline of webhooks, its menu path, recordings and ticket."""
    detail = calllog.call_detail(call_sid, flow(), utcnow())
    if detail is None:
        abort(404, "There is no call with that CallSid.")
    ticket = detail.row.ticket
    readable = ticket is not None and ticket_work.can_read(current_user, ticket)
    return render_template("console/call.html", d=detail, ticket_readable=readable)


@bp.get("/recordings/<path:name>")
@login_required
def recording(name: str):
    """Play an archived recording from RECORDINGS_DIR; refuse any name but `<RecordingSid>.mp3`."""
    sid = name.removesuffix(".mp3")
    if not name.endswith(".mp3") or not archive.valid_sid(sid):
        abort(404, "No such recording.")
    rec = db.session.execute(select(Recording).where(Recording.sid == sid)).scalar_one_or_none()
    if rec is None or rec.archive_status != "archived":
        abort(404, "That recording is not archived here (yet).")
    # send_from_directory joins safely too: belt and braces against a crafted path.
    return send_from_directory(archive.folder().resolve(), archive.file_name(sid), mimetype="audio/mpeg", conditional=True, max_age=0)


# --- tickets -----------------------------------------------------------------------


def _scope() -> int | None | bool:
    """Give whose tickets the signed-in person may list: everyone's (False), or their roster id."""
    return False if current_user.is_supervisor else current_user.staff_id


@bp.get("/tickets")
@login_required
def tickets():
    """List tickets (an agent sees their own), newest or soonest due first."""
    try:
        f = calllog.parse_ticket_filter(request.args, flow())
        after = calllog.Cursor.parse(request.args.get("after"), "after")
        before = calllog.Cursor.parse(request.args.get("before"), "before")
        limit, error = calllog.page_size(request.args), None
    except calllog.FilterError as exc:
        f, after, before, limit, error = calllog.TicketFilter(), None, None, calllog.PAGE_SIZE, str(exc)
    page = calllog.tickets_page(f, flow(), utcnow(), staff_scope=_scope(), after=after, before=before, limit=limit)
    args = f.args() | ({"limit": str(limit)} if limit != calllog.PAGE_SIZE else {})
    return render_template(
        "console/tickets.html", page=page, f=f, args=args, error=error, staff=calllog.staff_choices()
    ), 400 if error else 200


def _readable_ticket(number: int) -> Ticket:
    """Find a ticket the signed-in person may see, or answer 404/403."""
    ticket = ticket_work.by_number(number)
    if ticket is None:
        abort(404, f"There is no ticket {number}.")
    if not ticket_work.can_read(current_user, ticket):
        abort(403, "This ticket is not assigned to you.")
    return ticket


@bp.get("/tickets/<int:number>")
@login_required
def ticket(number: int):
    """Show one ticket: its call, voicemail, SLA and history, with the actions."""
    t = _readable_ticket(number)
    now = utcnow()
    return render_template(
        "console/ticket.html",
        t=t,
        sla=calllog.sla_state(t, flow(), now),
        changes=calllog.ticket_changes(t),
        voicemail=next((r for r in t.call.recordings if r.status == "completed"), None),
        staff=[s for s in calllog.staff_choices() if s.active],
        may_change=ticket_work.can_read(current_user, t),
        callback_requests=db.session.execute(
            select(CallbackRequest).where(CallbackRequest.ticket_id == t.id).order_by(CallbackRequest.requested_at, CallbackRequest.id)
        )
        .scalars()
        .all(),
    )


@bp.post("/tickets/<int:number>")
@login_required
def ticket_action(number: int):
    """Mark a ticket responded or resolved, reopen, reassign it, or add a note."""
    action = request.form.get("action", "")
    ticket = ticket_work.by_number_for_update(number)
    if ticket is None:
        abort(404, f"There is no ticket {number}.")
    kwargs: dict = {}
    if action in ACTIONS:
        kwargs["state"] = ACTIONS[action]
    elif action == "reassign":
        raw = request.form.get("assignee", "")
        if raw in ("", "none"):
            kwargs["assignee"] = None
        elif (staff_id := calllog.parse_id(raw)) is not None and (person := db.session.get(Staff, staff_id)) is not None:
            kwargs["assignee"] = person
        else:
            abort(400, "Choose someone on the roster.")
    elif action != "note":
        abort(400, "Unknown action.")
    note = request.form.get("note", "").strip()
    if note or action == "note":
        kwargs["note"] = note
    try:
        ticket_work.change(ticket, current_user, utcnow(), **kwargs)
    except ticket_work.TicketActionError as exc:
        db.session.rollback()
        if exc.kind == "forbidden":
            abort(403, str(exc))
        flash(str(exc), "error")
        return redirect(url_for("console.ticket", number=number)), 303
    flash({"note": "Note added.", "reassign": "Reassigned."}.get(action, f"Ticket {number} is now {kwargs.get('state')}."), "info")
    return redirect(url_for("console.ticket", number=number)), 303


# --- roster and closures -----------------------------------------------------------


@bp.get("/roster")
@login_required
def roster():
    """Show the staff, who is on duty now and why, their shifts, and the closures."""
    now, policy = utcnow(), flow().policy
    people = [(p, staff.duty(p, now, policy)) for p in staff.everyone()]
    current, past = closures.listing(now)
    policy_closures = [c for c in policy.closures if c.end > now]
    return render_template(
        "console/roster.html",
        people=people,
        teams=TEAMS,
        format_shifts=staff.format_shifts,
        closures_now=current,
        closures_past=past,
        policy_closures=policy_closures,
        now=now,
    )


def _person(staff_id: int) -> Staff:
    """Find a roster entry by id, or answer 404."""
    person = db.session.get(Staff, staff_id) if calllog.is_row_id(staff_id) else None
    if person is None:
        abort(404, "Nobody with that id is on the roster.")
    return person


def _back_to_roster(message: str, category: str = "info"):
    """Say what happened and go back to the roster."""
    flash(message, category)
    return redirect(url_for("console.roster")), 303


@bp.post("/roster/add")
@supervisor_required
def roster_add():
    """Add a person to the roster."""
    shifts = [line for line in request.form.get("shifts", "").splitlines() if line.strip()]
    try:
        person = staff.add(request.form.get("name", ""), request.form.get("phone", ""), request.form.get("team", ""), shifts)
    except staff.StaffError as exc:
        db.session.rollback()
        return _back_to_roster(str(exc), "error")
    return _back_to_roster(f"Added {person.name}.")


@bp.post("/roster/<int:staff_id>/duty")
@supervisor_required
def roster_duty(staff_id: int):
    """Put a person on or off duty until a time (default midnight), or clear the override."""
    person = _person(staff_id)
    duty, until_text = request.form.get("duty", ""), request.form.get("until", "").strip()
    now, policy = utcnow(), flow().policy
    try:
        if duty == "clear":
            staff.clear_duty(person.name)
            return _back_to_roster(f"{person.name}: back to their shifts.")
        if duty not in ("on", "off"):
            abort(400, "Choose on duty, off duty or clear.")
        until = staff.until_from_clock(until_text, now, policy) if until_text else None
        person = staff.set_duty(person.name, duty == "on", until, now, policy)
    except staff.StaffError as exc:
        db.session.rollback()
        return _back_to_roster(str(exc), "error")
    return _back_to_roster(f"{person.name} is {duty} duty until {_local(person.override_until)}.")


@bp.post("/roster/<int:staff_id>/shifts")
@supervisor_required
def roster_shifts(staff_id: int):
    """Replace a person's weekly shifts (one spec a line)."""
    person = _person(staff_id)
    shifts = [line for line in request.form.get("shifts", "").splitlines() if line.strip()]
    try:
        person = staff.set_shifts(person.name, shifts)
    except staff.StaffError as exc:
        db.session.rollback()
        return _back_to_roster(str(exc), "error")
    return _back_to_roster(f"{person.name}: {staff.rota(person)}.")


@bp.post("/roster/<int:staff_id>/remove")
@supervisor_required
def roster_remove(staff_id: int):
    """Take a person off the roster (deactivated if the log names them)."""
    person = _person(staff_id)
    name = person.name
    done = staff.remove(name)
    return _back_to_roster(f"Removed {name}." if done == "deleted" else f"Deactivated {name}: the call log names them.")


@bp.post("/closures")
@supervisor_required
def closure_add():
    """Close support from a start to an end on the support clock, with a message for callers."""
    policy, now = flow().policy, utcnow()
    try:
        start = closures.parse_local(request.form.get("start", ""), policy, "start")
        end = closures.parse_local(request.form.get("end", ""), policy, "end")
        entry = closures.add(start, end, request.form.get("message", ""), current_user.email, now)
    except closures.ClosureError as exc:
        db.session.rollback()
        return _back_to_roster(str(exc), "error")
    return _back_to_roster(f"Closed from {_local(entry.start)} to {_local(entry.end)}.")


@bp.post("/closures/<int:closure_id>/end")
@supervisor_required
def closure_end(closure_id: int):
    """End a closure now, or cancel one not yet begun."""
    try:
        closures.end(closure_id, current_user.email, utcnow())
    except closures.ClosureError as exc:
        db.session.rollback()
        return _back_to_roster(str(exc), "error")
    return _back_to_roster("Closure ended.")


# --- test calls --------------------------------------------------------------------


@bp.route("/test-call", methods=["GET", "POST"])
@supervisor_required
def test_call():
    """Play a test call: keypad and speech box in, what the caller hears out, step by step."""
    sim, started, error, heard_before = None, None, None, 0
    if request.method == "POST":
        action = request.form.get("action", "")
        try:
            if action == "start":
                sim = testcall.start(request.form.get("from", ""), request.form.get("caller_name"))
                started = datetime.now(UTC).timestamp()
            else:
                sim, started = testcall.load(request.form.get("state", ""))
                heard_before = len(sim.transcript)
                testcall.step(sim, started, action, request.form.get("arg", ""))
        except testcall.TestCallError as exc:
            error = str(exc)
    call_row = None
    if sim is not None:
        db.session.commit()  # see the webhooks' writes, not this request's first snapshot
        detail = calllog.call_detail(sim.call_sid, flow(), utcnow())
        call_row = detail.row if detail else None
    return render_template(
        "console/test_call.html",
        sim=sim,
        state=testcall.dump(sim, started) if sim is not None else "",
        waiting=testcall.waiting_for(sim) if sim is not None else None,
        new_from=heard_before,
        error=error,
        row=call_row,
        agent_outcomes=testcall.phone.AGENT_OUTCOMES,
        default_from=testcall.DEFAULT_FROM,
    ), 400 if error else 200


# --- callbacks ---------------------------------------------------------------------


def _callback_agents() -> list[Staff]:
    """List who the signed-in person may ring for a callback: any active staff, or an agent only themselves."""
    active = [p for p in calllog.staff_choices() if p.active]
    if current_user.is_supervisor:
        return active
    return [p for p in active if p.id == current_user.staff_id]


@bp.get("/callbacks")
@login_required
def callbacks_page():
    """Show the callers waiting to be called back, the next one first, and the callbacks of the last 7 days."""
    now, policy = utcnow(), flow().policy
    queue = callbacks.waiting()
    recent = callbacks.finished_since(now - RECENT_CALLBACKS)
    busy = routing.busy_staff_ids(now)
    agents = [(p, staff.duty(p, now, policy), p.id in busy) for p in _callback_agents()]
    return render_template(
        "console/callbacks.html",
        queue=queue,
        recent=recent,
        contacts=customers.contacts_for(e.phone for e in [*queue, *recent]),
        agents=agents,
        default_agent=current_user.staff_id,
        readable=lambda t: ticket_work.can_read(current_user, t),
    )


def _back_to_callbacks(message: str, category: str = "info"):
    """Say what happened and go back to the callbacks page."""
    flash(message, category)
    return redirect(url_for("console.callbacks_page")), 303


@bp.post("/callbacks/<int:request_id>/start")
@login_required
def callback_start(request_id: int):
    """Ring the chosen agent for a waiting callback; the customer is dialled when they press 1."""
    entry = db.session.get(CallbackRequest, request_id) if calllog.is_row_id(request_id) else None
    if entry is None:
        abort(404, "There is no such callback request.")
    person_id = calllog.parse_id(request.form.get("agent"))
    person = db.session.get(Staff, person_id) if person_id is not None else None
    if person is None:
        return _back_to_callbacks("Choose who calls the customer back.", "error")
    if not current_user.is_supervisor and person.id != current_user.staff_id:
        # Ringing a colleague's phone is a supervisor's call; an agent offers only their own time.
        abort(403, "An agent can start a callback only as themselves.")
    try:
        entry = callbacks.start(request_id, person)
    except callbacks.CallbackError as exc:
        db.session.rollback()
        return _back_to_callbacks(f"Callback not started: {exc}", "error")
    message = f"Ringing {person.name} to call back {entry.phone} (ticket {entry.ticket.number}); when they press 1 the customer is dialled."
    return _back_to_callbacks(message)


# --- customer directory ------------------------------------------------------------


def _customers_view(form: dict | None = None, import_errors: list[str] | None = None, status: int = 200):
    """Render the directory, with a form to show again (values and error) after a bad submit."""
    q = request.args.get("q", "")[:100]
    companies = customers.directory(q)
    return render_template(
        "console/customers.html",
        companies=companies,
        contact_count=sum(len(c.contacts) for c in companies),
        q=q,
        form=form or {},
        import_errors=import_errors or [],
    ), status


def _contact_fields() -> dict:
    """Read a contact form's fields as typed, to show them again if they are refused."""
    return {k: request.form.get(k, "")[:500] for k in ("company", "name", "phone")}


def _back_to_customers(message: str):
    """Say what happened and go back to the directory."""
    flash(message, "info")
    return redirect(url_for("console.customers_page")), 303


@bp.get("/customers")
@login_required
def customers_page():
    """Show the customer directory: companies and the people who call from them."""
    return _customers_view()


@bp.post("/customers/contacts")
@supervisor_required
def customer_add():
    """Add a contact at a company (the company is added with its first contact)."""
    fields = _contact_fields()
    try:
        contact = customers.add(**fields)
    except customers.DirectoryError as exc:
        db.session.rollback()
        return _customers_view({"mode": "add", **fields, "error": str(exc)}, status=422)
    return _back_to_customers(f"Added {contact.name} ({contact.phone}) at {contact.customer.company}.")


def _contact_or_404(contact_id: int):
    """Find a directory contact by id, or answer 404."""
    contact = db.session.get(Contact, contact_id) if calllog.is_row_id(contact_id) else None
    if contact is None:
        abort(404, "There is no such contact in the directory.")
    return contact


@bp.post("/customers/contacts/<int:contact_id>")
@supervisor_required
def customer_edit(contact_id: int):
    """Change a contact's company, name or number."""
    _contact_or_404(contact_id)
    fields = _contact_fields()
    try:
        contact = customers.update(contact_id, **fields)
    except customers.DirectoryError as exc:
        db.session.rollback()
        return _customers_view({"mode": "edit", "id": contact_id, **fields, "error": str(exc)}, status=422)
    return _back_to_customers(f"Saved {contact.name} ({contact.phone}) at {contact.customer.company}.")


@bp.post("/customers/contacts/<int:contact_id>/remove")
@supervisor_required
def customer_remove(contact_id: int):
    """Take a contact out of the directory (their company too, if they were its last)."""
    _contact_or_404(contact_id)
    name, company = customers.remove(contact_id)
    return _back_to_customers(f"Removed {name} ({company}).")


@bp.post("/customers/import")
@supervisor_required
def customer_import():
    """Import contacts from an uploaded CSV (company,name,phone), as `flask customers import` does: all or nothing."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _customers_view(import_errors=["Choose a CSV file to import."], status=422)
    raw = upload.stream.read(IMPORT_MAX_BYTES + 1)
    if len(raw) > IMPORT_MAX_BYTES:
        return _customers_view(import_errors=[f"The file is larger than {IMPORT_MAX_BYTES // (1024 * 1024)} MB."], status=422)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return _customers_view(import_errors=[f"The file is not UTF-8 text (byte {exc.start}); save it as CSV UTF-8."], status=422)
    try:
        count = customers.import_rows(io.StringIO(text, newline=""))
    except customers.DirectoryError as exc:
        db.session.rollback()
        return _customers_view(import_errors=str(exc).splitlines(), status=422)
    return _back_to_customers(f"Imported {count} contact(s) from {upload.filename}.")
