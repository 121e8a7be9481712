#!/usr/bin/env python3
"""External load harness for medrelay (issue 15): the release binary in its own process, configured
through medrelay.toml, measured from outside.

    python3 bench/external/run.py --database sqlite
    python3 bench/external/run.py --database postgres://postgres@127.0.0.1:5432 --runs 3
    python3 bench/external/run.py --database sqlite --webhooks   # and the booking system's webhooks
    python3 bench/external/run.py --database sqlite --wal-pages  # which b-trees each commit writes
    python3 bench/external/run.py --database sqlite --perf 8     # the gateway's threads, by perf
    python3 bench/external/run.py sink --port 0        # the Twilio look-alike alone

The provider is a sink (its own process) that answers as Twilio's Messages API and posts a
signed status callback for every message. With --webhooks the same process is the booking system
too: it receives and verifies the gateway's signed webhooks. The load and the sink are
`medrelay-harness` (Rust, bench/src/bin/medrelay-harness) by default, or this script's own
aiohttp ones with --harness python; this script keeps the set-up, the clocks and the checks.
See README.md beside this file for what each figure means.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import math
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import perf_profile
import wal_pages

try:
    import aiohttp
    from aiohttp import web
    from yarl import URL
except ImportError:
    sys.exit("aiohttp is missing: python3 -m venv target/bench-venv && "
             "target/bench-venv/bin/pip install -r bench/external/requirements.txt")

REPO = Path(__file__).resolve().parents[2]
BINARY = REPO / "target" / "release" / "medrelay"
HARNESS = REPO / "target" / "release" / "medrelay-harness"
CLINIC = "bench"
ACCOUNT_SID = "AC" + "e5" * 16
SMS_FROM = "+97235551234"
CLK_TCK = os.sysconf("SC_CLK_TCK")
ALL_WEEK = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
WEBHOOK_PATH = "/booking/webhooks"
WEBHOOK_TOLERANCE_S = 300  # Standard Webhooks: a timestamp further off than this is refused


# ---------------------------------------------------------------- the sink (Twilio look-alike)

@dataclass
class Sink:
    """What the provider saw. Messages are told apart by the `ref` the harness writes into each
    Body, so a second send of one notification shows even under a new attempt id."""
    auth_token: str
    sent_callback: bool
    receipts: bool  # false with --no-receipts: each message stays `sent`
    receipt_delay: float
    callbacks_in_flight: int
    sends: Counter = field(default_factory=Counter)          # ref -> send requests
    attempts: Counter = field(default_factory=Counter)       # attempt id -> send requests
    first_send: dict = field(default_factory=dict)           # ref -> monotonic time
    delivered_ok: dict = field(default_factory=dict)         # ref -> time its `delivered` got 2xx
    answers: Counter = field(default_factory=Counter)        # "delivered 200", "sent 503", ...
    tasks: set = field(default_factory=set)
    # The booking system's side (--webhooks). The secret arrives once the harness has registered
    # the endpoint, which is after this process started.
    webhook_key: bytes | None = None
    webhook_ids: Counter = field(default_factory=Counter)    # webhook-id -> requests that verified
    webhook_kinds: Counter = field(default_factory=Counter)  # "notification.status_changed sent>delivered" -> events
    forged: Counter = field(default_factory=Counter)         # why a request did not verify -> requests
    delivered_events: Counter = field(default_factory=Counter)  # notification id -> distinct delivered events
    delivered_hook_at: dict = field(default_factory=dict)    # notification id -> time its first arrived
    transitions: dict = field(default_factory=dict)          # notification id -> [[from, to], ...] as they came

    async def messages(self, request: web.Request) -> web.Response:
        sid = request.match_info["sid"]
        expected = "Basic " + base64.b64encode(f"{sid}:{self.auth_token}".encode()).decode()
        if sid != ACCOUNT_SID or request.headers.get("Authorization") != expected:
            return web.json_response({"code": 20003, "message": "Authenticate", "status": 401,
                                      "more_info": "https://www.twilio.com/docs/errors/20003"},
                                     status=401)
        form = dict(parse_qsl(await request.text(), keep_blank_values=True))
        now = time.monotonic()
        ref = form.get("Body", "").rpartition("ref ")[2] or "?"
        self.sends[ref] += 1
        self.first_send.setdefault(ref, now)
        callback = form.get("StatusCallback", "")
        self.attempts[dict(parse_qsl(callback.partition("?")[2])).get("attempt", "?")] += 1
        message_sid = "SM" + secrets.token_hex(16)
        if callback and self.receipts:
            task = asyncio.create_task(self.report(callback, message_sid, ref, form))
            self.tasks.add(task)  # asyncio keeps only weak references to tasks
            task.add_done_callback(self.tasks.discard)
        return web.json_response(twilio_message(sid, message_sid, form), status=201)

    async def report(self, url: str, message_sid: str, ref: str, form: dict) -> None:
        await asyncio.sleep(self.receipt_delay)
        for status in (["sent"] if self.sent_callback else []) + ["delivered"]:
            params = {"AccountSid": ACCOUNT_SID, "ApiVersion": "2010-04-01",
                      "From": form.get("From", ""), "To": form.get("To", ""),
                      "MessageSid": message_sid, "SmsSid": message_sid,
                      "MessageStatus": status, "SmsStatus": status}
            if status == "delivered":
                params["RawDlrDoneDate"] = datetime.now(timezone.utc).strftime("%y%m%d%H%M")
            if await self.post_signed(url, params) and status == "delivered":
                self.delivered_ok[ref] = time.monotonic()

    async def post_signed(self, url: str, params: dict) -> bool:
        headers = {"X-Twilio-Signature": twilio_signature(self.auth_token, url, params),
                   "Content-Type": "application/x-www-form-urlencoded"}
        # Twilio retries a callback that found no server; here a busy gateway (503) is retried
        # too, so that every message can end delivered. Each answer is counted.
        for attempt in range(8):
            async with self.limit:
                try:
                    async with self.client.post(URL(url, encoded=True), data=urlencode(params),
                                                headers=headers) as response:
                        await response.read()
                        self.answers[f"{params['MessageStatus']} {response.status}"] += 1
                        if response.status < 300:
                            return True
                except aiohttp.ClientError as error:
                    self.answers[f"{params['MessageStatus']} {type(error).__name__}"] += 1
            await asyncio.sleep(0.2 * 2 ** attempt)
        return False

    async def set_webhook_secret(self, request: web.Request) -> web.Response:
        secret = (await request.text()).strip()
        if not secret.startswith("whsec_"):
            return web.Response(status=400, text="not a whsec_ secret")
        self.webhook_key = base64.b64decode(secret.removeprefix("whsec_"))
        return web.Response(status=204)

    async def booking_webhook(self, request: web.Request) -> web.Response:
        """As a booking system should: verify, keep each webhook-id once, answer 2xx fast."""
        body = await request.read()
        now = time.monotonic()
        why = self.unverified(request.headers, body)
        if why:
            self.forged[why] += 1
            return web.Response(status=401)  # the gateway retries it: counted, and a failed check
        event_id = request.headers["webhook-id"]
        self.webhook_ids[event_id] += 1
        if self.webhook_ids[event_id] > 1:
            return web.Response(status=204)  # at least once: a repeat is answered, not counted again
        event = json.loads(body)
        data = event.get("data") or {}
        self.webhook_kinds[f"{event.get('type')} {data.get('from')}>{data.get('to')}"] += 1
        if event.get("type") == "notification.status_changed":
            notification = data.get("notification_id", "?")
            self.transitions.setdefault(notification, []).append([data.get("from"), data.get("to")])
            if data.get("to") == "delivered":
                self.delivered_events[notification] += 1
                self.delivered_hook_at.setdefault(notification, now)
        return web.Response(status=204)

    def unverified(self, headers: Mapping[str, str], body: bytes) -> str:
        """Standard Webhooks, as the gateway's docs tell a receiver: `v1,` + base64 HMAC-SHA256 of
        "{webhook-id}.{webhook-timestamp}.{body}" keyed with the secret's base64-decoded bytes,
        any of the space-separated signatures (a rotation sends two), the timestamp within five
        minutes. Why it does not verify, or "" when it does."""
        if self.webhook_key is None:
            return "no secret yet"
        event_id = headers.get("webhook-id")
        stamp = headers.get("webhook-timestamp", "")
        signatures = headers.get("webhook-signature")
        if not event_id or not signatures:
            return "header missing"
        if not stamp.isdigit():
            return "timestamp not a number"
        if abs(time.time() - int(stamp)) > WEBHOOK_TOLERANCE_S:
            return "timestamp off by more than 5 min"
        mac = hmac.new(self.webhook_key, f"{event_id}.{stamp}.".encode() + body, hashlib.sha256)
        expected = base64.b64encode(mac.digest()).decode()
        offered = [s.partition(",")[2] for s in signatures.split() if s.startswith("v1,")]
        if not any(hmac.compare_digest(s, expected) for s in offered):
            return "signature does not match"
        return ""

    async def state(self, request: web.Request) -> web.Response:
        if request.query.get("full"):
            return web.json_response({"sends": self.sends, "attempts": self.attempts,
                                      "first_send": self.first_send,
                                      "delivered_ok": self.delivered_ok, "answers": self.answers,
                                      "webhook_ids": self.webhook_ids,
                                      "webhook_kinds": self.webhook_kinds, "forged": self.forged,
                                      "delivered_events": self.delivered_events,
                                      "delivered_hook_at": self.delivered_hook_at,
                                      "transitions": self.transitions})
        return web.json_response({"sends": sum(self.sends.values()),
                                  "delivered_ok": len(self.delivered_ok),
                                  "delivered_hooks": len(self.delivered_hook_at),
                                  "answers": self.answers})

    async def start(self, app: web.Application) -> None:
        self.limit = asyncio.Semaphore(self.callbacks_in_flight)
        self.client = aiohttp.ClientSession(connector=aiohttp.TCPConnector(
            limit=self.callbacks_in_flight), timeout=aiohttp.ClientTimeout(total=30))

    async def stop(self, app: web.Application) -> None:
        await self.client.close()


def twilio_message(account_sid: str, message_sid: str, form: dict) -> dict:
    """Twilio's answer to a created message (the adapter reads only `sid`)."""
    created = datetime.now(timezone.utc).strftime("%a, %d %b %Y %H:%M:%S +0000")
    uri = f"/2010-04-01/Accounts/{account_sid}/Messages/{message_sid}"
    return {"account_sid": account_sid, "api_version": "2010-04-01", "body": form.get("Body"),
            "date_created": created, "date_updated": created, "date_sent": None,
            "direction": "outbound-api", "error_code": None, "error_message": None,
            "from": form.get("From"), "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0", "num_segments": "1", "price": None, "price_unit": "USD",
            "sid": message_sid, "status": "queued", "to": form.get("To"),
            "subresource_uris": {"media": f"{uri}/Media.json"}, "uri": f"{uri}.json"}


