"""No shared disk: the driver's records live in `storage` (a file:// root reached only through
pyarrow.fs), so a driver killed with its disk resumes from the URI alone. Real local Ray, real
TRL, tiny model, scripted LLM. The two-node half of this (artifacts in storage, scratch never
opened by the driver, warm starts across nodes) is in test_cluster.py, which runs before any
test that starts local Ray in-process (after one, connecting to a `ray start` cluster from the
same process loses its executors: seen before storage existed too)."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from tests.integration.test_cluster import base_then_warm
from tests.integration.test_crash_resume import kill_driver, launch
from trex.llm.scripted import ScriptedEndpoint
from trex.tree.store import Tree


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
