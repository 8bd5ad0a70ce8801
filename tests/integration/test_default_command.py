"""Smoke test of the real default command: llama.cpp + SmolLM2 as agent and trainee, local Ray, W&B offline."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

ROOT = Path(__file__).resolve().parents[2]


def test_default_command_with_a_tiny_budget(tmp_path: Path) -> None:
    args = ["+task=math", "search.max_nodes=2", "search.children_per_expansion=1",
            "task.options.train_size=200", "task.options.dev_size=16", "task.options.test_size=16",
            "executor.max_train_samples=32", "executor.max_new_tokens=32", "tracker.mode=offline",
            f"run_dir={tmp_path}", "name=smoke"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"}
    proc = subprocess.run([sys.executable, "-m", "trex.launch", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-4000:]
    run = tmp_path / "smoke"
    tree = json.loads((run / "tree.json").read_text())
    assert tree["nodes"][0]["status"] == "SUCCEEDED"
    assert len(tree["nodes"]) == 2, "the real SmolLM2 Researcher should have proposed one valid child"
    child = tree["nodes"][1]
    assert child["status"] in ("SUCCEEDED", "FAILED") and child["parent_id"] == "n0000"
    assert tree["llm_usage"]["calls"] >= 1
    assert (run / "llm-server.log").is_file() and (run / "llm-calls.jsonl").is_file()
    assert "base model (n0000)" in (run / "summary.md").read_text()
    assert len(list((run / "wandb").glob("offline-run-*/run-*.wandb"))) == 3   # two nodes and the search
    assert "nodes 2/2 done" in proc.stderr
