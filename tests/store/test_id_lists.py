"""IN lists of a few fixed lengths: every id bound, a handful of statement texts."""
from __future__ import annotations

import sqlite3

import pytest

from app.store.id_lists import CHUNK, SIZES, in_lists, select_in


@pytest.mark.parametrize("count", [1, 2, 7, 8, 9, 63, 64, 65, 72, 73, 1000])
def test_every_id_is_bound_once_in_order_and_no_other(count):
    ids = [f"t{i}" for i in range(count)]
    chunks = list(in_lists(ids))
    bound = [i for _, chunk in chunks for i in chunk]
    assert list(dict.fromkeys(bound)) == ids  # padding repeats ids, never adds one
    for marks, chunk in chunks:
        assert marks.split(",") == ["?"] * len(chunk)
        assert len(chunk) <= CHUNK


def test_no_ids_no_statement():
    assert list(in_lists([])) == []


def test_any_number_of_ids_uses_a_few_texts():
    texts = {marks for count in range(1, 2 * CHUNK + 2)
             for marks, _ in in_lists([f"t{i}" for i in range(count)])}
    assert sorted(len(marks.split(",")) for marks in texts) == list(SIZES)


@pytest.mark.parametrize("count", [0, 1, 9, 64, 65, 200])
def test_a_grouped_query_over_chunks_gives_the_whole_answer(count):
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE jobs (tenant_id TEXT, size INTEGER)")
    conn.executemany("INSERT INTO jobs VALUES (?, ?)",
                     [(f"t{i}", i) for i in range(300)] + [(f"t{i}", 1) for i in range(300)])
    ids = [f"t{i}" for i in range(count)]
    rows = select_in(conn, "SELECT tenant_id, SUM(size) FROM jobs WHERE size >= ? "
                     "AND tenant_id IN ({marks}) GROUP BY tenant_id", ids, before=(0,))
    assert sorted(rows) == sorted((f"t{i}", i + 1) for i in range(count))
