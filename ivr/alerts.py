"""Texting the on-call engineers when a Critical ticket is opened after hours."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from . import texts
from .flows import Flow
from .models import Call, TextMessage, Ticket, db


def console_link(call: Call) -> str:
    """Give the supervisor console's page for this call."""
    base = current_app.config.get("PUBLIC_BASE_URL", "").rstrip("/")
    return f"{base}/console/calls/{call.call_sid}"


def after_hours(flow: Flow, call: Call, ticket: Ticket | None) -> None:
    """Text the on-call engineers about a Critical ticket, once per ticket, off the caller's path."""
    if ticket is None or ticket.level != "critical" or not flow.on_call_engineers or call.is_test:
        return  # a simulated call wakes nobody
    already = db.session.execute(
        select(TextMessage.id).where(TextMessage.ticket_id == ticket.id, TextMessage.purpose == "on_call_alert").limit(1)
    ).first()
    if already:
        return  # a repeated webhook: the engineers were told already
    texts.alert_on_call(flow, call, ticket, console_link(call))
