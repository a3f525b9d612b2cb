"""Imported by tests.settings before Django reads settings: points them at
a scratch directory, a test Redis port and a SQLite file that worker
processes started by the tests can share."""

import os
import tempfile
from pathlib import Path

from prowzi_site.services import free_port

SCRATCH = Path(tempfile.mkdtemp(prefix="prowzi-tests-"))
REDIS_PORT = free_port()
TEST_DATABASE = SCRATCH / "test.sqlite3"

os.environ.update(
    {
        "DEBUG": "true",
        "SECRET_KEY": "test-secret-key-for-the-test-suite-only-0123456789",
        "ALLOWED_HOSTS": "localhost,127.0.0.1,testserver",
        "REDIS_URL": f"redis://127.0.0.1:{REDIS_PORT}/0",
        "DATABASE_URL": f"sqlite:///{SCRATCH / 'unused.sqlite3'}",
        "PROWZI_TEST_DATABASE": str(TEST_DATABASE),
        "PROWZI_CHECKPOINT_DIR": str(SCRATCH / "checkpoints"),
        "PROWZI_CORPUS_PATH": str(SCRATCH / "corpus" / "corpus.sqlite3"),
        "PROWZI_RETRY_BASE_DELAY": "0.05",
        "PROWZI_RETRY_MAX_DELAY": "0.2",
        "PROWZI_LEASE_SECONDS": "5",
        "PROWZI_FAULTS": "",
        "LOG_LEVEL": "WARNING",
    }
)
