"""Webhook throughput and latency: the service on SQLite and PostgreSQL against bare Flask."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from . import load, report, servers

SCENARIOS = ("incoming", "calls")
WARM_UP_SECONDS = 2.0
TARGET_RATIO = 0.5
TARGET_P99_MS = 50.0


@dataclass
class Target:
    """A server the benchmark drives."""

    name: str
    label: str
    app: str
    database: str = ""
    check: bool = True
    pg_name: str = ""
    results: dict[tuple[str, int], load.Result] = field(default_factory=dict)
    memory_mib: list[float] = field(default_factory=list)


def _pg_version() -> str:
    """Give the PostgreSQL server's version."""
    import psycopg

    with psycopg.connect(servers.PG_ADMIN) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


def drive(target: Target, env: dict[str, str], workdir: Path, duration: float, connections: list[int]) -> None:
    """Start one server, warm it up, run every scenario at every connection count, and note its memory."""
    server = servers.start(target.name, target.app, env, workdir)
    try:
        signer = load.Signer(server.url, servers.TOKEN)
        files = workdir / "requests"
        # Warm-up: imports, compiled SQL and the first connections are paid here, not measured.
        load.write_incoming(files, signer, 16, load.per_thread(WARM_UP_SECONDS, 16))
        load.run_wrk(server.url, files, 16, WARM_UP_SECONDS, False, workdir / "warmup.tsv")
        # The warm-up opened each worker's connection: these server processes do the database's share.
        backends = servers.pg_backends(target.pg_name) if target.pg_name else []
        for scenario in SCENARIOS:
            for conns in connections:
                if scenario == "incoming":
                    load.write_incoming(files, signer, conns, load.per_thread(duration, conns))
                else:
                    steps = len(load.CALL_STEPS)
                    load.write_calls(files, signer, conns, load.per_thread(duration, conns, steps))
                out = workdir / f"{target.name}-{scenario}-{conns}.tsv"
                # CPU per request holds up when other work shares the machine; req/s does not.
                cpu, db_cpu = server.cpu_seconds(), servers.cpu_seconds(backends)
                result = load.run_wrk(server.url, files, conns, duration, target.check, out)
                if result.requests:
                    result.cpu_ms = (server.cpu_seconds() - cpu) * 1000 / result.requests
                    if backends:
                        result.db_cpu_ms = (servers.cpu_seconds(backends) - db_cpu) * 1000 / result.requests
                target.results[(scenario, conns)] = result
                print(f"  {target.label:<12} {scenario:<8} c={conns:<3} {_line(result)}", flush=True)
        target.memory_mib = server.peak_memory_mib()
    finally:
        server.stop()


def _line(r: load.Result) -> str:
    """Summarise one run on one line."""
    cpu = f"  cpu {r.cpu_ms:.2f}" + ("" if math.isnan(r.db_cpu_ms) else f"+{r.db_cpu_ms:.2f}") + " ms/req"
    errors = sum(r.errors.values())
    extra = f"  errors {r.errors}" if errors else ""
    bad = f"  BAD {r.bad} {r.samples[:1]}" if r.bad else ""
    short = "  RAN OUT OF REQUESTS" if r.exhausted else ""
    return f"{r.rps:8.0f} req/s  p50 {r.p50_ms:6.1f} ms  p99 {r.p99_ms:6.1f} ms{cpu}{extra}{bad}{short}"


def run(workdir: Path, duration: float, connections: list[int]) -> bool:
    """Run the whole webhook benchmark, print it, write docs/benchmarks.md; tell whether the targets are met."""
    workdir.mkdir(parents=True, exist_ok=True)
    flows_dir = servers.open_all_week_flows(workdir / "flows")
    targets = [
        Target("bare", "bare Flask", "bench.bare:app", check=False),
        Target("sqlite", "SQLite", "wsgi:app", servers.sqlite_database(workdir / "ivr_bench.sqlite3")),
        Target("postgresql", "PostgreSQL", "wsgi:app", servers.create_pg_database("ivr_bench"), pg_name="ivr_bench"),
    ]
    load_before = os.getloadavg()[0]
    for target in targets:
        print(f"{target.label}:", flush=True)
        env = servers.service_env(target.database or "sqlite:///:memory:", flows_dir, workdir)
        if target.database:
            servers.prepare_service_database(env)
        drive(target, env, workdir, duration, connections)
    # Other work on the machine skews every number: say how busy it was.
    facts = report.machine(_pg_version()) + [("load average", f"{load_before:.2f} before, {os.getloadavg()[0]:.2f} after")]
    text, met = render(targets, connections, duration, facts)
    print()
    print(text)
    path = report.write_section("webhooks", text)
    print(f"\nwrote {path.relative_to(report.ROOT)}")
    return met


def _ms(value: float) -> str:
    """Format milliseconds."""
    return "-" if math.isnan(value) else f"{value:.1f}"


