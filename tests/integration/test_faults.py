"""Fault injection into one running search: real Ray, real TRL, the tiny model, a scripted agent LLM
served as its own supervised process. Every fault fails only its own node (or one expansion), with
its reason, and every other node finishes intact.

| node / event | fault injected                           | expected                                        |
|--------------|------------------------------------------|-------------------------------------------------|
| n0001        | exception while building the data        | FAILED, the exception named                     |
| n0002        | NaN loss (a trainable weight poisoned)   | FAILED at step 2 of N, "NaN/inf loss"           |
| n0003        | exception during evaluation              | FAILED, the exception named                     |
| expansion 2  | the LLM answers garbage (call and retry) | no node; the search goes on                     |
| n0004        | out of memory (a 4 TiB allocation)       | FAILED, "out of memory"                         |
| n0005        | a hang past executor.node_timeout_s      | FAILED "timed out after 60 s", executor replaced |
| n0006        | the executor kills itself with SIGKILL   | re-queued once, SUCCEEDED on a fresh executor   |
| n0007        | exception inside training                | FAILED, the exception named                     |
| mid-run      | the LLM server SIGKILLed                 | death logged, server restarted, search goes on  |
"""
from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import reply, spec_json
from trex.config import (
    ClusterConfig,
    ExecutorConfig,
    LLMConfig,
    ModelConfig,
    ResearcherConfig,
    RunConfig,
    SearchConfig,
    TaskConfig,
    TrackerConfig,
)
from trex.tree.records import LEARNING_RATES, NodeStatus
from trex.tree.store import Tree

pytestmark = pytest.mark.timeout(900)
ROOT = Path(__file__).resolve().parents[2]
PLAN = {"n0001": {"phase": "data", "fault": "raise"}, "n0002": {"phase": "train", "fault": "nan"},
        "n0003": {"phase": "eval", "fault": "raise"}, "n0004": {"phase": "train", "fault": "oom"},
        "n0005": {"phase": "train", "fault": "hang"}, "n0006": {"phase": "train", "fault": "sigkill", "once": True},
        "n0007": {"phase": "train", "fault": "raise"}}
GARBAGE_EXPANSION = 1


def respond(body: dict) -> str:
    """Expansion i proposes three new specs; expansion 1 (its call and its retry) is garbage.
    Counts expansions in a file, so the count survives a restart of this server."""
    counter = Path(os.environ["TREX_TEST_STATE"]) / "expansions"
    retry = any(m["role"] == "assistant" for m in body["messages"])
    i = int(counter.read_text()) if counter.is_file() else 0
    if not retry:
        counter.write_text(str(i + 1))
    else:
        i -= 1
    if i == GARBAGE_EXPANSION:
        return '{"experiments": [{"objective": "ok", "direction": '
    return reply(*(spec_json(f"expansion {i} item {j}", learning_rate=LEARNING_RATES[(3 * i + j) % 10],
                             lora_r=4 + 4 * (3 * i + j)) | {"rationale": "test"} for j in range(3)))


def scripted_command(gguf: Path, alias: str, port: int, n_ctx: int, n_threads: int) -> list[str]:
    return [sys.executable, "-m", "trex.llm.scripted", "--port", str(port), "--model", alias,
            "--responder", "tests.integration.test_faults:respond"]


