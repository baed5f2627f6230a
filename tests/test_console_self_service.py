"""The console's and the API's side of self-service: the callback queue, the customer directory, company and language."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from urllib.parse import parse_qs

import pytest
import responses
from sqlalchemy import select

from ivr import callbacks, customers, users
from ivr.models import Call, CallbackRequest, Contact, Customer, Staff, db, utcnow
from tests.console_fixtures import BEN, FAST_HASH, PASSWORD, Browser

AC = "AC" + "0" * 32
CALLS = f"https://api.twilio.com/2010-04-01/Accounts/{AC}/Calls.json"
TWILIO_OK = {"json": {"sid": "CA" + "e" * 32, "status": "queued"}, "status": 201}
TWILIO_DOWN = {"json": {"code": 20500, "message": "Internal Server Error", "status": 500}, "status": 500}
XSS = "<script>alert('x')</script> Floors"
XSS_ESCAPED = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Floors"


def queue_callback(app, caller, number: str, key: str) -> int:
    """Open a ticket from a number (level by key) and queue a callback for it, as the line does when everyone is busy."""
    call = caller(number).dial().press(key)
    call.hang_up()
    with app.app_context():
        row = db.session.execute(select(Call).where(Call.call_sid == call.call_sid)).scalar_one()
        entry = callbacks.request_for(app.extensions["ivr.flow"], row, row.ticket)
        db.session.commit()
        return entry.id


def entry(app, request_id: int) -> CallbackRequest:
    """Read a callback request, detached."""
    with app.app_context():
        found = db.session.get(CallbackRequest, request_id)
        db.session.expunge(found)
        return found


def staff_id(app, name: str) -> int:
    """Give a roster entry's id."""
    with app.app_context():
        return db.session.execute(select(Staff.id).where(Staff.name == name)).scalar_one()


def rows_of(html: str, testid: str) -> list[str]:
    """Give the opening tags of the rows with this data-testid, in page order."""
    return re.findall(rf'<tr data-testid="{testid}"[^>]*>', html)


@pytest.fixture
def queue(team, caller, at):
    """Queue three callbacks on Tuesday morning: Basic at 10:00, Critical at 10:05 (a known customer), Technical at 10:10."""
    with team.app_context():
        customers.upsert("Acme Floors", "Pat Doe", "+13125550303")
        db.session.commit()
    ids = {}
    for moment, number, key, level in (
        ("10:00", "+13125550301", "1", "basic"),
        ("10:05", "+13125550303", "3", "critical"),
        ("10:10", "+13125550302", "2", "technical"),
    ):
        at(f"2026-12-01 {moment}")
        ids[level] = queue_callback(team, caller, number, key)
    at("2026-12-01 10:20")
    return ids


# --- who may see and post --------------------------------------------------------------

PAGES = ["/console/callbacks", "/console/customers"]
FORMS = [
    "/console/callbacks/1/start",
    "/console/customers/contacts",
    "/console/customers/contacts/1",
    "/console/customers/contacts/1/remove",
    "/console/customers/import",
]


@pytest.mark.parametrize("path", PAGES)
def test_pages_need_a_sign_in(app, client, path):
    """Strangers are sent to the sign-in page."""
    resp = client.get(path)
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/console/login?next=")


@pytest.mark.parametrize("path", FORMS)
def test_forms_need_a_sign_in(app, browser, path):
    """A POST from someone not signed in changes nothing and goes to the sign-in page."""
    browser.get("/console/login")
    resp = browser.post(path, {"agent": "1", "company": "Acme", "name": "Pat", "phone": "+13125550199"})
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/console/login")


@pytest.mark.parametrize("path", FORMS)
def test_forms_need_their_csrf_token(app, logged_in_client, path):
    """A signed-in supervisor posting without the form token gets 400."""
    resp = logged_in_client.post(path, {"agent": "1", "company": "Acme", "name": "Pat", "phone": "+13125550199"}, csrf=False)
    assert resp.status_code == 400
    assert "The CSRF token is missing." in resp.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(select(Contact)).first() is None


