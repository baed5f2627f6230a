"""The JSON API over the call log: `Authorization: Bearer <token>` on every request.

Routes (all under /api; `GET /api/openapi.json` describes them in full):

    GET   /calls                  the log, same filters as the console, keyset pages
    GET   /calls/<CallSid>        one call: events, menu path, recordings, ticket
    GET   /recordings/<sid>.mp3   an archived recording's audio
    GET   /tickets                tickets (an agent's token: their own)
    GET   /tickets/<number>       one ticket and its history
    PATCH /tickets/<number>       change state, assignee, add a note
    GET   /staff                  the roster and who is on duty now
    GET   /closures               closures added in the console, in force or to come
    POST  /closures               add one (supervisors)
    POST  /closures/<id>/end      end or cancel one (supervisors)
    GET   /callbacks              callers waiting to be called back (next first), and the last 7 days' done
    POST  /callbacks/<id>/start   ring an agent to call one back (supervisors)
    GET   /customers              the customer directory: companies and contacts

Errors are JSON, `{"error": {"status": 422, "message": "..."}}`, with 400 (not
JSON), 401 (no or bad token), 403 (role), 404, 409 (the ticket's state does
not allow it), 422 (a value that cannot be used) or 502 (Twilio refused to
place a callback).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Blueprint, current_app, g, jsonify, request, send_from_directory, url_for
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from . import archive, callbacks, calllog, closures, customers, staff
from . import tickets as ticket_work
from .auth import api_error, token_required
from .calls import OUTCOMES
from .flows import Flow
from .models import CallbackRequest, ClosureEntry, Customer, Recording, Staff, Ticket, db, utcnow

bp = Blueprint("api", __name__, url_prefix="/api")
PATCH_FIELDS = frozenset({"state", "assignee", "note"})
RECENT_CALLBACKS = timedelta(days=7)


def flow() -> Flow:
    """Give the flow loaded at start-up."""
    return current_app.extensions["ivr.flow"]


def _iso(moment: datetime | None) -> str | None:
    """Write an instant as ISO 8601 in UTC."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


@bp.before_request
@token_required
def _authenticated():
    """Refuse every API request without a live token (see auth.token_required)."""
    return None


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    """Answer errors raised in API views as JSON."""
    return api_error(exc.code or 500, exc.description or exc.name)


def not_found_or_json(exc: HTTPException):
    """Answer unknown /api URLs and wrong methods as JSON; leave other paths to Flask."""
    if request.path == "/api" or request.path.startswith("/api/"):
        return api_error(exc.code or 404, exc.description or exc.name)
    return exc


def _supervisor():
    """Give a 403 answer unless the token is a supervisor's."""
    if not g.api_user.is_supervisor:
        return api_error(403, "Only a supervisor's token can do this.")
    return None


# --- shapes ------------------------------------------------------------------------


def _person(person: Staff | None) -> dict | None:
    return {"id": person.id, "name": person.name, "team": person.team} if person else None


def recording_json(rec: Recording) -> dict:
    """Describe a recording, with the URL of its audio once archived."""
    archived = rec.archive_status == "archived"
    return {
        "sid": rec.sid,
        "status": rec.status,
        "duration_seconds": rec.duration,
        "created_at": _iso(rec.created_at),
        "archive_status": rec.archive_status,
        "audio_url": url_for("api.recording", name=f"{rec.sid}.mp3", _external=False) if archived else None,
        "transcript_status": rec.transcript_status,
        "transcript": rec.transcript if rec.transcript_status == "completed" else None,
    }


def _ticket_brief(ticket: Ticket, sla: str) -> dict:
    """Describe a ticket without its call."""
    level = flow().levels.get(ticket.level)
    return {
        "number": ticket.number,
        "level": ticket.level,
        "level_name": level.name if level else ticket.level,
        "state": ticket.state,
        "sla": sla,
        "opened_at": _iso(ticket.opened_at),
        "due_at": _iso(ticket.due_at),
        "first_response_at": _iso(ticket.first_response_at),
        "assignee": _person(ticket.assignee),
    }


