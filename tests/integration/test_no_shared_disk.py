"""No shared disk: `storage` is a file:// root that the driver and the executors reach only through
pyarrow.fs, executors work in a scratch root that the driver never opens, and the driver's own
records live in storage, so a driver killed with its disk resumes from the URI alone.
Real Ray (a two-node `ray start` cluster, then local Ray), real TRL, tiny model, scripted LLM."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import reply, spec_json
from tests.integration.test_cluster import LocalCluster, cluster, config  # noqa: F401 - the fixture
from tests.integration.test_crash_resume import kill_driver, launch
from trex import storage
from trex.llm.scripted import ScriptedEndpoint
from trex.tree.records import InitFrom, NodeStatus
from trex.tree.store import Tree

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


def test_artifacts_go_to_storage_and_warm_starts_cross_nodes(tiny_model: Path, tmp_path: Path,
                                                             cluster: LocalCluster) -> None:  # noqa: F811
    from trex.runner import run_search

    scratch, store = tmp_path / "scratch", tmp_path / "store"
    with ScriptedEndpoint(base_then_warm) as endpoint:
        cfg = config(tiny_model, endpoint, cluster.address, tmp_path / "runs", "nfs-free", 5, scratch_dir=str(scratch))
        WATCHED.append(scratch)
        try:
            run_search(dataclasses.replace(cfg, storage=f"file://{store}"))
        finally:
            WATCHED.clear()
    assert OPENED == [], f"the driver opened executor scratch: {OPENED[:5]}"
    tree = Tree.load(tmp_path / "runs" / "nfs-free" / "tree.json")
    assert len(tree) == 5 and all(n.status is NodeStatus.SUCCEEDED for n in tree), [n.result.error for n in tree]
    location = f"file://{store}/nfs-free"
    for node in tree:
        if node.parent_id is not None:
            assert node.result.adapter_path == f"{location}/nodes/{node.id}/adapter"
            assert storage.exists(f"{node.result.adapter_path}/adapter_config.json")
        assert node.result.predictions_path.startswith(f"{location}/nodes/{node.id}/")
        assert not (tmp_path / "runs" / "nfs-free" / "nodes" / node.id / "adapter").exists()
    warm = [n for n in tree if n.spec.train.init_from is InitFrom.PARENT]
    assert len(warm) == 2 and warm[0].parent_id == warm[1].parent_id
    parent_node = tree[warm[0].parent_id].result.ray_node
    assert any(n.result.ray_node != parent_node for n in warm), "no warm start ran on another node than its parent"
    assert any(n.diagnosis is not None for n in tree if n.parent_id), "diagnosis needs predictions read from storage"
    assert not [p for p in scratch.rglob("*") if p.is_file()], "executor scratch was not cleaned"
    assert json.loads(storage.read_bytes(f"{location}/tree.json")) == json.loads(
        (tmp_path / "runs" / "nfs-free" / "tree.json").read_text())
    assert storage.exists(f"{location}/final.json") and storage.exists(f"{location}/summary.md")
    assert storage.exists(f"{location}/nodes/n0000/predictions-test.jsonl")


def stored(location: Path) -> dict[str, tuple[str, float | None]]:
    if not (location / "tree.json").is_file():
        return {}
    return {n.id: (n.status.value, n.score) for n in Tree.load(location / "tree.json") if n.done}


@pytest.mark.timeout(900)
def test_driver_killed_with_its_disk_resumes_from_the_storage_uri(tiny_model: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    with ScriptedEndpoint(base_then_warm) as endpoint:
        common = ["llm=openai", f"llm.base_url={endpoint.base_url}", "llm.model=scripted", "model=hf",
                  f"model.name_or_path={tiny_model}", "tracker=none", "executor.eval_batch_size=8",
                  "executor.max_new_tokens=8", "cluster.num_cpus=2", f"executor.scratch_dir={tmp_path / 'scratch'}"]
        first = launch(["+task=math", "task.options.train_size=64", "task.options.dev_size=16",
                        "task.options.test_size=16", "search.max_nodes=6", "search.children_per_expansion=2",
                        "search.max_children=2", f"run_dir={tmp_path / 'disk-a'}", "name=r", f"storage=file://{store}",
                        *common], tmp_path)
        deadline = time.monotonic() + 600
        while len(stored(store / "r")) < 3 and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert first.poll() is None, "the run ended before the kill; the test proved nothing"
        kept = stored(store / "r")
        kill_driver(first)
        shutil.rmtree(tmp_path / "disk-a")          # the driver's machine is gone with its disk
        second = launch([f"resume=file://{store}/r", f"run_dir={tmp_path / 'disk-b'}", *common], tmp_path)
        assert second.wait(timeout=600) == 0, (tmp_path / "driver.log").read_text()[-3000:]
    after = stored(store / "r")
    assert kept.items() <= after.items(), "a finished node was lost or changed"
    tree = Tree.load(store / "r" / "tree.json")
    assert len(tree) == 6 and all(n.done for n in tree) and tree.sessions == 2
    assert tree.root.visits == 6, "each node must be backed up exactly once"
    assert json.loads((store / "r" / "final.json").read_text())["stop_reason"].startswith("max_nodes")
    assert (tmp_path / "disk-b" / "r" / "tree.json").is_file()