def test_nav_links_both_pages(app, logged_in_client, agent_browser):
    """Supervisors and agents both find Callbacks and Customers in the nav."""
    for b in (logged_in_client, agent_browser):
        html = b.get("/console/").get_data(as_text=True)
        assert 'data-testid="nav-callbacks"' in html and 'href="/console/callbacks"' in html
        assert 'data-testid="nav-customers"' in html and 'href="/console/customers"' in html


# --- the callback queue ----------------------------------------------------------------


def test_callbacks_page_lists_the_queue_in_serving_order(app, queue, logged_in_client):
    """Critical first though it asked later, then Technical, then Basic; the first is marked next, with the directory's names."""
    resp = logged_in_client.get("/console/callbacks")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    order = [int(re.search(r'data-callback-id="(\d+)"', r).group(1)) for r in rows_of(html, "callback-row")]
    assert order == [queue["critical"], queue["technical"], queue["basic"]]
    assert [('data-next="yes"' in r) for r in rows_of(html, "callback-row")] == [True, False, False]
    assert html.count('data-testid="callback-next"') == 1
    first = html.split('data-testid="callback-row"')[1]
    assert 'data-testid="callback-contact">Pat Doe<' in first and 'data-testid="callback-company">Acme Floors<' in first
    assert "+13125550303" in first and "Critical" in first
    assert "2026-12-01 10:05 CST" in first and "15 min 00 s ago" in first
    assert 'data-testid="callback-attempts">0<' in first
    assert '<a href="/console/tickets/1002" data-testid="ticket-link">1002</a>' in first
    # A supervisor without a roster entry chooses among the active staff, nobody preselected.
    assert re.findall(r'<option value="\d+" (?:selected)?>(\w+) \(', first) == ["Anna", "Ben", "Cara"]
    assert "selected" not in first.split('data-testid="callback-agent"')[1].split("</select>")[0]
    assert 'data-testid="nav-callbacks-count">3<' in html
    assert 'data-testid="no-recent-callbacks"' in html


def test_a_supervisor_starts_a_callback(app, queue, logged_in_client, no_network):
    """Call back rings the chosen agent through Twilio's Calls API; the flash says so and the row shows it ringing."""
    no_network.add(responses.POST, CALLS, **TWILIO_OK)
    logged_in_client.get("/console/callbacks")
    resp = logged_in_client.post(f"/console/callbacks/{queue['critical']}/start", {"agent": str(staff_id(app, "Ben"))})
    assert resp.status_code == 303 and resp.headers["Location"] == "/console/callbacks"
    form = parse_qs(no_network.calls[-1].request.body)
    assert form["To"] == [BEN] and form["From"] == ["+16462019664"]
    assert form["Url"][0].endswith(f"/voice/callback/{queue['critical']}/agent")
    started = entry(app, queue["critical"])
    assert (started.state, started.attempts, started.callback_call_sid) == ("calling", 1, "CA" + "e" * 32)
    html = logged_in_client.get("/console/callbacks").get_data(as_text=True)
    assert "Ringing Ben to call back +13125550303 (ticket 1002); when they press 1 the customer is dialled." in html
    row = html.split(f'data-callback-id="{queue["critical"]}"')[1].split("</tr>")[0]
    assert 'data-state="calling"' in html and "ringing Ben" in row and "callback-start" not in row


