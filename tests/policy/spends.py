"""Concurrent chaos spends against a real server (or several), for the budget tests."""
from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

from tests.support.server import Server

TIMEOUT = 60.0


def spend_together(servers: Sequence[Server], tenant: str, usd: str, count: int,
                   ms: int = 500) -> Counter:
    """``count`` spends released at once by a barrier, round-robin over ``servers``:
    how many of each answer (200 admitted, 429 budget_exceeded, anything else)."""
    barrier = threading.Barrier(count)

    def one(index: int) -> str:
        barrier.wait(timeout=TIMEOUT)
        response = servers[index % len(servers)].request(
            "POST", f"/t/{tenant}/chaos/spend", params={"usd": usd, "ms": ms}, timeout=TIMEOUT)
        if response.status_code == 429 and response.json().get("scope") == "daily":
            return "refused"
        return "admitted" if response.status_code == 200 else f"other {response.status_code}"

    with ThreadPoolExecutor(count) as pool:
        return Counter(pool.map(one, range(count)))
