"""TRL's fused (tiled) LM-head loss vs the model's own cross-entropy, side by side, same data.

    python bench/train_step.py --model ~/.cache/trex/models/smollm2-135m-instruct [--samples 32] [--threads 1]

trex uses the plain loss on CPU (PlainLossSFTTrainer) and TRL's fused loss on GPU. Prints
seconds for each, their ratio, and the per-step losses, which must agree.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def run(trainer_cls: type, model_path: str, dataset, out: Path) -> tuple[float, list[float]]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import trex.train.sft as sft
    from trex.tree.records import TrainConfig

    original = sft.PlainLossSFTTrainer
    sft.PlainLossSFTTrainer = trainer_cls    # train_sft picks this class on CPU
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_path)
        model = AutoModelForCausalLM.from_pretrained(model_path)
        started = time.monotonic()
        sft.train_sft(model, dataset, sft.TrainSetup(tokenizer=tokenizer, train=TrainConfig(), out_dir=out,
                                                     parent_adapter=None, bf16=True, logging_steps=1, seed=0))
        elapsed = time.monotonic() - started
    finally:
        sft.PlainLossSFTTrainer = original
    losses = [json.loads(line)["loss"] for line in (out / "train_log.jsonl").read_text().splitlines()
              if "loss" in json.loads(line)]
    return elapsed, losses


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--samples", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import torch
    from trl import SFTTrainer

    import ftbench
    from trex.data.recipe import build_sft_dataset
    from trex.train.sft import PlainLossSFTTrainer
    from trex.tree.records import DataRecipe

    torch.set_num_threads(args.threads)
    dataset = build_sft_dataset(ftbench.get_task("math", train_size=256), DataRecipe(max_samples=args.samples),
                                0).dataset
    work = Path(tempfile.mkdtemp())
    fused_s, fused_losses = run(SFTTrainer, args.model, dataset, work / "fused")
    plain_s, plain_losses = run(PlainLossSFTTrainer, args.model, dataset, work / "plain")
    print(json.dumps({"samples": args.samples, "threads": args.threads, "fused_s": round(fused_s, 1),
                      "plain_s": round(plain_s, 1), "speedup": round(fused_s / plain_s, 2),
                      "fused_losses": fused_losses, "plain_losses": plain_losses}))


if __name__ == "__main__":
    main()
