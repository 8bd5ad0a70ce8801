"""How a run ends when something is wrong, through the real CLI (tiny model, scripted LLM, real Ray):
Ctrl-C re-queues running nodes and prints the resume command; a search that could not run one
experiment because of its infrastructure exits non-zero with the reason."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import reply, spec_json
from trex.llm.scripted import ScriptedEndpoint, ScriptedHTTPError
from trex.tree.records import NodeStatus
from trex.tree.store import Tree

pytestmark = pytest.mark.timeout(900)
ROOT = Path(__file__).resolve().parents[2]


def cli(args: list[str], tiny_model: Path, base_url: str, tmp_path: Path, **popen) -> subprocess.Popen:  # type: ignore[no-untyped-def]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "PYTHONUNBUFFERED": "1"}
    common = ["llm=openai", f"llm.base_url={base_url}", "llm.model=scripted", "model=hf",
              f"model.name_or_path={tiny_model}", "tracker=none", "executor.eval_batch_size=8",
              "executor.max_new_tokens=8", "cluster.num_cpus=2"]
    return subprocess.Popen([sys.executable, "-m", "trex.launch", *args, *common], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def first_args(tmp_path: Path, name: str, max_nodes: int) -> list[str]:
    return ["+task=math", "task.options.train_size=64", "task.options.dev_size=16", "task.options.test_size=16",
            f"search.max_nodes={max_nodes}", "search.children_per_expansion=2", f"run_dir={tmp_path}", f"name={name}"]


@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm"])
def test_ctrl_c_requeues_running_nodes_and_prints_the_resume_command(tiny_model: Path, tmp_path: Path,
                                                                    stop: str) -> None:
    """Ctrl-C in a terminal (SIGINT to the process group) and a scheduler's stop (SIGTERM to the
    trex process only, as Kubernetes or Slurm send) both re-queue running nodes and resume."""
    specs = reply(spec_json("three epochs", epochs=3), spec_json("higher rate", learning_rate=1e-3, epochs=3))
    run = tmp_path / "ctrlc"
    with ScriptedEndpoint(lambda body: specs) as endpoint:
        proc = cli(first_args(tmp_path, "ctrlc", 3), tiny_model, endpoint.base_url, tmp_path, start_new_session=True)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and proc.poll() is None:
            tree = json.loads((run / "tree.json").read_text()) if (run / "tree.json").is_file() else {"nodes": []}
            if any(n["status"] == "RUNNING" and n["parent_id"] for n in tree["nodes"]):
                break
            time.sleep(0.2)
        if stop == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)   # as a terminal's Ctrl-C: the whole process group
        else:
            proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, err[-3000:]
        assert f"Resume with:\n  python -m trex.launch resume={run}" in err and "Traceback" not in err
        tree = Tree.load(run / "tree.json")
        requeued = [n for n in tree if n.status is NodeStatus.PENDING]
        assert requeued and not [n for n in tree if n.status is NodeStatus.RUNNING]
        resumed = cli([f"resume={run}"], tiny_model, endpoint.base_url, tmp_path)
        _, err = resumed.communicate(timeout=600)
        assert resumed.returncode == 0, err[-3000:]
    tree = Tree.load(run / "tree.json")
    assert len(tree) == 3 and all(n.status is NodeStatus.SUCCEEDED for n in tree)


def test_an_llm_that_never_answers_exits_non_zero_with_the_reason(tiny_model: Path, tmp_path: Path) -> None:
    def broken(body: dict) -> str:
        raise ScriptedHTTPError(503, "model overloaded")

    with ScriptedEndpoint(broken) as endpoint:
        proc = cli([*first_args(tmp_path, "down", 4), "search.max_failed_expansions=2", "researcher.numeric=llm"],
                   tiny_model,
                   endpoint.base_url, tmp_path)
        _, err = proc.communicate(timeout=600)
    assert proc.returncode == 3, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("trex: the search failed: no experiment was run: the Researcher produced no new valid "
                           "experiment 2 times in a row") and "503" in last
    assert Tree.load(tmp_path / "down" / "tree.json").root.status is NodeStatus.SUCCEEDED


def test_a_weak_llm_with_no_valid_proposal_is_a_result_not_a_failure(tiny_model: Path, tmp_path: Path) -> None:
    """Replies that parse but propose nothing valid end the search (exit 0, reason in final.json):
    the endpoint worked, so this is the search's outcome, not an infrastructure failure."""
    with ScriptedEndpoint(lambda body: '{"experiments": []}') as endpoint:
        proc = cli([*first_args(tmp_path, "weak", 4), "search.max_failed_expansions=2", "researcher.numeric=llm"],
                   tiny_model,
                   endpoint.base_url, tmp_path)
        _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    final = json.loads((tmp_path / "weak" / "final.json").read_text())
    assert final["stop_reason"].startswith("the Researcher produced no new valid experiment 2 times in a row")