def render(targets: list[Target], connections: list[int], duration: float, facts: list[tuple[str, str]]) -> tuple[str, bool]:
    """Give the Markdown tables of a run and whether every target is met."""
    bare = targets[0]
    parts = [
        f"## Webhooks ({dict(facts)['date']})",
        "",
        report.machine_table(facts),
        "",
        f"gunicorn as in the Procfile (2 gthread workers of 4 threads, timeout 30, access log on); wrk, one thread per connection, "
        f"{duration:g} s per run after a {WARM_UP_SECONDS:g} s warm-up; every request signed and with its own CallSid.",
        "",
    ]
    met = True
    for scenario in SCENARIOS:
        title = "### (a) Incoming-call webhook alone" if scenario == "incoming" else "### (b) Whole calls"
        parts += [title, ""]
        rows = []
        for conns in connections:
            base = bare.results.get((scenario, conns))
            for t in targets:
                r = t.results.get((scenario, conns))
                if r is None:
                    continue
                ratio = r.rps / base.rps if base and base.rps else float("nan")
                flags = []
                if r.bad:
                    flags.append("bad answers: " + ", ".join(f"{k} {v}" for k, v in r.bad.items()))
                if sum(r.errors.values()):
                    flags.append("errors: " + ", ".join(f"{k} {v}" for k, v in r.errors.items() if v))
                if r.exhausted:
                    flags.append("ran out of requests")
                share = "1.00" if t is bare else f"{ratio:.2f}"
                cpu = f"{r.cpu_ms:.2f}" + ("" if math.isnan(r.db_cpu_ms) else f" + {r.db_cpu_ms:.2f}")
                rows.append([t.label, str(conns), f"{r.rps:.0f}", _ms(r.p50_ms), _ms(r.p99_ms), share, cpu, "; ".join(flags)])
                if t is not bare and (r.bad or r.exhausted):
                    met = False
        header = ["server", "connections", "req/s", "p50 ms", "p99 ms", "÷ bare", "CPU ms/request (workers + PostgreSQL)", "notes"]
        parts += [report.table(header, rows), ""]
        if scenario == "calls":
            parts += ["Each webhook of the whole calls, p50 / p99 in ms:", ""]
            step_rows = []
            for t in targets[1:]:
                for conns in connections:
                    r = t.results.get(("calls", conns))
                    if r is None:
                        continue
                    cells = [f"{_ms(r.steps[s]['p50_ms'])} / {_ms(r.steps[s]['p99_ms'])}" if s in r.steps else "-" for s in load.CALL_STEPS]
                    step_rows.append([t.label, str(conns), *cells])
            parts += [report.table(["server", "connections", *load.CALL_STEPS], step_rows), ""]
    parts += ["### Worker peak memory (VmHWM, after all runs)", ""]
    parts += [report.table(["server", "workers (MiB)"], [[t.label, ", ".join(f"{m:.1f}" for m in t.memory_mib)] for t in targets]), ""]
    checks = []
    top = max(connections)
    for t in targets[1:]:
        r, base = t.results.get(("incoming", top)), bare.results.get(("incoming", top))
        if r and base:
            ok = r.rps >= TARGET_RATIO * base.rps and r.p99_ms < TARGET_P99_MS
            met &= ok
            checks.append(
                f"- {'met' if ok else 'MISSED'}: {t.label}, incoming at {top} connections: "
                f"{r.rps / base.rps:.2f} of bare Flask (target ≥ {TARGET_RATIO}), p99 {_ms(r.p99_ms)} ms (target < {TARGET_P99_MS:g})"
            )
        c = t.results.get(("calls", top))
        if c:
            worst = max(c.steps.items(), key=lambda kv: kv[1]["p99_ms"])
            ok = worst[1]["p99_ms"] < TARGET_P99_MS
            met &= ok
            checks.append(
                f"- {'met' if ok else 'MISSED'}: {t.label}, whole calls at {top} connections: slowest webhook p99 "
                f"{_ms(worst[1]['p99_ms'])} ms ({worst[0]}; target < {TARGET_P99_MS:g})"
            )
    # Throughput moves with whatever else runs on the machine; CPU per request hardly does.
    base = bare.results.get(("incoming", top))
    for t in targets[1:]:
        r = t.results.get(("incoming", top))
        if r and base and r.cpu_ms > 0:
            spent = r.cpu_ms + (0 if math.isnan(r.db_cpu_ms) else r.db_cpu_ms)
            checks.append(
                f"- {t.label}: the incoming webhook costs {spent:.2f} ms of CPU against bare Flask's {base.cpu_ms:.2f} ms, "
                f"so even on an idle machine it could reach about {base.cpu_ms / spent:.2f} of bare Flask's throughput"
            )
    parts += ["### Targets", "", *checks]
    return "\n".join(parts), met
