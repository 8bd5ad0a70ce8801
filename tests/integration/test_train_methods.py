"""SFT, DPO and GRPO on the tiny random model through the Executor (real TRL, CPU)."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from trex.config import ExecutorConfig
from trex.execute.executor import Executor, ExecutorSettings, Job
from trex.train.preference import preference_pairs, task_reward, wrong_completion
from trex.tree.records import DataRecipe, Direction, ExperimentSpec, NodeStatus, TrainConfig, TrainMethod


@pytest.fixture(scope="module")
def executor(tiny_model: Path) -> Executor:
    return Executor(ExecutorSettings(task="math", model_path=str(tiny_model),
                                     config=ExecutorConfig(max_new_tokens=8, eval_batch_size=8),
                                     task_options={"train_size": 64, "dev_size": 8, "test_size": 8}))


def spec(method: TrainMethod, **train: object) -> ExperimentSpec:
    return ExperimentSpec(objective=f"try {method.value}", direction=Direction.LEARNING_RATE,
                          data=DataRecipe(max_samples=16),
                          train=TrainConfig(method=method, learning_rate=1e-3, batch_size=4, **train))


@pytest.mark.parametrize("method", list(TrainMethod))
def test_each_method_trains_saves_an_adapter_and_evaluates(method: TrainMethod, executor: Executor,
                                                           tmp_path: Path) -> None:
    result = executor.run(Job(node_id="n0001", spec=spec(method, num_generations=2), node_dir=str(tmp_path), seed=0))
    assert result.status is NodeStatus.SUCCEEDED, result.error
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()
    logged = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert logged and result.metrics["train_steps"] >= 1
    assert result.cost.eval_samples == 8


def test_warm_start_continues_the_parent_adapter(executor: Executor, tmp_path: Path) -> None:
    parent = executor.run(Job(node_id="n0001", spec=spec(TrainMethod.SFT), node_dir=str(tmp_path / "p"), seed=0))
    child = executor.run(Job(node_id="n0002", spec=spec(TrainMethod.DPO, init_from="parent"),
                             node_dir=str(tmp_path / "c"), seed=1, parent_adapter=parent.adapter_path))
    assert child.status is NodeStatus.SUCCEEDED, child.error
    orphan = executor.run(Job(node_id="n0003", spec=spec(TrainMethod.SFT, init_from="parent"),
                              node_dir=str(tmp_path / "o"), seed=1))
    assert orphan.status is NodeStatus.FAILED and "init_from=parent" in orphan.error


def test_asha_rungs_train_shares_of_one_stream_and_a_promotion_continues_its_own_adapter(
        executor: Executor, tmp_path: Path) -> None:
    """search.fidelity=asha through the real executor: rung 0 trains a third of 16 examples x 3
    epochs and scores half of dev; rung 1 trains the other two thirds from rung 0's adapter."""
    three = spec(TrainMethod.SFT, epochs=3)
    low = executor.run(Job(node_id="n0001", spec=three, node_dir=str(tmp_path / "n"), seed=0,
                           segment=(0.0, 1 / 3), dev_fraction=0.5))
    assert low.status is NodeStatus.SUCCEEDED, low.error
    assert low.metrics["train_steps"] == 4 and low.cost.eval_samples == 4 and low.proxy
    assert low.fidelity == pytest.approx(1 / 3) and low.dev_fraction == 0.5
    up = executor.run(Job(node_id="n0001", spec=three, node_dir=str(tmp_path / "n" / "rung1"), seed=0, rung=1,
                          segment=(1 / 3, 1.0), parent_adapter=low.adapter_path))
    assert up.status is NodeStatus.SUCCEEDED, up.error
    assert up.metrics["train_steps"] == 8 and up.cost.eval_samples == 8 and not up.proxy
    assert "continuing its own adapter" in (tmp_path / "n" / "rung1" / "log.txt").read_text()
    assert up.adapter_path == str(tmp_path / "n" / "rung1" / "adapter")
    lost = executor.run(Job(node_id="n0001", spec=three, node_dir=str(tmp_path / "x"), seed=0, rung=1,
                            segment=(1 / 3, 1.0)))
    assert lost.status is NodeStatus.FAILED and "init_from=parent" in lost.error   # it does read its adapter