def twilio_signature(auth_token: str, url: str, params: dict) -> str:
    """Twilio's published scheme: HMAC-SHA1 over the full URL, then each POST parameter sorted by
    name as name+value, base64."""
    payload = url + "".join(k + v for k, v in sorted(params.items()))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def serve_sink(args: argparse.Namespace) -> None:
    sink = Sink(args.auth_token, args.sent_callback, not args.no_receipts,
                args.receipt_delay_ms / 1000,
                args.callbacks_in_flight)
    app = web.Application(client_max_size=1 << 20)
    app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", sink.messages)
    app.router.add_get("/_sink/state", sink.state)
    app.router.add_post(WEBHOOK_PATH, sink.booking_webhook)
    app.router.add_put("/_sink/webhook-secret", sink.set_webhook_secret)
    app.on_startup.append(sink.start)
    app.on_cleanup.append(sink.stop)
    listener = socket.socket()
    listener.bind(("127.0.0.1", args.port))
    print(f"sink listening on {listener.getsockname()[1]}", flush=True)
    web.run_app(app, sock=listener, print=None, access_log=None, handle_signals=True)


# ---------------------------------------------------------------- /proc

def stat_ticks(stat: str) -> int:
    """utime + stime from a `/proc/…/stat` line, in clock ticks. The fields are counted from the
    name's closing parenthesis, as the name may hold spaces."""
    fields = stat.rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])


def process_ticks(pid: int) -> int:
    """utime + stime of one process (all its threads), in clock ticks."""
    return stat_ticks(Path(f"/proc/{pid}/stat").read_text())


