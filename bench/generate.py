"""Fill a database with a year of calls: tickets, event trails and voicemail recordings.

`python -m bench.generate --database sqlite|postgresql [--calls 1000000]`
makes a fresh database (SQLite: instance/bench/million.sqlite3; PostgreSQL:
ivr_bench_million), builds the schema with the migrations, puts a roster on
it and bulk-loads the rest: COPY on PostgreSQL, executemany in large
transactions on SQLite, never the ORM row by row. Rows are made in time
order, so ids grow with time as they do on the line.

The mix is plausible rather than exact: more calls in support hours and on
weekdays, a caller base where some ring often, about 58% answered, 20%
voicemail, the rest abandoned, unanswered or failed; tickets older than two
weeks are resolved (0.2% left open), and a resolved ticket has its first
response, as the console counts resolving as one.
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from sqlalchemy import Table, create_engine, text

from . import servers

WORKDIR = servers.ROOT / "instance" / "bench"
PG_NAME = "ivr_bench_million"
BATCH = 20_000
LINE = "+16462019664"
LEVELS = (("basic", 0.50, 24), ("technical", 0.37, 4), ("critical", 0.13, 2))
# Outcome, share of calls; abandoned_in_menu calls chose no level and have no ticket.
OUTCOMES = (
    ("answered", 0.58),
    ("voicemail", 0.20),
    ("abandoned_while_ringing", 0.07),
    ("abandoned_in_menu", 0.07),
    ("no_agent", 0.05),
    ("failed", 0.03),
)
NAMES = ("Pat Doe", "Sam Lee", "Alex Kim", "Jo Park", "Chris Fox", "Robin Ng", "Dana Ortiz", "Lee Chan")
TRANSCRIPTS = (
    "My floor plan will not load since this morning.",
    "Data export fails with error 500 when I pick last quarter.",
    "The whole system is down for our office, nobody can log in.",
    "How do I add a new desk to the layout?",
    "Bookings from yesterday are missing, please call me back.",
)
ROSTER = [(f"Generated Support {i}", f"+1312555{2000 + i:04d}", "support") for i in range(6)] + [
    (f"Generated Engineer {i}", f"+1312555{3000 + i:04d}", "engineering") for i in range(6)
]
# Relative call volume by hour of the day (support time) and by weekday.
HOUR_WEIGHTS = [1, 1, 1, 1, 2, 6, 10, 14, 18, 20, 20, 18, 16, 18, 18, 16, 14, 10, 7, 5, 4, 3, 2, 1]
DAY_WEIGHTS = [1.0, 1.0, 1.0, 1.0, 0.9, 0.25, 0.2]


def _sqlite_time(moment: datetime | None) -> str | None:
    """Write an instant as SQLAlchemy stores it in SQLite: naive UTC, microseconds always."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class Loader:
    """Bulk-inserts rows table by table, in the fastest way the database offers."""

    def __init__(self, engine, tables: dict[str, Table]):
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        self.tables = tables
        self.raw = engine.raw_connection()
        self.counts: dict[str, int] = {}
        if self.sqlite:
            cur = self.raw.cursor()
            # Bench data: a crash during the load means running it again, so skip the journal's safety.
            cur.execute("PRAGMA synchronous=OFF")
            cur.execute("PRAGMA cache_size=-262144")
            cur.close()

    def time(self, moment: datetime | None):
        """Give an instant as this database's driver takes it."""
        return _sqlite_time(moment) if self.sqlite else moment

    def columns(self, table: str, given: tuple[str, ...]) -> tuple[tuple[str, ...], tuple]:
        """Give every column of a table, ours first, and the defaults of the rest.

        Columns others add later are filled from their defaults, so the
        generator keeps working as the schema grows.
        """
        rest, values = [], []
        for col in self.tables[table].columns:
            if col.name in given:
                continue
            default = col.default
            if default is not None and default.is_scalar:
                value = default.arg
            elif default is not None and default.is_callable:
                value = default.arg(None)
            elif col.nullable or col.primary_key:
                continue
            else:
                raise SystemExit(f"{table}.{col.name} needs a value and has no default: teach bench/generate.py about it")
            if isinstance(value, datetime):
                value = self.time(value)
            elif isinstance(value, dict | list):
                value = json.dumps(value)
            rest.append(col.name)
            values.append(value)
        return given + tuple(rest), tuple(values)

    def load(self, table: str, given: tuple[str, ...], rows: list[tuple]) -> None:
        """Insert rows whose values follow `given`, the table's other columns at their defaults."""
        if not rows:
            return
        names, extra = self.columns(table, given)
        if extra:
            rows = [r + extra for r in rows]
        quoted = ", ".join(f'"{n}"' for n in names)
        cur = self.raw.cursor()
        if self.sqlite:
            marks = ", ".join("?" for _ in names)
            cur.executemany(f'INSERT INTO "{table}" ({quoted}) VALUES ({marks})', rows)
        else:
            with cur.copy(f'COPY "{table}" ({quoted}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(row)
        cur.close()
        self.counts[table] = self.counts.get(table, 0) + len(rows)

    def commit(self) -> None:
        """Commit what was loaded so far."""
        self.raw.commit()

    def finish(self) -> None:
        """Commit, move PostgreSQL's id sequences past the loaded ids, and refresh planner statistics."""
        self.raw.commit()
        cur = self.raw.cursor()
        if self.sqlite:
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("ANALYZE")
            cur.close()
        else:
            for table in self.counts:
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM \"{table}\"))")
            self.raw.commit()
            cur.close()
            # VACUUM refuses to run in a transaction.
            self.raw.driver_connection.autocommit = True
            cur = self.raw.cursor()
            cur.execute("VACUUM ANALYZE")
            cur.close()
            self.raw.driver_connection.autocommit = False
        self.raw.commit()
        self.raw.close()


