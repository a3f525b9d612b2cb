"""Orchestration cost per stage: Prowzi against LangGraph and Prefect.

The same seven-stage workload runs in each system: every stage does trivial
work and returns a small pydantic result. Each system runs in its own
long-lived subprocess; the parent asks them in turn, round after round, for a
batch of runs, and each child times its own runs with perf_counter, so start-up
is never counted and every system sees the same noise.

Systems:
  prowzi           per stage: a "started" event, then the checkpoint and the
                   "completed" event in one transaction, each broadcast after
                   commit (research.leases.record_event, as the pipeline calls
                   it); per run also the session row, the lease claim and the
                   final status. SQLite in WAL mode, synchronous=NORMAL.
  prowzi-pipeline  research.pipeline.run_session itself with the stage runners
                   replaced by the trivial work: adds the heartbeat thread and
                   the JSON mirror files.
  langgraph        StateGraph of seven nodes, SqliteSaver on a file,
                   durability="sync", synchronous=NORMAL like Prowzi.
  langgraph-full   the same with SQLite's default synchronous=FULL.
  prefect          a flow of seven tasks against Prefect's ephemeral local
                   server (SQLite), as Prefect runs with no PREFECT_API_URL.

LangGraph and Prefect run from bench/.venv-compare, never from the product's
environment; the script creates it when it is missing (--no-install skips).
"""

import argparse
import json
import os
import select
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common

STAGE_NAMES = (
    "intent",
    "planning",
    "search",
    "verify",
    "writing",
    "evaluation",
    "turnitin",
)
COMPARE_VENV = _common.PROJECT_ROOT / "bench" / ".venv-compare"
COMPARE_PYTHON = COMPARE_VENV / "bin" / "python"
COMPARE_PACKAGES = (
    "langgraph==1.2.24",
    "langgraph-checkpoint-sqlite==3.1.2",
    "prefect==3.9.1",
)
REPLY = "@@"
Run = dict[str, float]


# ---------------------------------------------------------------- children


def _serve(run_once: Callable[[], Run], warmup: int) -> None:
    """Answer the parent's requests on stdin until it says quit."""
    for _ in range(warmup):
        run_once()
    _reply({"ready": True})

    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "run":
            _reply({"runs": [run_once() for _ in range(int(argument))]})
        elif command == "profile":
            _reply({"profile": _profile(run_once, int(argument))})
        elif command == "quit":
            return


def _reply(message: dict[str, Any]) -> None:
    sys.stdout.write(REPLY + json.dumps(message) + "\n")
    sys.stdout.flush()


def _profile(run_once: Callable[[], Run], count: int) -> str:
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(count):
        run_once()
    profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(45)
    return text.getvalue()


def _prowzi_results() -> dict[str, Callable[[], Any]]:
    """Small valid results of the real stage types, built fresh each call."""
    from research import schemas

    evaluation = schemas.EvaluationResult(
        rubric=[], score=0.8, threshold=0.7, passed=True
    )
    return {
        "intent": lambda: schemas.IntentAnalysis(
            document_type="literature_review",
            topic="renewable energy and the power grid",
            key_concepts=["renewable energy", "power grid"],
            constraints=schemas.Constraints(),
            language="en",
        ),
        "planning": lambda: schemas.ResearchPlan(
            title="Renewable energy and the power grid",
            document_type="literature_review",
            sections=[],
        ),
        "search": lambda: schemas.SearchResult(
            queries_executed=["renewable energy grid"], sources=[]
        ),
        "verify": lambda: schemas.VerificationResult(
            threshold=0.35, verified=[], assessments=[]
        ),
        "writing": lambda: schemas.WritingResult(
            title="Renewable energy and the power grid",
            markdown="# Renewable energy and the power grid\n",
            sections=[],
            bibliography=[],
            quotations=[],
            word_count=6,
        ),
        "evaluation": lambda: schemas.EvaluationOutcome(
            initial_evaluation=evaluation, evaluation=evaluation
        ),
        "turnitin": lambda: schemas.OriginalityResult(
            k=5,
            window=4,
            similarity_index=0.0,
            similarity_excluding_quotes=0.0,
            per_source=[],
            matches=[],
        ),
    }


