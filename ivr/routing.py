"""Ringing the on-duty staff for a call's level."""

from __future__ import annotations

from datetime import datetime

from .flows import Flow, Node
from .models import Call, Ticket
from .twiml import Dial

CONNECTING = "Please hold while we connect you to our team."


def dial_for(flow: Flow, call: Call, ticket: Ticket | None, node: Node, now: datetime) -> Dial | None:
    """Build the Dial that rings who can take this call, or None when nobody can."""
    # Staff and shifts arrive with the routing work; until then nobody is on duty
    # and every call in hours goes on to the node's no_answer path (voicemail).
    return None
