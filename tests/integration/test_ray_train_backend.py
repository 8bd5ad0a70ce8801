"""The Ray Train backend: an executor actor holding no CPU launches a TorchTrainer with one CPU worker."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(address="local", num_cpus=2, include_dashboard=False, ignore_reinit_error=True)
    yield
    ray.shutdown()


@pytest.mark.timeout(600)
def test_one_cpu_worker_trains_and_reports_through_the_node_folder(tiny_model: Path, tmp_path: Path,
                                                                   local_ray) -> None:
    from trex.config import ExecutorConfig
    from trex.execute.executor import Executor, ExecutorSettings, Job
    from trex.tree.records import DataRecipe, Direction, ExperimentSpec, NodeStatus, TrainConfig

    config = ExecutorConfig(backend="ray_train", workers=1, cpus_per_worker=1, max_new_tokens=4, eval_batch_size=8)
    settings = ExecutorSettings(task="math", model_path=str(tiny_model), config=config,
                                task_options={"train_size": 64, "dev_size": 8, "test_size": 8})
    actor = ray.remote(num_cpus=0)(Executor).remote(settings)
    spec = ExperimentSpec(objective="ray train", direction=Direction.LEARNING_RATE,
                          data=DataRecipe(max_samples=16), train=TrainConfig(learning_rate=1e-3, batch_size=4))
    result = ray.get(actor.run.remote(Job(node_id="n0001", spec=spec, node_dir=str(tmp_path), seed=0)))
    assert result.status is NodeStatus.SUCCEEDED, result.error
    stats = json.loads((tmp_path / "train_stats.json").read_text())
    assert stats["steps"] == 4 and result.metrics["train_steps"] == 4
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()
    assert result.cost.eval_samples == 8


@pytest.mark.timeout(600)
def test_with_a_storage_uri_the_adapter_and_stats_travel_through_storage(tiny_model: Path, tmp_path: Path,
                                                                         local_ray) -> None:
    """The worker gets its rows through Ray and uploads the adapter; a warm start downloads its parent's."""
    from trex import storage
    from trex.config import ExecutorConfig
    from trex.execute.executor import Executor, ExecutorSettings, Job
    from trex.tree.records import DataRecipe, Direction, ExperimentSpec, InitFrom, NodeStatus, TrainConfig

    config = ExecutorConfig(backend="ray_train", workers=1, cpus_per_worker=1, max_new_tokens=4, eval_batch_size=8,
                            scratch_dir=str(tmp_path / "scratch"))
    settings = ExecutorSettings(task="math", model_path=str(tiny_model), config=config,
                                task_options={"train_size": 64, "dev_size": 8, "test_size": 8})
    actor = ray.remote(num_cpus=0)(Executor).remote(settings)
    spec = ExperimentSpec(objective="ray train", direction=Direction.LEARNING_RATE,
                          data=DataRecipe(max_samples=16), train=TrainConfig(learning_rate=1e-3, batch_size=4))
    store = f"file://{tmp_path}/store"
    first = ray.get(actor.run.remote(Job(node_id="n0001", spec=spec, node_dir=f"{store}/n0001", seed=0)))
    assert first.status is NodeStatus.SUCCEEDED, first.error
    assert first.adapter_path == f"{store}/n0001/adapter"
    assert json.loads(storage.read_bytes(f"{store}/n0001/train_stats.json"))["steps"] == 4
    warm = spec.model_copy(update={"train": spec.train.model_copy(update={"init_from": InitFrom.PARENT})})
    child = ray.get(actor.run.remote(Job(node_id="n0002", spec=warm, node_dir=f"{store}/n0002", seed=1,
                                         parent_adapter=first.adapter_path)))
    assert child.status is NodeStatus.SUCCEEDED, child.error
    assert storage.exists(f"{store}/n0002/adapter/adapter_config.json")
    assert not [p for p in (tmp_path / "scratch").rglob("*") if p.is_file()], "scratch left behind"