def _prowzi_child(variant: str, warmup: int) -> None:
    import django

    django.setup()

    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer
    from django.db import transaction
    from django.utils import timezone

    import research.leases
    import research.pipeline
    from monitoring.broadcast import SESSIONS_GROUP, publish_session, session_group
    from research.checkpoints import new_checkpoint
    from research.leases import claim, record_event
    from research.models import EventStatus, ResearchSession, SessionStatus
    from research.sessions import create_session
    from research.stages import STAGES, telemetry_details

    results = _prowzi_results()
    layer = get_channel_layer()
    # A listener in each group, as an open dashboard would be, so that the
    # broadcasts really push messages rather than find empty groups.
    async_to_sync(layer.group_add)(SESSIONS_GROUP, "bench-list-listener")

    announce_total = [0.0]
    announce = research.leases._announce

    def timed_announce(event: Any) -> None:
        started = time.perf_counter()
        announce(event)
        announce_total[0] += time.perf_counter() - started

    research.leases._announce = timed_announce

    def listen(session_id: uuid.UUID) -> None:
        async_to_sync(layer.group_add)(
            session_group(session_id), f"bench-listener-{session_id.hex}"
        )

    def run_core() -> Run:
        session_id = uuid.uuid4()
        listen(session_id)
        announce_total[0] = 0.0
        work = stages = 0.0

        started = time.perf_counter()
        session = create_session(_common.PROMPT, session_id=session_id)
        lease = claim(session.id)
        assert lease is not None
        for stage in STAGES:
            stage_started = time.perf_counter()

            def set_current_stage(stage: str = stage) -> None:
                ResearchSession.objects.filter(pk=session_id).update(
                    current_stage=stage
                )

            record_event(
                lease, stage, EventStatus.STARTED, extra_writes=set_current_stage
            )
            work_started = time.perf_counter()
            result = results[stage]()
            duration = time.perf_counter() - work_started
            work += duration
            details = telemetry_details(result)
            metrics = {"duration_seconds": duration, "attempt": 1, **details}

            def write_checkpoint(
                stage: str = stage, result: Any = result, metrics: Any = metrics
            ) -> None:
                new_checkpoint(session, stage, result, metrics)

            record_event(
                lease,
                stage,
                EventStatus.COMPLETED,
                duration_seconds=duration,
                details=details,
                extra_writes=write_checkpoint,
            )
            stages += time.perf_counter() - stage_started
        with transaction.atomic():
            lease.fenced()
            ResearchSession.objects.filter(pk=session_id).update(
                status=SessionStatus.COMPLETED,
                completed_at=timezone.now(),
                lease_token=None,
                lease_expires_at=None,
                report="# Renewable energy and the power grid\n",
            )
        publish_session(session_id)
        total = time.perf_counter() - started
        return {
            "total": total,
            "stages": stages,
            "work": work,
            "broadcast": announce_total[0],
        }

    if variant == "prowzi-loop":
        _send_on_one_loop()

    def trivial_stage(stage: str, stage_input: object) -> Any:
        return results[stage]()

    def no_corpus() -> None:
        return None

    def run_pipeline() -> Run:
        # The pipeline's own names for the engine and the corpus, swapped for
        # the trivial work; everything else runs as in a worker.
        research.pipeline.__dict__["run_stage"] = trivial_stage
        research.pipeline.__dict__["get_corpus"] = no_corpus
        session_id = uuid.uuid4()
        listen(session_id)
        announce_total[0] = 0.0

        started = time.perf_counter()
        create_session(_common.PROMPT, session_id=session_id)
        status = research.pipeline.run_session(session_id)
        total = time.perf_counter() - started
        assert status == SessionStatus.COMPLETED, status
        return {"total": total, "broadcast": announce_total[0]}

    _serve(run_pipeline if variant == "prowzi-pipeline" else run_core, warmup)