def thread_ticks(pids: list[int]) -> dict[int, tuple[str, int]]:
    """utime + stime of each thread of these processes, by thread id, with the thread's name (the
    kernel keeps its first 15 characters: SQLite's connection threads are `sqlx-sqlite-wor`)."""
    ticks: dict[int, tuple[str, int]] = {}
    for pid in pids:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                text = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
            except (FileNotFoundError, ProcessLookupError):
                continue
            ticks[int(tid)] = (text[text.index("(") + 1:text.rindex(")")], stat_ticks(text))
    return ticks


def postgres_ticks(database: str | None) -> dict[int, int]:
    """Every PostgreSQL server process, less the client backends of other databases (other
    engineers' tests share the server); per pid, so a backend that starts mid-phase counts."""
    ticks: dict[int, int] = {}
    if database is None:
        return ticks
    for entry in os.listdir("/proc"):
        try:
            if not entry.isdigit() or Path(f"/proc/{entry}/comm").read_text().strip() != "postgres":
                continue
            words = Path(f"/proc/{entry}/cmdline").read_bytes().decode().replace("\0", " ").split()
            # A client backend reads "postgres: 15/main: <user> <database> <host>(<port>) <state>".
            if len(words) >= 5 and "(" in words[4] and words[3] != database:
                continue
            ticks[int(entry)] = process_ticks(int(entry))
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return ticks


