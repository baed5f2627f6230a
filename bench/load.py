"""Signed, Twilio-shaped webhook files for wrk, and running wrk over them.

Every request carries its own X-Twilio-Signature, computed here with Twilio's
own `RequestValidator`, because the signature covers the full URL and every
parameter and wrk's Lua cannot compute HMAC-SHA1 cheaply.
"""

from __future__ import annotations

import math
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

SCRIPT = Path(__file__).with_name("webhooks.lua")
ACCOUNT_SID = "AC" + "0" * 32
LINE_NUMBER = "+16462019664"
# Steps of a whole call, in the order Twilio sends them.
CALL_STEPS = ("incoming", "level", "silence", "dial_action", "status")
# Requests written per wrk run are sized for this rate with room to spare, so
# no connection runs out before the run ends (a run that does is flagged).
MAX_RATE = 5000
HEADROOM = 2.0


def _params(call_sid: str, from_: str, **extra: str) -> dict[str, str]:
    """Give what Twilio posts for the caller's leg of a call."""
    p = {
        "CallSid": call_sid,
        "AccountSid": ACCOUNT_SID,
        "From": from_,
        "To": LINE_NUMBER,
        "CallStatus": "in-progress",
        "ApiVersion": "2010-04-01",
        "Direction": "inbound",
    }
    p.update(extra)
    return p


def _caller(n: int) -> str:
    """Give a distinct, valid US caller ID."""
    return f"+1312{2000000 + n % 8000000:07d}"


@dataclass
class Signer:
    """Signs requests for one server address."""

    base_url: str
    token: str
    validator: RequestValidator = field(init=False)

    def __post_init__(self) -> None:
        self.validator = RequestValidator(self.token)

    def line(self, step: str, path: str, params: dict[str, str], expect: str) -> str:
        """Give one request as a line of the wrk script's file."""
        signature = self.validator.compute_signature(self.base_url + path, params)
        return "\t".join((step, path, signature, expect, urlencode(params))) + "\n"


def per_thread(duration: float, connections: int, steps: int = 1) -> int:
    """Give how many calls each connection needs so none runs out before `duration`."""
    return math.ceil(MAX_RATE * duration * HEADROOM / connections / steps)


def write_incoming(folder: Path, signer: Signer, connections: int, count: int) -> None:
    """Write `count` new-call webhooks per connection, each with its own CallSid."""
    _fresh(folder)
    n = 0
    for thread in range(connections):
        with open(folder / f"{thread}.tsv", "w") as out:
            for _ in range(count):
                sid = "CA" + secrets.token_hex(16)
                out.write(signer.line("incoming", "/voice/incoming", _params(sid, _caller(n), CallStatus="ringing"), "<Gather"))
                n += 1


def write_calls(folder: Path, signer: Signer, connections: int, count: int) -> None:
    """Write `count` whole calls per connection, each call's five webhooks in order.

    Levels take turns (1, 2, 3), so every routing mode is exercised: Basic and
    Technical ring one by one, Critical rings everyone, then the rest again.
    """
    _fresh(folder)
    n = 0
    for thread in range(connections):
        with open(folder / f"{thread}.tsv", "w") as out:
            for _ in range(count):
                sid, caller, key = "CA" + secrets.token_hex(16), _caller(n), str(n % 3 + 1)
                out.write(signer.line("incoming", "/voice/incoming", _params(sid, caller, CallStatus="ringing"), "<Gather"))
                out.write(signer.line("level", "/voice/gather/choose_level", _params(sid, caller, Digits=key), "<Gather"))
                # Silence at "hear your ticket again" goes to the hours check and routing.
                out.write(signer.line("silence", "/voice/gather/repeat_ticket", _params(sid, caller), "<Dial"))
                dial = {"DialCallStatus": "no-answer", "DialCallDuration": "0", "DialBridged": "false"}
                # Nobody answered: Critical rings the rest one by one, the others go to voicemail.
                again = "<Dial" if key == "3" else "<Record"
                out.write(signer.line("dial_action", "/voice/dialed/connect", _params(sid, caller, **dial), again))
                done = _params(sid, caller, CallStatus="completed", CallDuration="45", SequenceNumber="3")
                out.write(signer.line("status", "/voice/status", done, "<Response"))
                n += 1


def _fresh(folder: Path) -> None:
    """Empty a folder of request files."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)


@dataclass
class Result:
    """What one wrk run measured."""

    duration_s: float
    requests: int
    errors: dict[str, int]
    p50_ms: float
    p99_ms: float
    max_ms: float
    steps: dict[str, dict[str, float]]
    bad: dict[str, int]
    samples: list[str]
    exhausted: int
    # CPU used per request by the gunicorn workers and by the database server.
    cpu_ms: float = float("nan")
    db_cpu_ms: float = float("nan")

    @property
    def rps(self) -> float:
        """Give completed requests per second."""
        return self.requests / self.duration_s if self.duration_s else 0.0


def percentile(sorted_values: list[int], pct: float) -> float:
    """Give the nearest-rank percentile of sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def run_wrk(url: str, folder: Path, connections: int, duration: float, check: bool, out: Path) -> Result:
    """Drive one server with wrk, one thread per connection, and read back what it measured."""
    for stale in out.parent.glob(out.name + ".*"):
        stale.unlink()
    env = dict(os.environ, BENCH_DIR=str(folder), BENCH_CHECK="1" if check else "0", BENCH_OUT=str(out))
    cmd = [
        "wrk",
        f"-t{connections}",
        f"-c{connections}",
        f"-d{duration:g}s",
        "--timeout",
        "10s",
        "-s",
        str(SCRIPT),
        url,
    ]
    # Bounded: wrk stops itself after `duration`; the timeout is a last guard.
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, timeout=duration + 120)
    return _read(out)


def _read(path: Path) -> Result:
    """Parse what the wrk script wrote: the summary, and each thread's latencies."""
    lat: dict[str, list[int]] = {}
    bad: dict[str, int] = {}
    samples: list[str] = []
    exhausted = 0
    for line in path.read_text().splitlines():
        kind, *rest = line.split("\t")
        if kind == "summary":
            duration, requests, connect, read, write, status, timeout = map(int, rest)
            errors = {"connect": connect, "read": read, "write": write, "status": status, "timeout": timeout}
        elif kind == "wrk":
            p50, p99, top = map(int, rest)
    for thread_file in sorted(path.parent.glob(path.name + ".*")):
        for line in thread_file.read_text().splitlines():
            kind, *rest = line.split("\t")
            if kind == "lat":
                lat.setdefault(rest[0], []).append(int(float(rest[1])))
            elif kind == "bad":
                bad[rest[0]] = bad.get(rest[0], 0) + 1
            elif kind == "sample":
                samples.append(rest[0])
            elif kind == "exhausted":
                exhausted += 1
        thread_file.unlink()
    steps = {}
    for step, values in lat.items():
        values.sort()
        steps[step] = {"n": len(values), "p50_ms": percentile(values, 50) / 1000, "p99_ms": percentile(values, 99) / 1000}
    return Result(duration / 1e6, requests, errors, p50 / 1000, p99 / 1000, top / 1000, steps, bad, samples, exhausted)
