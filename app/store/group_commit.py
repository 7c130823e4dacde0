"""Group commit: concurrent writes of one process share one transaction, and one fsync.

A durable commit (``synchronous=FULL``) is an fsync, and every transaction is a turn at
the store's write lock; under many concurrent small writes (``set_ready``) those turns,
not the writes, are the cost. So a caller hands its work to ``GroupCommit.run``: the
first caller to find no transaction in progress leads one, and runs in it the work of
every caller that queued meanwhile, or while it waited for the lock, each in its own
savepoint. Then it commits once, and only then is anyone answered:

- a call whose work raises is rolled back to its savepoint and gets its own exception;
  the others in the group are done as if it had not been there;
- a failing COMMIT fails every call of the group: nobody hears "done" for work that is
  not on disk, so a crash at any point loses nothing acknowledged; a failing BEGIN (the
  store took no write for a whole busy timeout) fails every call then queued;
- the leader leaves once its group is committed: a caller still queued becomes the next
  leader, so no caller waits for more than the group before its own and its own.

The work runs in the leader's thread: it must be a plain function of the store (no
request context, nothing thread-local), as a store write is. Inside a write already
open in the caller's thread the work simply joins that one.
"""
from __future__ import annotations

import copy
import threading
from typing import Any, Callable, Generic, TypeVar

T = TypeVar("T")

MAX_GROUP = 32  # calls per transaction: bounds how long the first of a group waits


class _Call(Generic[T]):
    __slots__ = ("work", "done", "leads", "value", "error")

    def __init__(self, work: Callable[[], T]):
        self.work = work
        # Released once the call is answered (or is to lead): a lock taken at once, so
        # waiting is one acquire and waking one release, half of what an Event costs.
        self.done = threading.Lock()
        self.done.acquire()
        self.leads = False  # set before ``done`` when this call is to lead the next group
        self.value: Any = None
        self.error: BaseException | None = None

    def answer(self) -> T:
        if self.error is not None:
            raise self.error
        return self.value


class GroupCommit:
    def __init__(self, db, share: bool = True):
        """``share=False``: every call its own transaction (the PostgreSQL store, whose
        writers already queue on an advisory lock that wakes them)."""
        self._db = db
        self._share = share
        self._lock = threading.Lock()
        self._queue: list[_Call] = []
        self._leading = False

    def run(self, work: Callable[[], T]) -> T:
        """``work()`` in a transaction shared with concurrent calls; returns once committed."""
        if not self._share or self._db.units.connection() is not None:
            with self._db.write():
                return work()
        call = _Call(work)
        with self._lock:
            self._queue.append(call)
            leads = not self._leading
            self._leading = True
        if not leads:
            call.done.acquire()
            leads = call.leads
        if leads:
            self._lead()
        return call.answer()

    def _lead(self) -> None:
        group: list[_Call] = []
        try:
            with self._db.write():
                # Taken once the write lock is held: calls queued while waiting for it join.
                while len(group) < MAX_GROUP:
                    with self._lock:
                        taken = self._queue[:MAX_GROUP - len(group)]
                        del self._queue[:len(taken)]
                    if not taken:
                        break
                    group.extend(taken)
                    for call in taken:
                        _run_in_savepoint(self._db, call)
        except BaseException as exc:
            if not group:
                # BEGIN failed: the store took no write for a whole busy timeout. Every call
                # queued for it is told so now, rather than each waiting as long again in
                # its turn as the next leader.
                with self._lock:
                    group, self._queue = self._queue, []
            # Or COMMIT failed: nothing of the group is stored, so no call succeeded.
            for call in group:
                call.error, call.value = _copy(exc), None
        finally:
            self._hand_over(group)

    def _hand_over(self, group: list[_Call]) -> None:
        with self._lock:
            if self._queue:
                following = self._queue[0]
                following.leads = True
                following.done.release()
            else:
                self._leading = False
        for call in group:
            call.done.release()


def _copy(exc: BaseException) -> BaseException:
    """One for each caller, which raises it in its own thread with its own traceback."""
    try:
        return copy.copy(exc)
    except (TypeError, copy.Error):  # not rebuilt from its args: the callers share it
        return exc


def _run_in_savepoint(db, call: _Call) -> None:
    try:
        with db.write():  # inside the leader's transaction: a savepoint of it
            call.value = call.work()
    except Exception as exc:  # this caller's failure, rolled back and answered to it alone
        call.error = exc
