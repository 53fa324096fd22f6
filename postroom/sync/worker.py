"""The sync worker: leases folders, watches each with IDLE (or polls), syncs on change.

One asyncio loop holds every IDLE connection; syncs run in a bounded thread pool so
one slow or huge mailbox never holds the others up: each sync run takes at most a few
batches, then yields its thread and queues itself again.
"""

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, close_old_connections

from postroom.lib.backoff import backoff_delay
from postroom.mailboxes.models import Folder, Mailbox

from . import imap, leases
from .push import PushClient
from .service import server_of, sync_folder_by_id

logger = logging.getLogger(__name__)


class Backoff:
    """Exponential back-off with jitter, so that failing servers are not hammered."""

    def __init__(self, base: float, cap: float) -> None:
        self.base, self.cap, self.failures = base, cap, 0

    def next(self) -> float:
        self.failures += 1
        return backoff_delay(self.failures, base=self.base, cap=self.cap, jitter=0.25)

    def reset(self) -> None:
        self.failures = 0


CONNECTS_AT_ONCE = 20
# Push reconnects at least this often (seconds, +-25% jitter) while the server cannot be
# reached, however long the outage: push is back within 30 s of the server's return.
# Only a refused login backs off for minutes (a wrong password does not fix itself).
PUSH_RETRY_CAP = 20.0
PUSH_REFUSED_BACKOFF = (128.0, 5 * 60.0)  # first delay, cap
# Seconds between looks at whether a refused login was put right (a new password).
AUTH_RECHECK = 10.0


