from datetime import timedelta

import pytest
from django.utils import timezone

from postroom.sync import leases
from postroom.sync.models import FolderLease, SyncWorker
from postroom.testing.factories import MailboxFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def four_folders():
    return [MailboxFactory().folders.get() for _ in range(4)]


def test_a_lone_worker_takes_every_folder(four_folders):
    leases.heartbeat("a")
    assert leases.claim("a", capacity=100) == {f.pk for f in four_folders}


def test_a_folder_has_one_worker(four_folders):
    leases.heartbeat("a")
    leases.heartbeat("b")
    a = leases.claim("a", capacity=100)
    b = leases.claim("b", capacity=100)
    assert a.isdisjoint(b)
    assert len(a) == len(b) == 2


def test_a_busy_worker_hands_its_excess_to_a_newcomer(four_folders):
    leases.heartbeat("a")
    assert len(leases.claim("a", capacity=100)) == 4
    leases.heartbeat("b")
    assert len(leases.claim("a", capacity=100)) == 2  # a gives up its excess
    assert len(leases.claim("b", capacity=100)) == 2


def test_an_expired_lease_is_taken_over(four_folders):
    leases.heartbeat("a")
    leases.claim("a", capacity=100)
    # a died: its heartbeat and its leases run out, nothing renews them
    SyncWorker.objects.filter(worker_id="a").update(
        heartbeat_at=timezone.now() - timedelta(hours=1)
    )
    FolderLease.objects.update(expires_at=timezone.now())
    leases.heartbeat("b")
    assert len(leases.claim("b", capacity=100)) == 4
    assert leases.renew("a") == set()


def test_capacity_limits_what_a_worker_takes(four_folders):
    leases.heartbeat("a")
    assert len(leases.claim("a", capacity=3)) == 3


def test_a_retiring_worker_frees_its_folders_at_once(four_folders):
    leases.heartbeat("a")
    leases.claim("a", capacity=100)
    leases.retire("a")
    assert not FolderLease.objects.exists()
