"""cluster=ray on a real two-node Ray cluster started on this machine with `ray start`.

The head and a worker node are separate `ray start --block` process trees (their own raylets);
the worker carries a custom resource standing in for a GPU type. Killing the worker's process
tree mid-run is a lost node.
"""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray

from tests.conftest import S3_ENV, reply, spec_json
from trex import storage
from trex.config import (
    ClusterConfig,
    ExecutorConfig,
    LLMConfig,
    ModelConfig,
    RunConfig,
    SearchConfig,
    TaskConfig,
    TrackerConfig,
)
from trex.llm.llamacpp import free_port
from trex.llm.scripted import ScriptedEndpoint
from trex.tree.records import InitFrom, NodeStatus
from trex.tree.store import Tree

RAY = str(Path(sys.executable).with_name("ray"))
ENV = {**os.environ, **S3_ENV, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}   # nodes reach s3_root


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
                f"import json, ray; ray.init(address={self.address!r}, logging_level='ERROR');"
                "print(json.dumps([[x['NodeID'], 'accel' in x['Resources']] for x in ray.nodes() if x['Alive']]))"
            )], env=ENV, capture_output=True, text=True, timeout=60)
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
    """Under the storage model: executors work in scratch, artifacts go to a `file://` root."""
    from trex.runner import run_search

    long_specs = [spec_json("slow one", epochs=4), spec_json("slow two", epochs=3)]
    for spec in long_specs:    # long enough to be killed mid-training on a fast machine, and within the
        spec["data"]["max_samples"] = 64      # root template's 256 example-passes (no node time is known yet)
    slow = reply(*long_specs)
    killed: list[str] = []

    def kill_when_a_child_runs_on_the_worker() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not killed:
            for log in (tmp_path / "scratch").glob("*/n000[12]/log.txt"):
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
        cfg = config(tiny_model, endpoint, cluster.address, tmp_path, "lost", 3, scratch_dir=str(tmp_path / "scratch"))
        outcome = run_search(dataclasses.replace(cfg, storage=f"file://{tmp_path}/store"))
    killer.join(timeout=5)
    assert killed, "no child ran on the worker node"
    tree = Tree.load(tmp_path / "lost" / "tree.json")
    lost = tree[killed[0]]
    assert lost.status is NodeStatus.SUCCEEDED and lost.result.ray_node == cluster.ids["head"]
    assert lost.result.adapter_path == f"file://{tmp_path}/store/lost/nodes/{lost.id}/adapter"
    assert storage.exists(f"{lost.result.adapter_path}/adapter_config.json")
    assert all(n.done for n in tree) and len(tree) == 3
    assert outcome.stop_reason and time.monotonic() - started < 600


WATCHED: list[Path] = []          # roots the driver must not open while a test runs
OPENED: list[tuple[str, str]] = []


def _audit(event: str, args: tuple) -> None:
    if WATCHED and event in ("open", "os.listdir", "os.scandir") and args and isinstance(args[0], (str, os.PathLike)):
        path = os.fspath(args[0])
        if any(path.startswith(str(root)) for root in WATCHED):
            OPENED.append((event, path))


sys.addaudithook(_audit)


def base_then_warm(body: dict) -> str:
    """Two fresh fine-tunes below the root (one epoch, two epochs); below any other node, two warm
    starts of it, three epochs each. The one-epoch child finishes first and is expanded; its first
    warm start takes its executor and outlasts the two-epoch sibling, so the second warm start runs
    on the sibling's executor: the other node."""
    if "refine n0000" in body["messages"][-1]["content"]:
        return reply(spec_json("higher learning rate", learning_rate=1e-3), spec_json("two epochs", epochs=2))
    return reply(spec_json("continue it gently", direction="warm_start", init_from="parent", learning_rate=2e-4,
                           epochs=3),
                 spec_json("continue it hard", direction="warm_start", init_from="parent", learning_rate=1e-3,
                           epochs=3))


def test_artifacts_go_to_storage_and_warm_starts_cross_nodes(tiny_model: Path, tmp_path: Path, s3_root: str,
                                                             cluster: LocalCluster) -> None:
    """Storage is S3 (a local moto server): executors, driver and evaluation staging reach it only
    through the storage API; an openai evaluation server loads every adapter from a staged copy."""
    from trex.runner import run_search

    scratch = tmp_path / "scratch"
    loads: list[tuple[str, bool]] = []

    def evaluate(body: dict) -> str:
        """The evaluation server: vLLM's runtime LoRA loading and chat completions."""
        if "lora_path" in body:
            loads.append((body["lora_path"], (Path(body["lora_path"]) / "adapter_config.json").is_file()))
            return ""
        return "The answer is 7."

    with ScriptedEndpoint(base_then_warm) as endpoint, ScriptedEndpoint(evaluate) as server:
        cfg = config(tiny_model, endpoint, cluster.address, tmp_path / "runs", "nfs-free", 5, scratch_dir=str(scratch),
                     engine="openai", engine_base_url=server.base_url, engine_model="scripted")
        WATCHED.append(scratch)
        try:
            run_search(dataclasses.replace(cfg, storage=s3_root))
        finally:
            WATCHED.clear()
    assert OPENED == [], f"the driver opened executor scratch: {OPENED[:5]}"
    # every adapter the server loaded was staged from storage onto its machine, never read from scratch
    staged = Path(tempfile.gettempdir()) / "trex-served-adapters"
    assert len(loads) >= 4 and all(ok and Path(path).is_relative_to(staged) for path, ok in loads), loads
    tree = Tree.load(tmp_path / "runs" / "nfs-free" / "tree.json")
    assert len(tree) == 5 and all(n.status is NodeStatus.SUCCEEDED for n in tree), [n.result.error for n in tree]
    location = storage.join(s3_root, "nfs-free")
    for node in tree:
        if node.parent_id is not None:
            assert node.result.adapter_path == storage.join(location, "nodes", node.id, "adapter")
            assert storage.exists(storage.join(node.result.adapter_path, "adapter_config.json"))
        assert node.result.predictions_path.startswith("s3://trex-runs/ci/nfs-free/nodes/" + node.id + "/")
        assert not (tmp_path / "runs" / "nfs-free" / "nodes" / node.id / "adapter").exists()
    warm = [n for n in tree if n.spec.train.init_from is InitFrom.PARENT]
    assert len(warm) == 2 and warm[0].parent_id == warm[1].parent_id
    parent_node = tree[warm[0].parent_id].result.ray_node
    assert any(n.result.ray_node != parent_node for n in warm), "no warm start ran on another node than its parent"
    assert any(n.diagnosis is not None for n in tree if n.parent_id), "diagnosis needs predictions read from storage"
    assert not [p for p in scratch.rglob("*") if p.is_file()], "executor scratch was not cleaned"
    assert json.loads(storage.read_bytes(storage.join(location, "tree.json"))) == json.loads(
        (tmp_path / "runs" / "nfs-free" / "tree.json").read_text())
    assert storage.exists(storage.join(location, "final.json")) and storage.exists(storage.join(location, "summary.md"))
    assert storage.exists(storage.join(location, "nodes", "n0000", "predictions-test.jsonl"))
