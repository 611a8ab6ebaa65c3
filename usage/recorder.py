"""The call path's recorder: buffer call records in memory, write them in batches.

`Recorder.record` only appends to a bounded in-memory buffer, so it never blocks a
call. A background thread writes the buffer every `interval` seconds (sooner once
`batch_size` records wait) through `usage.writer.write_records`, which stores the
logs and increments the rollups in one transaction per batch.

Durability, as documented in docs/usage.md:
- `stop()` flushes what is left, so a normal shutdown loses nothing.
- A crash (SIGKILL, OOM) loses at most the records of the last flush window.
- While the database refuses writes, records stay in the buffer and the flush is
  retried with backoff. The buffer holds at most `max_buffer` records; past that
  the oldest are dropped and a warning is logged.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from django.conf import settings
from django.db import close_old_connections, connection

from core.observability import metrics
from tools.calling import CallOutcome, CallTarget

from .writer import CallRecord, RawCall, raw_call, write_records

logger = logging.getLogger(__name__)

Writer = Callable[[Sequence[CallRecord]], Sequence[CallRecord]]
Listener = Callable[[Sequence[CallRecord]], None]

_MAX_BACKOFF_SECONDS = 30.0
_DROP_WARNING_EVERY_SECONDS = 10.0


class Recorder:
    """One per process: thread-safe buffer plus a flushing thread."""

    def __init__(
        self,
        *,
        interval: float | None = None,
        batch_size: int | None = None,
        max_buffer: int | None = None,
        writer: Writer = write_records,
    ) -> None:
        self.interval = interval or float(settings.USAGE_FLUSH_SECONDS)
        self.batch_size = batch_size or int(settings.USAGE_FLUSH_BATCH)
        self.max_buffer = max_buffer or int(settings.USAGE_BUFFER_MAX)
        self.writer = writer
        self.dropped = 0
        self.listeners: list[Listener] = []
        self._buffer: deque[CallRecord | RawCall] = deque()
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._exit_hook = False
        self._thread: threading.Thread | None = None
        self._last_drop_warning = 0.0

    def record_call(
        self,
        target: CallTarget,
        outcome: CallOutcome,
        key_prefix: str,
        client_name: str,
        caller_email: str = "",
    ) -> None:
        """Queue one gateway tools/call: the call path's share is one small tuple.

        Every line run per call shows in the gateway's throughput (the event loop's code
        and data compete for the CPU caches), so the CallRecord, its id and its datetime
        are made by the flush, in one tight loop per batch (`CallRecord.from_raw`).
        """
        self.record(raw_call(target, outcome, key_prefix, client_name, caller_email))

    def record(self, rec: CallRecord | RawCall) -> None:
        """Queue REC for writing; never blocks on I/O."""
        with self._lock:
            if len(self._buffer) >= self.max_buffer:
                self._buffer.popleft()
                self._note_drop()
            self._buffer.append(rec)
            full = len(self._buffer) >= self.batch_size
        if full:
            self._wake.set()

    def pending(self) -> int:
        return len(self._buffer)

    def flush(self) -> int:
        """Write everything buffered now; return how many records were stored.

        On a database error the records go back to the front of the buffer and the
        error propagates; nothing is counted twice when the flush is retried.
        """
        return self._flush(until_empty=True)

    def _flush(self, *, until_empty: bool) -> int:
        """Write batches until the buffer is empty, or (UNTIL_EMPTY false) only what it held
        when the flush began: records that arrive meanwhile wait for the next interval, so
        a busy process writes few large batches instead of chasing its own tail with many
        small ones (each a transaction and four round trips)."""
        stored = 0
        with self._flush_lock:
            remaining = None if until_empty else len(self._buffer)
            while remaining is None or remaining > 0:
                limit = self.batch_size if remaining is None else min(self.batch_size, remaining)
                batch = self._take(limit)
                if not batch:
                    return stored
                if remaining is not None:
                    remaining -= len(batch)
                try:
                    written = self.writer(batch)
                except Exception:
                    self._put_back(batch)
                    raise
                stored += len(written)
                self._notify(written)
            return stored

    def start(self) -> None:
        """Start the flushing thread (idempotent); `stop()` also runs at interpreter exit."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="usage-recorder", daemon=True)
            self._thread.start()
            if not self._exit_hook:
                atexit.register(self.stop)
                self._exit_hook = True

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread and flush what is left (retrying briefly if the database is down)."""
        thread = self._thread
        if thread is not None:
            self._stopping.set()
            self._wake.set()
            thread.join(timeout)
            self._thread = None
        deadline = time.monotonic() + timeout
        while self.pending():
            try:
                self.flush()
            except Exception:
                if time.monotonic() >= deadline:
                    logger.exception("Usage recorder lost %d records at shutdown", self.pending())
                    return
                close_old_connections()
                time.sleep(0.2)

    def _run(self) -> None:
        backoff = self.interval
        written_at = time.monotonic()
        try:
            while not self._stopping.is_set():
                self._wake.wait(backoff)
                self._wake.clear()
                if self._stopping.is_set():
                    break
                if metrics.ENABLED:
                    self._report(written_at)
                try:
                    self._flush(until_empty=False)
                    backoff = self.interval
                    written_at = time.monotonic()
                except Exception:
                    logger.exception(
                        "Usage flush failed; %d records kept for retry", self.pending()
                    )
                    connection.close()
                    backoff = min(_MAX_BACKOFF_SECONDS, max(backoff * 2, 0.5))
            self._final_flush()
        finally:
            connection.close()

    def _report(self, written_at: float) -> None:
        """The buffer's depth and, while records wait, how long since the last write: set by
        this thread before each flush, so the call path pays nothing for them."""
        depth = self.pending()
        metrics.recorder_buffer_depth.set(depth)
        metrics.recorder_flush_lag.set(time.monotonic() - written_at if depth else 0.0)

    def _final_flush(self) -> None:
        try:
            self.flush()
        except Exception:
            logger.exception("Usage flush at stop failed; the caller retries")

    def _take(self, limit: int) -> list[CallRecord]:
        with self._lock:
            count = min(limit, len(self._buffer))
            taken = [self._buffer.popleft() for _ in range(count)]
        # Made once: a batch put back after a failed write keeps its records and their ids.
        from_raw = CallRecord.from_raw
        return [item if isinstance(item, CallRecord) else from_raw(item) for item in taken]

    def _put_back(self, batch: list[CallRecord]) -> None:
        with self._lock:
            self._buffer.extendleft(reversed(batch))
            while len(self._buffer) > self.max_buffer:
                self._buffer.popleft()
                self._note_drop()

    def _note_drop(self) -> None:
        self.dropped += 1
        now = time.monotonic()
        if now - self._last_drop_warning >= _DROP_WARNING_EVERY_SECONDS:
            self._last_drop_warning = now
            logger.warning(
                "Usage buffer full (%d records): dropping the oldest (%d dropped so far)",
                self.max_buffer,
                self.dropped,
            )

    def _notify(self, written: Sequence[CallRecord]) -> None:
        if not written:
            return
        for listener in self.listeners:
            try:
                listener(written)
            except Exception:
                logger.exception("Usage listener %r failed", listener)


recorder = Recorder()


def record_now(rec: CallRecord) -> None:
    """Write REC synchronously (Celery tasks: tool tests).

    If the database refuses, REC is queued on this process's recorder (started on
    demand) so that it is retried rather than lost.
    """
    try:
        written = write_records([rec])
    except Exception:
        logger.exception("Recording a call failed; queued for retry")
        close_old_connections()
        recorder.record(rec)
        recorder.start()
        return
    recorder._notify(written)
