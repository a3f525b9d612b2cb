"""Latency from a stage event's commit to the websocket clients watching it.

Starts Redis and daphne on free loopback ports over a scratch SQLite database,
logs a staff user in (a Django session row and its cookie), then for each
client count N: opens N websockets on /ws/sessions/<uuid>/ from a client
process, and records stage events from this process through
research.leases.record_event at a steady rate. The moment each transaction
commits is taken in an on_commit hook that runs before the broadcast's; each
client takes its receive time as soon as a frame arrives. Both use
CLOCK_MONOTONIC, which is one clock for every process on the host.

--layers core,pubsub measures, for each N in turn, the product's channel layer
(channels_redis.core.RedisChannelLayer) and channels_redis's Redis Pub/Sub
layer, each behind its own daphne; the second runs from a settings module
written into the scratch directory and is a measured proposal, not a change.
"""

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common

READY = "@@ready"
PUBSUB_SETTINGS = """\
from prowzi_site.settings import *  # noqa: F403

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL]},  # noqa: F405
    },
}
"""
CONNECT_CONCURRENCY = 50


# ------------------------------------------------------------------ client


async def _client_main(url: str, cookie: str, origin: str, count: int) -> None:
    """Open `count` websockets, report ready, then log every event's arrival."""
    from websockets.asyncio.client import connect

    arrivals: list[tuple[float, str]] = []
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def open_one() -> Any:
        async with gate:
            return await connect(
                url,
                origin=origin,  # type: ignore[arg-type]
                additional_headers={"Cookie": f"sessionid={cookie}"},
                proxy=None,
                open_timeout=60,
                max_queue=None,
            )

    sockets = await asyncio.gather(*(open_one() for _ in range(count)))

    async def listen(socket: Any) -> None:
        async for frame in socket:
            arrivals.append((time.monotonic(), frame))

    listeners = [asyncio.create_task(listen(socket)) for socket in sockets]
    print(READY, flush=True)
    # The parent says when it has finished recording and everything is in.
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

    for task in listeners:
        task.cancel()
    await asyncio.gather(*(socket.close() for socket in sockets))

    received: list[tuple[float, int]] = []
    for moment, frame in arrivals:
        message = json.loads(frame)
        if message.get("type") == "event":
            received.append((moment, message["event"]["seq"]))
    print("@@" + json.dumps(received), flush=True)


# ------------------------------------------------------------------ parent


def raise_file_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 65536 if hard == resource.RLIM_INFINITY else hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def staff_cookie() -> str:
    """A logged-in Django session for a staff user, made directly in the DB."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore

    user = User.objects.create_user("bench-operator", is_staff=True)
    user.set_unusable_password()
    user.save()
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    assert store.session_key is not None
    return store.session_key


def pubsub_layer(space: _common.Scratch) -> dict[str, Any]:
    return {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [space.redis_url]},
        }
    }


def start_daphne(space: _common.Scratch, layer: str) -> int:
    env = space.env()
    if layer == "pubsub":
        (space.directory / "bench_pubsub_settings.py").write_text(PUBSUB_SETTINGS)
        env["PYTHONPATH"] = str(space.directory)
        env["DJANGO_SETTINGS_MODULE"] = "bench_pubsub_settings"
    port = _common.services.free_port()
    log = (space.directory / f"daphne-{layer}.log").open("wb")
    process = subprocess.Popen(
        [
            str(_common.PROJECT_ROOT / ".venv" / "bin" / "daphne"),
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "prowzi_site.asgi:application",
        ],
        cwd=_common.PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    space.processes.append(process)
    _common.services.wait_for_port(port, timeout=60)
    return port


class ClientProcess:
    def __init__(self, port: int, session_id: str, since: int, cookie: str, n: int):
        url = f"ws://127.0.0.1:{port}/ws/sessions/{session_id}/?since={since}"
        self.process = subprocess.Popen(
            [
                str(_common.PRODUCT_PYTHON),
                str(Path(__file__).resolve()),
                "--client",
                url,
                "--cookie",
                cookie,
                "--origin",
                f"http://127.0.0.1:{port}",
                "--clients",
                str(n),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float) -> None:
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("the client process exited before it was ready")
            if line.startswith(READY):
                return
        raise TimeoutError("clients did not connect in time")

    def finish(self) -> list[tuple[float, int]]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("done\n")
        self.process.stdin.flush()
        for line in self.process.stdout:
            if line.startswith("@@"):
                self.process.wait(timeout=60)
                return [(float(t), int(s)) for t, s in json.loads(line[2:])]
        raise RuntimeError("the client process gave no results")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def record_events(session_id: Any, count: int, rate: float) -> dict[int, float]:
    """Record `count` stage events under a fresh lease; return seq -> commit time."""
    from django.db import transaction

    from research.leases import claim, record_event
    from research.models import EventStatus
    from research.stages import STAGES

    lease = claim(session_id)
    assert lease is not None
    committed: dict[int, float] = {}
    interval = 1.0 / rate
    next_at = time.monotonic()
    for number in range(count):
        next_at += interval
        moment: list[float] = []

        def note_commit(moment: list[float] = moment) -> None:
            # Registered inside the transaction before record_event registers
            # its broadcast, so it runs first, right after the commit.
            transaction.on_commit(lambda: moment.append(time.monotonic()))

        stage = STAGES[(number // 2) % len(STAGES)]
        status = EventStatus.STARTED if number % 2 == 0 else EventStatus.COMPLETED
        event = record_event(
            lease,
            stage,
            status,
            duration_seconds=None if status == EventStatus.STARTED else 0.01,
            extra_writes=note_commit,
        )
        committed[event.seq] = moment[0]
        time.sleep(max(0.0, next_at - time.monotonic()))
    return committed


def print_per_event(
    arrivals: list[tuple[float, int]], committed: dict[int, float]
) -> None:
    """The first and last client's latency for each event, in ms."""
    by_seq: dict[int, list[float]] = {}
    for moment, seq in arrivals:
        by_seq.setdefault(seq, []).append(moment - committed[seq])
    for seq, values in sorted(by_seq.items()):
        first, last = min(values) * 1000, max(values) * 1000
        print(f"  seq {seq}: first client {first:.1f}, last client {last:.1f}")


