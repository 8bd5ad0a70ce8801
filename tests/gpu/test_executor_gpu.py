"""GPU path of the Executor: TRL's fused-loss SFTTrainer, bf16 weights, generation on CUDA.

Skipped without a CUDA device (CI has none); run by scripts/gpu_check.sh on a GPU machine.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU")]


def test_executor_trains_and_evaluates_on_cuda(tiny_model: Path, tmp_path: Path) -> None:
    from trex.execute.executor import Executor, ExecutorSettings, Job
    from trex.tree.records import DataRecipe, Direction, ExperimentSpec, NodeStatus, TrainConfig

    executor = Executor(ExecutorSettings(task="math", model_path=str(tiny_model),
                                         task_options={"train_size": 256, "dev_size": 32, "test_size": 32}))
    spec = ExperimentSpec(objective="gpu check", direction=Direction.LEARNING_RATE,
                          data=DataRecipe(max_samples=64), train=TrainConfig(learning_rate=1e-3, epochs=2))
    result = executor.run(Job(node_id="n0001", spec=spec, node_dir=str(tmp_path / "n1"), seed=0))
    assert result.status is NodeStatus.SUCCEEDED, result.error
    assert result.metrics["peak_gpu_mb"] > 0 and result.metrics["train_steps"] == 16
    assert (tmp_path / "n1" / "adapter" / "adapter_config.json").is_file()
    losses = [json.loads(line)["loss"] for line in (tmp_path / "n1" / "train_log.jsonl").read_text().splitlines()
              if "loss" in json.loads(line)]
    assert losses[-1] < losses[0]

    # warm start from that adapter, and evaluate an adapter without training (the final test pass)
    warm = spec.model_copy(update={"train": spec.train.model_copy(update={"init_from": "parent"})})
    child = executor.run(Job(node_id="n0002", spec=warm, node_dir=str(tmp_path / "n2"), seed=1,
                             parent_adapter=result.adapter_path))
    assert child.status is NodeStatus.SUCCEEDED, child.error
    test = executor.run(Job(node_id="n0002", spec=warm, node_dir=str(tmp_path / "n2"), seed=1, train=False,
                            split="test", adapter=child.adapter_path))
    assert test.status is NodeStatus.SUCCEEDED and test.cost.eval_samples == 32


def test_qlora_trains_a_4bit_base_model(tiny_model: Path, tmp_path: Path) -> None:
    pytest.importorskip("bitsandbytes")
    from trex.config import ExecutorConfig
    from trex.execute.executor import Executor, ExecutorSettings, Job
    from trex.tree.records import DataRecipe, Direction, ExperimentSpec, NodeStatus, TrainConfig

    executor = Executor(ExecutorSettings(task="math", model_path=str(tiny_model),
                                         config=ExecutorConfig(quantization="nf4"),
                                         task_options={"train_size": 256, "dev_size": 16, "test_size": 16}))
    spec = ExperimentSpec(objective="qlora", direction=Direction.LEARNING_RATE, data=DataRecipe(max_samples=32),
                          train=TrainConfig(learning_rate=1e-3))
    result = executor.run(Job(node_id="n0001", spec=spec, node_dir=str(tmp_path / "q"), seed=0))
    assert result.status is NodeStatus.SUCCEEDED, result.error
    assert (tmp_path / "q" / "adapter" / "adapter_config.json").is_file() and result.metrics["train_steps"] == 4