def call_json(row: calllog.CallRow) -> dict:
    """Describe a call as the log lists it."""
    c = row.call
    return {
        "call_sid": c.call_sid,
        "started_at": _iso(c.started_at),
        "ended_at": _iso(c.ended_at),
        "caller": {"number": c.caller, "raw": c.from_raw, "name": c.caller_name},
        "level": c.level,
        "outcome": c.outcome,
        "agent": _person(c.agent),
        "wait_seconds": row.wait,
        "talk_seconds": c.talk_seconds,
        "duration_seconds": c.duration,
        "is_test": c.is_test,
        "ticket": _ticket_brief(row.ticket, row.sla) if row.ticket else None,
        "recordings": [recording_json(r) for r in c.recordings],
    }


def ticket_json(row: calllog.TicketRow) -> dict:
    """Describe a ticket as the list shows it."""
    out = _ticket_brief(row.ticket, row.sla)
    c = row.call
    out.update(
        {
            "caller": {"number": c.caller, "raw": c.from_raw, "name": c.caller_name},
            "call_sid": c.call_sid,
            "is_test": c.is_test,
            "voicemail": recording_json(row.voicemail) if row.voicemail else None,
        }
    )
    return out


def change_json(ch) -> dict:
    """Describe one entry of a ticket's history."""
    return {"at": _iso(ch.at), "by": ch.actor, "action": ch.action, "detail": ch.detail, "note": ch.note}


def _page_links(page: calllog.Page, endpoint: str, args: dict, limit: int) -> dict:
    """Give the URLs of the pages around this one."""
    extra = dict(args, limit=str(limit)) if limit != calllog.PAGE_SIZE else dict(args)
    return {
        "next": url_for(endpoint, after=str(page.next), **extra) if page.next else None,
        "prev": url_for(endpoint, before=str(page.prev), **extra) if page.prev else None,
    }


def _page_request(parse_filter):
    """Read a list request's filter, keyset cursors and page size; FilterError names a bad one."""
    f = parse_filter(request.args, flow())
    after = calllog.Cursor.parse(request.args.get("after"), "after")
    before = calllog.Cursor.parse(request.args.get("before"), "before")
    return f, after, before, calllog.page_size(request.args)


# --- calls -------------------------------------------------------------------------


@bp.get("/calls")
def calls():
    """List calls, newest first; the console's filters; `next`/`prev` link the pages."""
    try:
        f, after, before, limit = _page_request(calllog.parse_call_filter)
    except calllog.FilterError as exc:
        return api_error(422, str(exc), param=exc.param)
    page = calllog.calls_page(f, flow(), utcnow(), after=after, before=before, limit=limit)
    return jsonify({"calls": [call_json(r) for r in page.items], **_page_links(page, "api.calls", f.args(), limit)})


@bp.get("/calls/<call_sid>")
def call(call_sid: str):
    """Give one call with its events, menu path, ring attempts and ticket."""
    detail = calllog.call_detail(call_sid, flow(), utcnow())
    if detail is None:
        return api_error(404, f"No call {call_sid!r}.")
    out = call_json(detail.row)
    out["events"] = [{"at": _iso(e.at), "endpoint": e.endpoint, "params": e.params} for e in detail.events]
    out["path"] = [{"at": _iso(s.at), "step": s.text} for s in detail.path]
    out["ring_attempts"] = [{"at": _iso(a.at), "staff": _person(p), "result": a.result} for a, p in detail.attempts]
    ticket = detail.row.ticket
    if ticket is not None and ticket_work.can_read(g.api_user, ticket):
        out["ticket"]["history"] = [change_json(ch) for ch in detail.changes]
    return jsonify(out)


@bp.get("/recordings/<path:name>")
def recording(name: str):
    """Give an archived recording's audio; refuse any name but `<RecordingSid>.mp3`."""
    sid = name.removesuffix(".mp3")
    if not name.endswith(".mp3") or not archive.valid_sid(sid):
        return api_error(404, "No such recording.")
    rec = db.session.execute(select(Recording).where(Recording.sid == sid)).scalar_one_or_none()
    if rec is None or rec.archive_status != "archived":
        return api_error(404, "That recording is not archived here (yet).")
    return send_from_directory(archive.folder().resolve(), archive.file_name(sid), mimetype="audio/mpeg", conditional=True, max_age=0)


# --- tickets -----------------------------------------------------------------------


def _scope() -> int | None | bool:
    """Give whose tickets this token may list: everyone's (False), or an agent's roster id."""
    return False if g.api_user.is_supervisor else g.api_user.staff_id


