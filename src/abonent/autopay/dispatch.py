"""In-process dispatcher: charges threshold triggers right after the debit that fired them.

The ledger hook cannot call the acquirer (it runs inside the debit's transaction and must stay
cheap), and a unit of work has no after-commit callback. So the hook only *kicks* a dispatcher
registered for the debit's engine; the dispatcher's thread calls ``process_trigger``, which
locks the rule row the debit has just updated, and therefore proceeds the moment the debit
commits. Without a dispatcher (the CLI, a worker of another process) nothing is lost: the
trigger row waits for ``jobs.run_due``.
"""

from __future__ import annotations

import queue
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any

import structlog
from sqlalchemy.engine import Engine

log = structlog.get_logger("abonent.autopay.dispatch")

Work = Callable[[int, int], Any]


class Dispatcher:
    def __init__(self, work: Work) -> None:
        self._work = work
        self._queue: queue.Queue[tuple[int, int] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def kick(self, items: Iterable[tuple[int, int]]) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="autopay-dispatcher", daemon=True
                )
                self._thread.start()
        for item in items:
            self._queue.put(item)

    def drain(self) -> None:
        """Wait until every kicked trigger has been processed (tests, shutdown)."""
        self._queue.join()

    def stop(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                rule_id, trigger_id = item
                self._work(rule_id, trigger_id)
            except Exception as exc:  # the job retries; a dispatcher never dies of one trigger
                log.warning("autopay.dispatch_failed", error=type(exc).__name__)
            finally:
                self._queue.task_done()


# Keyed weakly by the engine: a dispatcher lives as long as its engine (tests make many).
_DISPATCHERS: weakref.WeakKeyDictionary[Engine, Dispatcher] = weakref.WeakKeyDictionary()
_REGISTRY_LOCK = threading.Lock()


def register(engine: Engine, work: Work) -> Dispatcher:
    """Charge triggers fired on ``engine`` at once, with ``work(rule_id, trigger_id)``."""
    with _REGISTRY_LOCK:
        dispatcher = _DISPATCHERS.get(engine)
        if dispatcher is None:
            dispatcher = Dispatcher(work)
            _DISPATCHERS[engine] = dispatcher
        return dispatcher


def unregister(engine: Engine) -> None:
    with _REGISTRY_LOCK:
        dispatcher = _DISPATCHERS.pop(engine, None)
    if dispatcher is not None:
        dispatcher.stop()


def kick(engine: Engine, items: list[tuple[int, int]]) -> None:
    dispatcher = _DISPATCHERS.get(engine)
    if dispatcher is not None:
        dispatcher.kick(items)
