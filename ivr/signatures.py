"""Twilio request signatures: no unsigned request is ever served."""

from __future__ import annotations

import functools
import logging

from flask import abort, current_app, request
from twilio.request_validator import RequestValidator

log = logging.getLogger(__name__)


def signed_url() -> str:
    """Rebuild the URL Twilio signed: the public base when configured, else the request's."""
    base = current_app.config.get("PUBLIC_BASE_URL")
    if base:
        query = request.query_string.decode("latin-1")
        return base.rstrip("/") + request.path + (f"?{query}" if query else "")
    return request.url


def is_valid() -> bool:
    """Tell whether this request carries a good signature from our account."""
    token = current_app.config.get("TWILIO_AUTH_TOKEN")
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature:
        return False
    return RequestValidator(token).validate(signed_url(), request.form, signature)


def twilio_signed(view):
    """Refuse with 403, before anything is read or written, unless Twilio signed the request."""

    @functools.wraps(view)
    def checked(*args, **kwargs):
        if not is_valid():
            log.warning("refused unsigned or badly signed request to %s", request.path)
            abort(403)
        return view(*args, **kwargs)

    return checked
