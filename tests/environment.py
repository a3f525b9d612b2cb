"""Imported by tests.settings before Django reads settings: points them at
a scratch directory, a test Redis port and a SQLite file that worker
processes started by the tests can share.

With PROWZI_TEST_DATABASE_URL set (postgres://.../NAME), the suite runs on
that server instead; pytest-django creates test_NAME there, and
SERVICE_DATABASE_URL points the processes the tests start at it."""

import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from prowzi_site.services import free_port

SCRATCH = Path(tempfile.mkdtemp(prefix="prowzi-tests-"))
REDIS_PORT = free_port()
TEST_DATABASE = SCRATCH / "test.sqlite3"
DATABASE_URL = os.environ.get("PROWZI_TEST_DATABASE_URL", "")


def _service_database_url() -> str:
    if not DATABASE_URL:
        return f"sqlite:///{TEST_DATABASE}"

    parts = urlsplit(DATABASE_URL)
    return parts._replace(path=f"/test_{parts.path.lstrip('/')}").geturl()


SERVICE_DATABASE_URL = _service_database_url()

os.environ.update(
    {
        "DEBUG": "true",
        "SECRET_KEY": "test-secret-key-for-the-test-suite-only-0123456789",
        "ALLOWED_HOSTS": "localhost,127.0.0.1,testserver",
        "REDIS_URL": f"redis://127.0.0.1:{REDIS_PORT}/0",
        "DATABASE_URL": DATABASE_URL or f"sqlite:///{SCRATCH / 'unused.sqlite3'}",
        "PROWZI_TEST_DATABASE": "" if DATABASE_URL else str(TEST_DATABASE),
        "PROWZI_CHECKPOINT_DIR": str(SCRATCH / "checkpoints"),
        "PROWZI_CORPUS_PATH": str(SCRATCH / "corpus" / "corpus.sqlite3"),
        "PROWZI_RETRY_BASE_DELAY": "0.05",
        "PROWZI_RETRY_MAX_DELAY": "0.2",
        "PROWZI_LEASE_SECONDS": "5",
        "PROWZI_FAULTS": "",
        "PROWZI_LLM_MODEL": "",
        "PROWZI_PROVIDERS": "",
        "LOG_LEVEL": "WARNING",
    }
)
