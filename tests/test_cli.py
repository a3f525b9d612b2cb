"""The `prowzi` command line answers mistakes with clear errors, never tracebacks."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from research.exceptions import SessionNotFoundError
from research.sessions import create_session, find_session
from tests.conftest import PROJECT_ROOT, service_env

pytestmark = pytest.mark.django_db(transaction=True)


def test_unknown_session_gives_a_clear_error(prowzi):
    result = prowzi("show", "deadbeef")

    assert result.returncode == 1
    assert "No session matches 'deadbeef'" in result.stderr
    assert "Traceback" not in result.stderr


def test_malformed_session_id_gives_a_clear_error(prowzi):
    result = prowzi("report", "../../etc/passwd")

    assert result.returncode == 1
    assert "is not a session id" in result.stderr
    assert "Traceback" not in result.stderr


def test_empty_prompt_is_refused_before_anything_is_stored(prowzi):
    result = prowzi("run", "   ")

    assert result.returncode == 1
    assert "prompt is empty" in result.stderr
    assert prowzi("sessions", "--json").stdout.strip() == "[]"


def test_out_of_range_option_is_refused(prowzi):
    result = prowzi("run", "Write about grids", "--max-sources", "0")

    assert result.returncode == 1
    assert "max_sources" in result.stderr
    assert "Traceback" not in result.stderr


def test_prowzi_console_script_is_the_same_program(redis_server):
    script = shutil.which("prowzi", path=str(Path(sys.executable).parent))
    assert script is not None
    result = subprocess.run(
        [script, "sessions", "--json"],
        cwd=PROJECT_ROOT,
        env=service_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("arguments", "usage"),
    [
        (["export", "deadbeef", "--format", "xml"], "usage: prowzi export [-h]"),
        (["cleanup"], "usage: prowzi cleanup [-h]"),
        (["corpus", "add"], "usage: prowzi corpus add [-h]"),
    ],
)
def test_console_script_usage_names_the_program_once(arguments, usage):
    script = shutil.which("prowzi", path=str(Path(sys.executable).parent))
    assert script is not None
    result = subprocess.run(
        [script, *arguments],
        cwd=PROJECT_ROOT,
        env=service_env(),
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 2
    assert result.stderr.startswith(usage), result.stderr
    assert "prowzi prowzi" not in result.stderr


def test_manage_py_usage_keeps_its_own_name(prowzi):
    result = prowzi("cleanup")

    assert result.returncode == 2
    assert result.stderr.startswith("usage: manage.py prowzi cleanup [-h]")


def test_a_missing_corpus_action_is_named_by_its_choices(prowzi):
    result = prowzi("corpus")

    assert result.returncode == 2
    assert "required: {add,stats,list,remove}" in result.stderr
    assert "corpus_action" not in result.stderr


@pytest.mark.django_db
def test_a_session_id_may_be_given_as_the_session_list_shows_it():
    session = create_session("Write about the power grid")
    shown = f"{session.short_id}..."

    assert find_session(shown) == session
    assert find_session(f"{session.short_id}…") == session
    with pytest.raises(SessionNotFoundError, match="at least 4 hex characters"):
        find_session("...")


def test_corpus_add_indexes_a_folder_and_reports_what_it_skipped(prowzi, tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "tidal.md").write_text(
        "# Tidal power in estuaries\n\nTidal barrages store water at high tide "
        "and release it through turbines as the tide falls.\n"
    )
    (folder / "empty.txt").write_text("")
    corpus_path = tmp_path / "corpus.sqlite3"

    added = prowzi("corpus", "add", str(folder), PROWZI_CORPUS_PATH=str(corpus_path))
    again = prowzi("corpus", "add", str(folder), PROWZI_CORPUS_PATH=str(corpus_path))
    missing = prowzi("corpus", "add", str(tmp_path / "nowhere"))

    assert added.returncode == 0, added.stderr
    assert "1" in added.stdout and "empty.txt" in added.stdout
    assert "duplicate" in again.stdout.lower()
    assert missing.returncode == 1
    assert "Traceback" not in missing.stderr


def test_monitor_follows_a_running_session_to_completion(workers, prowzi):
    from research.sessions import create_session, enqueue
    from tests.conftest import LITERATURE_REVIEW

    workers.start(PROWZI_FAULTS="writing:delay:2")
    session = create_session(LITERATURE_REVIEW)
    enqueue(session)

    result = prowzi("monitor", str(session.id)[:8])

    assert result.returncode == 0, result.stderr
    assert "7/7" in result.stdout
    assert "turnitin" in result.stdout
