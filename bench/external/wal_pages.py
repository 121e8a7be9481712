"""Which tables and indexes SQLite's commits write (`run.py --wal-pages`).

Every commit appends each page it changed to the write-ahead log as one frame, and the
checkpoint later copies those pages into the database file: on SQLite, what a notification costs
the writer follows the pages its transactions touch. Copies of the log taken during a run are
read frame by frame (the frames of the log's current generation, up to its last commit), and
each page is named by the b-tree that owns it, as SQLite's `dbstat` table tells in a copy of the
database taken at the same moment.
"""
from __future__ import annotations

import shutil
import sqlite3
import struct
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

HEADER = struct.Struct(">8I")   # magic, version, page size, checkpoint, salt 1, salt 2, checksums
FRAME = struct.Struct(">4I")    # page, database size after a commit (else 0), salt 1, salt 2
FRAME_HEADER_SIZE = 24


def snapshot(database: Path, into: Path) -> None:
    """Copies the database and its log side by side, as `into` and `into`-wal. The log first: a
    checkpoint between the two copies then only makes the database newer than the log, which
    still names every page the log holds."""
    shutil.copyfile(f"{database}-wal", f"{into}-wal")
    shutil.copyfile(database, into)


def commits(log: bytes) -> list[list[int]]:
    """The page numbers of each commit in a log, oldest first. A log is reused from its start
    after a checkpoint; frames left from the generation before carry other salts and are not read."""
    if len(log) < HEADER.size:
        return []
    header = HEADER.unpack_from(log)
    page_size, salts = header[2], header[4:6]
    found, pending, offset = [], [], HEADER.size
    while offset + FRAME_HEADER_SIZE + page_size <= len(log):
        page, size_after, *frame_salts = FRAME.unpack_from(log, offset)
        if tuple(frame_salts) != salts:
            break
        pending.append(page)
        if size_after:
            found.append(pending)
            pending = []
        offset += FRAME_HEADER_SIZE + page_size
    return found


def owners(database: Path) -> dict[int, str]:
    """Each page's table or index. `dbstat` is compiled into Python's SQLite on this machine's
    Debian; opening the copy read-only with its `-wal` beside it reads the log's pages too."""
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
        return dict(connection.execute("SELECT pageno, name FROM dbstat"))


@dataclass
class Pages:
    commits: int = 0
    frames: int = 0
    by_owner: Counter = field(default_factory=Counter)

    def add(self, database: Path) -> None:
        named = owners(database)
        for pages in commits(Path(f"{database}-wal").read_bytes()):
            self.commits += 1
            self.frames += len(pages)
            # `dbstat` names b-tree pages only: a page freed since (on the free list) has no owner.
            self.by_owner.update(named.get(page, "(no b-tree: freed)") for page in pages)

    def report(self, top: int = 16) -> str:
        if not self.commits:
            return "  wal pages: no commit found in the copies of the log"
        lines = [f"  wal pages: {self.commits} commits, {self.frames / self.commits:.1f} pages a "
                 f"commit; by table or index, pages a commit:"]
        lines += [f"    {count / self.commits:6.2f}  {owner}"
                  for owner, count in self.by_owner.most_common(top)]
        return "\n".join(lines)
