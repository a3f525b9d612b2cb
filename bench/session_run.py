"""One whole session on the default corpus through a real `prowzi worker`.

Builds the default corpus index cold first and reports that on its own, then
starts one worker (which opens the built index), enqueues sessions one after
another and reports, for each, the wall time from enqueue to completed (the
worker's completed_at minus the enqueue moment, same host clock) and the
stage durations. A sampler reads the resident memory of the worker and its
work-horse every 20 ms; the peak of their sum is reported.
"""

import argparse
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common

SAMPLE_SECONDS = 0.02


class MemorySampler:
    """Tracks the peak RSS of a process and its descendants, together."""

    def __init__(self, pid: int) -> None:
        import psutil  # type: ignore[import-untyped]

        self.root = psutil.Process(pid)
        self.peak_total = 0
        self.peak_worker = 0
        self.peak_horse = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def reset(self) -> None:
        self.peak_total = self.peak_worker = self.peak_horse = 0

    def _run(self) -> None:
        import psutil

        while not self._stop.wait(SAMPLE_SECONDS):
            try:
                worker = self.root.memory_info().rss
                children = self.root.children(recursive=True)
            except psutil.Error:
                return
            horse = 0
            for child in children:
                try:
                    horse += child.memory_info().rss
                except psutil.Error:
                    continue
            self.peak_worker = max(self.peak_worker, worker)
            self.peak_horse = max(self.peak_horse, horse)
            self.peak_total = max(self.peak_total, worker + horse)


def timed_command(space: _common.Scratch, *args: str) -> float:
    started = time.monotonic()
    subprocess.run(
        [str(_common.PRODUCT_PYTHON), "manage.py", "prowzi", *args],
        cwd=_common.PROJECT_ROOT,
        env=space.env(),
        check=True,
        capture_output=True,
        timeout=600,
    )
    return time.monotonic() - started


def start_worker(space: _common.Scratch) -> "subprocess.Popen[bytes]":
    log = (space.directory / "worker.log").open("wb")
    process = subprocess.Popen(
        [str(_common.PRODUCT_PYTHON), "manage.py", "prowzi", "worker"],
        cwd=_common.PROJECT_ROOT,
        env=space.env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    space.processes.append(process)
    return process


def wait_for_worker(timeout: float) -> None:
    import django_rq
    from rq import Worker

    connection = django_rq.get_connection("prowzi")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Worker.count(connection=connection) > 0:
            return
        time.sleep(0.05)
    raise TimeoutError("the worker did not register in time")


def run_one(timeout: float) -> dict[str, Any]:
    from django.utils import timezone

    from research.models import ResearchSession, SessionStatus
    from research.sessions import create_session, enqueue

    session = create_session(_common.PROMPT)
    enqueued = timezone.now()
    enqueue(session)

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        session.refresh_from_db()
        if session.status not in (SessionStatus.QUEUED, SessionStatus.RUNNING):
            break
        time.sleep(0.01)
    if session.status != SessionStatus.COMPLETED:
        raise RuntimeError(
            f"session {session.id} ended {session.status}: {session.error}"
        )

    completed = ResearchSession.objects.get(pk=session.pk).completed_at
    assert completed is not None
    stages = {
        event.stage: event.duration_seconds or 0.0
        for event in session.events.filter(status="completed")
    }
    return {
        "id": str(session.id),
        "seconds": (completed - enqueued).total_seconds(),
        "stages": stages,
        "words": len(session.report.split()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()

    _common.print_header("A whole session through a real worker")
    with _common.scratch("session") as space:
        corpus = space.directory / "corpus" / "corpus.sqlite3"
        space.apply_env(PROWZI_CORPUS_PATH=str(corpus))
        import django

        django.setup()

        cold = timed_command(space, "corpus", "stats")
        warm = timed_command(space, "corpus", "stats")
        print(
            f"corpus: cold `prowzi corpus stats` {cold:.2f}s (builds the index), "
            f"warm {warm:.2f}s; build about {cold - warm:.2f}s, "
            f"index {corpus.stat().st_size / 2**20:.0f} MiB"
        )

        worker = start_worker(space)
        started = time.monotonic()
        wait_for_worker(timeout=120)
        print(f"worker registered {time.monotonic() - started:.2f}s after start")

        rows = []
        with MemorySampler(worker.pid) as sampler:
            for number in range(args.sessions):
                row = run_one(args.timeout)
                rows.append(row)
                stages = " ".join(
                    f"{stage}={seconds:.2f}" for stage, seconds in row["stages"].items()
                )
                print(
                    f"session {number + 1}: {row['seconds']:.2f}s enqueue to "
                    f"completed, {row['words']} words; stages: {stages}",
                    flush=True,
                )
            time.sleep(SAMPLE_SECONDS * 5)

        seconds = [row["seconds"] for row in rows]
        print(
            f"\nenqueue to completed: median {_common.median(seconds):.2f}s, "
            f"max {max(seconds):.2f}s over {len(seconds)} sessions"
        )
        print(
            f"peak RSS: worker + work-horse {sampler.peak_total / 2**20:.0f} MiB "
            f"(worker {sampler.peak_worker / 2**20:.0f} MiB, work-horse "
            f"{sampler.peak_horse / 2**20:.0f} MiB)"
        )


if __name__ == "__main__":
    main()
