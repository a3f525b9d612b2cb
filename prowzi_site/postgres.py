"""A throwaway PostgreSQL server on a loopback port, for tests and load tests.

Standard library only, like prowzi_site.services, so the set-up command can
start one before the project's packages are installed. The server keeps its
data in a scratch folder, trusts every connection from 127.0.0.1 and is
stopped (and its folder removed) by stop_postgres().
"""

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from prowzi_site import services

SUPERUSER = "postgres"
# The user that owns the server's files and runs it when we are root:
# PostgreSQL refuses to run as root, and Debian's package creates this user.
SYSTEM_USER = "postgres"
PACKAGE = "postgresql"


class PostgresUnavailable(Exception):
    """Raised when no PostgreSQL server programs can be found or installed."""


@dataclass
class LocalPostgres:
    bin_dir: Path
    root: Path
    port: int
    run_as: str | None
    log_dir: Path

    @property
    def log(self) -> Path:
        # Inside the server's own folder: the postgres user may not be able
        # to reach log_dir. stop_postgres() copies it there.
        return self.root / "postgres.log"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "prowzi") -> str:
        return f"postgres://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def run(
        self, program: str, *args: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run one of the server's programs as the user that owns its files."""
        return subprocess.run(
            [str(self.bin_dir / program), *args],
            user=self.run_as,
            cwd=self.root,
            env={**os.environ, "LC_ALL": "C", "PGTZ": "UTC"},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
        )


def find_bin_dir() -> Path | None:
    """Return the folder with initdb and pg_ctl: Debian's, newest first, or PATH's."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda path: _version_key(path.parent.name),
        reverse=True,
    )
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory

    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).resolve().parent
    return None


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def install_with_apt(log: Path) -> None:
    """Install Debian's PostgreSQL packages; needs root and apt-get."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise PostgresUnavailable(
            "PostgreSQL's initdb and pg_ctl are not installed, and this user "
            "cannot install them; run: apt-get install -y postgresql"
        )

    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as output:
        for command in (
            ["apt-get", "update"],
            ["apt-get", "install", "-y", "--no-install-recommends", PACKAGE],
        ):
            finished = subprocess.run(
                command, env=env, stdout=output, stderr=subprocess.STDOUT, check=False
            )
            if finished.returncode != 0:
                raise PostgresUnavailable(
                    f"{' '.join(command)} failed with exit code "
                    f"{finished.returncode}; see {log}"
                )


def start_postgres(
    log_dir: Path,
    *,
    port: int | None = None,
    databases: tuple[str, ...] = ("prowzi",),
    durable: bool = False,
    max_connections: int = 200,
    install: bool = True,
) -> LocalPostgres:
    """Create a cluster in a scratch folder and start it on a loopback port.

    durable=False turns off fsync and synchronous commits: faster, and fine
    for data that is thrown away when the server stops.
    """
    bin_dir = find_bin_dir()
    if bin_dir is None and install:
        install_with_apt(log_dir / "postgres-install.log")
        bin_dir = find_bin_dir()
    if bin_dir is None:
        raise PostgresUnavailable("initdb and pg_ctl were not found after install")

    run_as = _system_user()
    root = Path(tempfile.mkdtemp(prefix="prowzi-postgres-"))
    if run_as is not None:
        shutil.chown(root, user=run_as)
    server = LocalPostgres(
        bin_dir=bin_dir,
        root=root,
        port=port or services.free_port(),
        run_as=run_as,
        log_dir=log_dir,
    )
    try:
        _initdb(server, durable=durable, max_connections=max_connections)
        _start(server)
        for name in databases:
            server.run("createdb", "-h", "127.0.0.1", "-p", str(server.port), name)
    except (OSError, subprocess.SubprocessError, TimeoutError) as error:
        stop_postgres(server)
        raise PostgresUnavailable(_describe(error)) from error
    return server


def _system_user() -> str | None:
    if os.geteuid() != 0:
        return None

    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        raise PostgresUnavailable(
            f"running as root needs the {SYSTEM_USER!r} system user to own the "
            "server (Debian's postgresql package creates it)"
        ) from None
    return SYSTEM_USER


def _initdb(server: LocalPostgres, *, durable: bool, max_connections: int) -> None:
    server.run(
        "initdb",
        "--pgdata",
        str(server.data_dir),
        "--username",
        SUPERUSER,
        "--auth=trust",
        "--encoding=UTF8",
        "--locale=C",
        "--no-instructions",
    )
    settings = [
        "listen_addresses = '127.0.0.1'",
        f"port = {server.port}",
        # The socket lives in the scratch folder: /var/run/postgresql may be
        # missing, or belong to a system cluster.
        f"unix_socket_directories = '{server.root}'",
        f"max_connections = {max_connections}",
        "timezone = 'UTC'",
    ]
    if not durable:
        settings += ["fsync = off", "synchronous_commit = off"]
        settings += ["full_page_writes = off"]
    with (server.data_dir / "postgresql.conf").open("a", encoding="utf-8") as conf:
        conf.write("\n# Set by prowzi_site.postgres\n")
        conf.write("\n".join(settings) + "\n")


def _start(server: LocalPostgres) -> None:
    server.run(
        "pg_ctl",
        "start",
        "--pgdata",
        str(server.data_dir),
        "--log",
        str(server.log),
        "--wait",
        "--timeout",
        "60",
    )
    services.wait_for_port(server.port, timeout=30)
    deadline = time.monotonic() + 30
    while server.run("pg_isready", *_address(server), check=False).returncode != 0:
        if time.monotonic() > deadline:
            raise TimeoutError(f"PostgreSQL on port {server.port} is not ready")
        time.sleep(0.1)


def _address(server: LocalPostgres) -> list[str]:
    return ["-h", "127.0.0.1", "-p", str(server.port)]


def stop_postgres(server: LocalPostgres) -> None:
    """Stop the server (fast shutdown, then immediate) and remove its folder."""
    if (server.data_dir / "postmaster.pid").exists():
        for mode in ("fast", "immediate"):
            try:
                stopped = server.run(
                    "pg_ctl",
                    "stop",
                    "--pgdata",
                    str(server.data_dir),
                    "--mode",
                    mode,
                    "--wait",
                    "--timeout",
                    "30",
                    check=False,
                )
            except subprocess.TimeoutExpired:
                continue
            if stopped.returncode == 0:
                break

    if server.log.exists():
        server.log_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(server.log, server.log_dir / f"postgres-{server.port}.log")
    shutil.rmtree(server.root, ignore_errors=True)


def _describe(error: BaseException) -> str:
    if isinstance(error, subprocess.CalledProcessError):
        output = (error.stderr or error.stdout or "").strip().splitlines()
        last = output[-1] if output else f"exit code {error.returncode}"
        return f"{Path(str(error.cmd[0])).name} failed: {last}"
    return str(error)
