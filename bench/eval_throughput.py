"""Batched HFEngine vs one-prompt-at-a-time generation, side by side, same model and prompts.

    python bench/eval_throughput.py [--model ~/.cache/trex/models/smollm2-135m-instruct]
        [--prompts 64] [--max-new-tokens 48] [--threads 1,2] [--batch-sizes 16,64] [--out FILE]

Prints one JSON line: for each torch thread count, seconds for each path, generated tokens/s,
the speedup, and whether the two paths produced identical completions.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

DEFAULT_MODEL = Path.home() / ".cache" / "trex" / "models" / "smollm2-135m-instruct"


def timed(fn, *args, **kwargs) -> tuple[float, list[str]]:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - started, result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(DEFAULT_MODEL))
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--threads", default="1,2", help="comma-separated torch thread counts")
    ap.add_argument("--batch-sizes", default="16,64", help="comma-separated HFEngine batch sizes")
    ap.add_argument("--out", help="also write the JSON line here")
    args = ap.parse_args()

    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ftbench import get_task
    from trex.eval import hf_engine
    from trex.eval.engines import HFEngine, naive_generate

    transformers.utils.logging.disable_progress_bar()
    task = get_task("math", dev_size=args.prompts)
    chats = [task.messages(e.question) for e in task.load("dev")]
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)

    runs = []
    for threads in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(threads)
        naive_generate(model, tokenizer, chats[:2], max_new_tokens=4)     # warm-up: kernels, allocator
        naive_s, naive = timed(naive_generate, model, tokenizer, chats, args.max_new_tokens)
        tokens = sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in naive)
        run: dict[str, object] = {"threads": threads, "naive_s": round(naive_s, 2),
                                  "naive_tok_s": round(tokens / naive_s, 1), "generated_tokens": tokens}
        for batch_size in (int(b) for b in args.batch_sizes.split(",")):
            batched_s, batched = timed(HFEngine(model, tokenizer, batch_size).generate, chats, args.max_new_tokens)
            run[f"batch{batch_size}"] = {
                "batched_s": round(batched_s, 2), "batched_tok_s": round(tokens / batched_s, 1),
                "speedup": round(naive_s / batched_s, 2), "identical": batched == naive,
                "differing": sum(a != b for a, b in zip(batched, naive, strict=True))}
        hf_s, hf = timed(hf_engine.generate, model, tokenizer, chats, batch_size=16,
                         max_new_tokens=args.max_new_tokens, use_hf_generate=True)
        run["hf_generate_batch16"] = {"batched_s": round(hf_s, 2), "speedup": round(naive_s / hf_s, 2),
                                      "identical": hf == naive}
        runs.append(run)
    line = json.dumps({"model": Path(args.model).name, "device": "cpu", "cpu": platform.processor() or platform.machine(),
                       "torch": torch.__version__, "transformers": transformers.__version__,
                       "prompts": len(chats), "max_new_tokens": args.max_new_tokens,
                       "runs": runs})
    print(line)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(line + "\n")


if __name__ == "__main__":
    main()