def test_preference_pairs_change_only_the_answer() -> None:
    rng = random.Random(0)
    assert wrong_completion("3 * 4 = 12. The answer is 12.", "12", rng, "x") != "3 * 4 = 12. The answer is 12."
    assert wrong_completion("3 * 4 = 12. The answer is 12.", "12", rng, "x").startswith("3 * 4 = 12. The answer is ")
    assert wrong_completion("positive", "positive", rng, fallback="negative") == "negative"
    from datasets import Dataset
    ds = Dataset.from_list([{"prompt": [{"role": "user", "content": f"q{i}"}], "answer": str(i),
                             "completion": [{"role": "assistant", "content": f"The answer is {i}."}]}
                            for i in range(5)])
    pairs = preference_pairs(ds, 0)
    assert len(pairs) == 5
    assert all(p["chosen"] != p["rejected"] for p in pairs)


def test_task_reward_scores_completions_with_the_task_scorer() -> None:
    from ftbench import get_task

    reward = task_reward(get_task("math"))
    completions = [[{"role": "assistant", "content": "so the answer is 42."}],
                   [{"role": "assistant", "content": "The answer is 41."}]]
    assert reward(prompts=[None, None], completions=completions, answer=["42", "42"]) == [1.0, 0.0]


def test_openai_engine_evaluates_the_trained_adapter_by_name(tiny_model: Path, tmp_path: Path) -> None:
    """engine=openai: the executor trains here, loads the adapter into the server (vLLM's runtime
    LoRA route) and asks for it by name; the root is evaluated as the base model."""
    from trex.llm.scripted import ScriptedEndpoint

    with ScriptedEndpoint(lambda body: "The answer is 7.", model="base") as server:
        engine = ExecutorConfig(max_new_tokens=8, engine="openai", engine_base_url=server.base_url,
                                engine_model="base")
        executor = Executor(ExecutorSettings(task="math", model_path=str(tiny_model), config=engine,
                                             task_options={"train_size": 64, "dev_size": 8, "test_size": 8}))
        root = executor.run(Job(node_id="n0000", spec=spec(TrainMethod.SFT), node_dir=str(tmp_path / "r"),
                                seed=0, train=False))
        child = executor.run(Job(node_id="n0001", spec=spec(TrainMethod.SFT), node_dir=str(tmp_path / "c"), seed=0))
    assert root.status is NodeStatus.SUCCEEDED and child.status is NodeStatus.SUCCEEDED, child.error
    loads = [r for r in server.requests if "lora_path" in r]
    chats = [r for r in server.requests if "messages" in r]
    assert len(loads) == 1 and loads[0]["lora_path"] == str((tmp_path / "c" / "adapter").resolve())
    assert [r["model"] for r in chats] == ["base"] * 8 + [loads[0]["lora_name"]] * 8
    rows = [json.loads(line) for line in Path(child.predictions_path).read_text().splitlines()]
    assert {r["prediction"] for r in rows} == {"7"}
    assert child.score == sum(r["gold"] == "7" for r in rows) / 8


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_qlora_on_cpu_fails_the_node_with_its_reason(tiny_model: Path, tmp_path: Path) -> None:
    executor = Executor(ExecutorSettings(task="math", model_path=str(tiny_model),
                                         config=ExecutorConfig(quantization="nf4"),
                                         task_options={"train_size": 64, "dev_size": 8, "test_size": 8}))
    result = executor.run(Job(node_id="n0001", spec=spec(TrainMethod.SFT), node_dir=str(tmp_path), seed=0))
    assert result.status is NodeStatus.FAILED and "executor.quantization=nf4 (QLoRA) needs a CUDA GPU" in result.error
