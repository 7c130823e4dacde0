"""Re-entrant units of work: a write inside another write of the same thread joins it.

The outermost ``write()`` of a thread opens the transaction and commits it; a nested one
is a savepoint, which undoes only its own work when it fails and otherwise commits with
the outermost. So a whole admin request (its writes and the rendering of its answer) can
be one transaction while each store method keeps its own ``write()``. Work outside the
database that must share the transaction's fate (a purged tenant's directories: deleted
once the purge commits, put back if it does not) registers ``on_commit``/``on_rollback``.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator


@dataclass
class _Level:
    on_commit: list[Callable[[], None]] = field(default_factory=list)
    on_rollback: list[Callable[[], None]] = field(default_factory=list)


class UnitsOfWork:
    """The open transaction of each thread, and its savepoint levels."""

    def __init__(self):
        self._local = threading.local()

    def _levels(self) -> list[_Level]:
        return getattr(self._local, "levels", None) or []

    def connection(self) -> Any | None:
        """This thread's connection inside an open transaction, else None."""
        return self._local.conn if self._levels() else None

    def depth(self) -> int:
        return len(self._levels())

    def on_commit(self, action: Callable[[], None]) -> None:
        """Run ``action`` once the outermost transaction has committed."""
        self._innermost().on_commit.append(action)

    def on_rollback(self, action: Callable[[], None]) -> None:
        """Run ``action`` if the work of the current level is rolled back."""
        self._innermost().on_rollback.append(action)

    @contextmanager
    def outermost(self, conn: Any) -> Iterator[None]:
        """Around the whole transaction, its COMMIT included: then run the callbacks."""
        self._local.conn, self._local.levels = conn, [_Level()]
        try:
            yield
        except BaseException:
            _run(reversed(self._pop(last=True).on_rollback))
            raise
        _run(self._pop(last=True).on_commit)

    @contextmanager
    def undo_first(self) -> Iterator[None]:
        """Inside the outermost transaction, its COMMIT included if it can be: on failure,
        run the rollback callbacks at once, while the transaction still holds its write
        lock, and only then let it roll back. Run after the rollback, they would race the
        next writer (a purge putting directories back while another purge moves them)."""
        try:
            yield
        except BaseException:
            level = self._levels()[0]
            actions, level.on_rollback = level.on_rollback, []
            _run(reversed(actions))
            raise

    @contextmanager
    def nested(self) -> Iterator[None]:
        """Around a savepoint: its callbacks join the level above, or roll back alone."""
        self._local.levels.append(_Level())
        try:
            yield
        except BaseException:
            _run(reversed(self._pop().on_rollback))
            raise
        level = self._pop()
        self._innermost().on_commit.extend(level.on_commit)
        self._innermost().on_rollback.extend(level.on_rollback)

    def _innermost(self) -> _Level:
        levels = self._levels()
        if not levels:
            raise RuntimeError("no transaction is open in this thread")
        return levels[-1]

    def _pop(self, last: bool = False) -> _Level:
        level = self._local.levels.pop()
        if last:
            self._local.conn, self._local.levels = None, None
        return level


def _run(actions: Iterable[Callable[[], None]]) -> None:
    # Each action handles its own failures (they touch files, not the store): an action
    # that raised here would turn a committed request into an error answer.
    for action in actions:
        action()
