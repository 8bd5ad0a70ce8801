"""A Hydra multirun: two searches in one process (Ray started and stopped per job), each in its
own run folder and W&B group; then the comparison across them. Tiny model, scripted LLM."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import reply, spec_json
from tests.wandb_offline import read_runs
from trex.llm.scripted import ScriptedEndpoint
from trex.tree.store import Tree


@pytest.mark.timeout(900)
def test_multirun_one_search_per_job_then_compare(tiny_model: Path, tmp_path: Path) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "PYTHONUNBUFFERED": "1"}
    with ScriptedEndpoint(lambda body: reply(spec_json("higher learning rate", learning_rate=1e-3))) as endpoint:
        proc = subprocess.run(
            [sys.executable, "-m", "trex.launch", "-m", "+task=math", "search=uct,greedy",
             "task.options.train_size=32", "task.options.dev_size=8", "task.options.test_size=8",
             "search.max_nodes=2", "search.children_per_expansion=1", "llm=openai",
             f"llm.base_url={endpoint.base_url}", "llm.model=scripted", "model=hf",
             f"model.name_or_path={tiny_model}", "tracker.mode=offline", "executor.eval_batch_size=8",
             "executor.max_new_tokens=8", "cluster.num_cpus=2", f"run_dir={tmp_path / 'runs'}"],
            cwd=cwd, env=env, capture_output=True, text=True, timeout=850)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert not list(cwd.iterdir()), "a sweep writes nothing into the launch folder"
    [sweep] = (tmp_path / "runs").glob("sweep-*")
    assert (sweep / "multirun.yaml").is_file()
    runs = sorted(p.parent for p in sweep.glob("*/tree.json"))
    assert [r.name.split("-", 2)[2] for r in runs] == ["math-0-search=uct", "math-1-search=greedy"]
    for run, policy in zip(runs, ("uct", "greedy"), strict=False):
        assert json.loads((run / "config.json").read_text())["search"]["policy"] == policy
        assert len(Tree.load(run / "tree.json")) == 2 and (run / "final.json").is_file()
        wandb_runs = read_runs(run / "wandb")
        assert set(wandb_runs) == {"n0000", "n0001", "search"}
        assert {r.group for r in wandb_runs.values()} == {run.name}
        assert wandb_runs["n0001"].config["policy"] == policy
    out = subprocess.run([sys.executable, "-m", "trex.track.compare", str(sweep)], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert [line.split(" | ")[0] for line in out[2:]] == ["| policy=greedy", "| policy=uct"]
    assert all(line.split(" | ")[1] == "1" for line in out[2:])