@bp.get("/tickets")
def tickets():
    """List tickets (an agent's token: their own), newest or soonest due first."""
    try:
        f, after, before, limit = _page_request(calllog.parse_ticket_filter)
    except calllog.FilterError as exc:
        return api_error(422, str(exc), param=exc.param)
    page = calllog.tickets_page(f, flow(), utcnow(), staff_scope=_scope(), after=after, before=before, limit=limit)
    return jsonify({"tickets": [ticket_json(r) for r in page.items], **_page_links(page, "api.tickets", f.args(), limit)})


def _ticket_out(ticket: Ticket) -> dict:
    """Describe one ticket in full, with its history."""
    row = calllog.TicketRow(
        ticket,
        ticket.call,
        calllog.sla_state(ticket, flow(), utcnow()),
        next((r for r in ticket.call.recordings if r.status == "completed"), None),
    )
    out = ticket_json(row)
    out["history"] = [change_json(ch) for ch in calllog.ticket_changes(ticket)]
    return out


@bp.get("/tickets/<int:number>")
def ticket(number: int):
    """Give one ticket and its history."""
    t = ticket_work.by_number(number)
    if t is None:
        return api_error(404, f"No ticket {number}.")
    if not ticket_work.can_read(g.api_user, t):
        return api_error(403, "This ticket is not assigned to you.")
    return jsonify(_ticket_out(t))


def _assignee(value):
    """Turn the PATCH body's assignee (a staff id, a name, or null) into a Staff or None."""
    if value is None:
        return None
    person = None
    if isinstance(value, int) and not isinstance(value, bool):
        person = db.session.get(Staff, value) if calllog.is_row_id(value) else None
    elif isinstance(value, str):
        person = staff.find(value)
    if person is None:
        raise ticket_work.TicketActionError("invalid", f"assignee {value!r} is not on the roster; give a staff id or name, or null")
    return person


