"""One fine-tuning node written the way a user would without trex: plain TRL + PEFT + transformers.

    python bench/bare_trl_node.py --model <hf folder> --samples 96 --dev 48 [--stock]

Same data (the math task's train split with worked solutions, trex's default answer format,
shuffled with seed 0, first N), same LoRA and
training arguments as trex's default spec, same dev evaluation (greedy, 48 new tokens,
batches of 64, left padding). Default: the same kernels trex uses on CPU (plain-loss trainer,
trex's batched generator, no gradient checkpointing), so the difference to trex is
orchestration alone. --stock: TRL's SFTTrainer, SFTConfig defaults and transformers' generate
as they come. Prints one JSON line of seconds.
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
    ap.add_argument("--samples", type=int, default=96)
    ap.add_argument("--dev", type=int, default=48)
    ap.add_argument("--stock", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    imported = time.monotonic()

    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from ftbench import Split, get_task
    from trex.train.sft import PlainLossSFTTrainer, cpu_supports_bf16

    torch.set_num_threads(args.threads)
    imported = time.monotonic() - imported
    started = time.monotonic()
    task = get_task("math", train_size=max(256, args.samples), dev_size=args.dev)
    train = task.load(Split.TRAIN)
    ds = Dataset.from_list([{"prompt": task.messages(e.question),
                             "completion": [{"role": "assistant", "content": e.solution}]}
                            for e in train]).shuffle(seed=0).select(range(args.samples))
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model)
    out = Path(tempfile.mkdtemp())
    config = SFTConfig(output_dir=str(out / "checkpoints"), num_train_epochs=1, learning_rate=2e-4,
                       per_device_train_batch_size=8, use_cpu=True, save_strategy="no", report_to="none",
                       logging_steps=5, seed=0, data_seed=0, lr_scheduler_type="cosine", warmup_steps=0.05,
                       max_length=256, disable_tqdm=True, bf16=cpu_supports_bf16(),
                       # TRL 1.16 turns gradient checkpointing on by default; trex turns it off (a 135M
                       # model fits without it). --stock keeps TRL's default.
                       **({} if args.stock else {"gradient_checkpointing": False}))
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM")
    trainer_cls = SFTTrainer if args.stock else PlainLossSFTTrainer
    trainer = trainer_cls(model=model, args=config, train_dataset=ds, processing_class=tokenizer, peft_config=lora)
    t = time.monotonic()
    trainer.train()
    trainer.model.save_pretrained(out / "adapter")
    train_s = time.monotonic() - t

    t = time.monotonic()
    dev = task.load(Split.DEV)
    chats = [task.messages(e.question) for e in dev]
    model = trainer.model.eval()
    if args.stock:
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        completions = []
        for i in range(0, len(chats), 64):
            texts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
                     for c in chats[i:i + 64]]
            batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
            with torch.inference_mode():
                ids = model.generate(**batch, max_new_tokens=48, do_sample=False, pad_token_id=tokenizer.pad_token_id)
            completions += tokenizer.batch_decode(ids[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
    else:
        from trex.eval.hf_engine import generate

        completions = generate(model, tokenizer, chats, batch_size=64, max_new_tokens=48)
    predictions = [task.extract(c) for c in completions]
    score = task.aggregate(predictions, dev)
    (out / "predictions.jsonl").write_text("".join(json.dumps({"prediction": p}) + "\n" for p in predictions))
    eval_s = time.monotonic() - t
    print(json.dumps({"variant": "bare-stock" if args.stock else "bare-same-kernels", "imports_s": round(imported, 2),
                      "wall_s": round(time.monotonic() - started, 2), "train_s": round(train_s, 2),
                      "eval_s": round(eval_s, 2), "score": score}))


if __name__ == "__main__":
    main()
