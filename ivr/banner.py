"""What `make run` prints before the service starts: where to point Twilio, how to try it."""

from __future__ import annotations

import os
import sys


def banner(port: int) -> str:
    """Describe the webhook URLs and how to make a test call."""
    base = os.environ.get("PUBLIC_BASE_URL", "").rstrip("/") or f"http://127.0.0.1:{port}"
    token = "set" if os.environ.get("TWILIO_AUTH_TOKEN") else "NOT SET: Twilio's webhooks will be refused (403)"
    return f"""
Support line on {base}   (TWILIO_AUTH_TOKEN {token})

Twilio console > Phone Numbers > your number > Voice configuration:
  A call comes in          Webhook  POST {base}/voice/incoming
  Primary handler fails    Webhook  POST {base}/voice/fallback
  Call status changes      POST {base}/voice/status

Try it without a phone (in another terminal):
  .venv/bin/flask --app wsgi call --keys 2 --at "2026-12-01 10:00"

The console (calls, tickets, roster, test calls): {base}/console/
  first add an account: .venv/bin/flask --app wsgi users add you@example.com --role supervisor
"""


if __name__ == "__main__":
    print(banner(int(sys.argv[1]) if len(sys.argv) > 1 else 8000))
