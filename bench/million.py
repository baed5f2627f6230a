"""The call log at a million calls: console pages, lookups and the CSV export, timed through the app.

Each database is measured in a process of its own, signed in to the console
as a supervisor through the login form, with Flask's test client: what is
timed is the server's whole work for a page (queries, Python, template), not
a network. Every page is fetched once to warm up, then `REPEAT` times; the
median is reported with the number of SQL statements it ran, and the plan of
its slowest statement is kept for docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path

from . import generate, report, servers

REPEAT = 5
EMAIL = "bench-supervisor@example.com"
PASSWORD = "bench-supervisor-password-0123"
TARGET_MS = 100.0
TARGET_CSV_MIB = 150.0
_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
_AFTER = re.compile(r"after=([0-9]+_[0-9]+)")


@dataclass
class Timing:
    """One page, timed."""

    label: str
    path: str
    status: int
    median_ms: float
    max_ms: float
    statements: int
    slowest_sql_ms: float
    plan: str = ""
    slowest_sql: str = ""


@dataclass
class Export:
    """The CSV export of every call, timed and weighed."""

    rows: int
    megabytes: float
    seconds: float
    peak_mib: float
    before_mib: float


@dataclass
class Measured:
    """Everything measured on one database."""

    database: str
    counts: dict[str, int]
    timings: list[Timing] = field(default_factory=list)
    export: Export | None = None


def _vm(field_name: str) -> float:
    """Give this process's memory figure from /proc/self/status, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def database_url(database: str) -> str:
    """Give the URL of a generated database."""
    if database == "sqlite":
        return f"sqlite:///{generate.WORKDIR / 'million.sqlite3'}"
    return servers.PG_URL.format(name=generate.PG_NAME)


def _env(database: str) -> dict[str, str]:
    """Give the service's environment on a generated database."""
    return servers.service_env(database_url(database), servers.open_all_week_flows(generate.WORKDIR / "flows"), generate.WORKDIR)


def call_count(database: str) -> int:
    """Count the calls in a generated database, 0 when there is none."""
    from sqlalchemy import create_engine, text

    if database == "sqlite" and not (generate.WORKDIR / "million.sqlite3").exists():
        return 0
    try:
        engine = create_engine(database_url(database))
        with engine.connect() as conn:
            n = conn.execute(text("SELECT count(*) FROM calls")).scalar()
        engine.dispose()
        return n or 0
    except Exception:
        return 0


def upgrade_and_sign_up(database: str) -> None:
    """Bring the schema to the head (new indexes included) and make the supervisor account."""
    env = _env(database)
    flask = str(Path(sys.executable).with_name("flask"))
    subprocess.run([flask, "--app", "wsgi", "db", "upgrade"], cwd=servers.ROOT, env=env, check=True, timeout=3600, capture_output=True)
    add = [flask, "--app", "wsgi", "users", "add", EMAIL, "--role", "supervisor", "--password-stdin"]
    done = subprocess.run(add, cwd=servers.ROOT, env=env, input=f"{PASSWORD}\n{PASSWORD}\n", text=True, capture_output=True, timeout=120)
    if done.returncode != 0 and "already has an account" not in done.stdout + done.stderr:
        raise SystemExit(f"could not add the supervisor: {done.stdout}{done.stderr}")


class Recorder:
    """Counts the SQL statements a page runs and times each up to the next one.

    sqlite3 reads rows lazily, so the time of execute() alone would miss a
    full scan; the time until the next statement (or the page's end) holds the
    reading of its rows and the Python that used them.
    """

    def __init__(self, engine):
        from sqlalchemy import event

        self.started: list[tuple[float, str, object]] = []
        event.listen(engine, "before_cursor_execute", self._before)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        self.started.append((time.perf_counter(), statement, parameters))

    def statements(self, end: float) -> list[tuple[float, str, object]]:
        """Give (seconds, statement, parameters) of each statement since the last reset."""
        ends = [s[0] for s in self.started[1:]] + [end]
        return [(stop - start, sql, params) for (start, sql, params), stop in zip(self.started, ends, strict=True)]


def _sign_in(client) -> None:
    """Sign in through the form, as a supervisor's browser does."""
    page = client.get("/console/login").get_data(as_text=True)
    token = _CSRF.search(page).group(1)
    resp = client.post("/console/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token})
    if resp.status_code != 302:
        raise SystemExit(f"sign-in failed ({resp.status_code}): is the console's login form unchanged?")


def _explain(engine, statement: str, parameters) -> str:
    """Give the database's plan for one statement: EXPLAIN QUERY PLAN on SQLite, EXPLAIN ANALYZE on PostgreSQL."""
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if engine.dialect.name == "sqlite":
            cur.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            lines = [f"{'  ' * (0 if parent == 0 else 1)}{detail}" for _id, parent, _unused, detail in cur.fetchall()]
        else:
            cur.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING ON) " + statement, parameters)
            lines = [r[0] for r in cur.fetchall()]
        raw.rollback()
        return "\n".join(lines)
    finally:
        raw.close()