def kill_server_when(run_dir: Path, nodes: int, killed: list[int]) -> None:
    """SIGKILL the agent LLM server once the tree holds `nodes` nodes."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        tree = run_dir / "tree.json"
        if tree.is_file() and len(json.loads(tree.read_text())["nodes"]) >= nodes:
            for proc in psutil.Process().children(recursive=True):
                if "trex.llm.scripted" in " ".join(proc.cmdline()):
                    proc.send_signal(signal.SIGKILL)
                    killed.append(proc.pid)
                    return
        time.sleep(0.2)


@pytest.fixture(scope="module")
def chaos_run(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory):
    from trex.llm import llamacpp
    from trex.runner import run_search

    tmp = tmp_path_factory.mktemp("faults")
    (tmp / "plan.json").write_text(json.dumps(PLAN))
    patch = pytest.MonkeyPatch()
    patch.setenv("TREX_FAULTS", str(tmp / "plan.json"))
    patch.setenv("TREX_TEST_STATE", str(tmp))
    patch.setenv("PYTHONPATH", str(ROOT))
    patch.setattr(llamacpp, "server_command", scripted_command)
    cfg = RunConfig(
        task=TaskConfig(name="math", options={"train_size": 64, "dev_size": 16, "test_size": 16}),
        search=SearchConfig(max_nodes=10, children_per_expansion=3, max_children=6, max_concurrent=2),
        researcher=ResearcherConfig(tools=False, brief=False, insights_every=0),
        llm=LLMConfig(backend="llamacpp", model="scripted", max_tokens=512),
        model=ModelConfig(name_or_path=str(tiny_model)),
        executor=ExecutorConfig(eval_batch_size=8, max_new_tokens=8, node_timeout_s=60, eval_timeout_s=300),
        tracker=TrackerConfig(kind="none"), cluster=ClusterConfig(kind="local", num_cpus=2),
        run_dir=str(tmp / "runs"), name="chaos")
    killed: list[int] = []
    killer = threading.Thread(target=kill_server_when, args=(tmp / "runs" / "chaos", 5, killed), daemon=True)
    killer.start()
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append   # type: ignore[method-assign]
    root, level = logging.getLogger(), logging.getLogger().level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        outcome = run_search(cfg)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        patch.undo()
    return outcome, tmp / "runs" / "chaos", killed, [r.getMessage() for r in records]


def node(run, node_id: str):  # type: ignore[no-untyped-def]
    return Tree.load(run[1] / "tree.json")[node_id]


def test_the_search_finishes_with_every_node_and_no_infrastructure_failure(chaos_run) -> None:
    outcome, run_dir, _, _ = chaos_run
    tree = Tree.load(run_dir / "tree.json")
    assert len(tree) == 10 and all(n.done for n in tree)
    assert outcome.failure == "" and outcome.stop_reason.startswith("max_nodes=10")
    assert {n.id for n in tree if n.status is NodeStatus.SUCCEEDED} == {"n0000", "n0006", "n0008", "n0009"}
    assert (run_dir / "final.json").is_file() and outcome.final.best_test is not None


@pytest.mark.parametrize(("node_id", "reason"), [
    ("n0001", "InjectedFault: injected exception in data"),
    ("n0003", "InjectedFault: injected exception in eval"),
    ("n0007", "InjectedFault: injected exception in train"),
    ("n0004", "out of memory: RuntimeError"),
])
def test_exceptions_fail_only_their_node_with_the_reason(chaos_run, node_id: str, reason: str) -> None:
    n = node(chaos_run, node_id)
    assert n.status is NodeStatus.FAILED and n.result.error.startswith(reason) and n.reward == 0.0


def test_a_nan_loss_fails_the_node_early(chaos_run) -> None:
    n = node(chaos_run, "n0002")
    assert n.status is NodeStatus.FAILED and "TrainingDiverged: NaN/inf loss" in n.result.error
    assert "after step 2 of 4" in n.result.error    # 32 examples, batch 8: stopped at step 2, not 4


def test_a_hang_times_out_and_its_executor_is_replaced(chaos_run) -> None:
    n = node(chaos_run, "n0005")
    assert n.status is NodeStatus.FAILED and n.result.error.startswith("timed out after 60 s")
    assert "its executor was killed and replaced" in n.result.error
    assert any(m == "n0005 timed out after 60 s; its executor was killed" for m in chaos_run[3])


def test_a_sigkilled_executor_is_replaced_and_its_node_rerun(chaos_run) -> None:
    n = node(chaos_run, "n0006")
    assert n.status is NodeStatus.SUCCEEDED and n.score is not None
    assert any("n0006 lost its executor; re-queued once" in m for m in chaos_run[3])


def test_a_garbage_expansion_costs_only_that_expansion(chaos_run) -> None:
    """A reply that is not JSON is dropped with its reason; in hybrid mode the sampler fills the
    expansion's slots at once, so it costs no experiment either."""
    messages = chaos_run[3]
    dropped = [m for m in messages if m.startswith("proposal for n0000 dropped: reply is not valid JSON")]
    filled = [m for m in messages if m.startswith("expanded n0000:") and m.endswith("1 rejected")]
    assert len(dropped) == 1 and len(filled) == 1 and "(sampler, sampler, sampler)" in filled[0]


def test_the_llm_server_killed_mid_run_is_restarted(chaos_run) -> None:
    _, run_dir, killed, messages = chaos_run
    assert killed, "the server was never killed"
    assert any("llama.cpp server died (killed by SIGKILL)" in m for m in messages)
    assert any(m.startswith("restarting llama.cpp server (restart 1 of 3)") for m in messages)
    assert (run_dir / "llm-server.log").read_text().count("scripted endpoint serving") == 2
