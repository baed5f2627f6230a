"""The supervisor console: server-rendered pages over the call log, tickets and roster.

Everything under /console needs a signed-in account. The stylesheet and the
test-call script are public code, served apart under /assets/console so the
sign-in page can use them.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates")
assets = Blueprint("console_assets", __name__, url_prefix="/assets/console", static_folder="static", static_url_path="")

from . import views  # noqa: E402,F401  (the views attach themselves to bp)
