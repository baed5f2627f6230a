"""The machine a run was made on, and docs/benchmarks.md, whose generated sections each run replaces."""

from __future__ import annotations

import os
import platform
import re
import sqlite3
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
PACKAGES = ("Flask", "Werkzeug", "SQLAlchemy", "Flask-SQLAlchemy", "twilio", "gunicorn", "psycopg", "phonenumbers")
DOC_HEAD = """# Benchmarks

`make bench` produces the tables between the `bench:` markers below and
rewrites only those; the text outside them is written by hand and says what
the numbers mean. See the README's "Benchmarks" section for how to run it.
"""


def _cpu_model() -> str:
    """Give the processor's model name from /proc/cpuinfo."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    """Give the machine's memory in GiB from /proc/meminfo."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return float("nan")


def _version(cmd: list[str]) -> str:
    """Give the first line a tool prints about its version, or "absent"."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "absent"
    text = (done.stdout or done.stderr).strip().splitlines()
    return text[0] if text else "absent"


def machine(pg_version: str = "") -> list[tuple[str, str]]:
    """Describe the machine and software a run used."""
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    wrk = _version(["wrk", "--version"])
    return [
        ("date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("cpu", f"{_cpu_model()}, {os.cpu_count()} cores (nproc)"),
        ("memory", f"{_memory_gib():.1f} GiB"),
        ("kernel", platform.release()),
        ("python", platform.python_version()),
        ("packages", ", ".join(versions)),
        ("sqlite", sqlite3.sqlite_version),
        ("postgresql", pg_version or "not used"),
        ("wrk", re.sub(r"\s+Copyright.*", "", wrk)),
    ]


def machine_table(facts: list[tuple[str, str]]) -> str:
    """Render the machine facts as a Markdown table."""
    rows = ["| what | value |", "| --- | --- |"]
    rows += [f"| {k} | {v} |" for k, v in facts]
    return "\n".join(rows)


def table(header: list[str], rows: list[list[str]]) -> str:
    """Render a Markdown table."""
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def write_section(name: str, body: str) -> Path:
    """Replace one generated section of docs/benchmarks.md, adding it (and the file) if missing."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{body.strip()}\n{end}"
    text = DOC.read_text() if DOC.exists() else DOC_HEAD
    if start in text and end in text:
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1]
        text = before + block + after
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text)
    return DOC
