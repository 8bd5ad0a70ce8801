"""A fixed set of Executor Ray actors, sized by free resources so trainers never starve."""
from __future__ import annotations

import logging
from typing import Any

import ray

from trex.execute.executor import Executor, ExecutorSettings, Job

log = logging.getLogger(__name__)


def slots_for(max_concurrent: int, cpus_per_slot: int) -> int:
    """Experiments that fit the cluster's free CPUs right now, at most max_concurrent."""
    free = int(ray.available_resources().get("CPU", 0))
    slots = min(max_concurrent, free // cpus_per_slot)
    if slots < 1:
        raise RuntimeError(f"the Ray cluster has {free} free CPUs; one experiment needs {cpus_per_slot} "
                           "(executor.cpus_per_executor, or workers x cpus_per_worker with backend=ray_train)")
    return slots


class ExecutorPool:
    def __init__(self, settings: ExecutorSettings, size: int, cpus_per_executor: int) -> None:
        self._settings = settings
        self._remote = ray.remote(num_cpus=cpus_per_executor, max_restarts=0)(Executor)
        self._idle: list[Any] = [self._spawn() for _ in range(size)]
        self._busy: dict[ray.ObjectRef, tuple[Any, Job]] = {}

    def _spawn(self) -> Any:
        return self._remote.remote(self._settings)

    @property
    def free(self) -> int:
        return len(self._idle)

    @property
    def refs(self) -> list[ray.ObjectRef]:
        return list(self._busy)

    def submit(self, job: Job) -> ray.ObjectRef:
        actor = self._idle.pop()
        ref = actor.run.remote(job)
        self._busy[ref] = (actor, job)
        return ref

    def release(self, ref: ray.ObjectRef, actor_died: bool) -> Job:
        """Return the finished ref's actor to the pool (a fresh one if it died)."""
        actor, job = self._busy.pop(ref)
        if actor_died:
            log.warning("executor for %s died; starting a replacement", job.node_id)
            ray.kill(actor, no_restart=True)
            actor = self._spawn()
        self._idle.append(actor)
        return job

    def shutdown(self) -> None:
        for actor in self._idle + [a for a, _ in self._busy.values()]:
            ray.kill(actor, no_restart=True)