class Worker:
    def __init__(self, *, capacity: int | None = None, threads: int | None = None) -> None:
        config = settings.POSTROOM
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.capacity = capacity or config["WORKER_CAPACITY"]
        self.poll_interval = float(config["POLL_INTERVAL"])
        self.timeout = float(config["IMAP_TIMEOUT"])
        self.idle_renew = float(config["IDLE_RENEW"])
        # Renew leases several times per TTL, so one slow round never loses them.
        self.lease_round = float(config["LEASE_TTL"]) / 6
        self.executor = ThreadPoolExecutor(
            max_workers=threads or config["SYNC_THREADS"], thread_name_prefix="sync"
        )
        self.watchers: dict[int, asyncio.Task] = {}
        # Each watched folder's kick (sync now), and the last request for a sync of it
        # seen in the database (Folder.sync_requested_at).
        self.kicks: dict[int, asyncio.Event] = {}
        self.requests_seen: dict[int, datetime | None] = {}
        # Folders whose IDLE is up: for them the poll is only a rare safety net, so
        # that hundreds of idle mailboxes cost next to nothing.
        self.pushing: set[int] = set()
        self.kick_reasons: dict[int, str] = {}  # folder -> why its sync was asked for
        self.safety_poll = max(self.poll_interval, float(config["IDLE_SAFETY_POLL"]))
        # Logins at once: a worker starting with 500 folders must not flood the server
        # (Dovecot's login processes queue, then time out).
        self.opening = asyncio.Semaphore(CONNECTS_AT_ONCE)

    async def db(self, func, *args, **kwargs):
        """Run ORM code in the pool: it blocks, and the event loop must not."""

        def call():
            close_old_connections()
            try:
                return func(*args, **kwargs)
            finally:
                close_old_connections()

        return await asyncio.get_running_loop().run_in_executor(self.executor, call)

    async def run(self, stop: asyncio.Event) -> None:
        logger.info("sync worker %s started", self.worker_id)
        try:
            while not stop.is_set():
                try:
                    await self.db(leases.heartbeat, self.worker_id, pid=os.getpid())
                    held = await self.db(leases.claim, self.worker_id, capacity=self.capacity)
                    self._reconcile(held)
                    self._answer(await self.db(_sync_requests, held))
                except DatabaseError as exc:
                    # A database locked past its busy timeout, or restarting: the next
                    # round tries again, and the watchers keep syncing meanwhile. Leases
                    # outlive a few missed rounds (LEASE_TTL is six of them).
                    logger.warning("lease round of sync worker %s failed: %s", self.worker_id, exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.lease_round)
        finally:
            for task in self.watchers.values():
                task.cancel()
            await asyncio.gather(*self.watchers.values(), return_exceptions=True)
            await self.db(leases.retire, self.worker_id)
            self.executor.shutdown(wait=True, cancel_futures=True)
            logger.info("sync worker %s stopped", self.worker_id)

    def _reconcile(self, held: set[int]) -> None:
        for folder_id in list(self.watchers):
            task = self.watchers[folder_id]
            if folder_id not in held or task.done():
                if task.done() and not task.cancelled() and task.exception():
                    error = task.exception()
                    logger.error("watcher of folder %s crashed", folder_id, exc_info=error)
                task.cancel()
                del self.watchers[folder_id]
        for folder_id in held - set(self.watchers):
            self.watchers[folder_id] = asyncio.create_task(self.watch(folder_id))
        for folder_id in set(self.requests_seen) - held:
            del self.requests_seen[folder_id]

    def _answer(self, requests: dict[int, datetime | None]) -> None:
        """Kick the folders whose sync was asked for since the last look. A folder seen
        for the first time has just got its watcher, whose first sync answers any
        request made before."""
        for folder_id, requested_at in requests.items():
            first_look = folder_id not in self.requests_seen
            seen = self.requests_seen.get(folder_id)
            self.requests_seen[folder_id] = requested_at
            if not first_look and requested_at != seen and folder_id in self.kicks:
                self.kicks[folder_id].set()

    async def watch(self, folder_id: int) -> None:
        """Keep one folder in sync for as long as this worker holds its lease."""
        kick = asyncio.Event()
        kick.set()  # sync once at start: catch up on what arrived while nobody watched
        self.kicks[folder_id] = kick
        syncer = asyncio.create_task(self._sync_loop(folder_id, kick))
        try:
            await self._push_loop(folder_id, kick)
            await syncer  # no push for this folder: polling is all there is
        finally:
            if self.kicks.get(folder_id) is kick:
                del self.kicks[folder_id]
            syncer.cancel()
            await asyncio.gather(syncer, return_exceptions=True)

    async def _sync_loop(self, folder_id: int, kick: asyncio.Event) -> None:
        backoff = Backoff(base=2.0, cap=30 * 60)
        last_sync = 0.0
        while True:
            # Without a kick, the poll catches what a push may have missed; jitter keeps
            # the polls of many folders from landing in the same second. The mailbox's
            # own interval is read each time: a change on its Settings page applies from
            # the next poll on, without a restart of the worker.
            if folder_id in self.pushing:
                every = self.safety_poll
            else:
                every = await self.db(_poll_interval_of, folder_id) or self.poll_interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(kick.wait(), every * random.uniform(0.9, 1.1))
            # A timer set before IDLE came up: now only the safety net is due.
            early = time.monotonic() - last_sync < self.safety_poll * 0.9
            if not kick.is_set() and folder_id in self.pushing and early:
                continue
            kick.clear()
            last_sync = time.monotonic()
            try:
                more = await self.db(sync_folder_by_id, folder_id)
            except imap.SyncError as exc:
                refused = isinstance(exc, imap.AuthFailed)
                if refused:
                    backoff.failures = max(backoff.failures, 8)  # minutes, not seconds
                delay = backoff.next()
                logger.info("folder %s: %s; next try in %.0f s", folder_id, exc, delay)
                # A push connection that gets through again kicks: retry at once then;
                # so does a password put right by a user.
                await self._back_off(folder_id, kick, delay, until_fixed=refused)
                kick.set()
                continue
            except Folder.DoesNotExist:
                return
            except Exception:
                # Anything else (a connection dropped mid-FETCH in a way imaplib does not
                # report as SyncError) must not end this loop: the push loop would keep
                # kicking a sync loop that is gone, and the folder would stall silently.
                delay = backoff.next()
                logger.exception("sync of folder %s failed; next try in %.0f s", folder_id, delay)
                await self._back_off(folder_id, kick, delay, until_fixed=False)
                kick.set()
                continue
            backoff.reset()
            if reason := self.kick_reasons.pop(folder_id, None):
                # What the tests of push read: a sync the IDLE connection asked for.
                logger.info("folder %s: synced (%s)", folder_id, reason)
            if more:
                kick.set()  # more to fetch: queue again, behind the other folders

    async def _back_off(
        self, folder_id: int, kick: asyncio.Event, delay: float, *, until_fixed: bool
    ) -> None:
        """Wait `delay` seconds or until `kick`; after a refused login, also until the
        mailbox is no longer marked so (its password was changed), looked at every
        AUTH_RECHECK seconds: a fixed password must not wait out a half-hour back-off."""
        deadline = time.monotonic() + delay
        while (left := deadline - time.monotonic()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    kick.wait(), min(left, AUTH_RECHECK) if until_fixed else left
                )
                return
            if until_fixed and not await self.db(_login_refused, folder_id):
                return

    def _kick(self, folder_id: int, kick: asyncio.Event, reason: str) -> None:
        """Ask the folder's sync loop for a sync now, saying why (logged once it ran)."""
        self.kick_reasons[folder_id] = reason
        kick.set()

    async def _push_loop(self, folder_id: int, kick: asyncio.Event) -> None:
        backoff = Backoff(base=1.0, cap=PUSH_RETRY_CAP)
        while True:
            folder = await self.db(Folder.objects.select_related("mailbox").get, pk=folder_id)
            server = await self.db(server_of, folder.mailbox)
            client = PushClient(server, folder.name, timeout=self.timeout)
            try:
                async with self.opening:
                    can_idle = await client.open()
                if not can_idle:
                    return  # no IDLE on this server: the sync loop's poll is all we do

                # Once the IDLE is up, sync again: mail that landed between the first
                # sync's SELECT and this connection's SELECT (or while we were away) is
                # already counted in EXISTS and will never be pushed.
                def catch_up() -> None:
                    logger.info("push for folder %s: idling", folder_id)
                    self._kick(folder_id, kick, "catch-up after IDLE came up")

                if backoff.failures:
                    # Said once per recovery, so that a log shows when push came back.
                    logger.info("push for folder %s: connected again", folder_id)
                backoff.reset()
                self.pushing.add(folder_id)
                on_idle = catch_up
                while True:
                    if await client.wait_for_change(self.idle_renew, on_idle=on_idle):
                        self._kick(folder_id, kick, "pushed")
                    on_idle = None
            except (imap.SyncError, OSError, TimeoutError) as exc:
                refused = isinstance(exc, imap.AuthFailed)
                delay = backoff.next()
                if refused:  # minutes, not seconds
                    first, cap = PUSH_REFUSED_BACKOFF
                    delay = backoff_delay(backoff.failures, base=first, cap=cap, jitter=0.25)
                reason = str(exc) or type(exc).__name__
                logger.info(
                    "push for folder %s: %s; reconnecting in %.1f s", folder_id, reason, delay
                )
                await self._back_off(folder_id, asyncio.Event(), delay, until_fixed=refused)
            finally:
                self.pushing.discard(folder_id)
                await client.close()


def _login_refused(folder_id: int) -> bool:
    """Whether the folder's mailbox is still marked as refusing our login."""
    status = Folder.objects.filter(pk=folder_id).values_list("mailbox__status", flat=True).first()
    return status == Mailbox.Status.AUTH_FAILED


def _poll_interval_of(folder_id: int) -> int | None:
    """The mailbox's own poll interval, if it has one."""
    return (
        Folder.objects.filter(pk=folder_id).values_list("mailbox__poll_interval", flat=True).first()
    )


def _sync_requests(folder_ids: set[int]) -> dict[int, datetime | None]:
    """{folder id: when a sync of it was last asked for, or None}."""
    held = Folder.objects.filter(pk__in=folder_ids)
    return dict(held.values_list("pk", "sync_requested_at"))


def run_forever(stop: asyncio.Event | None = None, **kwargs) -> None:
    """Run a worker until SIGINT/SIGTERM (or `stop` is set)."""
    import signal

    async def main() -> None:
        done = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, done.set)
        await Worker(**kwargs).run(done)

    asyncio.run(main())