def _pages(app, client) -> list[tuple[str, str]]:
    """Name the pages and lookups to time, with real values from the data."""
    from sqlalchemy import func, select

    from ivr.models import Call, Staff, Ticket, db, utcnow

    with app.app_context():
        agent = db.session.execute(select(Staff.id).where(Staff.team == "engineering").order_by(Staff.id)).scalar()
        # A caller who rings often, found by their last seven digits.
        caller = db.session.execute(
            select(Call.from_e164).where(Call.from_e164.is_not(None)).group_by(Call.from_e164).order_by(func.count().desc()).limit(1)
        ).scalar()
        ticket = db.session.execute(select(func.max(Ticket.id))).scalar() // 2 + 1000
        sid = db.session.execute(select(Call.call_sid).where(Call.id == 123_456 % max(1, db.session.query(func.max(Call.id)).scalar())))
        sid = sid.scalar() or db.session.execute(select(Call.call_sid).limit(1)).scalar()
        month_ago = (utcnow() - timedelta(days=30)).date()
    first = client.get("/console/calls").get_data(as_text=True)
    cursor = (_AFTER.findall(first) or [""])[-1]
    week = f"from={month_ago}&to={month_ago + timedelta(days=6)}"
    return [
        ("calls, unfiltered", "/console/calls"),
        ("calls, next page (keyset)", f"/console/calls?after={cursor}"),
        ("calls, level critical", "/console/calls?level=critical"),
        ("calls, no level chosen", "/console/calls?level=none"),
        ("calls, outcome voicemail", "/console/calls?outcome=voicemail"),
        ("calls, outcome failed", "/console/calls?outcome=failed"),
        ("calls, one agent", f"/console/calls?agent={agent}"),
        ("calls, SLA breached", "/console/calls?sla=breached"),
        ("calls, SLA at risk", "/console/calls?sla=at_risk"),
        ("calls, SLA on track", "/console/calls?sla=on_track"),
        ("calls, one week a month ago", f"/console/calls?{week}"),
        ("caller search, 7 phone digits", f"/console/calls?q={caller[-7:]}"),
        ("caller search, ticket number", f"/console/calls?q={ticket}"),
        ("ticket by number", f"/console/tickets/{ticket}"),
        ("tickets, unfiltered", "/console/tickets"),
        ("tickets, open, soonest due", "/console/tickets?state=open&order=due"),
        ("one call's page", f"/console/calls/{sid}"),
        ("overview", "/console/"),
    ]