def start_times(count: int, days: int, end: datetime, rng: random.Random) -> list[datetime]:
    """Spread `count` call starts over `days` days before `end`, busier in support hours, in order."""
    first = (end - timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    # Support runs on Central time (UTC-6 in winter): weights follow its clock.
    local = first - timedelta(hours=6)
    moments = [local + timedelta(hours=h) for h in range(days * 24)]
    weights = [DAY_WEIGHTS[m.weekday()] * HOUR_WEIGHTS[m.hour] for m in moments]
    hours = sorted(rng.choices(range(days * 24), weights=weights, k=count))
    return [first + timedelta(hours=h, seconds=rng.random() * 3600) for h in hours]


def callers(rng: random.Random, size: int) -> list[str]:
    """Make a caller base: distinct US numbers."""
    return [f"+1{rng.choice('23456789')}{rng.randrange(10**9):09d}" for _ in range(size)]


CALL_COLS = (
    "id",
    "call_sid",
    "from_raw",
    "from_e164",
    "caller_name",
    "to_number",
    "started_at",
    "node",
    "menu_attempts",
    "prompts",
    "level",
    "status",
    "status_sequence",
    "duration",
    "ended_at",
    "is_test",
    "ringing_at",
    "dial_rounds",
    "dial_status",
    "agent_id",
    "answered_at",
    "talk_seconds",
    "outcome",
)
TICKET_COLS = ("id", "call_id", "level", "caller", "opened_at", "due_at", "state", "first_response_at", "assignee_id", "pin")
EVENT_COLS = ("call_id", "at", "endpoint", "params")
RECORDING_COLS = (
    "id",
    "sid",
    "call_id",
    "ticket_id",
    "url",
    "duration",
    "status",
    "transcript",
    "transcript_status",
    "created_at",
    "archive_status",
    "archive_path",
    "archived_at",
)


def _pick(rng: random.Random, choices: tuple) -> str:
    """Pick a name by its share."""
    x, acc = rng.random(), 0.0
    for item in choices:
        acc += item[1]
        if x < acc:
            return item[0]
    return choices[-1][0]


def rows(count: int, days: int, staff: dict[str, list[int]], loader: Loader, seed: int) -> Iterator[dict[str, list[tuple]]]:
    """Yield batches of rows for calls, tickets, events and recordings, oldest first."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    starts = start_times(count, days, now - timedelta(hours=1), rng)
    base = callers(rng, max(1, count // 5))
    # A few callers ring far more often than the rest.
    frequent = base[:50]
    goals = {name: hours for name, _, hours in LEVELS}
    level_mix = tuple((name, share) for name, share, _ in LEVELS)
    t = loader.time
    ev = {
        "ringing": json.dumps({"CallStatus": "ringing"}),
        "silence": json.dumps({"CallStatus": "in-progress"}),
        "anonymous": json.dumps({"CallStatus": "ringing"}),
    }
    digits = {name: json.dumps({"CallStatus": "in-progress", "Digits": str(i + 1)}) for i, (name, _, _) in enumerate(LEVELS)}
    ticket_id = recording_id = 0
    batch: dict[str, list[tuple]] = {"calls": [], "tickets": [], "call_events": [], "recordings": []}
    for i, started in enumerate(starts, start=1):
        outcome = _pick(rng, OUTCOMES)
        if rng.random() < 0.03:
            from_raw, from_e164 = "anonymous", None
        else:
            from_e164 = rng.choice(frequent) if rng.random() < 0.05 else rng.choice(base)
            from_raw = from_e164
        level = None if outcome == "abandoned_in_menu" else _pick(rng, level_mix)
        team = "support" if level == "basic" else "engineering"
        menu_s = rng.randint(15, 60)
        ringing_at = answered_at = agent = dial_status = talk = None
        dial_rounds = 0
        if outcome in ("answered", "voicemail", "no_agent", "abandoned_while_ringing"):
            ringing_at = started + timedelta(seconds=menu_s)
            dial_rounds = 1
        if outcome == "answered":
            wait = rng.randint(3, 90)
            answered_at = ringing_at + timedelta(seconds=wait)
            agent = rng.choice(staff[team])
            talk = rng.randint(60, 1800)
            dial_status, duration = "completed", menu_s + wait + talk
        elif outcome == "voicemail":
            dial_status, duration = "no-answer", menu_s + 40 + rng.randint(20, 150)
        elif outcome == "no_agent":
            dial_status, duration = "no-answer", menu_s + 45
        elif outcome == "abandoned_while_ringing":
            duration = menu_s + rng.randint(5, 60)
        else:
            duration = rng.randint(3, 40)
        ended = started + timedelta(seconds=duration)
        status = "failed" if outcome == "failed" else "completed"
        node = {"answered": "connect", "voicemail": "goodbye", "abandoned_in_menu": "choose_level"}.get(outcome, "voicemail")
        batch["calls"].append(
            (
                i,
                "CA" + secrets.token_hex(16),
                from_raw,
                from_e164,
                rng.choice(NAMES) if rng.random() < 0.3 else None,
                LINE,
                t(started),
                node,
                0,
                2 if level else 1,
                level,
                status,
                4,
                duration,
                t(ended),
                False,
                t(ringing_at),
                dial_rounds,
                dial_status,
                agent,
                t(answered_at),
                talk,
                outcome,
            )
        )
        events = batch["call_events"]
        events.append((i, t(started), "incoming", ev["ringing"]))
        this_ticket = None
        if level:
            events.append((i, t(started + timedelta(seconds=menu_s - 10)), "gather", digits[level]))
            ticket_id += 1
            this_ticket = ticket_id
            opened = started + timedelta(seconds=menu_s - 10)
            due = opened + timedelta(hours=goals[level])
            age = now - opened
            if answered_at:
                first, state, assignee = answered_at, "responded", agent
            elif rng.random() < 0.8:
                first = opened + timedelta(hours=goals[level] * rng.uniform(0.1, 1.4))
                first = first if first < now else None
                state, assignee = ("responded" if first else "open"), rng.choice(staff[team]) if first else None
            else:
                first, state, assignee = None, "open", None
            if age > timedelta(days=14) and rng.random() < 0.998:
                state = "resolved"
                # Resolving is a response too (the console counts it so): resolved tickets have one.
                first = first or min(now, opened + timedelta(hours=goals[level] * rng.uniform(0.2, 2.0)))
                assignee = assignee or rng.choice(staff[team])
            pin = f"{rng.randrange(10_000):04d}"
            batch["tickets"].append((ticket_id, i, level, from_e164 or from_raw, t(opened), t(due), state, t(first), assignee, pin))
        if ringing_at:
            events.append((i, t(ringing_at), "gather", ev["silence"]))
            dial = json.dumps({"DialCallStatus": dial_status or "canceled", "DialCallDuration": str(talk or 0)})
            events.append((i, t(ended - timedelta(seconds=1)), "dialed", dial))
        if outcome == "voicemail":
            recording_id += 1
            sid = "RE" + secrets.token_hex(16)
            seconds = rng.randint(8, 150)
            archived = ended + timedelta(seconds=30)
            batch["recordings"].append(
                (
                    recording_id,
                    sid,
                    i,
                    this_ticket,
                    f"https://api.twilio.com/2010-04-01/Accounts/AC{'0' * 32}/Recordings/{sid}",
                    seconds,
                    "completed",
                    rng.choice(TRANSCRIPTS),
                    "completed",
                    t(ended),
                    "archived",
                    f"{started:%Y/%m/%d}/{sid}.mp3",
                    t(archived),
                )
            )
            events.append((i, t(ended), "recorded", json.dumps({"RecordingSid": sid, "RecordingDuration": str(seconds)})))
        done = json.dumps({"CallStatus": status, "CallDuration": str(duration), "SequenceNumber": "4"})
        events.append((i, t(ended), "status", done))
        if i % BATCH == 0:
            yield batch
            batch = {"calls": [], "tickets": [], "call_events": [], "recordings": []}
    if batch["calls"]:
        yield batch


def prepare(database: str) -> str:
    """Make the fresh database, schema and roster; give its URL."""
    if database == "sqlite":
        url = servers.sqlite_database(WORKDIR / "million.sqlite3")
    elif database == "postgresql":
        url = servers.create_pg_database(PG_NAME)
    else:
        raise SystemExit("--database must be sqlite or postgresql")
    env = servers.service_env(url, servers.open_all_week_flows(WORKDIR / "flows"), WORKDIR)
    code = (
        "import logging; logging.disable(logging.INFO)\n"
        "from flask_migrate import upgrade\n"
        "from ivr import create_app, staff\n"
        "from ivr.models import db\n"
        "from bench.generate import ROSTER\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        "    upgrade(directory='migrations')\n"
        "    for name, phone, team in ROSTER:\n"
        "        staff.add(name, phone, team, ['Mon-Fri 05:00-22:00'])\n"
        "    db.engine.dispose()\n"
    )
    import subprocess

    subprocess.run([sys.executable, "-c", code], cwd=servers.ROOT, env=env, check=True, timeout=600)
    return url


def generate(url: str, count: int, days: int, seed: int = 7) -> dict[str, int]:
    """Load `count` calls and what goes with them into the database at `url`; give rows per table."""
    from ivr.models import Base

    engine = create_engine(url)
    with engine.connect() as conn:
        staff: dict[str, list[int]] = {"support": [], "engineering": []}
        for sid, team in conn.execute(text("SELECT id, team FROM staff")):
            staff.setdefault(team, []).append(sid)
        if conn.execute(text("SELECT count(*) FROM calls")).scalar():
            raise SystemExit("the database already has calls: generate into a fresh one")
    loader = Loader(engine, Base.metadata.tables)
    order = (("calls", CALL_COLS), ("tickets", TICKET_COLS), ("call_events", EVENT_COLS), ("recordings", RECORDING_COLS))
    started = time.monotonic()
    for n, batch in enumerate(rows(count, days, staff, loader, seed), start=1):
        for table, cols in order:
            loader.load(table, cols, batch[table])
        loader.commit()
        if n % 10 == 0:
            done = loader.counts["calls"]
            print(f"  {done:>9,} calls  {time.monotonic() - started:6.1f} s", flush=True)
    loader.finish()
    engine.dispose()
    return loader.counts


def main(argv: list[str] | None = None) -> None:
    """Make a fresh database and fill it."""
    parser = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], required=True)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args(argv)
    started = time.monotonic()
    url = prepare(args.database)
    counts = generate(url, args.calls, args.days)
    took = time.monotonic() - started
    print(f"{args.database}: {', '.join(f'{v:,} {k}' for k, v in counts.items())} in {took:.0f} s ({url})")


if __name__ == "__main__":
    main()
