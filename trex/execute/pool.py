"""Executor Ray actors, each in its own placement group (one bundle with the CPUs, GPUs and
custom resources an experiment needs), so it gets its resources together.

On a fixed cluster (`autoscale=False`: local Ray) an executor is created only while the
cluster has room for it: the driver counts free resources, never oversubscribes, and fails at
start when no node could ever hold one experiment. On a Ray cluster that may scale
(`autoscale=True`) the pool leaves placement groups pending, up to `max_concurrent` executors
in all: pending groups are the demand Ray's autoscaler acts on (it adds nodes for them), and an
executor is created when its group is placed. When the search needs fewer executors (the
drain after the budget, the final test pass) idle executors and pending groups beyond that are
released, so the cluster can scale down. An actor lost with its node is dropped, not
respawned blindly.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import ray
from ray.util.placement_group import placement_group, placement_group_table, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from trex.execute.executor import Executor, ExecutorSettings
from trex.search.contracts import Job
from trex.tree.records import NodeStatus, RunResult

log = logging.getLogger(__name__)
PLACEMENT_WAIT_S = 2.0


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
    def __init__(self, settings: ExecutorSettings, max_concurrent: int, demand: Demand,
                 autoscale: bool = False) -> None:
        self._settings, self.max_concurrent, self.demand, self.autoscale = settings, max_concurrent, demand, autoscale
        self._remote = ray.remote(max_restarts=0)(Executor)
        self._idle: list[tuple[Any, Any]] = []                       # (actor, placement group)
        self._busy: dict[ray.ObjectRef, tuple[Any, Any, Job]] = {}
        self._pending: list[Any] = []          # placement groups asked for and not yet placed
        self.wanted: int | None = None         # executors the search can still use (None: max_concurrent)
        if not autoscale:
            check_cluster_can_hold(demand)
        elif not fits(demand.total(), ray.cluster_resources()):
            log.warning("one experiment needs %s and the cluster has none that large now; placement groups "
                        "are left pending for the Ray autoscaler to add nodes", demand.total())

    @property
    def size(self) -> int:
        return len(self._idle) + len(self._busy)

    @property
    def cap(self) -> int:
        return self.max_concurrent if self.wanted is None else min(self.max_concurrent, self.wanted)

    @property
    def free(self) -> int:
        """Jobs that can start now: idle actors (with those whose pending group has been placed
        since), or one more actor if the cluster has room (with autoscale: pending placement groups
        are asked for up to the cap)."""
        self._place_ready()
        if self._idle:
            return len(self._idle)
        if not self.demand.actor():       # nothing to reserve: an executor needs no placement
            if self.size >= self.cap:
                return 0
            self._idle.append((self._actor(None), None))
            return 1
        if self.autoscale:
            while self.size + len(self._pending) < self.cap:
                self._pending.append(placement_group([self.demand.actor()], strategy="STRICT_PACK"))
        elif not self._pending and self.size < self.cap and fits(self.demand.total(), ray.available_resources()):
            self._spawn()
        return len(self._idle)

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def refs(self) -> list[ray.ObjectRef]:
        return list(self._busy)

    def limit(self, wanted: int | None) -> None:
        """The search can use at most `wanted` executors from now on (None: max_concurrent): idle
        executors and pending placement groups beyond that are released (the cluster may scale down)."""
        self.wanted = wanted
        released = 0
        while self._pending and self.size + len(self._pending) > self.cap:
            remove_placement_group(self._pending.pop())
            released += 1
        while self._idle and self.size > self.cap:
            self._drop(*self._idle.pop())
            released += 1
        if released:
            log.info("released %d idle executor(s) or pending placement group(s): the search needs %d now",
                     released, self.cap)

    def _place_ready(self) -> None:
        """Executors for the pending placement groups that have been placed (asked of the GCS
        without waiting: `pg.wait(0)` schedules a probe task and is rarely done at once)."""
        for pg in [pg for pg in self._pending if placement_group_table(pg).get("state") == "CREATED"]:
            self._pending.remove(pg)
            self._idle.append((self._actor(pg), pg))

    def _spawn(self) -> None:
        """Ask for one more executor's placement group (the cluster has room for it). Placed within
        PLACEMENT_WAIT_S, its executor is idle at once; otherwise (a busy GCS) the group stays
        pending and a later `free` creates the executor, so the loop never stalls on it and no
        group is dropped and asked again."""
        pg = placement_group([self.demand.actor()], strategy="STRICT_PACK")
        if pg.wait(PLACEMENT_WAIT_S):
            self._idle.append((self._actor(pg), pg))
        else:
            self._pending.append(pg)

    def _actor(self, pg: Any) -> Any:
        options: dict[str, Any] = {"num_cpus": self.demand.cpus, "num_gpus": self.demand.gpus,
                                   "resources": dict(self.demand.resources)}
        if pg is not None:
            options["scheduling_strategy"] = PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=0)
        return self._remote.options(**options).remote(self._settings)

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
        waiting_on = " for the Ray autoscaler" if self.autoscale else ""
        log.warning("waiting up to %.0f s for room for an executor (%s)%s", seconds, self.demand.total(),
                    f"; {len(self._pending)} placement group(s) pending{waiting_on}" if self._pending else "")
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
        for pg in self._pending:
            remove_placement_group(pg)
        self._idle, self._busy, self._pending = [], {}, []
