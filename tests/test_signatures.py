"""Twilio signatures: only requests signed for this URL, these parameters and our token are served."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from ivr.models import Call, CallEvent, Recording, Ticket, db
from tests.conftest import TOKEN, make_app

LOCAL = "http://localhost"
PUBLIC = "https://ivr.example.com"


def twilio_params(**extra) -> dict:
    """Give the parameters Twilio sends when a call rings the line."""
    params = {
        "CallSid": "CA" + "1" * 32,
        "AccountSid": "AC" + "0" * 32,
        "From": "+13125550199",
        "To": "+16462019664",
        "CallStatus": "ringing",
        "ApiVersion": "2010-04-01",
        "Direction": "inbound",
    }
    params.update(extra)
    return params


def sign(url: str, params: dict, token: str = TOKEN) -> dict:
    """Give the X-Twilio-Signature header Twilio would send for this URL and these parameters."""
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, params)}


def rows(app) -> dict[str, int]:
    """Count the rows of the call log's tables."""
    with app.app_context():
        counts = {m.__tablename__: db.session.scalar(select(func.count()).select_from(m)) for m in (Call, CallEvent, Ticket, Recording)}
        db.session.remove()
    return counts


NOTHING = {"calls": 0, "call_events": 0, "tickets": 0, "recordings": 0}


@pytest.fixture
def app_with(app, tmp_path):
    """Build further apps on the emptied test database: `app_with(PUBLIC_BASE_URL=...)`."""
    built = []

    def build(**overrides):
        other = make_app(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path, **overrides)
        built.append(other)
        return other

    yield build
    for other in built:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


# -- how the tests sign --------------------------------------------------------------------------


def test_compute_signature_matches_twilio_known_answer():
    """Sign Twilio's documented example to its documented signature."""
    # twilio-python's own test uses +14158675309; ../shared/twilio-voice.md misquotes it as ...5310,
    # which signs to GvWf1cFY/Q7PnoempGyD5oXAezc= instead.
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    validator = RequestValidator("12345")
    assert validator.compute_signature(url, params) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert validator.validate(url, params, "RSOYDt4T1cUTdK1PDd93/VVr8B8=") is True
    assert validator.validate(url, {**params, "Digits": "1235"}, "RSOYDt4T1cUTdK1PDd93/VVr8B8=") is False


# -- the app: refused requests write nothing -----------------------------------------------------


def test_correctly_signed_request_is_served_and_logged(app, client):
    """Serve a request signed for its own URL and parameters, and log the call."""
    params = twilio_params()
    resp = client.post("/voice/incoming", data=params, headers=sign(f"{LOCAL}/voice/incoming", params))
    assert resp.status_code == 200
    assert resp.mimetype in ("application/xml", "text/xml")
    counts = rows(app)
    assert counts["calls"] == 1
    assert counts["call_events"] >= 1


def test_unsigned_request_is_refused_and_writes_nothing(app, client):
    """Refuse with 403 a request that carries no signature."""
    resp = client.post("/voice/incoming", data=twilio_params())
    assert resp.status_code == 403
    assert rows(app) == NOTHING


def test_empty_signature_is_refused_and_writes_nothing(app, client):
    """Refuse with 403 a request whose signature header is empty."""
    resp = client.post("/voice/incoming", data=twilio_params(), headers={"X-Twilio-Signature": ""})
    assert resp.status_code == 403
    assert rows(app) == NOTHING


def test_wrong_signature_is_refused_and_writes_nothing(app, client):
    """Refuse with 403 a request whose signature is not the right one."""
    resp = client.post("/voice/incoming", data=twilio_params(), headers={"X-Twilio-Signature": "RSOYDt4T1cUTdK1PDd93/VVr8B8="})
    assert resp.status_code == 403
    assert rows(app) == NOTHING


def test_signature_with_another_token_is_refused_and_writes_nothing(app, client):
    """Refuse with 403 a request signed with some other account's token."""
    params = twilio_params()
    resp = client.post("/voice/incoming", data=params, headers=sign(f"{LOCAL}/voice/incoming", params, token="not-our-token"))
    assert resp.status_code == 403
    assert rows(app) == NOTHING


def test_signature_for_another_url_is_refused_and_writes_nothing(app, client):
    """Refuse with 403 a signature computed for /voice/status sent to /voice/incoming."""
    params = twilio_params()
    resp = client.post("/voice/incoming", data=params, headers=sign(f"{LOCAL}/voice/status", params))
    assert resp.status_code == 403
    assert rows(app) == NOTHING