def _send_on_one_loop() -> None:
    """Replace the broadcast's async_to_sync call with one long-lived event
    loop thread, so the channel layer keeps its Redis connections; the caller
    still waits until the message is sent. A prototype of a proposed change."""
    import asyncio
    import threading

    from channels.layers import get_channel_layer

    import monitoring.broadcast

    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, name="broadcast", daemon=True).start()

    def send(group: str, message: dict[str, Any]) -> None:
        layer = get_channel_layer()
        future = asyncio.run_coroutine_threadsafe(
            layer.group_send(group, message), loop
        )
        future.result(timeout=5)

    monitoring.broadcast._send = send


def _langgraph_child(synchronous: str, database: Path, warmup: int) -> None:
    import sqlite3
    from typing import TypedDict

    from langgraph.checkpoint.sqlite import (  # type: ignore[import-not-found]
        SqliteSaver,
    )
    from langgraph.graph import (  # type: ignore[import-not-found]
        END,
        START,
        StateGraph,
    )
    from pydantic import BaseModel

    class StageResult(BaseModel):
        stage: str
        index: int
        summary: str
        items: list[str]

    class State(TypedDict, total=False):
        prompt: str
        intent: dict[str, Any]
        planning: dict[str, Any]
        search: dict[str, Any]
        verify: dict[str, Any]
        writing: dict[str, Any]
        evaluation: dict[str, Any]
        turnitin: dict[str, Any]

    def node(stage: str, index: int) -> Callable[[State], dict[str, Any]]:
        def run(state: State) -> dict[str, Any]:
            result = StageResult(
                stage=stage, index=index, summary=state["prompt"][:40], items=[stage]
            )
            return {stage: result.model_dump(mode="json")}

        return run

    builder = StateGraph(State)
    previous = START
    for index, stage in enumerate(STAGE_NAMES):
        builder.add_node(stage, node(stage, index))
        builder.add_edge(previous, stage)
        previous = stage
    builder.add_edge(previous, END)

    connection = sqlite3.connect(str(database), check_same_thread=False)
    saver = SqliteSaver(connection)
    saver.setup()
    connection.execute(f"PRAGMA synchronous={synchronous}")
    graph = builder.compile(checkpointer=saver)

    def run_once() -> Run:
        config = {"configurable": {"thread_id": uuid.uuid4().hex}}
        started = time.perf_counter()
        state = graph.invoke(
            {"prompt": _common.PROMPT}, config=config, durability="sync"
        )
        total = time.perf_counter() - started
        assert "turnitin" in state
        return {"total": total}

    _serve(run_once, warmup)


def _prefect_child(warmup: int) -> None:
    from prefect import flow, task  # type: ignore[import-not-found]
    from pydantic import BaseModel

    class StageResult(BaseModel):
        stage: str
        index: int
        summary: str
        items: list[str]

    @task  # type: ignore[untyped-decorator]
    def stage_task(stage: str, index: int, prompt: str) -> StageResult:
        return StageResult(stage=stage, index=index, summary=prompt[:40], items=[stage])

    @flow  # type: ignore[untyped-decorator]
    def research(prompt: str) -> list[StageResult]:
        return [
            stage_task(stage, index, prompt) for index, stage in enumerate(STAGE_NAMES)
        ]

    def run_once() -> Run:
        started = time.perf_counter()
        results = research(_common.PROMPT)
        total = time.perf_counter() - started
        assert len(results) == len(STAGE_NAMES)
        return {"total": total}

    _serve(run_once, warmup)


# ------------------------------------------------------------------ parent


