"""The servers under test: databases made for the benchmark, and gunicorn as the Procfile runs it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
PG_URL = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
TOKEN = "bench-auth-token-0123456789abcdef"
# Everyone on every day, so any call routes whatever the hour the bench runs.
ALL_WEEK = ["Mon-Sun 00:00-24:00"]
ROSTER = [
    ("Bench Support A", "+13125550101", "support"),
    ("Bench Support B", "+13125550105", "support"),
    ("Bench Engineer A", "+13125550102", "engineering"),
    ("Bench Engineer B", "+13125550103", "engineering"),
    ("Bench Engineer C", "+13125550104", "engineering"),
]
WORKERS = 2
# The discard port on the loopback: a request sent through it fails at once.
DEAD_PROXY = "http://127.0.0.1:9"
START_TIMEOUT = 30.0


def free_port() -> int:
    """Give a free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def create_pg_database(name: str) -> str:
    """Drop and create a PostgreSQL database of our own; give its SQLAlchemy URL."""
    import psycopg

    if not name.startswith("ivr_bench"):
        raise ValueError(f"refusing to recreate {name!r}: benchmark databases are named ivr_bench*")
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return PG_URL.format(name=name)


def sqlite_database(path: Path) -> str:
    """Start a fresh SQLite file; give its SQLAlchemy URL."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    return f"sqlite:///{path}"


def open_all_week_flows(folder: Path) -> Path:
    """Copy flows/ with support open all week, in a zone where it is now about noon.

    The benchmark must route calls whenever it runs; only the hours change, so
    the walk through the menu is the production one. A fixed-offset zone keeps
    the clock far from the 23:59 close.
    """
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(ROOT / "flows", folder)
    policy = yaml.safe_load((ROOT / "flows" / "policy.yaml").read_text())
    ahead = 12 - datetime.now(UTC).hour  # hours east of UTC that make it noon
    zone = "Etc/GMT" if ahead == 0 else f"Etc/GMT{'-' if ahead > 0 else '+'}{abs(ahead)}"
    policy["support"].update(
        timezone=zone,
        days=["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
        open="00:00",
        close="23:59",
        hours_spoken="every day, around the clock",
        holidays=[],
        closures=[],
    )
    (folder / "policy.yaml").write_text(yaml.safe_dump(policy, sort_keys=False))
    return folder


def service_env(database_url: str, flows_dir: Path, workdir: Path) -> dict[str, str]:
    """Give the service's environment for a benchmark run."""
    env = dict(os.environ)
    # No account SID and no texts to callers: nothing may leave the machine.
    env.pop("TWILIO_ACCOUNT_SID", None)
    return dict(
        env,
        DATABASE_URL=database_url,
        TWILIO_AUTH_TOKEN=TOKEN,
        SMS_TO_CALLERS="0",
        FALLBACK_NUMBER="",
        # Should anything still try Twilio's REST API, it fails here, on the loopback.
        HTTP_PROXY=DEAD_PROXY,
        HTTPS_PROXY=DEAD_PROXY,
        http_proxy=DEAD_PROXY,
        https_proxy=DEAD_PROXY,
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        SUPPORT_NUMBER="+16462019664",
        FLOWS_DIR=str(flows_dir),
        RECORDINGS_DIR=str(workdir / "recordings"),
        JOURNAL_DIR=str(workdir / "journal"),
        SECRET_KEY="bench-secret-key",
        IVR_ENV="development",
    )


def prepare_service_database(env: dict[str, str]) -> None:
    """Build the schema with the migrations and put the roster on duty all week."""
    # In a child process, so this process holds no connection or app state.
    code = (
        "import logging; logging.disable(logging.INFO)\n"
        "from flask_migrate import upgrade\n"
        "from ivr import create_app, staff\n"
        "from ivr.models import db\n"
        "from bench.servers import ROSTER, ALL_WEEK\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        "    upgrade(directory='migrations')\n"
        "    for name, phone, team in ROSTER:\n"
        "        staff.add(name, phone, team, ALL_WEEK)\n"
        "    db.engine.dispose()\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, timeout=300)


@dataclass
class Server:
    """One gunicorn master we started, with its workers."""

    name: str
    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def url(self) -> str:
        """Give the base URL wrk and signatures use."""
        return f"http://127.0.0.1:{self.port}"

    def workers(self) -> list[int]:
        """List the worker pids of this gunicorn master."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # The command may hold spaces and parentheses: fields follow the last ')'.
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == self.process.pid:
                pids.append(int(entry.name))
        return sorted(pids)

    def cpu_seconds(self) -> float:
        """Give the CPU time the workers have used so far."""
        return cpu_seconds(self.workers())

    def peak_memory_mib(self) -> list[float]:
        """Give each worker's peak resident memory (VmHWM), in MiB."""
        peaks = []
        for pid in self.workers():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peaks.append(int(line.split()[1]) / 1024)
            except OSError:
                continue
        return peaks

    def stop(self) -> None:
        """Stop gunicorn gracefully, and for good if it lingers."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def cpu_seconds(pids: list[int]) -> float:
    """Give the user and system CPU time these processes have used, in seconds."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def pg_backends(database: str) -> list[int]:
    """List the PostgreSQL server processes serving connections to one database."""
    import psycopg

    with psycopg.connect(PG_ADMIN) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,)).fetchall()
    return [r[0] for r in rows]


def start(name: str, app: str, env: dict[str, str], workdir: Path) -> Server:
    """Start gunicorn with the Procfile's settings (2 gthread workers of 4 threads, timeout 30, access log) on a free loopback port."""
    port = free_port()
    log_path = workdir / f"{name}.log"
    cmd = [
        str(Path(sys.executable).with_name("gunicorn")),
        "--worker-class",
        "gthread",
        "--workers",
        str(WORKERS),
        "--threads",
        "4",
        "--bind",
        f"127.0.0.1:{port}",
        "--timeout",
        "30",
        "--access-logfile",
        "-",
        app,
    ]
    # Left open: gunicorn writes its access log there for as long as it runs.
    log = open(log_path, "w")
    process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = Server(name, port, process, log_path)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} did not start; see {log_path}")
        if len(server.workers()) == WORKERS and _answers(port):
            return server
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"{name} did not answer within {START_TIMEOUT:g} s; see {log_path}")


def _answers(port: int) -> bool:
    """Tell whether something accepts connections on this port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
