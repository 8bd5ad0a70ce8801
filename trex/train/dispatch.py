"""One entry point for every training method, and the Ray Train backend that runs it on workers."""
from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from datasets import Dataset
from transformers import PreTrainedModel

from ftbench.base import Task
from trex import storage
from trex.train.sft import TrainSetup, TrainStats, train_sft
from trex.tree.records import TrainConfig, TrainMethod

if TYPE_CHECKING:
    from trex.execute.executor import ExecutorSettings


def train_node(model: PreTrainedModel, dataset: Dataset, setup: TrainSetup, task: Task,
               max_new_tokens: int) -> tuple[PreTrainedModel, TrainStats]:
    """Train with the spec's method (SFT, DPO or GRPO); the adapter lands in out_dir/adapter."""
    from trex.train.preference import train_dpo, train_grpo

    method = setup.train.method
    if method is TrainMethod.DPO:
        return train_dpo(model, dataset, setup)
    if method is TrainMethod.GRPO:
        return train_grpo(model, dataset, setup, task, max_new_tokens)
    return train_sft(model, dataset, setup)


@dataclass(frozen=True)
class RayTrainRequest:
    """Everything a Ray Train worker needs, as plain data (it may run on another node)."""

    settings: ExecutorSettings     # the executor's settings (its `executor` config whole), no data LLM
    rows: list[dict]               # the training set, travelling through Ray (no shared disk needed)
    train: TrainConfig
    location: str                  # the node's folder: a local path, or a storage URI the adapter is uploaded to
    parent_adapter: str | None     # a local path on the executor's node or a storage URI
    seed: int


def _worker(config: dict) -> None:
    """Runs on each Ray Train worker; the HF Trainer picks up the process group Ray set up. Rank 0
    leaves the adapter and trex's training stats in the node's folder (uploaded when it is a URI)."""
    import tempfile

    import ray.train
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ftbench import get_task

    req: RayTrainRequest = config["request"]
    s, c = req.settings, req.settings.config
    remote = storage.is_uri(req.location)
    out_dir = Path(tempfile.mkdtemp(prefix="trex-train-")) if remote else Path(req.location)
    parent = req.parent_adapter
    if parent and storage.is_uri(parent):
        parent = str(storage.download(parent, out_dir / ".parent_adapter"))
    tokenizer = AutoTokenizer.from_pretrained(s.model_path)
    model = AutoModelForCausalLM.from_pretrained(
        s.model_path, dtype=torch.bfloat16 if torch.cuda.is_available() else torch.float32)
    setup = TrainSetup(tokenizer=tokenizer, train=req.train, out_dir=out_dir,
                       parent_adapter=parent, bf16=c.bf16, logging_steps=c.logging_steps, seed=req.seed)
    _, stats = train_node(model, Dataset.from_list(req.rows), setup, get_task(s.task, **s.task_options),
                          c.max_new_tokens)
    if ray.train.get_context().get_world_rank() == 0:   # trex's own metrics channel: a file in the node folder
        storage.write_bytes(storage.join(req.location, "train_stats.json"), json.dumps(asdict(stats)).encode())
        if remote:
            storage.upload(out_dir / "adapter", storage.join(req.location, "adapter"))
    if remote:
        shutil.rmtree(out_dir, ignore_errors=True)


def train_on_ray(req: RayTrainRequest) -> TrainStats:
    """Data-parallel training on executor.workers Ray Train workers (TorchTrainer)."""
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    c = req.settings.config
    workers, gpus_per_worker = c.workers, c.gpus_per_worker
    resources = {"CPU": c.cpus_per_worker, **({"GPU": gpus_per_worker} if gpus_per_worker else {})}
    trainer = TorchTrainer(_worker, train_loop_config={"request": req},
                           scaling_config=ScalingConfig(num_workers=workers, use_gpu=gpus_per_worker > 0,
                                                        resources_per_worker=resources),
                           run_config=RunConfig(name="train", storage_path=storage.join(req.location, "ray_train")))
    trainer.fit()
    return TrainStats(**json.loads(storage.read_bytes(storage.join(req.location, "train_stats.json"))))
