"""Where the gateway's CPU goes (`run.py --perf SECONDS`): `perf record` on the gateway's process
for a few seconds in the middle of a run, then each thread's share of the samples and, for each
thread, the functions it spent them in. `perf` is Debian's `linux-perf` package.

The release build has no frame pointers, so the call graphs `-g` records are shallow: the lists
are of the functions the samples landed in, not of their callers. For callers, record again by
hand with `--call-graph dwarf` (docs/development.md shows such runs).
"""
from __future__ import annotations

import subprocess
from pathlib import Path


def record(pid: int, seconds: float, output: Path) -> None:
    subprocess.run(["perf", "record", "-F", "999", "-g", "-p", str(pid), "-o", str(output),
                    "--", "sleep", str(seconds)], check=True, capture_output=True)


def report(data: Path, top: int = 15) -> str:
    threads = lines_of(data, "--sort", "comm")
    out = ["  perf: the gateway's threads, share of its samples:"]
    out += [f"    {line}" for line in threads]
    for thread in (line.split(None, 1)[1] for line in threads if len(line.split(None, 1)) == 2):
        out.append(f"  perf: where {thread} spent its samples:")
        out += [f"    {line}" for line in
                lines_of(data, "--comm", thread, "--sort", "dso,sym")[:top]]
    return "\n".join(out)


def lines_of(data: Path, *sorting: str) -> list[str]:
    """`perf report`'s rows, shares of the samples kept (each thread's own with `--comm`)."""
    printed = subprocess.run(
        ["perf", "report", "-i", str(data), "--stdio", "--no-children", "-g", "none",
         "--percentage", "relative", "--percent-limit", "0.5", *sorting],
        check=True, capture_output=True, text=True).stdout
    # A Rust symbol can run to hundreds of characters of generic parameters.
    return [shorten(line.strip()) for line in printed.splitlines()
            if line.strip() and not line.startswith("#")]


def shorten(line: str, width: int = 140) -> str:
    return line if len(line) <= width else line[:width - 1] + "…"
