"""The worker's sync loop survives any error of one sync (pure asyncio, no server)."""

import asyncio

from postroom.sync import worker as worker_module
from postroom.testing import aio


def test_an_unexpected_error_in_a_sync_does_not_end_the_folders_sync_loop(monkeypatch):
    calls: list[int] = []

    def flaky_sync(folder_id: int) -> bool:
        calls.append(folder_id)
        if len(calls) == 1:
            raise EOFError("socket closed mid-FETCH")  # not an imap.SyncError
        return False

    monkeypatch.setattr(worker_module, "sync_folder_by_id", flaky_sync)
    monkeypatch.setattr(worker_module, "_poll_interval_of", lambda folder_id: 300)
    monkeypatch.setattr(worker_module, "close_old_connections", lambda: None)

    async def scenario() -> None:
        worker = worker_module.Worker(threads=1)
        kick = asyncio.Event()
        kick.set()
        loop = asyncio.create_task(worker._sync_loop(7, kick))
        for _ in range(200):  # the retry comes after a back-off of about 2 s, or a kick
            await asyncio.sleep(0.05)
            if len(calls) == 1:
                kick.set()  # a push arrives while the loop backs off
            if len(calls) >= 2:
                break
        assert not loop.done(), "the sync loop ended"
        loop.cancel()
        worker.executor.shutdown(wait=True)

    aio.run(scenario(), timeout=30)
    assert calls == [7, 7]
