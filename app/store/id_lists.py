"""IN lists of a few fixed lengths, so that a query over many ids reuses one statement.

sqlite3 keeps up to 128 prepared statements per connection, keyed by their SQL text, and
a connection per thread. An ``IN (?, ?, ...)`` of one placeholder per id is a new text,
and a new statement of its own size, for every number of ids: a query over the tenants a
worker has loaded, whose number grows one first hit at a time, filled the cache of every
thread's connection with statements of up to 500 parameters, about 10 MiB a connection
by 1,000 tenants (memory SQLite allocates, outside the Python heap). PostgreSQL prepares
a statement per text the same way (psycopg, after a few executions).

Ids go in chunks of at most CHUNK, each padded to SIZES[0] or CHUNK ids by repeating its
last id (an id twice in an IN list matches the same rows as once): a query has two
texts, whatever the number of ids. A statement costs its connection about 3.5 KiB plus
200 bytes a parameter (sqlite3_stmt_status), and every thread's connection keeps its
own; padding costs nothing measurable (1,000 ids: 3.7 ms in chunks of 64, 4.3 ms in
chunks of 512, medians of 7 x 50 calls).
"""
from __future__ import annotations

from typing import Iterator, Sequence

CHUNK = 64  # ids per statement at most
SIZES = (8, CHUNK)  # the lengths an IN list is padded to
_MARKS = {size: ",".join("?" * size) for size in SIZES}


def in_lists(ids: Sequence[str]) -> Iterator[tuple[str, list[str]]]:
    """(``"?,?,..."``, the ids to bind to it) for each chunk of ``ids``; none when empty."""
    for start in range(0, len(ids), CHUNK):
        part = list(ids[start:start + CHUNK])
        size = next(size for size in SIZES if size >= len(part))
        part.extend(part[-1:] * (size - len(part)))
        yield _MARKS[size], part


def select_in(conn, sql: str, ids: Sequence[str], before: Sequence = ()) -> list:
    """The rows of ``sql`` (an ``IN ({marks})`` over ``ids``, ``before`` bound ahead of
    the ids) over every chunk of ``ids``. Only for a query whose rows each belong to one id
    (a plain filter, or GROUP BY the id), so the chunks' rows add up to the whole answer."""
    rows: list = []
    for marks, chunk in in_lists(ids):
        rows.extend(conn.execute(sql.format(marks=marks), [*before, *chunk]).fetchall())
    return rows