def test_twilio_failing_shows_the_error_and_keeps_the_caller_waiting(app, queue, logged_in_client, no_network):
    """A Twilio 500 is shown as the flash and on the row; the request stays waiting, first in line, with one attempt."""
    no_network.add(responses.POST, CALLS, **TWILIO_DOWN)
    logged_in_client.get("/console/callbacks")
    resp = logged_in_client.post(
        f"/console/callbacks/{queue['critical']}/start", {"agent": str(staff_id(app, "Cara"))}, follow_redirects=True
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert re.search(r'class="flash flash-error"[^>]*>Callback not started: Twilio could not ring Cara: [^<]*Internal Server Error', html)
    failed = entry(app, queue["critical"])
    assert (failed.state, failed.attempts) == ("waiting", 1) and "Internal Server Error" in failed.last_error
    first = html.split('data-testid="callback-row"')[1].split("</tr>")[0]
    assert f'data-callback-id="{queue["critical"]}"' in first and 'data-testid="callback-attempts">1<' in first
    assert "Internal Server Error" in first.split('data-testid="callback-error"')[1]
    assert "callback-start" in first  # it can be tried again


def test_starting_a_callback_refuses_what_cannot_be_done(app, queue, logged_in_client, no_network):
    """Unknown requests are 404; no agent, an inactive one, or a request already ringing are explained in a flash."""
    no_network.add(responses.POST, CALLS, **TWILIO_OK)
    logged_in_client.get("/console/callbacks")
    assert logged_in_client.post("/console/callbacks/99999/start", {"agent": "1"}).status_code == 404
    assert logged_in_client.post("/console/callbacks/99999999999/start", {"agent": "1"}).status_code == 404
    critical = f"/console/callbacks/{queue['critical']}/start"
    html = logged_in_client.post(critical, {"agent": ""}, follow_redirects=True).get_data(as_text=True)
    assert "Choose who calls the customer back." in html
    with app.app_context():
        db.session.execute(select(Staff).where(Staff.name == "Cara")).scalar_one().active = False
        db.session.commit()
    html = logged_in_client.post(critical, {"agent": str(staff_id(app, "Cara"))}, follow_redirects=True).get_data(as_text=True)
    assert "Callback not started: Cara is not active" in html
    assert entry(app, queue["critical"]).state == "waiting"
    logged_in_client.post(critical, {"agent": str(staff_id(app, "Ben"))})
    html = logged_in_client.post(critical, {"agent": str(staff_id(app, "Anna"))}, follow_redirects=True).get_data(as_text=True)
    assert f"Callback not started: callback {queue['critical']} is calling, not waiting" in html
    assert len(no_network.calls) == 1


def test_an_agent_calls_back_only_as_themselves(app, queue, agent_browser, no_network):
    """Ben (an agent) sees only himself, preselected; ringing Cara is refused; ringing himself works."""
    no_network.add(responses.POST, CALLS, **TWILIO_OK)
    html = agent_browser.get("/console/callbacks").get_data(as_text=True)
    first = html.split('data-testid="callback-row"')[1].split("</tr>")[0]
    assert re.findall(r'<option value="(\d+)" (selected)?>', first) == [(str(staff_id(app, "Ben")), "selected")]
    assert "An agent can start a callback only as themselves." in html
    # Tickets not assigned to Ben are listed without a link he could not open.
    assert 'data-testid="ticket-link"' not in first
    refused = agent_browser.post(f"/console/callbacks/{queue['critical']}/start", {"agent": str(staff_id(app, "Cara"))})
    assert refused.status_code == 403 and entry(app, queue["critical"]).state == "waiting"
    resp = agent_browser.post(f"/console/callbacks/{queue['critical']}/start", {"agent": str(staff_id(app, "Ben"))})
    assert resp.status_code == 303 and entry(app, queue["critical"]).state == "calling"
    assert parse_qs(no_network.calls[-1].request.body)["To"] == [BEN]


def test_an_agent_without_a_roster_entry_cannot_call_back(app, queue):
    """An agent account not linked to the roster sees the queue and why there is no button."""
    app.config["PASSWORD_HASH_METHOD"] = FAST_HASH
    with app.app_context():
        users.add("dee@example.com", PASSWORD, "agent")
    dee = Browser(app.test_client(), "dee@example.com")
    html = dee.get("/console/callbacks").get_data(as_text=True)
    assert 'data-testid="no-callback-agent"' in html and "not linked to an active roster entry" in html
    assert "callback-start" not in html and len(rows_of(html, "callback-row")) == 3
    assert dee.post(f"/console/callbacks/{queue['basic']}/start", {"agent": str(staff_id(app, "Ben"))}).status_code == 403


def test_done_callbacks_of_the_last_seven_days(app, queue, logged_in_client):
    """Done and failed callbacks leave the queue for the second table, for a week."""
    now = utcnow()
    with app.app_context():
        ben = db.session.execute(select(Staff).where(Staff.name == "Ben")).scalar_one()
        done = db.session.get(CallbackRequest, queue["critical"])
        done.state, done.agent_id, done.attempts, done.updated_at = "done", ben.id, 1, now - timedelta(hours=1)
        old = db.session.get(CallbackRequest, queue["basic"])
        old.state, old.updated_at = "failed", now - timedelta(days=8)
        db.session.commit()
    html = logged_in_client.get("/console/callbacks").get_data(as_text=True)
    assert [re.search(r'data-callback-id="(\d+)"', r).group(1) for r in rows_of(html, "callback-row")] == [str(queue["technical"])]
    [recent] = rows_of(html, "callback-done-row")
    assert f'data-callback-id="{queue["critical"]}"' in recent and 'data-state="done"' in recent
    section = html.split('data-testid="callbacks-recent"')[1]
    assert "Ben" in section and "Acme Floors" in section


def test_the_ticket_page_shows_its_callback(app, queue, logged_in_client):
    """A ticket with a callback request says so, with its state and a link to the queue."""
    html = logged_in_client.get("/console/tickets/1002").get_data(as_text=True)
    assert 'data-testid="ticket-callbacks"' in html
    assert re.search(
        r'data-testid="ticket-callback" data-state="waiting">Asked 2026-12-01 10:05 CST to be called back at \+13125550303', html
    )
    assert 'href="/console/callbacks" data-testid="ticket-callback-link"' in html


# --- the directory ---------------------------------------------------------------------


def directory(app) -> list[tuple[str, str, str]]:
    """Read the directory as (company, name, phone), sorted."""
    with app.app_context():
        return sorted((c.customer.company, c.name, c.phone) for c in db.session.execute(select(Contact)).scalars())


def test_supervisor_adds_a_contact_and_xss_is_shown_as_text(app, logged_in_client):
    """A contact is added with its number in E.164; a company name with markup is shown escaped."""
    logged_in_client.get("/console/customers")
    resp = logged_in_client.post("/console/customers/contacts", {"company": XSS, "name": "Pat  Doe", "phone": "(312) 555-0199"})
    assert resp.status_code == 303
    assert directory(app) == [(XSS, "Pat Doe", "+13125550199")]
    html = logged_in_client.get("/console/customers").get_data(as_text=True)
    assert "<script>alert" not in html and XSS_ESCAPED in html
    assert f"Added Pat Doe (+13125550199) at {XSS_ESCAPED}." in html
    assert 'data-testid="contact-row" data-contact-id="1" data-phone="+13125550199"' in html


def test_a_bad_number_is_refused_and_the_form_keeps_what_was_typed(app, logged_in_client):
    """A wrong number gives 422 with the reason next to the form, and the values as they were typed."""
    logged_in_client.get("/console/customers")
    resp = logged_in_client.post("/console/customers/contacts", {"company": XSS, "name": "Pat <b>Doe</b>", "phone": "555-CALL-ME-NOW"})
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert 'role="alert" data-testid="contact-error">&#39;555-CALL-ME-NOW&#39; is not a phone number</p>' in html
    add_form = html.split('data-testid="add-contact-form"')[1].split("</form>")[0]
    assert f'value="{XSS_ESCAPED}"' in add_form
    assert 'value="Pat &lt;b&gt;Doe&lt;/b&gt;"' in add_form and 'value="555-CALL-ME-NOW"' in add_form
    assert '<details class="panel" open>' in html
    assert "<script>" not in html and "<b>Doe" not in html
    assert directory(app) == []
    missing = logged_in_client.post("/console/customers/contacts", {"company": " ", "name": "Pat", "phone": ""})
    assert missing.status_code == 422 and "no company, phone" in missing.get_data(as_text=True)
    long = logged_in_client.post("/console/customers/contacts", {"company": "A" * 201, "name": "Pat", "phone": "+13125550199"})
    assert long.status_code == 422 and "company is longer than 200 characters" in long.get_data(as_text=True)


def test_adding_a_number_already_listed_is_refused(app, logged_in_client):
    """Adding never silently moves someone else's number: the form says whose it is."""
    with app.app_context():
        customers.upsert("Acme Floors", "Pat Doe", "+13125550199")
        db.session.commit()
    logged_in_client.get("/console/customers")
    resp = logged_in_client.post("/console/customers/contacts", {"company": "Beta", "name": "Lee", "phone": "312-555-0199"})
    assert resp.status_code == 422
    assert "+13125550199 is already Pat Doe&#39;s number at Acme Floors; edit that contact instead" in resp.get_data(as_text=True)
    assert directory(app) == [("Acme Floors", "Pat Doe", "+13125550199")]


def test_supervisor_edits_and_removes_a_contact(app, logged_in_client):
    """Editing moves a contact to another company (the empty one goes); a taken number is refused; removing takes them out."""
    with app.app_context():
        pat = customers.upsert("Acme Floors", "Pat Doe", "+13125550199")
        customers.upsert("Beta Desks", "Lee Roe", "+13125550188")
        db.session.commit()
        pat_id = pat.id
    logged_in_client.get("/console/customers")
    resp = logged_in_client.post(
        f"/console/customers/contacts/{pat_id}", {"company": "Beta Desks", "name": "Pat Dee", "phone": "3125550177"}
    )
    assert resp.status_code == 303
    assert directory(app) == [("Beta Desks", "Lee Roe", "+13125550188"), ("Beta Desks", "Pat Dee", "+13125550177")]
    with app.app_context():
        assert [c.company for c in db.session.execute(select(Customer)).scalars()] == ["Beta Desks"]
    taken = logged_in_client.post(
        f"/console/customers/contacts/{pat_id}", {"company": "Beta Desks", "name": "Pat", "phone": "+13125550188"}
    )
    assert taken.status_code == 422
    html = taken.get_data(as_text=True)
    assert "+13125550188 is already Lee Roe&#39;s number at Beta Desks" in html
    edit_form = html.split(f'data-contact-id="{pat_id}"')[1].split("</tr>")[0]
    assert "<details open>" in edit_form and 'value="Pat"' in edit_form and 'value="+13125550188"' in edit_form
    bad = logged_in_client.post(f"/console/customers/contacts/{pat_id}", {"company": "Beta Desks", "name": "Pat", "phone": "12"})
    assert bad.status_code == 422 and "&#39;12&#39; is not a phone number" in bad.get_data(as_text=True)
    assert (
        logged_in_client.post("/console/customers/contacts/99999", {"company": "x", "name": "y", "phone": "+13125550100"}).status_code
        == 404
    )
    resp = logged_in_client.post(f"/console/customers/contacts/{pat_id}/remove", follow_redirects=True)
    assert "Removed Pat Dee (Beta Desks)." in resp.get_data(as_text=True)
    assert directory(app) == [("Beta Desks", "Lee Roe", "+13125550188")]
    assert logged_in_client.post(f"/console/customers/contacts/{pat_id}/remove").status_code == 404


def upload(browser, text: str | bytes, name: str = "contacts.csv"):
    """Post a CSV file to the import form."""
    data = text.encode() if isinstance(text, str) else text
    return browser.post("/console/customers/import", {"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def test_csv_import_all_or_nothing(app, logged_in_client):
    """A good file imports every row; a file with one bad line imports nothing and names the line."""
    logged_in_client.get("/console/customers")
    resp = upload(
        logged_in_client, "\ufeffcompany,name,phone\r\nAcme Floors,Pat Doe,(312) 555-0199\r\nAcme Floors,Lee Roe,+13125550188\r\n"
    )
    assert resp.status_code == 303
    assert "Imported 2 contact(s) from contacts.csv." in logged_in_client.get("/console/customers").get_data(as_text=True)
    assert directory(app) == [("Acme Floors", "Lee Roe", "+13125550188"), ("Acme Floors", "Pat Doe", "+13125550199")]
    bad = upload(logged_in_client, f"company,name,phone\n{XSS},Kim,+13125550111\nBeta,Lee,not a phone\nBeta,,+13125550122\n")
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    errors = html.split('data-testid="import-errors"')[1].split("</div>")[0]
    assert "<li>nothing imported:</li>" in errors
    assert "<li>line 3: &#39;not a phone&#39; is not a phone number</li>" in errors and "<li>line 4: no name</li>" in errors
    assert len(directory(app)) == 2 and "<script>" not in html


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("name,phone\nPat,+13125550199\n", "line 1: the header has no company column (it needs company,name,phone)"),
        (b"company,name,phone\nAcme,P\xe9t,+13125550199\n", "The file is not UTF-8 text (byte 25); save it as CSV UTF-8."),
    ],
)
def test_csv_import_explains_a_file_it_cannot_read(app, logged_in_client, content, message):
    """A file without the header, or not UTF-8, is refused with the reason."""
    logged_in_client.get("/console/customers")
    resp = upload(logged_in_client, content)
    assert resp.status_code == 422 and message in resp.get_data(as_text=True)
    assert directory(app) == []


def test_csv_import_without_a_file(app, logged_in_client):
    """Submitting the import form with no file says so."""
    logged_in_client.get("/console/customers")
    resp = logged_in_client.post("/console/customers/import", {}, content_type="multipart/form-data")
    assert resp.status_code == 422 and "Choose a CSV file to import." in resp.get_data(as_text=True)


def test_the_cli_import_follows_the_same_rules(app, tmp_path):
    """`flask customers import` refuses a file without the header as the console does."""
    path = tmp_path / "contacts.csv"
    path.write_text("name,phone\nPat,+13125550199\n")
    result = app.test_cli_runner().invoke(args=["customers", "import", str(path)])
    assert result.exit_code == 1 and "line 1: the header has no company column" in result.output


def test_agents_read_the_directory_but_cannot_change_it(app, agent_browser):
    """An agent sees the companies and contacts, no forms, and every change is 403."""
    with app.app_context():
        pat = customers.upsert("Acme Floors", "Pat Doe", "+13125550199")
        db.session.commit()
        pat_id = pat.id
    html = agent_browser.get("/console/customers").get_data(as_text=True)
    assert "Acme Floors" in html and "Pat Doe" in html and "Only a supervisor can change it." in html
    assert "add-contact-form" not in html and "import-form" not in html and "edit-contact-form" not in html
    for path, data in (
        ("/console/customers/contacts", {"company": "Beta", "name": "Lee", "phone": "+13125550188"}),
        (f"/console/customers/contacts/{pat_id}", {"company": "Beta", "name": "Pat", "phone": "+13125550199"}),
        (f"/console/customers/contacts/{pat_id}/remove", {}),
    ):
        resp = agent_browser.post(path, data)
        assert resp.status_code == 403 and "Only a supervisor can do this." in resp.get_data(as_text=True)
    assert upload(agent_browser, "company,name,phone\nBeta,Lee,+13125550188\n").status_code == 403
    assert directory(app) == [("Acme Floors", "Pat Doe", "+13125550199")]


def test_directory_search(app, logged_in_client):
    """Search finds a company by its name, a contact's name or phone digits."""
    with app.app_context():
        customers.upsert("Acme Floors", "Pat Doe", "+13125550199")
        customers.upsert("Beta Desks", "Lee Roe", "+13125550188")
        customers.upsert("100% Chairs", "Kim Poe", "+13125550177")
        db.session.commit()
    for q, expected in (("acme", ["Acme Floors"]), ("lee", ["Beta Desks"]), ("0177", ["100% Chairs"]), ("%", ["100% Chairs"]), ("", None)):
        html = logged_in_client.get("/console/customers", query_string={"q": q}).get_data(as_text=True)
        found = re.findall(r'data-testid="company-name">([^<]+)<', html)
        assert found == (expected or ["100% Chairs", "Acme Floors", "Beta Desks"]), q


# --- company and language on the log ---------------------------------------------------


def test_company_and_language_on_the_calls_list_call_and_ticket(app, caller, logged_in_client, at):
    """A Spanish-speaking caller from a listed company: both are on the log, the call and the ticket, escaped."""
    with app.app_context():
        customers.upsert(XSS, "Pat", "+13125550199")
        db.session.commit()
    at("2026-12-05 10:00")  # Saturday: a ticket and a voicemail, no routing
    call = caller("+13125550199").dial().press("9").press("2").silence()
    call.hang_up()
    english = caller("+13125550111").dial().press("1").silence()
    english.hang_up()
    html = logged_in_client.get("/console/calls").get_data(as_text=True)
    spanish_row = html.split(f'data-call-sid="{call.call_sid}"')[1].split("</tr>")[0]
    assert f'data-testid="caller-company">{XSS_ESCAPED}<' in spanish_row
    assert 'data-testid="caller-language" data-language="es">Spanish<' in spanish_row
    english_row = html.split(f'data-call-sid="{english.call_sid}"')[1].split("</tr>")[0]
    assert "caller-company" not in english_row and "caller-language" not in english_row
    detail = logged_in_client.get(f"/console/calls/{call.call_sid}").get_data(as_text=True)
    assert f'data-testid="caller-company">{XSS_ESCAPED}<' in detail
    assert 'data-testid="caller-language" data-language="es">Spanish<' in detail
    ticket = logged_in_client.get("/console/tickets/1001").get_data(as_text=True)
    assert f'data-testid="ticket-company">{XSS_ESCAPED}<' in ticket
    assert 'data-testid="ticket-language" data-language="es"><span class="tag warn">Spanish</span>' in ticket
    assert 'data-testid="ticket-callbacks"' not in ticket
    plain = logged_in_client.get("/console/tickets/1002").get_data(as_text=True)
    assert "ticket-company" not in plain and 'data-testid="ticket-language" data-language="en">English<' in plain
    for page in (html, detail, ticket):
        assert "<script>alert" not in page


# --- the API ---------------------------------------------------------------------------


def test_api_lists_the_callback_queue(app, queue, api, agent_token):
    """Any token reads the queue in serving order, with the directory's names; the first is next."""
    resp = api(agent_token).get("/api/callbacks")
    assert resp.status_code == 200
    waiting = resp.json["waiting"]
    assert [(w["id"], w["position"], w["next"], w["level"]) for w in waiting] == [
        (queue["critical"], 1, True, "critical"),
        (queue["technical"], 2, False, "technical"),
        (queue["basic"], 3, False, "basic"),
    ]
    first = waiting[0]
    assert (first["ticket"], first["phone"], first["company"], first["contact"]) == (1002, "+13125550303", "Acme Floors", "Pat Doe")
    assert (first["state"], first["attempts"], first["last_error"], first["agent"]) == ("waiting", 0, None, None)
    assert first["requested_at"] == "2026-12-01T16:05:00Z" and first["language"] == "en"
    assert resp.json["recent"] == []


def test_api_starts_a_callback(app, queue, api, api_token, no_network):
    """A supervisor's token rings the named agent; the answer is the request, now calling."""
    no_network.add(responses.POST, CALLS, **TWILIO_OK)
    resp = api(api_token).post(f"/api/callbacks/{queue['technical']}/start", json={"agent": "Ben"})
    assert resp.status_code == 200, resp.json
    assert (resp.json["state"], resp.json["attempts"], resp.json["agent"]["name"]) == ("calling", 1, "Ben")
    assert resp.json["callback_call_sid"] == "CA" + "e" * 32
    assert parse_qs(no_network.calls[-1].request.body)["To"] == [BEN]
    again = api(api_token).post(f"/api/callbacks/{queue['technical']}/start", json={"agent": "Ben"})
    assert again.status_code == 409 and again.json["error"]["message"] == f"Callback {queue['technical']} is calling, not waiting."


def test_api_callback_start_errors(app, queue, api, api_token, agent_token, no_network):
    """Role, body, unknown request or agent, and Twilio's failure each get their own answer; nothing rings by mistake."""
    path = f"/api/callbacks/{queue['basic']}/start"
    assert api(None).post(path, json={"agent": "Ben"}).status_code == 401
    forbidden = api(agent_token).post(path, json={"agent": "Ben"})
    assert forbidden.status_code == 403 and forbidden.json["error"]["message"] == "Only a supervisor's token can do this."
    sup = api(api_token)
    assert sup.post(path, data="agent=Ben").status_code == 400
    assert sup.post("/api/callbacks/99999/start", json={"agent": "Ben"}).status_code == 404
    for body, message in (
        ({}, 'Name the agent who calls back: {"agent": "Ben"}.'),
        ({"agent": "Nobody"}, "agent 'Nobody' is not on the roster; give a staff name or id."),
        ({"agent": True}, "agent True is not on the roster; give a staff name or id."),
        ({"agent": "Ben", "when": "now"}, "Unknown field(s) when; send only agent."),
    ):
        resp = sup.post(path, json=body)
        assert (resp.status_code, resp.json["error"]["message"]) == (422, message)
    assert len(no_network.calls) == 0
    no_network.add(responses.POST, CALLS, **TWILIO_DOWN)
    down = sup.post(path, json={"agent": staff_id(app, "Cara")})
    assert down.status_code == 502 and down.json["error"]["message"].startswith("Twilio could not ring Cara:")
    kept = entry(app, queue["basic"])
    assert (kept.state, kept.attempts) == ("waiting", 1) and kept.last_error
    listed = sup.get("/api/callbacks").json["waiting"]
    assert [w["last_error"] is not None for w in listed if w["id"] == queue["basic"]] == [True]


def test_api_lists_the_directory(app, api, agent_token):
    """Any token reads the companies and their contacts; q searches; an overlong q is 422."""
    with app.app_context():
        customers.upsert("Acme Floors", "Pat Doe", "+13125550199")
        customers.upsert("Beta Desks", "Lee Roe", "+13125550188")
        db.session.commit()
    a = api(agent_token)
    resp = a.get("/api/customers")
    assert resp.status_code == 200
    assert [(c["company"], [(p["name"], p["phone"]) for p in c["contacts"]]) for c in resp.json["customers"]] == [
        ("Acme Floors", [("Pat Doe", "+13125550199")]),
        ("Beta Desks", [("Lee Roe", "+13125550188")]),
    ]
    assert [c["company"] for c in a.get("/api/customers?q=0188").json["customers"]] == ["Beta Desks"]
    assert a.get("/api/customers", query_string={"q": "x" * 101}).status_code == 422
    assert api(None).get("/api/customers").status_code == 401
    assert api(None).get("/api/callbacks").status_code == 401


def test_openapi_describes_the_new_endpoints(app, api, api_token):
    """The spec names the callback and directory endpoints with their errors."""
    spec = api(api_token).get("/api/openapi.json").json
    start = spec["paths"]["/callbacks/{id}/start"]["post"]
    assert set(start["responses"]) == {"200", "400", "401", "403", "404", "409", "422", "502"}
    assert spec["paths"]["/callbacks"]["get"]["responses"]["200"]
    assert spec["paths"]["/customers"]["get"]["parameters"][0]["name"] == "q"
    assert spec["components"]["schemas"]["CallbackStart"]["required"] == ["agent"]


# --- generated bad input ---------------------------------------------------------------


def test_new_pages_and_forms_take_any_input(app, queue, logged_in_client, api, api_token):
    """Any query, form field, upload or JSON body on the new pages and endpoints: a page or a clean 4xx, never a 500."""
    from hypothesis import given
    from hypothesis import strategies as st

    from tests.test_fuzz_console import FUZZ, JSON, ODD, assert_clean, query

    with app.app_context():
        customers.upsert("Acme Floors", "Lee Roe", "+13125550188")
        db.session.commit()
    logged_in_client.get("/console/customers")
    client = api(api_token)
    forms = st.sampled_from(
        [
            ("/console/customers/contacts", ["company", "name", "phone"]),
            ("/console/customers/contacts/2", ["company", "name", "phone"]),
            ("/console/customers/contacts/99999999999", ["company", "name", "phone"]),
            ("/console/customers/contacts/99999/remove", []),
            (f"/console/callbacks/{queue['basic']}/start", ["agent"]),
            ("/console/callbacks/99999999999/start", ["agent"]),
        ]
    )
    pages = st.sampled_from(["/console/customers", "/console/callbacks", "/api/customers", "/api/callbacks"])

    @FUZZ
    @given(form=forms, data=st.data(), page=pages, args=query, body=JSON, upload=st.one_of(st.binary(max_size=200), ODD.map(str.encode)))
    def check(form, data, page, args, body, upload):
        path, fields = form
        assert_clean(logged_in_client.post(path, data.draw(st.fixed_dictionaries({}, optional={f: ODD for f in fields}))))
        headers = client.headers if page.startswith("/api/") else {}
        q = data.draw(ODD)
        assert_clean(logged_in_client.client.get(page, query_string={**args, "q": q}, headers=headers))
        assert_clean(client.post(f"/api/callbacks/{queue['technical']}/start", json=body))
        resp = logged_in_client.post("/console/customers/import", {"file": (io.BytesIO(b"company,name,phone\n" + upload), "x.csv")})
        assert_clean(resp)

    check()
