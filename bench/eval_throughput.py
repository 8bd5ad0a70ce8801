"""Batched HFEngine vs one-prompt-at-a-time generation, side by side, same model and prompts.

    python bench/eval_throughput.py [--model ~/.cache/trex/models/smollm2-135m-instruct]
        [--prompts 64] [--max-new-tokens 48] [--threads 1,2] [--batch-sizes 16,64] [--repeats 1]
        [--device cpu|cuda] [--dtype float32|bfloat16] [--random-init] [--out FILE]

Prints one JSON line: per torch thread count, seconds for `naive_generate` (the baseline), for
HFEngine at each batch size and for transformers' own batched `generate` (the previous engine),
generated tokens/s, speedups over the baseline, and whether each path's completions are identical
to the baseline's. With --repeats N, each path runs N times in turn and its fastest run counts
(this machine may be shared). --random-init builds a random model of the folder's config (for
machines the weights cannot travel to).
"""
from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

DEFAULT_MODEL = Path.home() / ".cache" / "trex" / "models" / "smollm2-135m-instruct"


def fastest(fn: Callable[[], list[str]], repeats: int) -> tuple[float, list[str]]:
    best, result = float("inf"), []
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(DEFAULT_MODEL))
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--threads", default="1,2", help="comma-separated torch thread counts")
    ap.add_argument("--batch-sizes", default="16,64", help="comma-separated HFEngine batch sizes")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    ap.add_argument("--random-init", action="store_true")
    ap.add_argument("--out", help="also write the JSON line here")
    args = ap.parse_args()

    import torch
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from ftbench import get_task
    from trex.eval import hf_engine
    from trex.eval.engines import HFEngine, naive_generate

    transformers.utils.logging.disable_progress_bar()
    task = get_task("math", dev_size=args.prompts)
    chats = [task.messages(e.question) for e in task.load("dev")]
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    dtype = getattr(torch, args.dtype)
    if args.random_init:
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(args.model), dtype=dtype)
        folder = tempfile.mkdtemp()                          # reload, so generation_config is the folder's
        model.save_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
    else:
        model = AutoModelForCausalLM.from_pretrained(args.model, dtype=dtype)
    model = model.to(args.device)

    runs = []
    for threads in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(threads)
        naive_generate(model, tokenizer, chats[:2], max_new_tokens=4)     # warm-up: kernels, allocator
        HFEngine(model, tokenizer, 2).generate(chats[:2], max_new_tokens=4)
        naive_s, naive = fastest(lambda: naive_generate(model, tokenizer, chats, args.max_new_tokens), args.repeats)
        tokens = sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in naive)
        run: dict[str, object] = {"threads": threads, "naive_s": round(naive_s, 2),
                                  "naive_tok_s": round(tokens / naive_s, 1), "generated_tokens": tokens}
        paths: dict[str, Callable[[], list[str]]] = {
            f"hfengine_batch{b}": (lambda b=b: HFEngine(model, tokenizer, b).generate(chats, args.max_new_tokens))
            for b in (int(b) for b in args.batch_sizes.split(","))}
        paths["hf_generate_batch16"] = lambda: hf_engine.generate(
            model, tokenizer, chats, batch_size=16, max_new_tokens=args.max_new_tokens, use_hf_generate=True)
        for name, fn in paths.items():
            seconds, out = fastest(fn, args.repeats)
            run[name] = {"s": round(seconds, 2), "tok_s": round(tokens / seconds, 1),
                         "speedup": round(naive_s / seconds, 2), "identical": out == naive,
                         "differing": sum(a != b for a, b in zip(out, naive, strict=True))}
        runs.append(run)
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.machine()
    line = json.dumps({"model": Path(args.model).name + (" (random init)" if args.random_init else ""),
                       "device": args.device, "hardware": device, "dtype": args.dtype, "torch": torch.__version__,
                       "transformers": transformers.__version__, "prompts": len(chats),
                       "max_new_tokens": args.max_new_tokens, "repeats": args.repeats, "runs": runs})
    print(line)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(line + "\n")


if __name__ == "__main__":
    main()