def machine_busy_ticks() -> int:
    """All cores since boot, less idle and iowait."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]]
    return sum(values) - values[3] - values[4]


@dataclass
class CpuSample:
    at: float
    gateway: dict[int, int]
    gateway_threads: dict[int, tuple[str, int]]
    database: dict[int, int]
    harness: dict[int, int]
    machine: int

    @classmethod
    def take(cls, gateway_pids: list[int], database: str | None,
             harness_pids: list[int]) -> CpuSample:
        return cls(time.monotonic(), {p: process_ticks(p) for p in gateway_pids},
                   thread_ticks(gateway_pids), postgres_ticks(database),
                   {p: process_ticks(p) for p in harness_pids}, machine_busy_ticks())


def ticks_between(before: dict[int, int], after: dict[int, int]) -> int:
    return sum(t - before.get(pid, 0) for pid, t in after.items())


def ticks_by_thread_name(before: dict[int, tuple[str, int]],
                         after: dict[int, tuple[str, int]]) -> Counter:
    """The gateway's threads' ticks between two samples, summed by thread name; a thread that
    ended between them is not counted (tokio's blocking threads come and go; its workers and
    SQLite's connection threads live as long as the gateway)."""
    by_name: Counter = Counter()
    for tid, (name, ticks) in after.items():
        by_name[name] += ticks - before.get(tid, (name, 0))[1]
    return by_name


# ---------------------------------------------------------------- the gateway and its database

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Database:
    url: str
    name: str | None     # the PostgreSQL database, None on SQLite
    server: str | None

    @classmethod
    def create(cls, target: str, directory: Path) -> Database:
        if target == "sqlite":
            return cls(f"sqlite://{directory / 'medrelay.db'}", None, None)
        server = target.rstrip("/").split("?")[0]
        if server.count("/") > 2:  # a database named in the URL is left alone
            server = server.rsplit("/", 1)[0]
        name = f"medrelay_ext_{secrets.token_hex(6)}"
        subprocess.run(["psql", f"{server}/postgres", "-qc", f"CREATE DATABASE {name}"], check=True)
        return cls(f"{server}/{name}", name, server)

    def drop(self) -> None:
        if self.name:
            subprocess.run(["psql", f"{self.server}/postgres", "-qc",
                            f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)"], check=False)


@dataclass
class Gateway:
    process: subprocess.Popen
    base: str

    @staticmethod
    def write_config(directory: Path, name: str, port: int, database: Database, sink_port: int,
                     cap: int, webhooks: bool) -> Path:
        path = directory / name
        # The booking system's receiver is the sink on loopback over http, which the gateway
        # refuses unless the operator allows private targets.
        private = "\n[webhooks]\nallow_private_targets = true\n" if webhooks else ""
        path.write_text(f"""\
listen = "127.0.0.1:{port}"
database_url = "{database.url}"
bootstrap_demo = false

[senders]
sms_per_second = 1000000  # the provider's rate limit is not what is measured

[api]
key_rate_per_second = 1000000
key_burst = 1000000
patient_daily_cap = {cap}         # counted at full cost, refuses nothing
patient_daily_urgent_cap = {cap}
booking_urgent_clinics = ["{CLINIC}"]

[sandbox]
enabled = false

[providers.twilio]                # auth_token comes from the environment
base_url = "http://127.0.0.1:{sink_port}"
account_sid = "{ACCOUNT_SID}"

[providers.twilio.sms]
from = "{SMS_FROM}"
status_callback_url = "http://127.0.0.1:{port}/webhooks/twilio/sms"
{private}""")
        return path

    @classmethod
    def start(cls, binary: Path, config: Path, port: int, env: dict[str, str],
              log: Path) -> Gateway:
        with open(log, "ab") as out:
            process = subprocess.Popen([str(binary), "--config", str(config), "serve"],
                                       cwd=config.parent, env=env, stdout=out, stderr=out)
        return cls(process, f"http://127.0.0.1:{port}")

    async def ready(self, session: aiohttp.ClientSession, log: Path) -> None:
        for _ in range(600):
            if self.process.poll() is not None:
                raise RuntimeError(f"the gateway exited: {log.read_text()[-3000:]}")
            try:
                async with session.get(f"{self.base}/ready") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        raise RuntimeError(f"the gateway is not ready after 60 s; see {log}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def medrelay(binary: Path, config: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(binary), "--config", str(config), *args], cwd=config.parent,
                          env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"medrelay {' '.join(args)}: {done.stdout}{done.stderr}")
    return done.stdout


# ---------------------------------------------------------------- the load

@dataclass
class Load:
    accepted: dict[int, str] = field(default_factory=dict)   # index -> notification id
    latencies: list[float] = field(default_factory=list)     # seconds, 202s only
    rejected: Counter = field(default_factory=Counter)
    first_rejection: str = ""
    started: float = 0.0
    ended: float = 0.0
    progress: int = 0       # 202s so far, as medrelay-harness reports them while it posts
    own_ticks: int = 0      # CPU of the load's own process (medrelay-harness), in clock ticks


async def post_notifications(session: aiohttp.ClientSession, bases: list[str], key: str,
                             indexes: range, opts: argparse.Namespace, tag: str,
                             load: Load | None = None) -> Load:
    """`POST /v1/notifications` for each index, `opts.concurrency` in flight, from the harness
    `opts.harness` names."""
    load = load or Load()
    if opts.harness == "rust":
        await post_from_rust(bases, key, indexes, opts, tag, load)
    else:
        await post_from_python(session, bases, key, indexes, opts, tag, load)
    return load


async def post_from_rust(bases: list[str], key: str, indexes: range, opts: argparse.Namespace,
                         tag: str, load: Load) -> None:
    """`medrelay-harness load` in a process of its own. It posts on `go`, reports its 202s as it
    goes, ends with one JSON line of what `Load` holds, and stays until its input closes, so its
    CPU time is read before it exits."""
    command = [str(HARNESS), "load", "--from", str(indexes.start), "--to", str(indexes.stop),
               "--patients", str(opts.patients), "--tag", tag, "--priority", opts.priority,
               "--concurrency", str(opts.concurrency)]
    for base in bases:
        command += ["--base", base]
    process = await asyncio.create_subprocess_exec(
        *command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, limit=1 << 26,
        env={**os.environ, "MEDRELAY_KEY": key})  # the key stays out of the process list
    outcome = None
    try:
        ready = process_ticks(process.pid)
        process.stdin.write(b"go\n")
        await process.stdin.drain()
        async for line in process.stdout:
            if line.startswith(b"accepted "):
                load.progress = int(line.split()[1])
                continue
            load.own_ticks += process_ticks(process.pid) - ready
            outcome = json.loads(line)
            break
    finally:
        process.stdin.close()
        await process.wait()
    if outcome is None:
        raise RuntimeError(f"medrelay-harness load ended ({process.returncode}) without its figures")
    load.accepted.update({int(i): n for i, n in outcome["accepted"].items()})
    load.latencies += outcome["latencies"]
    load.rejected.update(outcome["rejected"])
    load.first_rejection = load.first_rejection or outcome["first_rejection"]
    load.started, load.ended = outcome["started"], outcome["ended"]


async def post_from_python(session: aiohttp.ClientSession, bases: list[str], key: str,
                           indexes: range, opts: argparse.Namespace, tag: str,
                           load: Load) -> None:
    pending = iter(indexes)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    async def client(worker: int) -> None:
        url = f"{bases[worker % len(bases)]}/v1/notifications"
        for i in pending:
            body = json.dumps({
                "patient_id": f"ext-{i % opts.patients:05}", "topic": "general",
                "priority": opts.priority,
                "body": f"Reminder: your appointment is on 01.12 at 09:30. ref {tag}-{i}"})
            sent = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    answer = await response.read()
                    took = time.perf_counter() - sent
                    if response.status == 202:
                        load.accepted[i] = json.loads(answer)["id"]
                        load.latencies.append(took)
                        continue
                    load.rejected[str(response.status)] += 1
                    load.first_rejection = load.first_rejection or answer.decode()[:500]
            except aiohttp.ClientError as error:
                load.rejected[type(error).__name__] += 1

    load.started = time.monotonic()
    await asyncio.gather(*(client(w) for w in range(opts.concurrency)))
    load.ended = time.monotonic()


async def put_patients(session: aiohttp.ClientSession, base: str, key: str, count: int) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    pending = iter(range(count))

    async def client() -> None:
        for i in pending:
            body = {"name": f"Ext Patient {i}", "phone": f"+9725410{i:05}", "channels": ["sms"]}
            async with session.put(f"{base}/v1/patients/ext-{i:05}", json=body,
                                   headers=headers) as response:
                if response.status not in (200, 201):
                    raise RuntimeError(f"PUT patient answered {response.status}: "
                                       f"{await response.text()}")

    await asyncio.gather(*(client() for _ in range(16)))


async def sink_state(session: aiohttp.ClientSession, sink: str, full: bool = False) -> dict:
    async with session.get(f"{sink}/_sink/state", params={"full": "1"} if full else {}) as r:
        return await r.json()


async def wait_delivered(session: aiohttp.ClientSession, sink: str, expected: int,
                         timeout: float, what: str = "delivered_ok") -> bool:
    """Until the sink has had `expected` delivered callbacks answered 2xx (or, `what` =
    "delivered_hooks", received the delivered webhooks of `expected` notifications; "sends",
    `expected` send requests)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (await sink_state(session, sink))[what] >= expected:
            return True
        await asyncio.sleep(0.2)
    return False


async def register_webhook(session: aiohttp.ClientSession, base: str, admin: str,
                           sink: str) -> None:
    """The booking system's endpoint, hearing the status changes (`to: delivered` among them),
    and its secret handed to the sink, which verifies with it."""
    body = {"url": f"{sink}{WEBHOOK_PATH}", "event_types": ["notification.status_changed"]}
    async with session.post(f"{base}/v1/webhooks", json=body,
                            headers={"Authorization": f"Bearer {admin}"}) as response:
        if response.status != 201:
            raise RuntimeError(f"POST /v1/webhooks answered {response.status}: "
                               f"{await response.text()}")
        secret = (await response.json())["secret"]
    async with session.put(f"{sink}/_sink/webhook-secret", data=secret) as response:
        if response.status != 204:
            raise RuntimeError(f"the sink refused the secret: {await response.text()}")


async def progress(session: aiohttp.ClientSession, sink: str, load: Load) -> None:
    """-v: each second, what was accepted, sent and receipted so far; shows a slow phase."""
    start = time.monotonic()
    while True:
        await asyncio.sleep(1)
        state = await sink_state(session, sink)
        print(f"    {time.monotonic() - start:4.0f} s: accepted {len(load.accepted):,}, sends "
              f"{state['sends']:,}, receipts answered {state['delivered_ok']:,}, delivered "
              f"webhooks {state['delivered_hooks']:,}", flush=True)


async def accepted_share(load: Load, share: float, notifications: int) -> bool:
    """Waits until `share` of the measured notifications were accepted; false if the load ended
    short of it (refusals)."""
    def accepted() -> int:
        return max(len(load.accepted), load.progress)

    while accepted() < share * notifications and not load.ended:
        await asyncio.sleep(0.05)
    return accepted() >= share * notifications


async def copy_log_while_loaded(directory: Path, load: Load, notifications: int) -> list[Path]:
    """Copies of the database and its log at 40, 55 and 70 % of the measured notifications
    accepted: the middle of the run, with intake and delivery both under way."""
    copies = []
    for n, share in enumerate((0.4, 0.55, 0.7)):
        if not await accepted_share(load, share, notifications):
            break
        copy = directory / f"wal-pages-{n}.db"
        await asyncio.to_thread(wal_pages.snapshot, directory / "medrelay.db", copy)
        copies.append(copy)
    return copies


async def profile_while_loaded(pid: int, seconds: float, directory: Path, load: Load,
                               notifications: int) -> str:
    """`perf record` on the gateway from 30 % of the measured notifications accepted."""
    if not await accepted_share(load, 0.3, notifications):
        return "  perf: the load ended before the profile began"
    data = directory / "perf.data"
    await asyncio.to_thread(perf_profile.record, pid, seconds, data)
    return await asyncio.to_thread(perf_profile.report, data)


def wal_pages_report(copies: list[Path]) -> str:
    pages = wal_pages.Pages()
    for copy in copies:
        pages.add(copy)
    return pages.report()


async def gateway_statuses(session: aiohttp.ClientSession, base: str, key: str) -> dict[str, str]:
    """Every notification's status as the gateway reads it, 500 a page."""
    statuses: dict[str, str] = {}
    cursor = None
    while True:
        params = {"limit": "500", **({"cursor": cursor} if cursor else {})}
        async with session.get(f"{base}/v1/notifications", params=params,
                               headers={"Authorization": f"Bearer {key}"}) as response:
            page = await response.json()
        statuses.update((item["id"], item["status"]) for item in page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return statuses


def final_status(opts: argparse.Namespace) -> str:
    return "sent" if opts.no_receipts else "delivered"


async def final_statuses(session: aiohttp.ClientSession, base: str, key: str, final: str,
                         ids: set[str]) -> dict[str, str]:
    """The statuses once every notification in `ids` has reached `final`, or after 30 s. A
    delivered one has by the time its receipt was answered; a `sent` one only once the gateway
    has recorded the provider's answer, a moment after the sink saw the send."""
    deadline = time.monotonic() + 30
    while True:
        statuses = await gateway_statuses(session, base, key)
        if all(statuses.get(i) == final for i in ids) or time.monotonic() > deadline:
            return statuses
        await asyncio.sleep(0.2)


# ---------------------------------------------------------------- one run

@dataclass
class Figures:
    accepted_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    delivered_per_s: float
    receipts_per_s: float
    webhooks_per_s: float   # 0 without --webhooks
    wall_s: float
    gateway_cpu_ms: float
    # The gateway's share by thread name: the runtime's workers (HTTP, policy, our side of every
    # statement) against SQLite's connection threads (the statements themselves, and commits).
    gateway_threads_cpu_ms: dict[str, float]
    database_cpu_ms: float
    busy_cores: float
    harness_cores: float
    problems: list[str]

    @property
    def total_cpu_ms(self) -> float:
        return self.gateway_cpu_ms + self.database_cpu_ms

    @classmethod
    def of(cls, load: Load, seen: dict, tag: str, before: CpuSample, after: CpuSample, *,
           receipts: bool, webhooks_per_s: float, problems: list[str]) -> Figures:
        """The measured phase's figures: `load` as the harness saw it, `seen` as the sink did
        (its full state), the CPU between the two samples."""
        measured = [f"{tag}-{i}" for i in load.accepted]
        last_send = max((seen["first_send"][r] for r in measured if r in seen["first_send"]),
                        default=load.ended)
        last_receipt = max((seen["delivered_ok"][r] for r in measured
                            if r in seen["delivered_ok"]), default=load.ended)
        latencies = sorted(load.latencies)
        count = max(1, len(load.accepted))
        wall = after.at - before.at
        return cls(
            accepted_per_s=len(load.accepted) / (load.ended - load.started),
            p50_ms=percentile(latencies, 0.5) * 1000, p99_ms=percentile(latencies, 0.99) * 1000,
            max_ms=(latencies[-1] if latencies else 0) * 1000,
            delivered_per_s=len(load.accepted) / max(1e-9, last_send - load.started),
            receipts_per_s=(len(load.accepted) / max(1e-9, last_receipt - load.started)
                            if receipts else 0.0),
            webhooks_per_s=webhooks_per_s,
            wall_s=wall,
            gateway_cpu_ms=ticks_between(before.gateway, after.gateway) / CLK_TCK * 1000 / count,
            gateway_threads_cpu_ms={
                name: ticks / CLK_TCK * 1000 / count for name, ticks
                in ticks_by_thread_name(before.gateway_threads, after.gateway_threads).items()},
            database_cpu_ms=(ticks_between(before.database, after.database) / CLK_TCK * 1000
                             / count),
            busy_cores=(after.machine - before.machine) / CLK_TCK / wall,
            harness_cores=((ticks_between(before.harness, after.harness) + load.own_ticks)
                           / CLK_TCK / wall),
            problems=problems)

    def print(self, label: str) -> None:
        db = f", database {self.database_cpu_ms:.3f}" if self.database_cpu_ms else ""
        print(f"{label}: accepted/s {self.accepted_per_s:,.0f}  accept p50/p99/max ms "
              f"{self.p50_ms:.1f}/{self.p99_ms:.1f}/{self.max_ms:.1f}  delivered/s "
              f"{self.delivered_per_s:,.0f}"
              + (f"  receipt round trip/s {self.receipts_per_s:,.0f}" if self.receipts_per_s
                 else "")
              + (f"  webhook round trip/s {self.webhooks_per_s:,.0f}" if self.webhooks_per_s
                 else "") + "\n"
              f"  CPU per message ms: total {self.total_cpu_ms:.3f} (gateway "
              f"{self.gateway_cpu_ms:.3f}{db})  wall {self.wall_s:.1f} s  busy cores "
              f"{self.busy_cores:.2f} (harness {self.harness_cores:.2f})  "
              f"{'FAILED' if self.problems else 'OK'}\n"
              "  the gateway's threads, CPU per message ms: "
              + ", ".join(f"{name} {ms:.3f}" for name, ms
                          in sorted(self.gateway_threads_cpu_ms.items(), key=lambda i: -i[1])
                          if ms >= 0.0005), flush=True)
        for problem in self.problems:
            print(f"  ! {problem}")


def where_time_went(metrics: str) -> str:
    """Mean times from the gateway's own histograms: is the provider (the sink) slow to answer,
    or the gateway slow to answer intake and the status callbacks?"""
    sums: Counter = Counter()
    for line in metrics.splitlines():
        if line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        for metric, key in (("medrelay_provider_request_duration_seconds", "provider answer"),
                            ('route="/v1/notifications",method="POST"', "intake answer"),
                            ('route="/webhooks/twilio/sms",method="POST"', "status callback answer"),
                            ("medrelay_webhook_delivery_seconds", "booking webhook answer")):
            if metric in name and "_bucket" not in name:
                sums[(key, name.split("{")[0].rsplit("_", 1)[1])] += float(value)
    keys = dict.fromkeys(k for k, _ in sums)
    return ", ".join(f"{k} {sums[(k, 'sum')] / sums[(k, 'count')] * 1000:.1f} ms mean"
                     for k in keys if sums[(k, "count")])


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)] if sorted_values else 0.0


async def one_run(opts: argparse.Namespace, instances: int, run: int) -> Figures:
    directory = Path(tempfile.mkdtemp(prefix="medrelay-ext-"))
    database = Database.create(opts.database, directory)
    auth_token = secrets.token_hex(16)
    env = {**os.environ, "MEDRELAY_PROVIDERS__TWILIO__AUTH_TOKEN": auth_token}
    sink_cmd = sink_program(opts) + ["sink", "--auth-token", auth_token,
                "--receipt-delay-ms", str(opts.receipt_delay_ms),
                "--callbacks-in-flight", str(opts.callbacks_in_flight)]
    sink_cmd += ["--sent-callback"] if opts.sent_callback else []
    sink_cmd += ["--no-receipts"] if opts.no_receipts else []
    sink_proc = subprocess.Popen(sink_cmd, stdout=subprocess.PIPE, text=True)
    sink_port = int(sink_proc.stdout.readline().split()[-1])
    sink = f"http://127.0.0.1:{sink_port}"
    total = opts.warmup + opts.notifications
    cap = math.ceil(total / opts.patients)
    ports = [free_port() for _ in range(instances)]
    configs = [Gateway.write_config(directory, f"medrelay-{n}.toml", port, database, sink_port,
                                    cap, opts.webhooks) for n, port in enumerate(ports)]
    log = directory / "gateway.log"
    gateways: list[Gateway] = []
    tag = f"r{run}"
    try:
        medrelay(opts.binary, configs[0], env, "clinic", "create", CLINIC, "--name", "Bench Clinic",
                 "--channels", "sms")
        admin = medrelay(opts.binary, configs[0], env, "apikey", "create", "--clinic", CLINIC,
                         "--role", "admin").strip().splitlines()[-1]
        booking = medrelay(opts.binary, configs[0], env, "apikey", "create", "--clinic", CLINIC,
                           "--role", "booking").strip().splitlines()[-1]
        gateways = [Gateway.start(opts.binary, c, port, env, log)
                    for c, port in zip(configs, ports)]
        bases = [g.base for g in gateways]
        connector = aiohttp.TCPConnector(limit=opts.concurrency + 8)
        async with aiohttp.ClientSession(connector=connector,
                                         timeout=aiohttp.ClientTimeout(total=120)) as session:
            for gateway in gateways:
                await gateway.ready(session, log)
            # Open around the clock with nobody quiet: the figures must not depend on the hour.
            hours = {"week": {d: [{"start": "00:00", "end": "24:00"}] for d in ALL_WEEK},
                     "holidays": [], "patient_quiet_hours": None}
            async with session.put(f"{bases[0]}/v1/clinic/hours", json=hours,
                                   headers={"Authorization": f"Bearer {admin}"}) as response:
                if response.status != 200:
                    raise RuntimeError(f"PUT /v1/clinic/hours: {await response.text()}")
            if opts.webhooks:
                await register_webhook(session, bases[0], admin, sink)
            await put_patients(session, bases[0], admin, opts.patients)

            warm = await post_notifications(session, bases, booking, range(opts.warmup), opts, tag)
            done = "sends" if opts.no_receipts else "delivered_ok"
            if not await wait_delivered(session, sink, len(warm.accepted), opts.timeout, done):
                print(f"  ! the warm-up's {done} did not all come in time; measuring anyway")
            # The measured phase starts with the webhook queue empty too.
            if opts.webhooks and not await wait_delivered(session, sink, len(warm.accepted),
                                                          opts.timeout, "delivered_hooks"):
                print("  ! the warm-up's webhooks did not all arrive in time; measuring anyway")
            if opts.analyze and database.name:
                # What autovacuum's first ANALYZE does on a server that runs it.
                subprocess.run(["psql", database.url, "-qc", "ANALYZE"], check=True)
            database_name = database.name
            pids = [g.process.pid for g in gateways]
            harness = [os.getpid(), sink_proc.pid]
            before = CpuSample.take(pids, database_name, harness)
            load = Load()
            shown = asyncio.create_task(progress(session, sink, load)) if opts.verbose else None
            copies = (asyncio.create_task(copy_log_while_loaded(directory, load, opts.notifications))
                      if opts.wal_pages else None)
            profiled = (asyncio.create_task(profile_while_loaded(
                pids[0], opts.perf, directory, load, opts.notifications)) if opts.perf else None)
            await post_notifications(session, bases, booking, range(opts.warmup, total), opts,
                                     tag, load)
            expected = len(warm.accepted) + len(load.accepted)
            finished = await wait_delivered(session, sink, expected, opts.timeout, done)
            # The booking system hears of the last delivery after its receipt, so the CPU window
            # (and the machine's) runs on until then: its webhooks are part of each message's cost.
            hooks_finished = (not opts.webhooks
                              or await wait_delivered(session, sink, expected, opts.timeout,
                                                      "delivered_hooks"))
            if shown:
                shown.cancel()
            after = CpuSample.take(pids, database_name, harness)
            if copies:
                print(await asyncio.to_thread(wal_pages_report, await copies))
            if profiled:
                print(await profiled)
            seen = await sink_state(session, sink, full=True)
            for n, gateway in enumerate(gateways):
                async with session.get(f"{gateway.base}/metrics") as response:
                    metrics = await response.text()
                (directory / f"metrics-{n}.txt").write_text(metrics)
                print(f"  gateway {n}: {where_time_went(metrics)}")
            ids = set(warm.accepted.values()) | set(load.accepted.values())
            statuses = await final_statuses(session, bases[0], admin, final_status(opts), ids)
    except BaseException:
        if log.exists():
            print(f"  the gateway's last words:\n{log.read_text()[-2000:]}", file=sys.stderr)
        raise
    finally:
        for gateway in gateways:
            gateway.stop()
        sink_proc.terminate()
        sink_proc.wait()
        if opts.keep:
            print(f"  kept: {directory} (gateway.log, medrelay-*.toml)"
                  + (f", database {database.url}" if database.name else ""))
        else:
            database.drop()
            shutil.rmtree(directory, ignore_errors=True)

    problems = check(opts, warm, load, seen, statuses, tag, finished)
    # A 503 is the gateway's back-pressure on webhooks (the sink retries): told, not failed.
    print(f"  status callbacks answered: {dict(sorted(seen['answers'].items()))}")
    webhooks_per_s = 0.0
    if opts.webhooks:
        problems += check_webhooks(opts, warm, load, seen, hooks_finished)
        last_hook = max((seen["delivered_hook_at"][n] for n in load.accepted.values()
                         if n in seen["delivered_hook_at"]), default=load.ended)
        webhooks_per_s = len(load.accepted) / max(1e-9, last_hook - load.started)
    return Figures.of(load, seen, tag, before, after, receipts=not opts.no_receipts,
                      webhooks_per_s=webhooks_per_s, problems=problems)


def check(opts: argparse.Namespace, warm: Load, load: Load, seen: dict, statuses: dict[str, str],
          tag: str, finished: bool) -> list[str]:
    """No loss, no duplicate: one send request per accepted notification, each ends delivered."""
    problems = []
    accepted = {**warm.accepted, **load.accepted}
    for phase in (warm, load):
        if phase.rejected:
            problems.append(f"rejected: {dict(phase.rejected)}; first: {phase.first_rejection}")
    refs = {f"{tag}-{i}" for i in accepted}
    sends = seen["sends"]
    missing = [r for r in refs if r not in sends]
    doubled = {r: n for r, n in sends.items() if n > 1}
    stray = [r for r in sends if r not in refs]
    reused = {a: n for a, n in seen["attempts"].items() if n > 1}
    final = final_status(opts)
    not_final = Counter(statuses.get(nid, "absent") for nid in accepted.values()
                        if statuses.get(nid) != final)
    if not finished:
        problems.append(f"timed out after {opts.timeout:.0f} s waiting for "
                        + ("sends" if opts.no_receipts else "receipts"))
    if missing:
        problems.append(f"{len(missing)} accepted but never sent, e.g. {missing[:3]}")
    if doubled:
        problems.append(f"{len(doubled)} sent more than once, e.g. {list(doubled.items())[:3]}")
    if stray:
        problems.append(f"{len(stray)} sends for nothing accepted, e.g. {stray[:3]}")
    if reused:
        problems.append(f"{len(reused)} attempt ids sent more than once")
    if not_final:
        problems.append(f"not {final} in the gateway: {dict(not_final)}")
    return problems


def check_webhooks(opts: argparse.Namespace, warm: Load, load: Load, seen: dict,
                   finished: bool) -> list[str]:
    """Every accepted notification's `delivered` reached the booking system, each request's
    signature verified, each notification's changes came in order. A webhook-id that comes again
    is allowed (delivery is at least once) and counted; a second delivered event with a new id
    is not: the gateway would have told of one delivery twice."""
    problems = []
    accepted = [*warm.accepted.values(), *load.accepted.values()]
    arrived = seen["delivered_hook_at"]
    missing = [n for n in accepted if n not in arrived]
    repeats = sum(n - 1 for n in seen["webhook_ids"].values() if n > 1)
    twice = {n: k for n, k in seen["delivered_events"].items() if k > 1}
    # In order per notification: each change starts where the one before it ended.
    disordered = [n for n, steps in seen["transitions"].items()
                  if any(a[1] != b[0] for a, b in zip(steps, steps[1:]))]
    print(f"  booking webhooks: {sum(seen['webhook_kinds'].values()):,} events "
          f"{dict(sorted(seen['webhook_kinds'].items()))}, {repeats} webhook-ids again "
          f"(at least once), {sum(seen['forged'].values())} not verified")
    if not finished:
        problems.append(f"timed out after {opts.timeout:.0f} s waiting for delivered webhooks")
    if missing:
        problems.append(f"{len(missing)} accepted with no delivered webhook, e.g. {missing[:3]}")
    if seen["forged"]:
        problems.append(f"webhooks not verified: {dict(seen['forged'])}")
    if twice:
        problems.append(f"{len(twice)} notifications with more than one delivered event "
                        f"(new webhook-ids), e.g. {list(twice.items())[:3]}")
    if disordered:
        problems.append(f"{len(disordered)} notifications' changes out of order, e.g. "
                        f"{[(n, seen['transitions'][n]) for n in disordered[:2]]}")
    return problems


# ---------------------------------------------------------------- main

def median_figures(runs: list[Figures]) -> Figures:
    median = {name: statistics.median(getattr(r, name) for r in runs)
              for name in Figures.__dataclass_fields__
              if name not in ("problems", "gateway_threads_cpu_ms")}
    names = {name for r in runs for name in r.gateway_threads_cpu_ms}
    threads = {name: statistics.median(r.gateway_threads_cpu_ms.get(name, 0.0) for r in runs)
               for name in names}
    return Figures(**median, gateway_threads_cpu_ms=threads,
                   problems=[p for r in runs for p in r.problems])


def measure(opts: argparse.Namespace, instances: int) -> Figures:
    runs = []
    for run in range(1, opts.runs + 1):
        figures = asyncio.run(one_run(opts, instances, run))
        figures.print(f"run {run}/{opts.runs}, {instances} instance(s)")
        runs.append(figures)
    median = median_figures(runs)
    if opts.runs > 1:
        median.print(f"median of {opts.runs}, {instances} instance(s)")
    return median


def compare_binaries(opts: argparse.Namespace) -> list[str]:
    """Runs two binaries in pairs, alternating which goes first (A B, B A, A B, …), so that the
    machine's drift over the minutes a comparison takes falls on both."""
    first, second = (Path(b).resolve() for b in opts.compare_binaries)
    runs: dict[Path, list[Figures]] = {first: [], second: []}
    for pair in range(opts.pairs):
        for binary in (first, second) if pair % 2 == 0 else (second, first):
            name = "A" if binary == first else "B"
            figures = asyncio.run(one_run(argparse.Namespace(**{**vars(opts), "binary": binary}),
                                          1, pair + 1))
            figures.print(f"pair {pair + 1}/{opts.pairs}, {name} ({binary})")
            runs[binary].append(figures)
    a, b = median_figures(runs[first]), median_figures(runs[second])
    a.print(f"median of {opts.pairs}, A ({first})")
    b.print(f"median of {opts.pairs}, B ({second})")
    cheaper = sum(y.total_cpu_ms < x.total_cpu_ms for x, y in zip(runs[first], runs[second]))
    print(f"B / A: CPU per message {b.total_cpu_ms / a.total_cpu_ms:.3f}x, delivered/s "
          f"{b.delivered_per_s / a.delivered_per_s:.3f}x, accepted/s "
          f"{b.accepted_per_s / a.accepted_per_s:.3f}x; B took less CPU in {cheaper} of "
          f"{opts.pairs} pairs")
    return a.problems + b.problems


def sink_program(opts: argparse.Namespace) -> list[str]:
    """The look-alike's program, before its `sink` arguments (the same for both harnesses)."""
    return [str(HARNESS)] if opts.harness == "rust" else [sys.executable, __file__]


def ensure_binaries(*binaries: Path) -> None:
    """Builds the release binaries when one is missing, as one build of both packages (a build of
    fewer packages would build sqlx again with other features)."""
    if not all(b.exists() for b in binaries):
        print("building the release binaries (cargo may wait for a lock while others build)",
              flush=True)
        subprocess.run(["cargo", "build", "--release", "-p", "medrelay", "-p", "medrelay-bench"],
                       cwd=REPO, check=True)


def add_harness_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--harness", choices=["rust", "python"], default="rust",
                        help="the load and the look-alike: medrelay-harness (Rust), or this "
                             "script's aiohttp ones, which take far more of the machine "
                             "(the figures of issue 15's first passes)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    sink = sub.add_parser("sink", help="run only the Twilio look-alike")
    sink.add_argument("--port", type=int, default=0)
    sink.add_argument("--auth-token", default="sink-auth-token")
    sink.add_argument("--sent-callback", action="store_true")
    sink.add_argument("--no-receipts", action="store_true")
    sink.add_argument("--receipt-delay-ms", type=int, default=50)
    sink.add_argument("--callbacks-in-flight", type=int, default=64)
    parser.add_argument("--database", default="sqlite",
                        help="sqlite, or a PostgreSQL server URL (a fresh database is made on it)")
    add_harness_option(parser)
    parser.add_argument("--notifications", "-n", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--analyze", action="store_true",
                        help="PostgreSQL: ANALYZE the database once after the warm-up, as "
                             "autovacuum would by then; a server with autovacuum off (this "
                             "machine's) otherwise plans every statement without statistics")
    parser.add_argument("--concurrency", "-c", type=int, default=64)
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--priority", choices=["urgent", "normal"], default="urgent")
    parser.add_argument("--runs", type=int, default=1, help="repeat, each on a fresh database")
    parser.add_argument("--instances", type=int, default=1, choices=[1, 2])
    parser.add_argument("--compare-instances", action="store_true",
                        help="1 instance, then 2, and the ratio of delivered/s")
    parser.add_argument("--sent-callback", action="store_true",
                        help="the sink posts `sent` before `delivered`")
    parser.add_argument("--receipt-delay-ms", type=int, default=50,
                        help="from the send answered to its status callback")
    parser.add_argument("--no-receipts", action="store_true",
                        help="the sink posts no status callback: each notification ends `sent`, "
                             "and the figures are accept and hand-over alone (issue 15's CPU "
                             "target), measured until the sink has every send")
    parser.add_argument("--callbacks-in-flight", type=int, default=64,
                        help="status callbacks the sink posts at once")
    parser.add_argument("--webhooks", action="store_true",
                        help="register a booking-system webhook endpoint (the sink) and measure "
                             "until each delivered webhook has arrived")
    parser.add_argument("--timeout", type=float, default=300,
                        help="seconds to wait for receipts (and again for webhooks)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="each second while waiting: sends and receipts so far")
    parser.add_argument("--keep", action="store_true", help="keep the directory and database")
    parser.add_argument("--compare-binaries", nargs=2, metavar=("A", "B"),
                        help="two release binaries, run in pairs in alternating order (A B, "
                             "B A, …), with the medians of each and their ratio")
    parser.add_argument("--pairs", type=int, default=4,
                        help="with --compare-binaries: how many pairs")
    parser.add_argument("--wal-pages", action="store_true",
                        help="SQLite: copy the database and its log three times mid-run and "
                             "print which tables and indexes the commits wrote, pages a commit "
                             "(the copies take the harness's time: read its CPU figures apart)")
    parser.add_argument("--perf", type=float, metavar="SECONDS",
                        help="profile the gateway with perf for SECONDS from 30 %% of the "
                             "notifications accepted, and print its threads and their hottest "
                             "functions (Debian's linux-perf)")
    opts = parser.parse_args()
    opts.binary = BINARY
    if opts.command == "sink":
        serve_sink(opts)
        return 0
    several = opts.instances > 1 or opts.compare_instances
    if several and opts.database == "sqlite":
        parser.error("several instances share one PostgreSQL database: --database postgres://…")
    if opts.no_receipts and opts.webhooks:
        parser.error("--webhooks measures until each delivered webhook: not with --no-receipts")
    if opts.wal_pages and opts.database != "sqlite":
        parser.error("--wal-pages reads SQLite's write-ahead log: --database sqlite")
    if opts.perf and not shutil.which("perf"):
        parser.error("--perf needs perf: apt-get install linux-perf")
    if opts.compare_binaries and (several or opts.runs > 1):
        parser.error("--compare-binaries runs one instance, --pairs times each")
    ensure_binaries(*([] if opts.compare_binaries else [BINARY]),
                    *([HARNESS] if opts.harness == "rust" else []))
    print(f"medrelay external bench: {opts.database}, {opts.notifications:,} notifications after "
          f"{opts.warmup:,} warm-up, {opts.concurrency} in flight, {opts.patients:,} patients, "
          f"{opts.harness} harness, "
          f"{os.cpu_count()} cores, {datetime.now():%Y-%m-%d %H:%M}", flush=True)
    if opts.compare_binaries:
        failed = compare_binaries(opts)
    elif opts.compare_instances:
        one, two = measure(opts, 1), measure(opts, 2)
        print(f"2 instances / 1: delivered/s {two.delivered_per_s / one.delivered_per_s:.2f}x, "
              f"accepted/s {two.accepted_per_s / one.accepted_per_s:.2f}x")
        failed = one.problems + two.problems
    else:
        failed = measure(opts, opts.instances).problems
    print("OK" if not failed else "FAILED: see the lines marked !")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
