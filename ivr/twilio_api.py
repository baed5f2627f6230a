"""The line's one door to Twilio's REST API: the client, and recording media downloads.

Everything that calls Twilio goes through here, so credentials and timeouts
are set in one place and tests mock one thing (`responses`, since the twilio
library uses `requests` too).
"""

from __future__ import annotations

import posixpath
from urllib.parse import urlsplit, urlunsplit

import requests
from flask import current_app
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

DEFAULT_TIMEOUT = 10.0


class MediaError(Exception):
    """Recording media could not be downloaded; the message says why, briefly."""


class MediaNotReady(MediaError):
    """Twilio does not have the media (yet): HTTP 404."""


def _timeout() -> float:
    """Give TWILIO_TIMEOUT in seconds."""
    return float(current_app.config.get("TWILIO_TIMEOUT", DEFAULT_TIMEOUT))


def _credentials() -> tuple[str, str]:
    """Give (account sid, auth token)."""
    return current_app.config.get("TWILIO_ACCOUNT_SID", ""), current_app.config.get("TWILIO_AUTH_TOKEN", "")


def rest_client() -> Client:
    """Build a Twilio REST client from the app's credentials, with a timeout."""
    sid, token = _credentials()
    # The library's default HTTP client has no timeout: one stalled request would hang a job forever.
    return Client(sid, token, http_client=TwilioHttpClient(timeout=_timeout()))


def media_url(url: str) -> str:
    """Give the download URL of a recording: `.mp3` appended unless it names a format already."""
    parts = urlsplit(url)
    if posixpath.splitext(parts.path)[1]:
        return url
    return urlunsplit(parts._replace(path=parts.path + ".mp3"))


def _check_host(url: str) -> None:
    """Refuse to send the account's credentials anywhere but Twilio, over TLS."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not (host == "twilio.com" or host.endswith(".twilio.com")):
        raise MediaError(f"refused: credentials go only to https://*.twilio.com, not {parts.scheme}://{host}")


def fetch_media(url: str) -> bytes:
    """Download a recording's audio; raise MediaNotReady on 404, MediaError on any other failure."""
    url = media_url(url)
    _check_host(url)
    timeout = _timeout()
    try:
        resp = requests.get(url, auth=_credentials(), timeout=timeout)
    except requests.Timeout:
        raise MediaError(f"timed out after {timeout:g} s") from None
    except requests.ConnectionError as exc:
        raise MediaError(f"could not connect: {type(exc).__name__}") from None
    except requests.RequestException as exc:
        raise MediaError(f"request failed: {type(exc).__name__}") from None
    if resp.status_code == 404:
        raise MediaNotReady("not ready yet")
    if resp.status_code in (401, 403):
        raise MediaError(f"HTTP {resp.status_code}: check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
    if resp.status_code != 200:
        raise MediaError(f"HTTP {resp.status_code} from Twilio")
    if not resp.content:
        # An empty file archived as if complete would be worse than none.
        raise MediaError("Twilio sent an empty file")
    return resp.content
