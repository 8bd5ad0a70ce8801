"""cluster=ray on an autoscaling Ray cluster: Ray's own fake multi-node provider
(ray.cluster_utils.AutoscalingCluster) starts real raylets on this machine when the autoscaler
asks for nodes. The head offers no CPU, so no executor fits anywhere at the start; the search
must start anyway, its pending placement groups must make the autoscaler add workers, the
experiments must run there, and once the search ends the workers must scale down.

Runs first among the integration tests (file order), because its `ray stop --force` would end
any Ray another test left running. The driver runs as its own process, and this process never
joins the cluster: a process that joined one Ray cluster cannot use another later."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray
from ray.cluster_utils import AutoscalingCluster

from tests.integration.test_cluster import two_children
from tests.integration.test_crash_resume import launch
from trex.llm.scripted import ScriptedEndpoint
from trex.tree.records import NodeStatus
from trex.tree.store import Tree

pytestmark = pytest.mark.timeout(900)
WORKER = "trex.worker"


class FakeCloud(AutoscalingCluster):
    """AutoscalingCluster with its config written here (the wheel does not ship the example YAML
    it starts from): the fake_multinode provider, workers that idle out after 6 s."""

    def _generate_config(self, head_resources: dict, worker_node_types: dict, autoscaler_v2: bool = False,
                         **config_kwargs: object) -> dict:
        return {"cluster_name": "trex-fake", "max_workers": 2, "upscaling_speed": 1.0, "idle_timeout_minutes": 0.1,
                "provider": {"type": "fake_multinode", "use_node_id_as_ip": True, "disable_node_updaters": True,
                             "disable_launch_config_check": True},
                "available_node_types": {**worker_node_types, "ray.head.default": {
                    "resources": dict(head_resources), "node_config": {}, "max_workers": 0}},
                "head_node_type": "ray.head.default", "auth": {}, "docker": {}, "file_mounts": {},
                "initialization_commands": [], "setup_commands": [], "head_setup_commands": [],
                "worker_setup_commands": [], "head_start_ray_commands": [], "worker_start_ray_commands": [],
                "cluster_synced_files": [], "file_mounts_sync_continuously": False, "rsync_exclude": [],
                "rsync_filter": []}


def alive_nodes() -> list[dict]:
    """The cluster's alive nodes, asked from a separate process (this one never joins a cluster:
    a process that joined one cannot use another later, which would break the tests after it)."""
    out = subprocess.run([sys.executable, "-c", (
        "import json, ray; ray.init(address='auto', logging_level='ERROR');"
        "print('NODES=' + json.dumps([{'id': n['NodeID'], 'cpu': n['Resources'].get('CPU', 0)} "
        "for n in ray.nodes() if n['Alive']]))")], capture_output=True, text=True, timeout=120, check=True)
    [line] = [x for x in out.stdout.splitlines() if x.startswith("NODES=")]   # the autoscaler's events print too
    return json.loads(line.removeprefix("NODES="))


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCloud]:
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")  # its `ray` CLI
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    if ray.is_initialized():
        ray.shutdown()
    cluster = FakeCloud(head_resources={"CPU": 0},
                        worker_node_types={WORKER: {"resources": {"CPU": 1, "object_store_memory": 200 * 2**20},
                                                    "node_config": {}, "min_workers": 0, "max_workers": 2}})
    cluster.start()
    try:
        yield cluster
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()


def test_a_search_on_a_cluster_with_no_workers_scales_it_up_runs_there_and_lets_it_scale_down(
        tiny_model: Path, tmp_path: Path, cloud: FakeCloud) -> None:
    head = [n["id"] for n in alive_nodes()]
    assert len(head) == 1, "the cluster should start with its head alone"
    with ScriptedEndpoint(two_children) as endpoint:
        driver = launch(["+task=math", "task.options.train_size=64", "task.options.dev_size=8",
                         "task.options.test_size=8", "search.max_nodes=5", "search.children_per_expansion=2",
                         "search.max_children=2", "search.max_concurrent=2", "llm=openai", "llm.model=scripted",
                         f"llm.base_url={endpoint.base_url}", "model=hf", f"model.name_or_path={tiny_model}",
                         "tracker=none", "executor.eval_batch_size=8", "executor.max_new_tokens=4", "cluster=ray",
                         "cluster.address=auto", "cluster.wait_for_resources_s=180", f"run_dir={tmp_path}",
                         "name=scaled"], tmp_path)
        assert driver.wait(timeout=600) == 0, (tmp_path / "driver.log").read_text()[-3000:]
    tree = Tree.load(tmp_path / "scaled" / "tree.json")
    assert len(tree) == 5 and all(n.status is NodeStatus.SUCCEEDED for n in tree), [n.result.error for n in tree]
    ran_on = {n.result.ray_node for n in tree}
    assert ran_on and not ran_on & set(head), "an experiment ran on the head, which has no CPU"
    assert "pending for the Ray autoscaler" in (tmp_path / "driver.log").read_text()
    deadline = time.monotonic() + 120
    while (workers := [n for n in alive_nodes() if n["cpu"] > 0]) and time.monotonic() < deadline:
        time.sleep(2)
    assert not workers, "the autoscaler did not remove the idle workers after the search"
