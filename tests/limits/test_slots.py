"""SlotFile: permits as OFD byte-range locks, exact across descriptions and processes."""
from __future__ import annotations

import multiprocessing
import os
import signal
import tempfile
import threading
import time
from pathlib import Path

import pytest

from app.limits.local import LocalBackend
from app.limits import slots as slots_module
from app.limits.slots import SlotFile

CHILD_TIMEOUT = 30


@pytest.fixture
def path(tmp_path) -> Path:
    return tmp_path / "limits" / "acme" / "llm_student.slots"


@pytest.fixture
def slots(path):
    slot_file = SlotFile(path)
    yield slot_file
    slot_file.close()


def take(slots: SlotFile, capacity: int, count: int) -> list:
    permits = [slots.try_acquire(capacity) for _ in range(count)]
    assert None not in permits
    return permits


def test_capacity_is_respected_and_each_permit_gets_its_own_slot(slots):
    permits = take(slots, 3, 3)
    assert sorted(p.slot for p in permits) == [0, 1, 2]
    assert slots.try_acquire(3) is None
    assert slots.inflight() == 3


def test_release_frees_the_slot_for_the_next_acquire(slots):
    permits = take(slots, 2, 2)
    assert slots.try_acquire(2) is None
    permits[0].release()
    assert slots.inflight() == 1
    again = slots.try_acquire(2)
    assert again is not None and again.slot == permits[0].slot
    assert slots.inflight() == 2


def test_releasing_a_permit_twice_frees_only_one_slot(slots):
    first, second = take(slots, 2, 2)
    first.release()
    first.release()
    assert slots.inflight() == 1
    assert slots.try_acquire(2) is not None
    assert slots.try_acquire(2) is None
    second.release()


def test_a_fresh_file_has_nothing_in_flight(slots):
    assert slots.inflight() == 0


def test_two_slot_files_on_one_path_share_the_capacity_like_two_processes(path, slots):
    other = SlotFile(path)
    try:
        mine = take(slots, 3, 2)
        theirs = other.try_acquire(3)
        assert theirs is not None and theirs.slot not in {p.slot for p in mine}
        assert other.try_acquire(3) is None
        assert slots.try_acquire(3) is None
        assert slots.inflight() == other.inflight() == 3
        theirs.release()
        assert slots.inflight() == 2
        assert slots.try_acquire(3) is not None
    finally:
        other.close()


