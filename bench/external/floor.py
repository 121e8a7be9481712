"""The floor under issue 15's targets: `medrelay-floor` (bench/src/bin/medrelay-floor.rs), the
least a gateway on medrelay's stack (axum, reqwest, sqlx, tokio, mimalloc) can do for a
notification, measured as `run.py` measures medrelay (as with `--no-receipts`, unless
`--receipts`): the same load (64 requests in flight, one notification each), the same Twilio
look-alike, the same CPU clocks from /proc, on the same machine.

    target/bench-venv/bin/python bench/external/floor.py --database none
    target/bench-venv/bin/python bench/external/floor.py --database sqlite --runs 3
    target/bench-venv/bin/python bench/external/floor.py --database postgres://postgres@127.0.0.1:5432
    target/bench-venv/bin/python bench/external/floor.py --database sqlite --receipts

`none` keeps nothing (the HTTP work alone: a request in, a send out); `sqlite` and a PostgreSQL
URL keep one row a notification, inserted by a group commit before the `202` and updated with
the provider's id after the send. `--receipts` adds the look-alike's signed status callback for
each send, as `run.py` without `--no-receipts`: the floor checks its signature and (with a
database) sets the row `delivered` before answering. Each run checks that every accepted
notification was sent once (and, with `--receipts`, that its callback was answered).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import aiohttp

import run
from run import CpuSample, Database, Figures, Load

BINARY = run.REPO / "target" / "release" / "medrelay-floor"
AUTH_TOKEN = "sink-auth-token"  # the floor's constant, and the sink's default


async def ready(session: aiohttp.ClientSession, base: str, process: subprocess.Popen) -> None:
    """Until the floor answers at all (a 4xx to an empty POST is an answer)."""
    for _ in range(300):
        if process.poll() is not None:
            raise RuntimeError("medrelay-floor exited")
        try:
            async with session.post(f"{base}/v1/notifications"):
                return
        except aiohttp.ClientError:
            await asyncio.sleep(0.1)
    raise RuntimeError("medrelay-floor is not listening after 30 s")


async def one_run(opts: argparse.Namespace, tag: str) -> Figures:
    directory = Path(tempfile.mkdtemp(prefix="medrelay-floor-"))
    database = None if opts.database == "none" else Database.create(opts.database, directory)
    sink_cmd = run.sink_program(opts) + ["sink", "--auth-token", AUTH_TOKEN]
    sink_cmd += [] if opts.receipts else ["--no-receipts"]
    sink_proc = subprocess.Popen(sink_cmd, stdout=subprocess.PIPE, text=True)
    sink = f"http://127.0.0.1:{int(sink_proc.stdout.readline().split()[-1])}"
    port = run.free_port()
    base = f"http://127.0.0.1:{port}"
    command = [str(BINARY), "--port", str(port), "--provider", sink]
    command += ["--database", database.url] if database else []
    command += ["--receipts"] if opts.receipts else []
    done = "delivered_ok" if opts.receipts else "sends"
    floor = subprocess.Popen(command)
    total = opts.warmup + opts.notifications
    try:
        connector = aiohttp.TCPConnector(limit=opts.concurrency + 8)
        async with aiohttp.ClientSession(connector=connector,
                                         timeout=aiohttp.ClientTimeout(total=120)) as session:
            await ready(session, base, floor)
            warm = await run.post_notifications(session, [base], "-", range(opts.warmup), opts,
                                                tag)
            await run.wait_delivered(session, sink, len(warm.accepted), 60, done)
            database_name = database.name if database else None
            harness = [os.getpid(), sink_proc.pid]
            before = CpuSample.take([floor.pid], database_name, harness)
            load = Load()
            await run.post_notifications(session, [base], "-", range(opts.warmup, total), opts,
                                         tag, load)
            expected = len(warm.accepted) + len(load.accepted)
            finished = await run.wait_delivered(session, sink, expected, 60, done)
            after = CpuSample.take([floor.pid], database_name, harness)
            seen = await run.sink_state(session, sink, full=True)
    finally:
        floor.terminate()
        floor.wait()
        sink_proc.terminate()
        sink_proc.wait()
        if database:
            database.drop()
        shutil.rmtree(directory, ignore_errors=True)
    return figures(opts, tag, warm, load, seen, finished, before, after)


def figures(opts: argparse.Namespace, tag: str, warm: Load, load: Load, seen: dict,
            finished: bool, before: CpuSample, after: CpuSample) -> Figures:
    problems = [] if finished else [f"timed out after 60 s waiting for the "
                                    f"{'receipts' if opts.receipts else 'sends'}"]
    accepted = {f"{tag}-{i}" for i in {**warm.accepted, **load.accepted}}
    if warm.rejected or load.rejected:
        problems.append(f"rejected: {dict(warm.rejected + load.rejected)}")
    missing = [r for r in accepted if r not in seen["sends"]]
    doubled = [r for r, n in seen["sends"].items() if n > 1]
    if missing:
        problems.append(f"{len(missing)} accepted but never sent, e.g. {missing[:3]}")
    if doubled:
        problems.append(f"{len(doubled)} sent more than once, e.g. {doubled[:3]}")
    unanswered = [r for r in accepted if r not in seen["delivered_ok"]] if opts.receipts else []
    if unanswered:
        problems.append(f"{len(unanswered)} receipts never answered 2xx, e.g. {unanswered[:3]}")
    return Figures.of(load, seen, tag, before, after, receipts=opts.receipts, webhooks_per_s=0.0,
                      problems=problems)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="none",
                        help="none, sqlite, or a PostgreSQL server URL (a fresh database is made)")
    parser.add_argument("--notifications", "-n", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--concurrency", "-c", type=int, default=64)
    parser.add_argument("--receipts", action="store_true",
                        help="a signed status callback for every send, as run.py posts them")
    parser.add_argument("--runs", type=int, default=1)
    run.add_harness_option(parser)
    opts = parser.parse_args()
    # What run.post_notifications writes into each request; the floor reads only the patient
    # and the body.
    opts.patients, opts.priority = 1_000, "urgent"
    run.ensure_binaries(BINARY, *([run.HARNESS] if opts.harness == "rust" else []))
    print(f"medrelay-floor: {opts.database}{', receipts' if opts.receipts else ''}, "
          f"{opts.notifications:,} notifications after "
          f"{opts.warmup:,} warm-up, {opts.concurrency} in flight, {opts.harness} harness, "
          f"{os.cpu_count()} cores, "
          f"{datetime.now():%Y-%m-%d %H:%M}", flush=True)
    runs = []
    for n in range(opts.runs):
        figures_of_run = asyncio.run(one_run(opts, f"f{n}"))
        figures_of_run.print(f"run {n + 1}/{opts.runs}")
        runs.append(figures_of_run)
    if opts.runs > 1:
        run.median_figures(runs).print(f"median of {opts.runs}")
    failed = any(f.problems for f in runs)
    print("OK" if not failed else "FAILED: see the lines marked !")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
