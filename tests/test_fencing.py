"""Exactly-once stage commits: a process that lost its lease writes nothing."""

import subprocess
import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from research.exceptions import LeaseLostError, SessionStateError
from research.leases import claim, record_event
from research.models import EventStatus, ResearchSession, SessionStatus, StageEvent
from research.sessions import (
    create_session,
    lease_is_dead,
    lease_owner_name,
    mark_interrupted,
    request_resume,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_stale_process_cannot_write_after_another_took_over():
    session = create_session("Write about the power grid")
    stale = claim(session.id)
    assert stale is not None
    session.refresh_from_db()
    mark_interrupted(session, "its worker stopped")
    request_resume(session)
    current = claim(session.id)
    assert current is not None

    with pytest.raises(LeaseLostError):
        record_event(stale, "intent", EventStatus.COMPLETED)
    record_event(current, "intent", EventStatus.STARTED)

    events = StageEvent.objects.filter(session=session)
    assert list(events.values_list("status", flat=True)) == ["started"]


def test_only_one_of_two_claims_wins():
    session = create_session("Write about the power grid")

    leases = [claim(session.id), claim(session.id)]

    assert sum(lease is not None for lease in leases) == 1


def test_finished_session_never_changes_state_again():
    session = create_session("Write about the power grid")
    lease = claim(session.id)
    assert lease is not None
    ResearchSession.objects.filter(pk=session.pk).update(
        status=SessionStatus.COMPLETED, lease_token=None
    )
    session.refresh_from_db()

    assert not mark_interrupted(session, "late")
    with pytest.raises(SessionStateError):
        request_resume(session)
    with pytest.raises(LeaseLostError):
        record_event(lease, "turnitin", EventStatus.COMPLETED)
    session.refresh_from_db()
    assert session.status == SessionStatus.COMPLETED


def test_two_simultaneous_resume_requests_queue_one_run():
    session = create_session("Write about the power grid")
    ResearchSession.objects.filter(pk=session.pk).update(status=SessionStatus.FAILED)
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def resume() -> None:
        from django.db import connection

        mine = ResearchSession.objects.get(pk=session.pk)
        barrier.wait()
        try:
            request_resume(mine)
            outcomes.append("queued")
        except SessionStateError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=resume) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["queued", "refused"]


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_holder_gone_on_this_machine_is_dead_before_its_lease_expires():
    session = create_session("Write about the power grid")
    assert claim(session.id) is not None
    host, _, identity = lease_owner_name().split(":")
    ResearchSession.objects.filter(pk=session.pk).update(
        lease_owner=f"{host}:{_dead_pid()}:{identity}"
    )
    session.refresh_from_db()

    assert lease_is_dead(session)


def test_same_host_name_elsewhere_waits_for_the_lease_to_expire():
    session = create_session("Write about the power grid")
    assert claim(session.id) is not None
    host = lease_owner_name().split(":")[0]
    ResearchSession.objects.filter(pk=session.pk).update(
        lease_owner=f"{host}:{_dead_pid()}:another-boot.4026531836"
    )
    session.refresh_from_db()

    assert not lease_is_dead(session)
    ResearchSession.objects.filter(pk=session.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    session.refresh_from_db()
    assert lease_is_dead(session)
