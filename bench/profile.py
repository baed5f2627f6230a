"""Profile the webhooks in-process: whole calls through the Flask test client under pyinstrument.

`python -m bench.profile [--calls 300] [--database URL] [--html out.html]`
prints where a worker's time goes; the same signed requests as `make bench`.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qsl

from . import load, servers


def main(argv: list[str] | None = None) -> None:
    """Play whole calls in-process under the profiler and print the profile."""
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--database", help="SQLAlchemy URL (default: a fresh SQLite file)")
    parser.add_argument("--html", type=Path, help="also write pyinstrument's HTML report here")
    parser.add_argument("--only", choices=load.CALL_STEPS, help="profile only this step")
    args = parser.parse_args(argv)

    from pyinstrument import Profiler

    work = Path(tempfile.mkdtemp(prefix="ivr-profile-"))
    url = args.database or servers.sqlite_database(work / "profile.sqlite3")
    env = servers.service_env(url, servers.open_all_week_flows(work / "flows"), work)
    servers.prepare_service_database(env)
    os.environ.update(env)

    from ivr import create_app

    app = create_app()
    client = app.test_client()
    base = "http://localhost"
    folder = work / "requests"
    load.write_calls(folder, load.Signer(base, servers.TOKEN), 1, args.calls)
    requests = []
    for line in (folder / "0.tsv").read_text().splitlines():
        step, path, sig, _expect, body = line.split("\t")
        requests.append((step, path, sig, dict(parse_qsl(body, keep_blank_values=True))))

    def play(batch):
        for _step, path, sig, form in batch:
            resp = client.post(path, data=form, headers={"X-Twilio-Signature": sig}, base_url=base)
            if resp.status_code != 200:
                raise SystemExit(f"{path} answered {resp.status_code}: {resp.get_data(as_text=True)[:300]}")

    warm, rest = requests[:50], requests[50:]
    play(warm)
    profiler = Profiler(interval=0.0005)
    timed = 0.0
    for step, path, sig, form in rest:
        if args.only and step != args.only:
            play([(step, path, sig, form)])
            continue
        start = time.perf_counter()
        profiler.start()
        play([(step, path, sig, form)])
        profiler.stop()
        timed += time.perf_counter() - start
    count = sum(1 for r in rest if not args.only or r[0] == args.only)
    print(profiler.output_text(unicode=True, color=False, show_all=False))
    print(f"{count} requests profiled, {timed / count * 1000:.2f} ms each (with the profiler's overhead)")
    if args.html:
        args.html.write_text(profiler.output_html())


if __name__ == "__main__":
    main()