def measure(database: str) -> Measured:
    """Time every page on one database (run in a process of its own)."""
    os.environ.update(_env(database))
    from ivr import create_app
    from ivr.models import db

    app = create_app()
    client = app.test_client()
    _sign_in(client)
    with app.app_context():
        engine = db.engine
        from sqlalchemy import text

        with engine.connect() as conn:
            tables = ("calls", "tickets", "call_events", "recordings")
            counts = {t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar() for t in tables}
    recorder = Recorder(engine)
    result = Measured(database, counts)
    for label, path in _pages(app, client):
        client.get(path)  # warm-up: caches, compiled statements, the first connection
        runs = []
        for _ in range(REPEAT):
            recorder.started = []
            started = time.perf_counter()
            resp = client.get(path)
            end = time.perf_counter()
            runs.append((end - started, recorder.statements(end), resp.status_code))
        runs.sort(key=lambda r: r[0])
        took, statements, status = runs[len(runs) // 2]
        slowest = max(statements, key=lambda s: s[0]) if statements else (0.0, "", None)
        timing = Timing(label, path, status, took * 1000, runs[-1][0] * 1000, len(statements), slowest[0] * 1000)
        if statements:
            timing.slowest_sql = slowest[1]
            try:
                timing.plan = _explain(engine, slowest[1], slowest[2])
            except Exception as exc:  # a plan is a help, not the measurement
                timing.plan = f"(no plan: {type(exc).__name__}: {exc})"
        result.timings.append(timing)
        print(f"  {database:<10} {label:<32} {timing.median_ms:8.1f} ms  {len(statements):3d} statements  HTTP {status}", flush=True)
    return result


def export(database: str) -> Export:
    """Stream the CSV export of every call and weigh it (run in a process of its own)."""
    os.environ.update(_env(database))
    from ivr import create_app

    app = create_app()
    client = app.test_client()
    _sign_in(client)
    client.get("/console/calls")
    before = _vm("VmRSS")
    started = time.perf_counter()
    resp = client.get("/console/calls.csv", buffered=False)
    size = rows = 0
    for chunk in resp.response:
        size += len(chunk)
        rows += chunk.count(b"\n") if isinstance(chunk, bytes) else chunk.count("\n")
    resp.close()
    took = time.perf_counter() - started
    return Export(rows - 1, size / 1e6, took, _vm("VmHWM"), before)


def _child(kind: str, database: str) -> dict:
    """Run `measure` or `export` in a fresh process and give its result."""
    out = generate.WORKDIR / f"million-{kind}-{database}.json"
    cmd = [sys.executable, "-m", "bench.million", kind, database, str(out)]
    subprocess.run(cmd, cwd=servers.ROOT, check=True, timeout=3600)
    return json.loads(out.read_text())


def run(calls: int, regenerate: bool) -> bool:
    """Generate (or reuse) both databases, time everything, write docs/benchmarks.md; tell whether the targets are met."""
    generate.WORKDIR.mkdir(parents=True, exist_ok=True)
    results = []
    for database in ("sqlite", "postgresql"):
        have = call_count(database)
        if regenerate or have < calls:
            print(f"{database}: generating {calls:,} calls", flush=True)
            started = time.monotonic()
            url = generate.prepare(database)
            generate.generate(url, calls, 365)
            print(f"{database}: generated in {time.monotonic() - started:.0f} s", flush=True)
        else:
            print(f"{database}: reusing the {have:,} calls already generated (--regenerate to start again)", flush=True)
        upgrade_and_sign_up(database)
        measured = _child("measure", database)
        measured["export"] = _child("export", database)
        results.append(measured)
    text, met = render(results)
    print()
    print(text)
    path = report.write_section("million", text)
    print(f"\nwrote {path.relative_to(report.ROOT)}")
    return met


def render(results: list[dict]) -> tuple[str, bool]:
    """Give the Markdown of the million-call measurements and whether every target is met."""
    facts = report.machine()
    names = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
    parts = [f"## The call log at a million calls ({dict(facts)['date']})", ""]
    parts += [
        "Counts: " + "; ".join(f"{names[r['database']]}: " + ", ".join(f"{v:,} {k}" for k, v in r["counts"].items()) for r in results),
        "",
        f"Server time through the app (Flask test client, signed in as a supervisor), median of {REPEAT} after a warm-up; "
        "statements: SQL statements the page ran.",
        "",
    ]
    met = True
    rows = []
    labels = [t["label"] for t in results[0]["timings"]]
    for i, label in enumerate(labels):
        cells = [label]
        for r in results:
            t = r["timings"][i]
            ok = t["median_ms"] < TARGET_MS and t["status"] == 200
            met &= ok
            cells.append(f"{t['median_ms']:.1f}{'' if ok else ' ✗'} ({t['statements']})")
        rows.append(cells)
    header = ["page or lookup"] + [f"{names[r['database']]} ms (statements)" for r in results]
    parts += [report.table(header, rows), ""]
    parts += ["### CSV export of every call", ""]
    export_rows = []
    for r in results:
        e = r["export"]
        ok = e["peak_mib"] < TARGET_CSV_MIB
        met &= ok
        export_rows.append(
            [
                names[r["database"]],
                f"{e['rows']:,}",
                f"{e['megabytes']:.0f}",
                f"{e['seconds']:.1f}",
                f"{e['peak_mib']:.0f}{'' if ok else ' ✗'}",
                f"{e['before_mib']:.0f}",
            ]
        )
    parts += [report.table(["database", "rows", "MB", "seconds", "peak RSS MiB", "RSS before MiB"], export_rows), ""]
    parts += ["### Query plans (the slowest statement of each page)", ""]
    for r in results:
        parts += [f"#### {names[r['database']]}", ""]
        for t in r["timings"]:
            parts += [
                f"<details><summary>{t['label']}: {t['slowest_sql_ms']:.1f} ms</summary>",
                "",
                "```sql",
                t["slowest_sql"].strip(),
                "```",
                "",
                "```",
                t["plan"].strip(),
                "```",
                "",
                "</details>",
                "",
            ]
    return "\n".join(parts), met


def main(argv: list[str]) -> None:
    """Run one measurement in this process: `measure|export DATABASE OUT.json`."""
    kind, database, out = argv
    result = measure(database) if kind == "measure" else export(database)
    Path(out).write_text(json.dumps(asdict(result)))


if __name__ == "__main__":
    main(sys.argv[1:])
