"""Seconds per phase of one Executor node (data / train / eval), on whatever device is present.

    python bench/node_phases.py --model <hf folder> [--samples 256] [--dev 100] [--epochs 1]

Prints one JSON line. With --random-init, builds a randomly initialised model of the
folder's config (same shapes and FLOPs as the real weights; for machines where the
weights cannot travel).
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--samples", type=int, default=256)
    ap.add_argument("--dev", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--random-init", action="store_true")
    args = ap.parse_args()

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from trex.execute.executor import Executor, ExecutorSettings, Job
    from trex.tree.records import DataRecipe, Direction, ExperimentSpec, TrainConfig

    work = Path(tempfile.mkdtemp())
    model_path = args.model
    if args.random_init:
        model_path = str(work / "model")
        AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(args.model)).save_pretrained(model_path)
        AutoTokenizer.from_pretrained(args.model).save_pretrained(model_path)
    from trex.config import ExecutorConfig

    executor = Executor(ExecutorSettings(task="math", model_path=model_path,
                                         config=ExecutorConfig(cpus_per_executor=torch.get_num_threads()),
                                         task_options={"train_size": max(args.samples, 256), "dev_size": args.dev}))
    spec = ExperimentSpec(objective="benchmark", direction=Direction.LEARNING_RATE,
                          data=DataRecipe(max_samples=args.samples), train=TrainConfig(epochs=args.epochs))
    started = time.monotonic()
    result = executor.run(Job(node_id="n0001", spec=spec, node_dir=str(work / "node"), seed=0))
    print(json.dumps({"device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
                      "status": result.status.value, "wall_s": round(time.monotonic() - started, 2),
                      **{k: round(v, 2) for k, v in result.cost.model_dump().items() if isinstance(v, float)},
                      "train_samples": result.cost.train_samples, "eval_samples": result.cost.eval_samples,
                      "peak_gpu_mb": round(result.metrics.get("peak_gpu_mb", 0.0)), "error": result.error}))


if __name__ == "__main__":
    main()