@bp.patch("/tickets/<int:number>")
def patch_ticket(number: int):
    """Change a ticket's state or assignee and add a note; each change is kept with who and when."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return api_error(400, 'Send a JSON object, e.g. {"state": "resolved", "note": "..."}, with Content-Type: application/json.')
    unknown = sorted(set(body) - PATCH_FIELDS)
    if unknown:
        return api_error(422, f"Unknown field(s) {', '.join(unknown)}; use {', '.join(sorted(PATCH_FIELDS))}.")
    if "state" in body and not isinstance(body["state"], str):
        return api_error(422, "state must be a string.")
    if "note" in body and not isinstance(body["note"], str):
        return api_error(422, "note must be a string.")
    t = ticket_work.by_number_for_update(number)
    if t is None:
        return api_error(404, f"No ticket {number}.")
    kwargs = {k: body[k] for k in ("state", "note") if k in body}
    try:
        if "assignee" in body:
            kwargs["assignee"] = _assignee(body["assignee"])
        ticket_work.change(t, g.api_user, utcnow(), **kwargs)
    except ticket_work.TicketActionError as exc:
        db.session.rollback()
        return api_error({"forbidden": 403, "conflict": 409, "invalid": 422}[exc.kind], str(exc))
    return jsonify(_ticket_out(t))


# --- roster and closures -----------------------------------------------------------


@bp.get("/staff")
def staff_list():
    """List the roster: team, phone, shifts, and whether each is on duty now and why."""
    now, policy = utcnow(), flow().policy
    out = []
    for p in staff.everyone():
        d = staff.duty(p, now, policy)
        out.append(
            {
                **_person(p),
                "phone": p.phone,
                "active": p.active,
                "on_duty": d.on,
                "duty_reason": d.reason,
                "duty_until": _iso(d.until),
                "shifts": staff.format_shifts(p.shifts) if p.shifts else "",
            }
        )
    return jsonify({"staff": out})


def closure_json(entry: ClosureEntry) -> dict:
    """Describe a closure added in the console."""
    return {
        "id": entry.id,
        "start": _iso(entry.start),
        "end": _iso(entry.effective_end),
        "planned_end": _iso(entry.end),
        "message": entry.message,
        "created_by": entry.created_by,
        "ended_at": _iso(entry.ended_at),
        "ended_by": entry.ended_by,
    }


@bp.get("/closures")
def closures_list():
    """List closures in force or to come, and those over in the last 30 days."""
    current, past = closures.listing(utcnow())
    return jsonify({"closures": [closure_json(e) for e in current], "recent": [closure_json(e) for e in past]})


def _moment(value, policy, what: str) -> datetime:
    """Read a closure time: ISO 8601 with an offset, or local support time without one."""
    if not isinstance(value, str):
        raise closures.ClosureError(f"{what} must be a string like 2026-12-31T18:00")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise closures.ClosureError(f"{what} {value!r} is not a date and time like 2026-12-31T18:00") from None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=policy.timezone).astimezone(UTC)


@bp.post("/closures")
def closure_add():
    """Close support from start to end (ISO 8601; no offset means support time), with a message."""
    refused = _supervisor()
    if refused:
        return refused
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return api_error(400, 'Send a JSON object like {"start": "2026-12-31T18:00", "end": "2027-01-02T05:00", "message": "..."}.')
    policy = flow().policy
    try:
        start = _moment(body.get("start"), policy, "start")
        end = _moment(body.get("end"), policy, "end")
        message = body.get("message") or ""
        if not isinstance(message, str):
            raise closures.ClosureError("message must be a string")
        entry = closures.add(start, end, message, g.api_user.email, utcnow())
    except closures.ClosureError as exc:
        db.session.rollback()
        return api_error(422, str(exc))
    return jsonify(closure_json(entry)), 201


@bp.post("/closures/<int:closure_id>/end")
def closure_end(closure_id: int):
    """End a closure now, or cancel one not yet begun."""
    refused = _supervisor()
    if refused:
        return refused
    if not calllog.is_row_id(closure_id) or db.session.get(ClosureEntry, closure_id) is None:
        return api_error(404, f"No closure {closure_id}.")
    try:
        entry = closures.end(closure_id, g.api_user.email, utcnow())
    except closures.ClosureError as exc:
        db.session.rollback()
        return api_error(409, str(exc))
    return jsonify(closure_json(entry))


# --- callbacks and the directory --------------------------------------------------


def callback_json(entry: CallbackRequest, contacts: dict, position: int | None = None) -> dict:
    """Describe a callback request, with who calls from its number when the directory knows."""
    contact = contacts.get(entry.phone)
    level = flow().levels.get(entry.level)
    ticket = entry.ticket
    return {
        "id": entry.id,
        "position": position,
        "next": position == 1,
        "ticket": ticket.number,
        "phone": entry.phone,
        "company": contact.customer.company if contact else ticket.company,
        "contact": contact.name if contact else None,
        "language": ticket.language,
        "level": entry.level,
        "level_name": level.name if level else entry.level,
        "requested_at": _iso(entry.requested_at),
        "state": entry.state,
        "attempts": entry.attempts,
        "last_error": entry.last_error,
        "agent": _person(entry.agent),
        "callback_call_sid": entry.callback_call_sid,
        "updated_at": _iso(entry.updated_at),
    }


@bp.get("/callbacks")
def callbacks_list():
    """List the callers waiting to be called back, the next one first, and those done or given up in the last 7 days."""
    queue = callbacks.waiting()
    recent = callbacks.finished_since(utcnow() - RECENT_CALLBACKS)
    contacts = customers.contacts_for(e.phone for e in [*queue, *recent])
    return jsonify(
        {
            "waiting": [callback_json(e, contacts, i) for i, e in enumerate(queue, start=1)],
            "recent": [callback_json(e, contacts) for e in recent],
        }
    )


@bp.post("/callbacks/<int:request_id>/start")
def callback_start(request_id: int):
    """Ring an agent (`{"agent": name or staff id}`) for a waiting callback; the customer is dialled when they press 1."""
    refused = _supervisor()
    if refused:
        return refused
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return api_error(400, 'Send a JSON object like {"agent": "Ben"}, with Content-Type: application/json.')
    entry = db.session.get(CallbackRequest, request_id) if calllog.is_row_id(request_id) else None
    if entry is None:
        return api_error(404, f"No callback request {request_id}.")
    unknown = sorted(set(body) - {"agent"})
    if unknown:
        return api_error(422, f"Unknown field(s) {', '.join(unknown)}; send only agent.")
    try:
        person = _assignee(body.get("agent"))
    except ticket_work.TicketActionError:
        return api_error(422, f"agent {body.get('agent')!r} is not on the roster; give a staff name or id.")
    if person is None:
        return api_error(422, 'Name the agent who calls back: {"agent": "Ben"}.')
    if entry.state != "waiting":
        return api_error(409, f"Callback {request_id} is {entry.state}, not waiting.")
    if not person.active:
        return api_error(422, f"{person.name} is not active.")
    try:
        entry = callbacks.start(request_id, person)
    except callbacks.CallbackError as exc:
        db.session.rollback()
        # start() raises from the Twilio error when the call could not be placed; otherwise
        # the request changed under us (another supervisor started it first).
        status = 502 if exc.__cause__ is not None else 409
        return api_error(status, str(exc))
    return jsonify(callback_json(entry, customers.contacts_for([entry.phone])))


def customer_json(customer: Customer) -> dict:
    """Describe a company and its contacts."""
    return {
        "id": customer.id,
        "company": customer.company,
        "contacts": [{"id": c.id, "name": c.name, "phone": c.phone} for c in customer.contacts],
    }


@bp.get("/customers")
def customers_list():
    """List the directory's companies and contacts; `q` searches company, contact name and phone digits."""
    q = request.args.get("q", "")
    if len(q) > 100:
        return api_error(422, "q is longer than 100 characters.", param="q")
    return jsonify({"customers": [customer_json(c) for c in customers.directory(q)]})


