"""One PostgreSQL session of the fleet limit backend, and the permits it holds.

A permit slot ``i`` of a limit is the session-level advisory lock ``(key, i)``, so a
permit lives exactly as long as the session that took it: when a process or a host
dies, PostgreSQL ends its sessions and their permits return. A whole chain of steps
is taken by one call of ``pg_temp.tenantgate_take`` (all steps or none) and given back
by one plain statement of ``pg_advisory_unlock`` calls: one round trip each.

The function lives in the session's own temporary schema, created when the session
opens: nothing is shared between hosts (a host running another version brings its
own), nothing needs a migration of the store, and no DDL races another session's.

Session advisory locks are re-entrant: asked again for a slot it holds, a session is
granted it a second time. So a session tracks the slots it holds and the function skips
them. A session is used by one thread at a time (its ``lock``).
"""
from __future__ import annotations

import logging
import os
import threading
from typing import Iterable, Sequence

import psycopg

from ..store import StoreUnavailable

log = logging.getLogger(__name__)

APPLICATION_NAME = "tenantgate-limits"

_FUNCTION = """
CREATE FUNCTION pg_temp.tenantgate_take(keys int[], caps int[], held bigint[],
                                        OUT full_step int, OUT slots int[])
LANGUAGE plpgsql AS $$
DECLARE
    taken int;
BEGIN
    slots := '{}';
    FOR step IN 1 .. coalesce(array_length(keys, 1), 0) LOOP
        taken := NULL;
        FOR slot IN 0 .. caps[step] - 1 LOOP
            -- held: (key << 32) | slot of every slot this session holds, which a
            -- re-entrant lock would grant again.
            CONTINUE WHEN ((keys[step]::bigint << 32) | slot) = ANY (held);
            IF pg_try_advisory_lock(keys[step], slot) THEN
                taken := slot;
                EXIT;
            END IF;
        END LOOP;
        IF taken IS NULL THEN
            -- All or nothing: the steps taken so far go back in this same call.
            FOR done IN 1 .. step - 1 LOOP
                PERFORM pg_advisory_unlock(keys[done], slots[done]);
            END LOOP;
            full_step := step - 1;
            slots := NULL;
            RETURN;
        END IF;
        slots := slots || taken;
        held := held || ((keys[step]::bigint << 32) | taken);
    END LOOP;
END $$;
"""
_TAKE = ("SELECT full_step, slots "
         "FROM pg_temp.tenantgate_take(%s::int[], %s::int[], %s::bigint[])")
