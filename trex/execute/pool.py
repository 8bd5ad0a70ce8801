"""Executor Ray actors, created while the cluster has room for them and never beyond it.

Each executor is placed in its own placement group (one bundle with the CPUs, GPUs and custom
resources an experiment needs), so it gets its resources together and the driver never
oversubscribes: it counts the cluster's free resources, not a fixed number of slots. An actor
lost with its node is dropped, not respawned blindly; a new one is created when resources free up.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import ray
from ray.util.placement_group import placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from trex.execute.executor import Executor, ExecutorSettings
from trex.search.contracts import Job
from trex.tree.records import NodeStatus, RunResult

log = logging.getLogger(__name__)
PLACEMENT_WAIT_S = 10.0


@dataclass(frozen=True)
class Demand:
    """What one experiment holds while it runs. `actor` is what the executor actor itself takes;
    `total` is what must be free before one starts (with Ray Train, its workers take the rest)."""

    cpus: float = 1.0
    gpus: float = 0.0
    resources: dict[str, float] = field(default_factory=dict)   # custom, e.g. {"H100": 1}
    trainer_workers: int = 0                                     # Ray Train workers, each `worker`
    worker: dict[str, float] = field(default_factory=dict)

    def actor(self) -> dict[str, float]:
        bundle = {"CPU": self.cpus, "GPU": self.gpus, **self.resources}
        return {k: v for k, v in bundle.items() if v > 0}

    def total(self) -> dict[str, float]:
        need = dict(self.actor())
        for key, value in self.worker.items():
            need[key] = need.get(key, 0.0) + value * self.trainer_workers
        return need


def fits(need: dict[str, float], free: dict[str, float]) -> bool:
    return all(free.get(k, 0.0) + 1e-9 >= v for k, v in need.items())


def check_cluster_can_hold(demand: Demand) -> None:
    """Fail clearly when no node of the cluster could ever run one experiment."""
    total = ray.cluster_resources()
    if not fits(demand.total(), total):
        raise RuntimeError(f"one experiment needs {demand.total()}, but the whole Ray cluster has "
                           f"{ {k: v for k, v in total.items() if not k.startswith('node:')} }; lower "
                           "executor.cpus_per_executor / gpus / resources, or add nodes")


class ExecutorPool:
    def __init__(self, settings: ExecutorSettings, max_concurrent: int, demand: Demand) -> None:
        self._settings, self.max_concurrent, self.demand = settings, max_concurrent, demand
        self._remote = ray.remote(max_restarts=0)(Executor)
        self._idle: list[tuple[Any, Any]] = []                       # (actor, placement group)
        self._busy: dict[ray.ObjectRef, tuple[Any, Any, Job]] = {}
        check_cluster_can_hold(demand)

    @property
    def size(self) -> int:
        return len(self._idle) + len(self._busy)

    @property
    def free(self) -> int:
        """Jobs that can start now: idle actors, or one more actor if the cluster has room."""
        if self._idle:
            return len(self._idle)
        if self.size >= self.max_concurrent or not fits(self.demand.total(), ray.available_resources()):
            return 0
        return 1 if self._spawn() else 0

    @property
    def refs(self) -> list[ray.ObjectRef]:
        return list(self._busy)

    def _spawn(self) -> bool:
        """Place one more executor; False (and nothing held) if its resources did not come together."""
        bundle = self.demand.actor()
        pg = placement_group([bundle], strategy="STRICT_PACK") if bundle else None
        if pg is not None and not pg.wait(PLACEMENT_WAIT_S):
            remove_placement_group(pg)
            return False
        options: dict[str, Any] = {"num_cpus": self.demand.cpus, "num_gpus": self.demand.gpus,
                                   "resources": dict(self.demand.resources)}
        if pg is not None:
            options["scheduling_strategy"] = PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=0)
        self._idle.append((self._remote.options(**options).remote(self._settings), pg))
        return True

    def submit(self, job: Job) -> ray.ObjectRef:
        if not self._idle and not self.free:
            raise RuntimeError("no executor is free; check pool.free before submitting")
        actor, pg = self._idle.pop()
        ref = actor.run.remote(job)
        self._busy[ref] = (actor, pg, job)
        return ref

    def release(self, ref: ray.ObjectRef, actor_died: bool) -> Job:
        """Return the finished ref's actor to the pool; a dead (or killed) one is dropped with its
        placement group, and replaced later only if the cluster has room."""
        actor, pg, job = self._busy.pop(ref)
        if actor_died:
            log.warning("executor for %s is gone; its resources are released", job.node_id)
            self._drop(actor, pg)
        else:
            self._idle.append((actor, pg))
        return job

    def wait(self, refs: list[ray.ObjectRef], timeout_s: float) -> list[ray.ObjectRef]:
        ready, _ = ray.wait(refs, num_returns=1, timeout=timeout_s)
        return ready

    @staticmethod
    def result(ref: ray.ObjectRef) -> tuple[RunResult, bool]:
        """The job's result, and whether its executor died (its node was lost, not failed)."""
        try:
            return ray.get(ref), False
        except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as err:
            return RunResult(status=NodeStatus.FAILED, error=f"executor died: {err}"[:3000]), True
        except ray.exceptions.RayTaskError as err:
            return RunResult(status=NodeStatus.FAILED, error=f"executor error: {err}"[:3000]), False

    def wait_for_room(self, seconds: float) -> bool:
        """Wait up to `seconds` until one executor can be placed."""
        deadline = time.monotonic() + seconds
        while not self.free:
            if time.monotonic() > deadline:
                return False
            time.sleep(1.0)
        return True

    def _drop(self, actor: Any, pg: Any) -> None:
        ray.kill(actor, no_restart=True)
        if pg is not None:
            remove_placement_group(pg)

    def shutdown(self) -> None:
        for actor, pg in self._idle + [(a, p) for a, p, _ in self._busy.values()]:
            self._drop(actor, pg)
        self._idle, self._busy = [], {}