# --- the description ---------------------------------------------------------------


@bp.get("/openapi.json")
def openapi():
    """Describe the API as OpenAPI 3.1."""
    return jsonify(spec(flow()))


def _param(name: str, description: str, schema: dict | None = None, where: str = "query", required: bool = False) -> dict:
    return {"name": name, "in": where, "required": required, "description": description, "schema": schema or {"type": "string"}}


def _error_responses(*codes: int) -> dict:
    words = {
        400: "The body is not a JSON object.",
        401: "No token, or a token unknown, revoked or of a disabled account.",
        403: "The token's role may not do this.",
        404: "No such thing.",
        409: "The ticket's (or closure's) state does not allow this change.",
        422: "A value that cannot be used; the message names it.",
        502: "Twilio could not place the call; the request stays waiting with the error kept.",
    }
    return {
        str(c): {"description": words[c], "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        for c in codes
    }


def spec(fl: Flow) -> dict:
    """Build the OpenAPI document for this API."""
    levels = list(fl.levels)
    date = {"type": "string", "format": "date"}
    page_params = [
        _param("after", "Page position from a `next` link: rows after it."),
        _param("before", "Page position from a `prev` link: rows before it."),
        _param("limit", f"Rows per page, 1 to {calllog.MAX_PAGE_SIZE} (default {calllog.PAGE_SIZE}).", {"type": "integer"}),
    ]
    call_filters = [
        _param("from", "First local support date (America/Chicago by default), inclusive.", date),
        _param("to", "Last local support date, inclusive.", date),
        _param("level", "Support level, or `none` for calls that chose none.", {"type": "string", "enum": [*levels, calllog.NO_LEVEL]}),
        _param("outcome", "How the call ended.", {"type": "string", "enum": [*OUTCOMES, calllog.IN_PROGRESS]}),
        _param("agent", "Staff id of the agent who took the call.", {"type": "integer"}),
        _param("sla", "SLA state of the call's ticket.", {"type": "string", "enum": list(calllog.SLA_STATES)}),
        _param("q", "Search: ticket number, phone digits, caller name or CallSid."),
        _param("tests", "`1` to include test (simulated) calls.", {"type": "string", "enum": ["1"]}),
    ]
    ticket_filters = [
        _param("from", "Opened on or after this local date.", date),
        _param("to", "Opened on or before this local date.", date),
        _param("state", "Ticket state.", {"type": "string", "enum": list(calllog.TICKET_STATES)}),
        _param("level", "Support level.", {"type": "string", "enum": levels}),
        _param("sla", "SLA state.", {"type": "string", "enum": list(calllog.SLA_STATES)}),
        _param("assignee", "Staff id of the assignee, or `none`."),
        _param("q", "Search: ticket number, phone digits or caller name."),
        _param("voicemail", "`1`: only tickets whose call left a voicemail.", {"type": "string", "enum": ["1"]}),
        _param("tests", "`1` to include tickets of test calls.", {"type": "string", "enum": ["1"]}),
        _param("order", "`opened` (newest first, default) or `due` (soonest due first).", {"type": "string", "enum": ["opened", "due"]}),
    ]
    number = _param("number", "Ticket number, as callers hear it (e.g. 1001).", {"type": "integer"}, "path", True)
    ok = lambda ref, text: {"description": text, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}  # noqa: E731
    ts = {"type": ["string", "null"], "format": "date-time"}
    person = {"type": ["object", "null"], "properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "team": {"type": "string"}}}
    caller = {
        "type": "object",
        "properties": {"number": {"type": "string"}, "raw": {"type": "string"}, "name": {"type": ["string", "null"]}},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Support line API",
            "version": "1",
            "description": (
                "The call-to-ticket log of the support line. Every request needs `Authorization: Bearer <token>`; "
                "`flask --app wsgi users token EMAIL` makes one. Instants are ISO 8601 in UTC; date filters are "
                f"local support dates ({fl.policy.timezone.key}). SLA states: met, on_track, at_risk (no response and due "
                "within max(25% of the goal, 1 hour)), breached."
            ),
        },
        "servers": [{"url": "/api"}],
        "security": [{"bearer": []}],
        "paths": {
            "/calls": {
                "get": {
                    "summary": "List calls, newest first",
                    "parameters": call_filters + page_params,
                    "responses": {"200": ok("CallPage", "A page of calls."), **_error_responses(401, 422)},
                }
            },
            "/calls/{call_sid}": {
                "get": {
                    "summary": "One call with its events, menu path and ring attempts",
                    "parameters": [_param("call_sid", "Twilio's CallSid.", where="path", required=True)],
                    "responses": {"200": ok("CallDetail", "The call."), **_error_responses(401, 404)},
                }
            },
            "/recordings/{sid}.mp3": {
                "get": {
                    "summary": "An archived recording's audio",
                    "parameters": [_param("sid", "The RecordingSid.", where="path", required=True)],
                    "responses": {"200": {"description": "MP3 audio.", "content": {"audio/mpeg": {}}}, **_error_responses(401, 404)},
                }
            },
            "/tickets": {
                "get": {
                    "summary": "List tickets (an agent's token sees only tickets assigned to them)",
                    "parameters": ticket_filters + page_params,
                    "responses": {"200": ok("TicketPage", "A page of tickets."), **_error_responses(401, 422)},
                }
            },
            "/tickets/{number}": {
                "get": {
                    "summary": "One ticket with its history",
                    "parameters": [number],
                    "responses": {"200": ok("TicketDetail", "The ticket."), **_error_responses(401, 403, 404)},
                },
                "patch": {
                    "summary": "Change a ticket: state, assignee, note",
                    "description": (
                        "State moves: open to responded or resolved, responded to resolved, resolved to open (reopen). "
                        "Responding or resolving sets the first response if none was made. Only supervisors reassign; "
                        "an agent may change the state of, and add notes to, tickets assigned to them. Every change is "
                        "kept in the ticket's history with who and when."
                    ),
                    "parameters": [number],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TicketPatch"}}},
                    },
                    "responses": {
                        "200": ok("TicketDetail", "The ticket after the change."),
                        **_error_responses(400, 401, 403, 404, 409, 422),
                    },
                },
            },
            "/staff": {
                "get": {
                    "summary": "The roster, and who is on duty now",
                    "responses": {"200": ok("StaffList", "Everyone on the roster."), **_error_responses(401)},
                }
            },
            "/closures": {
                "get": {
                    "summary": "Closures added in the console: in force or to come, and recent",
                    "responses": {"200": ok("ClosureList", "The closures."), **_error_responses(401)},
                },
                "post": {
                    "summary": "Add a closure (supervisors)",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ClosureNew"}}},
                    },
                    "responses": {"201": ok("Closure", "The closure."), **_error_responses(400, 401, 403, 422)},
                },
            },
            "/closures/{id}/end": {
                "post": {
                    "summary": "End a closure now, or cancel one not yet begun (supervisors)",
                    "parameters": [_param("id", "The closure's id.", {"type": "integer"}, "path", True)],
                    "responses": {"200": ok("Closure", "The closure."), **_error_responses(401, 403, 404, 409)},
                }
            },
            "/callbacks": {
                "get": {
                    "summary": "Callers waiting to be called back, the next first; and those done or given up in the last 7 days",
                    "description": "Served by level (the shortest response goal first), then by the time they asked.",
                    "responses": {"200": ok("CallbackList", "The queue and the recent callbacks."), **_error_responses(401)},
                }
            },
            "/callbacks/{id}/start": {
                "post": {
                    "summary": "Ring an agent to call a waiting customer back (supervisors)",
                    "description": (
                        "Rings the agent through Twilio's Calls API; when they press 1 the customer is dialled and the "
                        "call is logged on the same ticket. The request is `calling` until then, `waiting` again if the "
                        "agent declines or the customer is not reached."
                    ),
                    "parameters": [_param("id", "The callback request's id.", {"type": "integer"}, "path", True)],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CallbackStart"}}},
                    },
                    "responses": {
                        "200": ok("Callback", "The request, now calling."),
                        **_error_responses(400, 401, 403, 404, 409, 422, 502),
                    },
                }
            },
            "/customers": {
                "get": {
                    "summary": "The customer directory: companies and their contacts",
                    "parameters": [_param("q", "Search: company, contact name, or phone digits.")],
                    "responses": {"200": ok("CustomerList", "The companies, by name."), **_error_responses(401, 422)},
                }
            },
            "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1."}}}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {
                            "type": "object",
                            "properties": {"status": {"type": "integer"}, "message": {"type": "string"}, "param": {"type": "string"}},
                            "required": ["status", "message"],
                        }
                    },
                },
                "Recording": {
                    "type": "object",
                    "properties": {
                        "sid": {"type": "string"},
                        "status": {"type": "string"},
                        "duration_seconds": {"type": ["integer", "null"]},
                        "created_at": ts,
                        "archive_status": {"type": "string", "enum": ["pending", "archived", "failed"]},
                        "audio_url": {"type": ["string", "null"]},
                        "transcript_status": {"type": "string", "enum": ["pending", "completed", "failed"]},
                        "transcript": {"type": ["string", "null"]},
                    },
                },
                "TicketBrief": {
                    "type": "object",
                    "properties": {
                        "number": {"type": "integer"},
                        "level": {"type": "string", "enum": levels},
                        "level_name": {"type": "string"},
                        "state": {"type": "string", "enum": list(calllog.TICKET_STATES)},
                        "sla": {"type": "string", "enum": list(calllog.SLA_STATES)},
                        "opened_at": ts,
                        "due_at": ts,
                        "first_response_at": ts,
                        "assignee": person,
                    },
                },
                "Call": {
                    "type": "object",
                    "properties": {
                        "call_sid": {"type": "string"},
                        "started_at": ts,
                        "ended_at": ts,
                        "caller": caller,
                        "level": {"type": ["string", "null"]},
                        "outcome": {"type": ["string", "null"], "enum": [*OUTCOMES, None]},
                        "agent": person,
                        "wait_seconds": {"type": ["integer", "null"]},
                        "talk_seconds": {"type": ["integer", "null"]},
                        "duration_seconds": {"type": ["integer", "null"]},
                        "is_test": {"type": "boolean"},
                        "ticket": {"oneOf": [{"$ref": "#/components/schemas/TicketBrief"}, {"type": "null"}]},
                        "recordings": {"type": "array", "items": {"$ref": "#/components/schemas/Recording"}},
                    },
                },
                "CallDetail": {
                    "allOf": [
                        {"$ref": "#/components/schemas/Call"},
                        {
                            "type": "object",
                            "properties": {
                                "events": {"type": "array", "items": {"type": "object"}},
                                "path": {
                                    "type": "array",
                                    "items": {"type": "object", "properties": {"at": ts, "step": {"type": "string"}}},
                                },
                                "ring_attempts": {"type": "array", "items": {"type": "object"}},
                            },
                        },
                    ]
                },
                "CallPage": {
                    "type": "object",
                    "properties": {
                        "calls": {"type": "array", "items": {"$ref": "#/components/schemas/Call"}},
                        "next": {"type": ["string", "null"]},
                        "prev": {"type": ["string", "null"]},
                    },
                },
                "Change": {
                    "type": "object",
                    "properties": {
                        "at": ts,
                        "by": {"type": "string"},
                        "action": {"type": "string", "enum": ["responded", "resolved", "reopened", "reassigned", "note"]},
                        "detail": {"type": "string"},
                        "note": {"type": ["string", "null"]},
                    },
                },
                "Ticket": {
                    "allOf": [
                        {"$ref": "#/components/schemas/TicketBrief"},
                        {
                            "type": "object",
                            "properties": {
                                "caller": caller,
                                "call_sid": {"type": "string"},
                                "is_test": {"type": "boolean"},
                                "voicemail": {"oneOf": [{"$ref": "#/components/schemas/Recording"}, {"type": "null"}]},
                            },
                        },
                    ]
                },
                "TicketDetail": {
                    "allOf": [
                        {"$ref": "#/components/schemas/Ticket"},
                        {"type": "object", "properties": {"history": {"type": "array", "items": {"$ref": "#/components/schemas/Change"}}}},
                    ]
                },
                "TicketPage": {
                    "type": "object",
                    "properties": {
                        "tickets": {"type": "array", "items": {"$ref": "#/components/schemas/Ticket"}},
                        "next": {"type": ["string", "null"]},
                        "prev": {"type": ["string", "null"]},
                    },
                },
                "TicketPatch": {
                    "type": "object",
                    "additionalProperties": False,
                    "minProperties": 1,
                    "properties": {
                        "state": {"type": "string", "enum": list(calllog.TICKET_STATES)},
                        "assignee": {"type": ["integer", "string", "null"], "description": "Staff id or name; null unassigns."},
                        "note": {"type": "string", "maxLength": ticket_work.NOTE_MAX},
                    },
                },
                "StaffList": {
                    "type": "object",
                    "properties": {
                        "staff": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "id": {"type": "integer"},
                                    "name": {"type": "string"},
                                    "team": {"type": "string"},
                                    "phone": {"type": "string"},
                                    "active": {"type": "boolean"},
                                    "on_duty": {"type": "boolean"},
                                    "duty_reason": {"type": "string", "enum": ["shift", "override", "inactive", "none"]},
                                    "duty_until": ts,
                                    "shifts": {"type": "string"},
                                },
                            },
                        }
                    },
                },
                "Closure": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "start": ts,
                        "end": ts,
                        "planned_end": ts,
                        "message": {"type": "string"},
                        "created_by": {"type": "string"},
                        "ended_at": ts,
                        "ended_by": {"type": ["string", "null"]},
                    },
                },
                "ClosureList": {
                    "type": "object",
                    "properties": {
                        "closures": {"type": "array", "items": {"$ref": "#/components/schemas/Closure"}},
                        "recent": {"type": "array", "items": {"$ref": "#/components/schemas/Closure"}},
                    },
                },
                "Callback": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "position": {"type": ["integer", "null"], "description": "Place in the queue, 1 is next; null once finished."},
                        "next": {"type": "boolean"},
                        "ticket": {"type": "integer"},
                        "phone": {"type": "string"},
                        "company": {"type": ["string", "null"]},
                        "contact": {"type": ["string", "null"]},
                        "language": {"type": "string"},
                        "level": {"type": "string", "enum": levels},
                        "level_name": {"type": "string"},
                        "requested_at": ts,
                        "state": {"type": "string", "enum": ["waiting", "calling", "done", "failed"]},
                        "attempts": {"type": "integer"},
                        "last_error": {"type": ["string", "null"]},
                        "agent": {**person, "description": "Who is ringing or rang; for a waiting request, who was tried last."},
                        "callback_call_sid": {"type": ["string", "null"]},
                        "updated_at": ts,
                    },
                },
                "CallbackList": {
                    "type": "object",
                    "properties": {
                        "waiting": {"type": "array", "items": {"$ref": "#/components/schemas/Callback"}},
                        "recent": {"type": "array", "items": {"$ref": "#/components/schemas/Callback"}},
                    },
                },
                "CallbackStart": {
                    "type": "object",
                    "required": ["agent"],
                    "additionalProperties": False,
                    "properties": {"agent": {"type": ["string", "integer"], "description": "Staff name or id of who calls back."}},
                },
                "Contact": {
                    "type": "object",
                    "properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "phone": {"type": "string", "format": "e164"}},
                },
                "CustomerList": {
                    "type": "object",
                    "properties": {
                        "customers": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "id": {"type": "integer"},
                                    "company": {"type": "string"},
                                    "contacts": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Contact"},
                                    },
                                },
                            },
                        }
                    },
                },
                "ClosureNew": {
                    "type": "object",
                    "required": ["start", "end"],
                    "properties": {
                        "start": {"type": "string", "description": "ISO 8601; without an offset, support time."},
                        "end": {"type": "string"},
                        "message": {"type": "string", "maxLength": closures.MESSAGE_MAX},
                    },
                },
            },
        },
    }


def register_error_pages(app) -> None:
    """Answer unknown /api URLs and wrong methods there as JSON, not HTML."""
    app.register_error_handler(404, not_found_or_json)
    app.register_error_handler(405, not_found_or_json)
