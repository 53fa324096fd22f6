from django.db import models

from postroom.mailboxes.models import Folder


class SyncWorker(models.Model):
    """A running `postroom worker`; its heartbeat tells the others it is alive."""

    worker_id = models.CharField(max_length=64, unique=True)
    hostname = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(null=True)
    started_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.worker_id} ({self.hostname}:{self.pid})"


class FolderLease(models.Model):
    """Which worker syncs a folder, until when: each folder has one syncing worker."""

    folder = models.OneToOneField(Folder, on_delete=models.CASCADE, related_name="lease")
    worker_id = models.CharField(max_length=64, db_index=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.folder} -> {self.worker_id} until {self.expires_at}"