_GRANTED = ("FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2 "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
_HELD = f"SELECT count(*) {_GRANTED} AND classid::bigint = %s AND objid::bigint < %s"
_ALL_HELD = f"SELECT classid::bigint, objid::bigint {_GRANTED}"


def int_array(values: Iterable[int]) -> str:
    """An int[] literal: sent as text, it costs the client far less than a list adapted."""
    return "{" + ",".join(map(str, values)) + "}"


class Wanted:
    """The keys and capacities of a chain's steps, in order, as the function takes them."""

    __slots__ = ("keys", "keys_text", "caps_text")

    def __init__(self, keys: Sequence[int], caps: Sequence[int]):
        self.keys = tuple(keys)
        self.keys_text, self.caps_text = int_array(keys), int_array(caps)


def _give_sql(steps: int) -> str:
    """One statement unlocking ``steps`` slots: a plain call each, no function to enter."""
    return "SELECT " + ", ".join(["pg_advisory_unlock(%s::int, %s::int)"] * steps)


_GIVE = {steps: _give_sql(steps) for steps in range(1, 5)}  # a chain has 1 to 4 steps


class PgPermit:
    """The slots of one chain (or one semaphore), held through one session."""

    __slots__ = ("_session", "pairs")

    def __init__(self, session: "Session", wanted: Wanted, slots: Sequence[int]):
        self._session = session
        self.pairs = tuple(zip(wanted.keys, slots))

    @property
    def slot(self) -> int:
        return self.pairs[0][1]

    def release(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            session.give(self)


class Session:
    def __init__(self, url: str, timeout: float):
        self._url = url
        self._timeout = timeout
        self._conn: psycopg.Connection | None = None
        self._cursor: psycopg.Cursor | None = None  # one, reused: a new one per call costs
        self.pid = os.getpid()
        # The thread using the session, or one releasing a permit taken through it.
        self.lock = threading.Lock()
        # (key, slot) -> the permit holding it through the current connection. A permit
        # from a connection that was lost must not release the same slot taken again since.
        self._held: dict[tuple[int, int], PgPermit] = {}
        self._retired = False  # its thread ended: closed once it holds nothing
        self.closed = False

    def take(self, wanted: Wanted) -> PgPermit | int:
        """Every step's permit, or the index of the first step that was full."""
        with self.lock:
            full, slots = self._run(
                _TAKE, lambda: (wanted.keys_text, wanted.caps_text, self._skip())).fetchone()
            if full is not None:
                return full
            permit = PgPermit(self, wanted, slots)
            for pair in permit.pairs:
                self._held[pair] = permit
            return permit

    def give(self, permit: PgPermit) -> None:
        with self.lock:
            if self._held.get(permit.pairs[0]) is not permit:
                return  # the connection was lost meanwhile, and the locks with it
            for pair in permit.pairs:
                del self._held[pair]
            sql = _GIVE.get(len(permit.pairs)) or _give_sql(len(permit.pairs))
            flat = tuple(number for pair in permit.pairs for number in pair)
            try:
                self._run(sql, lambda: flat, retry=False)
            except StoreUnavailable as exc:
                log.warning("permit release: session lost (%s); the locks went with it", exc)
            if self._retired and not self._held:
                self._close()

    def inflight(self, key: int, capacity: int) -> int:
        """Permits of ``key`` below ``capacity`` held by any session, anywhere."""
        with self.lock:
            return self._run(_HELD, lambda: (key, capacity)).fetchone()[0]

    def all_held(self) -> list[tuple[int, int]]:
        """(key, slot) of every permit held by any session, anywhere: one read for a scrape."""
        with self.lock:
            return self._run(_ALL_HELD, tuple).fetchall()

    def retire(self) -> None:
        """Its thread ended: close now, or when the last permit taken here is released."""
        with self.lock:
            self._retired = True
            if not self._held:
                self._close()

    def close(self) -> None:
        with self.lock:
            self._close()

    def _skip(self) -> str:
        return int_array((key << 32) | slot for key, slot in self._held)

    def _run(self, sql: str, params, retry: bool = True) -> psycopg.Cursor:
        # A connection that was fine when last used may have died since (PostgreSQL
        # restarted): its locks died with it, so the statement is tried once more on a
        # new one. Not for a release: a new connection holds nothing to unlock.
        stale = self._conn is not None and not self._conn.closed
        try:
            return self._statements().execute(sql, params(), prepare=True)
        except psycopg.OperationalError as exc:
            self._drop()
            if not (retry and stale):
                raise StoreUnavailable(str(exc).strip()) from exc
        try:
            return self._statements().execute(sql, params(), prepare=True)
        except psycopg.OperationalError as exc:
            self._drop()
            raise StoreUnavailable(str(exc).strip()) from exc

    def _statements(self) -> psycopg.Cursor:
        if self.closed:  # the backend was closed while this thread was on its way here
            raise StoreUnavailable("the limits session was closed")
        if self._conn is None or self._conn.closed:
            self._held.clear()  # a new connection holds nothing
            conn = psycopg.connect(self._url, autocommit=True, application_name=APPLICATION_NAME,
                                   connect_timeout=max(1, int(self._timeout)))
            try:
                conn.execute(_FUNCTION)
            except psycopg.Error:
                conn.close()
                raise
            self._conn, self._cursor = conn, conn.cursor()
        return self._cursor

    def _drop(self) -> None:
        # Closing ends the session on the server: whatever it held is free again.
        if self._conn is not None and self.pid == os.getpid():
            try:
                self._conn.close()
            except psycopg.Error:
                log.debug("closing a broken limits session")
        self._conn = self._cursor = None
        self._held.clear()

    def _close(self) -> None:
        self.closed = True
        self._drop()
