"""ExecutorPool placement on a fixed local Ray cluster: a group not placed at once stays pending
(the loop is not blocked and nothing is asked twice), and the pool never asks beyond its cap or
the free resources. Executors are stand-ins; the placement groups are real."""
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import ray
from ray.util.placement_group import placement_group_table, remove_placement_group

from trex.execute import pool as pool_module
from trex.execute.pool import Demand, ExecutorPool


@pytest.fixture
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def live_groups() -> int:
    return sum(1 for pg in placement_group_table().values() if pg["state"] != "REMOVED")


def stand_in_pool(monkeypatch: pytest.MonkeyPatch, cap: int) -> ExecutorPool:
    """A pool whose executors are plain objects (placement is what is tested, not the actor)."""
    monkeypatch.setattr(ExecutorPool, "_actor", lambda self, pg: object())
    monkeypatch.setattr(ExecutorPool, "_drop", lambda self, actor, pg: pg and remove_placement_group(pg))
    return ExecutorPool(settings=None, max_concurrent=cap, demand=Demand(cpus=1))  # type: ignore[arg-type]


def take(pool: ExecutorPool) -> Any:
    """Mark one idle executor busy, as `submit` does."""
    actor, pg = pool._idle.pop()
    pool._busy[ray.put(None)] = (actor, pg, None)  # type: ignore[assignment]
    return actor


def test_a_group_placed_late_is_used_and_never_asked_twice(local_ray: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool_module, "PLACEMENT_WAIT_S", 0.0)   # as if the GCS were too slow to answer at once
    pool = stand_in_pool(monkeypatch, cap=2)
    started = time.monotonic()
    first = pool.free
    assert time.monotonic() - started < 1.0, "asking for an executor blocked the search loop"
    assert first == 1 or pool.pending == 1
    deadline = time.monotonic() + 30
    while not pool.free:
        assert time.monotonic() < deadline, "the pending group was never used"
        time.sleep(0.1)
    assert pool.pending == 0 and live_groups() == 1
    take(pool)
    while not pool.free:
        assert time.monotonic() < deadline, "the second executor was never placed"
        time.sleep(0.1)
    take(pool)
    assert live_groups() == 2
    assert pool.free == 0 and pool.pending == 0 and live_groups() == 2, "the pool asked beyond its cap"
    pool.shutdown()
    assert live_groups() == 0


def test_no_group_is_asked_when_the_cluster_is_full(local_ray: None, monkeypatch: pytest.MonkeyPatch) -> None:
    pool = stand_in_pool(monkeypatch, cap=4)
    for _ in range(2):
        assert pool.free == 1
        take(pool)
    assert pool.free == 0 and pool.pending == 0 and live_groups() == 2, "asked for more than 2 CPUs hold"
    pool.shutdown()