def test_threads_of_one_process_exclude_each_other(slots):
    capacity, threads = 3, 12
    barrier = threading.Barrier(threads)
    got: list = []
    lock = threading.Lock()

    def grab():
        barrier.wait(timeout=10)
        permit = slots.try_acquire(capacity)
        with lock:
            got.append(permit)

    workers = [threading.Thread(target=grab) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(10)
    held = [p for p in got if p is not None]
    assert len(got) == threads
    assert len(held) == capacity
    assert sorted(p.slot for p in held) == [0, 1, 2]
    assert slots.inflight() == capacity


def test_raising_the_capacity_takes_effect_on_the_next_acquire(slots):
    take(slots, 2, 2)
    assert slots.try_acquire(2) is None
    more = slots.try_acquire(3)
    assert more is not None and more.slot == 2
    assert slots.inflight() == 3


def test_lowering_the_capacity_admits_nothing_until_enough_are_released(slots):
    permits = take(slots, 4, 4)
    permits[0].release()  # slot 0 is free, but slots 1..3 are still held
    assert slots.try_acquire(2) is None
    assert slots.inflight() == 3  # permits above the new capacity still count
    permits[1].release()
    permits[2].release()  # one held (slot 3): one more fits under 2
    admitted = slots.try_acquire(2)
    assert admitted is not None
    assert slots.try_acquire(2) is None
    assert slots.inflight() == 2
    permits[3].release()
    assert slots.inflight() == 1
    assert slots.try_acquire(2) is not None


def test_a_process_that_never_used_the_wider_capacity_still_sees_slots_above_its_own(path):
    # Another process took slots under a capacity of 4; this one (a worker started after
    # the limit was lowered to 2) never used 4, yet counts them.
    wide, narrow = SlotFile(path), SlotFile(path)
    try:
        permits = take(wide, 4, 4)
        permits[0].release()
        permits[1].release()  # slots 2 and 3 held: nothing fits under 2
        assert narrow.try_acquire(2) is None
        permits[2].release()  # one held (slot 3): one more fits
        admitted = narrow.try_acquire(2)
        assert admitted is not None and narrow.try_acquire(2) is None
        assert narrow.inflight() == 2
    finally:
        wide.close()
        narrow.close()


def test_backend_keeps_tenants_and_global_apart(tmp_path):
    backend = LocalBackend(str(tmp_path / "state"))
    try:
        a = backend.semaphore("a", "llm_student", 1)
        b = backend.semaphore("b", "llm_student", 1)
        glob = backend.semaphore("_global", "llm_student", 1)
        held = [a.try_acquire(), b.try_acquire(), glob.try_acquire()]
        assert None not in held
        assert a.try_acquire() is None
        assert backend.inflight("a", "llm_student", 1) == 1
        assert backend.inflight("c", "llm_student", 1) == 0  # no file: nothing in flight
        assert not (tmp_path / "state" / "c").exists()  # and none was created by reading
        for permit in held:
            permit.release()
        assert backend.inflight("a", "llm_student", 1) == 0
    finally:
        backend.close()


# -- a process that dies holding permits --------------------------------------------------

def hold_in_child(path: str, capacity: int, count: int, ready) -> None:
    """Runs in a spawned child: take ``count`` permits, report their slots, never release."""
    slots = SlotFile(Path(path))
    held = [slots.try_acquire(capacity) for _ in range(count)]
    ready.put([None if p is None else p.slot for p in held])
    time.sleep(CHILD_TIMEOUT)  # SIGKILLed long before this ends


def test_a_sigkilled_process_gives_its_permits_back(path, slots):
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    child = context.Process(target=hold_in_child, args=(str(path), 3, 2, ready), daemon=True)
    child.start()
    try:
        child_slots = ready.get(timeout=CHILD_TIMEOUT)
        assert sorted(child_slots) == [0, 1]
        assert slots.inflight() == 2
        mine = slots.try_acquire(3)
        assert mine is not None and mine.slot == 2
        assert slots.try_acquire(3) is None
        mine.release()

        os.kill(child.pid, signal.SIGKILL)
        child.join(CHILD_TIMEOUT)
        assert child.exitcode == -signal.SIGKILL
        assert slots.inflight() == 0
        assert sorted(p.slot for p in take(slots, 3, 3)) == [0, 1, 2]
    finally:
        if child.is_alive():
            child.kill()
            child.join(CHILD_TIMEOUT)
        ready.close()
        ready.join_thread()


def test_counting_permits_costs_the_same_for_any_capacity(slots, monkeypatch):
    held = take(slots, 10_000, 3)
    other = SlotFile(slots.path)  # another description, as another worker would have
    try:
        held.append(other.try_acquire(10_000))
        calls = []
        real = slots_module.fcntl.fcntl

        def counting(fd, cmd, arg=0):
            calls.append(cmd)
            return real(fd, cmd, arg)

        monkeypatch.setattr(slots_module.fcntl, "fcntl", counting)
        assert slots.inflight() == 4
        # Two look-ups per held slot plus one, whatever the capacity (10,000 here).
        assert 0 < len(calls) <= 2 * 4 + 1
    finally:
        for permit in held:
            permit.release()
        other.close()


def test_permits_scattered_over_a_large_file_are_all_counted(slots):
    permits = take(slots, 400, 400)
    try:
        for permit in permits:
            if permit.slot % 7:
                permit.release()
        assert slots.inflight() == len([p for p in permits if p.slot % 7 == 0])
    finally:
        for permit in permits:
            permit.release()


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_capacity_too_large_for_a_lock_offset_raises_and_leaks_no_slot(slots):
    descriptors = open_descriptors()
    with pytest.raises(ValueError, match="beyond any slot file"):
        slots.try_acquire(2 ** 63)
    assert slots.inflight() == 0
    permit = slots.try_acquire(1)
    assert permit is not None and permit.slot == 0
    permit.release()
    assert open_descriptors() <= descriptors + 1  # at most the one pooled description


def test_a_failure_after_the_slot_was_taken_gives_it_back(slots, monkeypatch):
    def interrupted(*args, **kwargs):
        raise InterruptedError("interrupted")

    slots.try_acquire(5).release()  # a wider capacity was used: 2 is a lowered one
    monkeypatch.setattr(slots, "inflight", interrupted)
    monkeypatch.setattr(slots, "_held", lambda slot, length=1: True)  # look over capacity
    with pytest.raises(InterruptedError):
        slots.try_acquire(2)
    monkeypatch.undo()
    assert slots.inflight() == 0
    assert sorted(p.slot for p in take(slots, 2, 2)) == [0, 1]


def test_a_private_backend_makes_its_directory_on_first_use_and_removes_it(tmp_path,
                                                                           monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    backend = LocalBackend(None)
    assert backend.inflight("a", "ocr", 2) == 0  # reading makes nothing
    assert list(tmp_path.iterdir()) == []
    permit = backend.semaphore("a", "ocr", 2).try_acquire()
    assert permit is not None and backend.inflight("a", "ocr", 2) == 1
    assert [p.name[:18] for p in tmp_path.iterdir()] == ["tenantgate-limits-"]
    permit.release()
    backend.close()
    assert list(tmp_path.iterdir()) == []


def test_a_shared_directory_stays_when_the_backend_closes(tmp_path):
    backend = LocalBackend(str(tmp_path / "state"))
    backend.semaphore("a", "ocr", 1).try_acquire().release()
    backend.close()
    assert (tmp_path / "state" / "a" / "ocr.slots").exists()
