"""cluster=ray on a real two-node Ray cluster started on this machine with `ray start`.

The head and a worker node are separate `ray start --block` process trees (their own raylets);
the worker carries a custom resource standing in for a GPU type. Killing the worker's process
tree mid-run is a lost node.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray

from tests.conftest import reply, spec_json
from trex.config import (ClusterConfig, ExecutorConfig, LLMConfig, ModelConfig, RunConfig, SearchConfig, TaskConfig,
                         TrackerConfig)
from trex.llm.llamacpp import free_port
from trex.llm.scripted import ScriptedEndpoint
from trex.tree.records import NodeStatus
from trex.tree.store import Tree

RAY = str(Path(sys.executable).with_name("ray"))
ENV = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


class LocalCluster:
    def __init__(self) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.head = self._start("--head", f"--port={self.port}", "--num-cpus=1", "--include-dashboard=false")
        self._wait_for(1)
        self.worker = self._start(f"--address={self.address}", "--num-cpus=1", '--resources={"accel": 1}')
        self.ids = self._wait_for(2)

    def _start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([RAY, "start", "--block", "--disable-usage-stats", *args], env=ENV,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def _wait_for(self, n: int) -> dict[str, str]:
        """Node ids by role once `n` nodes are alive: {"head": ..., "worker": ...}."""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            out = subprocess.run([sys.executable, "-c", (
                "import json, ray; ray.init(address=%r, logging_level='ERROR');"
                "print(json.dumps([[x['NodeID'], 'accel' in x['Resources']] for x in ray.nodes() if x['Alive']]))"
            ) % self.address], env=ENV, capture_output=True, text=True, timeout=60)
            if out.returncode == 0:
                nodes = json.loads(out.stdout.strip().splitlines()[-1])
                if len(nodes) == n:
                    return {("worker" if accel else "head"): node for node, accel in nodes}
            time.sleep(1)
        raise RuntimeError(f"the local Ray cluster did not reach {n} node(s)")

    def kill_worker(self) -> None:
        os.killpg(self.worker.pid, signal.SIGKILL)

    def stop(self) -> None:
        for proc in (self.worker, self.head):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=30)
        # `ray start --head` records itself for later bare ray.init() calls on this machine; forget it.
        current = Path("/tmp/ray/ray_current_cluster")
        if current.is_file() and current.read_text().strip().endswith(f":{self.port}"):
            current.unlink()


@pytest.fixture
def cluster() -> Iterator[LocalCluster]:
    if ray.is_initialized():
        ray.shutdown()
    c = LocalCluster()
    try:
        yield c
    finally:
        if ray.is_initialized():
            ray.shutdown()
        c.stop()


def config(tiny_model: Path, endpoint: ScriptedEndpoint, address: str, run_dir: Path, name: str,
           max_nodes: int, **executor: object) -> RunConfig:
    return RunConfig(
        task=TaskConfig(name="math", options={"train_size": 64, "dev_size": 8, "test_size": 8}),
        search=SearchConfig(max_nodes=max_nodes, children_per_expansion=2, max_children=2, max_concurrent=2),
        llm=LLMConfig(backend="openai", model="scripted", base_url=endpoint.base_url, max_tokens=512),
        model=ModelConfig(name_or_path=str(tiny_model)),
        executor=ExecutorConfig(eval_batch_size=8, max_new_tokens=4, **executor),  # type: ignore[arg-type]
        tracker=TrackerConfig(kind="none"),
        cluster=ClusterConfig(kind="ray", address=address, wait_for_resources_s=20),
        run_dir=str(run_dir), name=name)


def two_children(body: dict) -> str:
    return reply(spec_json("higher learning rate", learning_rate=1e-3), spec_json("two epochs", epochs=2))


def test_experiments_run_on_both_nodes_and_a_custom_resource_pins_them(tiny_model: Path, tmp_path: Path,
                                                                         cluster: LocalCluster) -> None:
    from trex.runner import run_search

    with ScriptedEndpoint(two_children) as endpoint:
        run_search(config(tiny_model, endpoint, cluster.address, tmp_path, "spread", 3))
        run_search(config(tiny_model, endpoint, cluster.address, tmp_path, "pinned", 3, resources={"accel": 1}))
    spread = Tree.load(tmp_path / "spread" / "tree.json")
    assert all(n.status is NodeStatus.SUCCEEDED for n in spread)
    children = [n for n in spread if n.parent_id]
    assert {n.result.ray_node for n in children} == {cluster.ids["head"], cluster.ids["worker"]}
    pinned = Tree.load(tmp_path / "pinned" / "tree.json")
    assert {n.result.ray_node for n in pinned} == {cluster.ids["worker"]}


def test_losing_a_node_requeues_its_experiment_and_the_search_completes(tiny_model: Path, tmp_path: Path,
                                                                          cluster: LocalCluster) -> None:
    from trex.runner import run_search

    long_specs = [spec_json("slow one", epochs=4), spec_json("slow two", epochs=3)]
    for spec in long_specs:    # long enough to be killed mid-training on a fast machine, and within the
        spec["data"]["max_samples"] = 64      # root template's 256 example-passes (no node time is known yet)
    slow = reply(*long_specs)
    killed: list[str] = []

    def kill_when_a_child_runs_on_the_worker() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not killed:
            for log in (tmp_path / "lost" / "nodes").glob("n000[12]/log.txt"):
                if f"starting on Ray node {cluster.ids['worker']}" in log.read_text():
                    time.sleep(0.5)           # the experiment is in flight on the worker
                    cluster.kill_worker()
                    killed.append(log.parent.name)
                    return
            time.sleep(0.5)

    killer = threading.Thread(target=kill_when_a_child_runs_on_the_worker, daemon=True)
    killer.start()
    started = time.monotonic()
    with ScriptedEndpoint(lambda body: slow) as endpoint:
        outcome = run_search(config(tiny_model, endpoint, cluster.address, tmp_path, "lost", 3))
    killer.join(timeout=5)
    assert killed, "no child ran on the worker node"
    tree = Tree.load(tmp_path / "lost" / "tree.json")
    lost = tree[killed[0]]
    assert lost.status is NodeStatus.SUCCEEDED and lost.result.ray_node == cluster.ids["head"]
    assert all(n.done for n in tree) and len(tree) == 3
    assert outcome.stop_reason and time.monotonic() - started < 600