def test_signature_for_another_query_is_refused_and_writes_nothing(app, client):
    """Refuse with 403 a signature computed for the same path with another query string."""
    params = twilio_params()
    resp = client.post("/voice/incoming?x=1", data=params, headers=sign(f"{LOCAL}/voice/incoming?x=2", params))
    assert resp.status_code == 403
    assert rows(app) == NOTHING


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda p: p.update(From="+15555550100"), id="changed-value"),
        pytest.param(lambda p: p.update(Digits="3"), id="added-param"),
        pytest.param(lambda p: p.pop("Direction"), id="removed-param"),
    ],
)
def test_signature_for_other_parameters_is_refused_and_writes_nothing(app, client, tamper):
    """Refuse with 403 a request whose parameters changed after they were signed."""
    signed = twilio_params()
    headers = sign(f"{LOCAL}/voice/incoming", signed)
    sent = dict(signed)
    tamper(sent)
    assert sent != signed
    resp = client.post("/voice/incoming", data=sent, headers=headers)
    assert resp.status_code == 403
    assert rows(app) == NOTHING


def test_badly_signed_status_callback_is_refused_and_writes_nothing(app, client):
    """Refuse with 403 a status callback signed for /voice/incoming."""
    params = twilio_params(CallStatus="completed", CallDuration="60", SequenceNumber="1")
    resp = client.post("/voice/status", data=params, headers=sign(f"{LOCAL}/voice/incoming", params))
    assert resp.status_code == 403
    assert rows(app) == NOTHING


# -- the URL that was signed ---------------------------------------------------------------------


def test_public_base_url_is_the_signed_url(app_with):
    """Accept a signature for PUBLIC_BASE_URL and refuse one for the local URL when a public base is set."""
    public = app_with(PUBLIC_BASE_URL=PUBLIC)
    client = public.test_client()
    params = twilio_params()

    refused = client.post("/voice/incoming", data=params, headers=sign(f"{LOCAL}/voice/incoming", params))
    assert refused.status_code == 403
    assert rows(public) == NOTHING

    accepted = client.post("/voice/incoming", data=params, headers=sign(f"{PUBLIC}/voice/incoming", params))
    assert accepted.status_code == 200
    assert rows(public)["calls"] == 1


def test_public_base_url_with_trailing_slash_keeps_the_query(app_with):
    """Sign a public base given with a trailing slash as base + path + query."""
    public = app_with(PUBLIC_BASE_URL=PUBLIC + "/")
    params = twilio_params()
    resp = public.test_client().post(
        "/voice/node/greeting?from=test", data=params, headers=sign(f"{PUBLIC}/voice/node/greeting?from=test", params)
    )
    assert resp.status_code == 200


def test_trusted_proxy_headers_give_the_signed_url(app_with):
    """Accept, behind a trusted proxy, a signature for the https public URL the proxy reports."""
    proxied = app_with(TRUST_PROXY=True)
    params = twilio_params()
    headers = {**sign(f"{PUBLIC}/voice/incoming", params), "X-Forwarded-Proto": "https", "X-Forwarded-Host": "ivr.example.com"}
    resp = proxied.test_client().post("/voice/incoming", data=params, headers=headers)
    assert resp.status_code == 200
    assert rows(proxied)["calls"] == 1


def test_proxy_headers_are_ignored_unless_trusted(app, client):
    """Refuse a signature for the forwarded URL when TRUST_PROXY is off, so a caller cannot pick the URL."""
    params = twilio_params()
    headers = {**sign(f"{PUBLIC}/voice/incoming", params), "X-Forwarded-Proto": "https", "X-Forwarded-Host": "ivr.example.com"}
    resp = client.post("/voice/incoming", data=params, headers=headers)
    assert resp.status_code == 403
    assert rows(app) == NOTHING


# -- no token, no service ------------------------------------------------------------------------


def webhook_paths(app) -> list[str]:
    """Give a concrete path for every POST route of the voice webhooks."""
    urls = app.url_map.bind("localhost")
    rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("voice.") and "POST" in r.methods]
    # 1 fits both <node> and <int:...> arguments; the signature is refused before the view looks at it.
    return sorted({urls.build(r.endpoint, dict.fromkeys(r.arguments, 1), method="POST") for r in rules})


@pytest.mark.parametrize("signing_token", [TOKEN, ""], ids=["signed-with-some-token", "signed-with-empty-token"])
def test_without_auth_token_every_webhook_is_refused(app_with, signing_token):
    """Refuse every webhook with 403 when no TWILIO_AUTH_TOKEN is configured, however it is signed."""
    tokenless = app_with(TWILIO_AUTH_TOKEN="")
    client = tokenless.test_client()
    paths = webhook_paths(tokenless)
    assert {"/voice/incoming", "/voice/status", "/voice/gather/1", "/voice/recording-status", "/voice/transcription"} <= set(paths)
    params = twilio_params(RecordingSid="RE" + "2" * 32, Digits="1")
    for path in paths:
        resp = client.post(path, data=params, headers=sign(f"{LOCAL}{path}", params, token=signing_token))
        assert resp.status_code == 403, path
    assert rows(tokenless) == NOTHING