def measure(
    port: int,
    cookie: str,
    clients: int,
    events: int,
    rate: float,
    settle: float,
    per_event: bool = False,
) -> dict[str, Any]:
    from research.models import ResearchSession
    from research.sessions import create_session

    session = create_session(_common.PROMPT)
    since = ResearchSession.objects.get(pk=session.pk).last_seq
    client = ClientProcess(port, str(session.id), since, cookie, clients)
    try:
        connect_started = time.monotonic()
        client.wait_ready(timeout=180)
        connect_seconds = time.monotonic() - connect_started
        committed = record_events(session.id, events, rate)
        time.sleep(settle)
        arrivals = client.finish()
    finally:
        client.stop()

    latencies = [
        moment - committed[seq] for moment, seq in arrivals if seq in committed
    ]
    if per_event:
        print_per_event(arrivals, committed)
    return {
        "clients": clients,
        "expected": clients * events,
        "received": len(latencies),
        "median": _common.median(latencies),
        "p95": _common.percentile(latencies, 0.95),
        "max": max(latencies) if latencies else float("nan"),
        "connect_seconds": connect_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients-list", default="1,100,500")
    parser.add_argument("--events", type=int, default=40, help="events per N")
    parser.add_argument("--rate", type=float, default=5.0, help="events per second")
    parser.add_argument("--settle", type=float, default=2.0)
    parser.add_argument("--layers", default="core,pubsub", help="core, pubsub or both")
    parser.add_argument("--per-event", action="store_true")
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--cookie", help=argparse.SUPPRESS)
    parser.add_argument("--origin", help=argparse.SUPPRESS)
    parser.add_argument("--clients", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.client:
        asyncio.run(_client_main(args.client, args.cookie, args.origin, args.clients))
        return

    _common.print_header("Event latency, commit to websocket client")
    limit = raise_file_limit()
    print(f"open files limit: {limit}")
    with _common.scratch("latency") as space:
        space.apply_env()
        import django

        django.setup()
        from django.test import override_settings

        cookie = staff_cookie()
        layers = args.layers.split(",")
        ports = {layer: start_daphne(space, layer) for layer in layers}
        print(
            f"{args.events} events per N at {args.rate:g}/s; latency = client "
            "receive time - commit time"
        )
        print("layer       N  received/expected  median ms  p95 ms  max ms  connect s")
        for clients in [int(n) for n in args.clients_list.split(",")]:
            for layer in layers:
                overrides = (
                    {"CHANNEL_LAYERS": pubsub_layer(space)} if layer == "pubsub" else {}
                )
                with override_settings(**overrides):
                    row = measure(
                        ports[layer],
                        cookie,
                        clients,
                        args.events,
                        args.rate,
                        args.settle,
                        args.per_event,
                    )
                print(
                    f"{layer:7} {row['clients']:5}  "
                    f"{row['received']:8}/{row['expected']:<8}  "
                    f"{row['median'] * 1000:9.1f}  {row['p95'] * 1000:6.1f}  "
                    f"{row['max'] * 1000:6.1f}  {row['connect_seconds']:9.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