class Child:
    """One system's subprocess, spoken to over stdin and stdout."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path):
        self.name = name
        self.log = log
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                argv,
                cwd=_common.PROJECT_ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=output,
                start_new_session=True,
            )
        self._buffer = b""

    def ask(self, command: str, timeout: float) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(command.encode() + b"\n")
        self.process.stdin.flush()
        return self.wait_reply(timeout)

    def wait_reply(self, timeout: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        descriptor = self.process.stdout.fileno()
        while True:
            while b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                text = line.decode(errors="replace")
                if text.startswith(REPLY):
                    reply: dict[str, Any] = json.loads(text[len(REPLY) :])
                    return reply
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.name} did not answer in {timeout:.0f}s")
            ready, _, _ = select.select([descriptor], [], [], left)
            if ready:
                chunk = os.read(descriptor, 65536)
                if not chunk:
                    tail = self.log.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"{self.name} exited:\n{tail}")
                self._buffer += chunk

    def stop(self) -> None:
        if self.process.poll() is None and self.process.stdin is not None:
            try:
                self.process.stdin.write(b"quit\n")
                self.process.stdin.close()
                self.process.wait(timeout=20)
            except (OSError, subprocess.TimeoutExpired):
                pass
        _common.services.stop(self.process)


def ensure_compare_venv(install: bool) -> bool:
    if COMPARE_PYTHON.exists():
        return True
    if not install:
        return False

    print(f"creating {COMPARE_VENV.relative_to(_common.PROJECT_ROOT)} ...", flush=True)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(COMPARE_VENV)], check=True, timeout=120)
    subprocess.run(
        [str(COMPARE_PYTHON), "-m", "pip", "install", "-q", *COMPARE_PACKAGES],
        check=True,
        timeout=900,
    )
    return True


def compare_versions() -> str:
    probe = subprocess.run(
        [
            str(COMPARE_PYTHON),
            "-c",
            "from importlib.metadata import version as v; "
            "print(' '.join(f'{n}=={v(n)}' for n in "
            "('langgraph', 'langgraph-checkpoint-sqlite', 'prefect')))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return probe.stdout.strip() or probe.stderr.strip()[-300:]


def start_children(
    space: _common.Scratch, systems: list[str], warmup: int
) -> dict[str, Child]:
    script = str(Path(__file__).resolve())
    children: dict[str, Child] = {}
    for name in systems:
        if name.startswith("prowzi"):
            argv = [str(_common.PRODUCT_PYTHON), script, "--child", name]
            env = space.env()
        else:
            argv = [str(COMPARE_PYTHON), script, "--child", name]
            env = _compare_env(space)
        argv += ["--warmup", str(warmup), "--scratch", str(space.directory)]
        log = space.directory / f"{name}.log"
        children[name] = Child(name, argv, env, log)
    for child in children.values():
        child.wait_reply(timeout=180)
    return children


def _compare_env(space: _common.Scratch) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PREFECT_", "DJANGO_", "VIRTUAL_ENV"))
    }
    env.update(
        {
            "PREFECT_HOME": str(space.directory / "prefect"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "DO_NOT_TRACK": "1",
        }
    )
    return env


def measure(
    children: dict[str, Child],
    rounds: int,
    batch: dict[str, int],
    deadline: float,
) -> dict[str, list[list[Run]]]:
    """Interleave batches of runs, rotating the order each round."""
    names = list(children)
    measured: dict[str, list[list[Run]]] = {name: [] for name in names}
    for number in range(rounds):
        if time.monotonic() > deadline:
            print(f"time limit reached after {number} rounds", flush=True)
            break
        order = names[number % len(names) :] + names[: number % len(names)]
        for name in order:
            reply = children[name].ask(f"run {batch[name]}", timeout=300)
            measured[name].append(reply["runs"])
        print(f"round {number + 1}/{rounds} done", flush=True)
    return measured


def report(measured: dict[str, list[list[Run]]]) -> None:
    def ms(seconds: float) -> str:
        return f"{seconds * 1000:8.2f}"

    print()
    print("system             runs  run median ms  run p95 ms  per stage ms (run/7)")
    for name, batches in measured.items():
        totals = [run["total"] for batch in batches for run in batch]
        print(
            f"{name:17} {len(totals):5}  {ms(_common.median(totals))}      "
            f"{ms(_common.percentile(totals, 0.95))}    "
            f"{ms(_common.median(totals) / 7)}"
        )

    core = measured.get("prowzi")
    if core:
        runs = [run for batch in core for run in batch]
        stage_ms = _common.median([run["stages"] / 7 for run in runs])
        broadcast_ms = _common.median([run["broadcast"] / 7 for run in runs])
        work_ms = _common.median([run["work"] / 7 for run in runs])
        print(
            f"\nprowzi per stage (started event + checkpoint and completed event, "
            f"with broadcasts): {stage_ms * 1000:.2f} ms, of which the after-commit "
            f"broadcast, event line and alert check {broadcast_ms * 1000:.2f} ms and "
            f"the trivial stage work {work_ms * 1000:.3f} ms"
        )

    print("\nratios, median over rounds of the per-round ratio of median run times:")
    for system in ("prowzi", "prowzi-loop", "prowzi-pipeline"):
        for other in ("langgraph", "langgraph-full", "prefect"):
            ratio = _ratio(measured, system, other)
            if ratio is not None:
                print(f"  {system} / {other}: {ratio:.3f}")


def _ratio(measured: dict[str, list[list[Run]]], top: str, bottom: str) -> float | None:
    if not measured.get(top) or not measured.get(bottom):
        return None

    ratios = []
    for mine, theirs in zip(measured[top], measured[bottom], strict=False):
        ratios.append(
            _common.median([run["total"] for run in mine])
            / _common.median([run["total"] for run in theirs])
        )
    return _common.median(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--runs", type=int, default=20, help="runs per batch")
    parser.add_argument(
        "--prefect-runs", type=int, default=3, help="Prefect runs per batch"
    )
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--systems",
        default="prowzi,prowzi-loop,prowzi-pipeline,langgraph,langgraph-full,prefect",
    )
    parser.add_argument("--profile", type=int, default=0, metavar="RUNS")
    parser.add_argument("--profile-system", default="prowzi")
    parser.add_argument("--no-install", action="store_true")
    parser.add_argument("--max-seconds", type=float, default=480.0)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--scratch", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        _child(args.child, Path(args.scratch), args.warmup)
        return

    _common.print_header("Orchestration cost per stage")
    systems = args.systems.split(",")
    compared = [name for name in systems if not name.startswith("prowzi")]
    if compared and not ensure_compare_venv(install=not args.no_install):
        print("bench/.venv-compare is missing; measuring Prowzi alone")
        systems = [name for name in systems if name.startswith("prowzi")]
    elif compared:
        print(f"compared: {compare_versions()}")

    deadline = time.monotonic() + args.max_seconds
    with _common.scratch("orchestration") as space:
        children = start_children(space, systems, args.warmup)
        try:
            batch = {
                name: args.prefect_runs if name == "prefect" else args.runs
                for name in systems
            }
            measured = measure(children, args.rounds, batch, deadline)
            report(measured)
            profiled = children.get(args.profile_system)
            if args.profile and profiled is not None:
                reply = profiled.ask(f"profile {args.profile}", timeout=300)
                print(
                    f"\nprofile of {args.profile} {profiled.name} runs:\n"
                    f"{reply['profile']}"
                )
        finally:
            for child in children.values():
                child.stop()


def _child(name: str, directory: Path, warmup: int) -> None:
    if name in ("prowzi", "prowzi-loop", "prowzi-pipeline"):
        _prowzi_child(name, warmup)
    elif name == "langgraph":
        _langgraph_child("NORMAL", directory / "langgraph-normal.sqlite3", warmup)
    elif name == "langgraph-full":
        _langgraph_child("FULL", directory / "langgraph-full.sqlite3", warmup)
    elif name == "prefect":
        _prefect_child(warmup)
    else:
        raise SystemExit(f"unknown system {name!r}")


if __name__ == "__main__":
    main()
