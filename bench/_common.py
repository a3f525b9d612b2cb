"""What the benchmarks share: scratch space, services, the machine, statistics.

Standard library only at import time, so that the comparison venv, which has
none of Prowzi's packages, can import the benchmark scripts too.
"""

import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

# Needs the project root on the path.
from prowzi_site import services as services  # noqa: E402

PRODUCT_PYTHON = PROJECT_ROOT / ".venv" / "bin" / "python"
PROMPT = "Write a literature review on renewable energy and the power grid"
SECRET_KEY = "benchmark-only-secret-key-not-for-any-real-server-0123456789"


def command_line() -> str:
    """The command that started this script, as typed from the project root."""
    python = Path(sys.executable)
    try:
        shown = str(python.relative_to(PROJECT_ROOT))
    except ValueError:
        shown = str(python)
    script = Path(sys.argv[0]).resolve()
    try:
        script_shown = str(script.relative_to(PROJECT_ROOT))
    except ValueError:
        script_shown = str(script)
    return shlex.join([shown, script_shown, *sys.argv[1:]])


def machine() -> dict[str, str]:
    """The facts a reader needs to compare figures from another machine."""
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_kb = 0
    with open("/proc/meminfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
                break
    return {
        "nproc": str(os.cpu_count()),
        "memory": f"{memory_kb / 1024 / 1024:.1f} GiB",
        "cpu": cpu,
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def print_header(title: str) -> None:
    print(f"# {title}")
    print(f"command: {command_line()}")
    facts = machine()
    print(
        f"machine: nproc={facts['nproc']} memory={facts['memory']} "
        f"cpu={facts['cpu']!r} python={facts['python']} kernel={facts['kernel']}"
    )
    sys.stdout.flush()


def percentile(values: Sequence[float], fraction: float) -> float:
    """The value below which `fraction` of the values lie (nearest rank)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class Scratch:
    """A temporary directory with its own SQLite database and Redis server."""

    directory: Path
    redis_port: int
    processes: list["subprocess.Popen[bytes]"] = field(default_factory=list)

    @property
    def database(self) -> Path:
        return self.directory / "prowzi.sqlite3"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def env(self, **overrides: str) -> dict[str, str]:
        """The environment of a Prowzi process pointed at this scratch space."""
        env = dict(os.environ)
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "prowzi_site.settings",
                "DEBUG": "false",
                "SECRET_KEY": SECRET_KEY,
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "PROWZI_HTTPS": "false",
                "DATABASE_URL": f"sqlite:///{self.database}",
                "REDIS_URL": self.redis_url,
                "PROWZI_CHECKPOINT_DIR": str(self.directory / "checkpoints"),
                "PROWZI_EVENT_LOG": "",
                "PROWZI_FAULTS": "",
                "LOG_LEVEL": "WARNING",
            }
        )
        env.update(overrides)
        return env

    def apply_env(self, **overrides: str) -> None:
        """Point this process at the scratch space (before Django is set up)."""
        os.environ.update(self.env(**overrides))

    def migrate(self) -> None:
        subprocess.run(
            [str(PRODUCT_PYTHON), "manage.py", "migrate", "--no-input", "-v", "0"],
            cwd=PROJECT_ROOT,
            env=self.env(),
            check=True,
            timeout=120,
        )

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            services.stop(process)


@contextmanager
def scratch(prefix: str, *, keep: bool = False) -> Iterator[Scratch]:
    """A migrated scratch database and a Redis on a free port, removed after."""
    directory = Path(tempfile.mkdtemp(prefix=f"prowzi-{prefix}-"))
    port = services.free_port()
    space = Scratch(directory=directory, redis_port=port)
    try:
        space.processes.append(services.start_redis(port, directory / "redis"))
        space.migrate()
        yield space
    finally:
        space.stop_all()
        if not keep:
            shutil.rmtree(directory, ignore_errors=True)
