"""Evaluation engines: batched HF == one-at-a-time, the OpenAI engine's order and settings, vLLM's error."""
from __future__ import annotations

import importlib.util
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from trex.eval import hf_engine
from trex.eval.engines import Engine, HFEngine, OpenAIEngine, VLLMEngine, naive_generate
from trex.eval.hf_engine import encode
from trex.llm.scripted import ScriptedEndpoint

WORDS = "Ava has seven red apples and finds three more marbles under the old wooden table today".split()


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """One intra-op thread: on a busy machine, spinning thread pools make these tiny models 50x slower."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def varied_chats(n: int = 12) -> list[list[dict[str, str]]]:
    """Chats of clearly different token lengths, in no particular order."""
    rng = random.Random(0)
    return [[{"role": "user", "content": " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 40)))}]
            for _ in range(n)]


def diverse_tiny_model(path: Path) -> tuple[Any, Any]:
    """The tiny Llama with its layer matrices redrawn at std 0.3.

    At the fixture's own init (std 0.02) the residual stream is the input embedding, so greedy
    decoding echoes the prompt's last token ("\\n") and strips to "": equal, but vacuously.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() == 2 and ".layers." in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.3)
    return model, AutoTokenizer.from_pretrained(path)


def test_batched_hf_equals_one_at_a_time(tiny_model: Path) -> None:
    model, tokenizer = diverse_tiny_model(tiny_model)
    chats = varied_chats(12)
    engine = HFEngine(model, tokenizer, batch_size=4)
    assert isinstance(engine, Engine)
    batched = engine.generate(chats, max_new_tokens=16)
    naive = naive_generate(model, tokenizer, chats, max_new_tokens=16)
    assert len({len(ids) for ids in encode(tokenizer, chats)}) > 6      # real padding
    assert len(set(naive)) == len(naive) and all(naive)                # distinct, non-empty: a real comparison
    assert batched == naive
    assert model.config._attn_implementation == "sdpa"                 # restored after generation
    # transformers' own generate on the same batches (the reference path) agrees too
    assert hf_engine.generate(model, tokenizer, chats, batch_size=4, max_new_tokens=16, use_hf_generate=True) == naive


def test_batched_hf_equals_one_at_a_time_with_lora_and_early_stops(tiny_model: Path) -> None:
    """A LoRA-wrapped model (what the executor evaluates), a shared prompt head, rows that stop early."""
    import torch
    from peft import LoraConfig, get_peft_model

    model, tokenizer = diverse_tiny_model(tiny_model)
    model = get_peft_model(model, LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False))
    chats = [[{"role": "user", "content": "Solve this word problem carefully.\n" + c[0]["content"]}]
             for c in varied_chats(10)]
    encoded = encode(tokenizer, chats)
    assert hf_engine.shared_prefix_len(encoded) >= hf_engine.MIN_SHARED_PREFIX
    # a second stop token that row 0 emits at its third step: some rows now end early, others run on
    with torch.inference_mode():
        first = model.generate(input_ids=torch.tensor([encoded[0]]), max_new_tokens=3, do_sample=False)
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, int(first[0, -1])]
    naive = naive_generate(model, tokenizer, chats, max_new_tokens=12)
    lengths = {len(tokenizer(t)["input_ids"]) for t in naive}
    assert min(lengths) <= 4 and max(lengths) > 8
    assert HFEngine(model, tokenizer, batch_size=4).generate(chats, max_new_tokens=12) == naive


def test_openai_engine_keeps_input_order_and_is_greedy() -> None:
    def respond(body: dict[str, Any]) -> str:
        question = body["messages"][-1]["content"]
        time.sleep(random.uniform(0.0, 0.05))   # answers arrive out of order
        return f"  answer to {question}\n"

    chats = [[{"role": "system", "content": "be brief"}, {"role": "user", "content": f"q{i}"}] for i in range(20)]
    with ScriptedEndpoint(respond) as server:
        engine = OpenAIEngine(server.base_url, model="scripted", concurrency=8, timeout_s=10)
        assert isinstance(engine, Engine)
        outputs = engine.generate(chats, max_new_tokens=7)
    assert outputs == [f"answer to q{i}" for i in range(20)]
    assert len(server.requests) == 20
    assert all(r["temperature"] == 0 and r["max_tokens"] == 7 and r["model"] == "scripted" for r in server.requests)
    assert sorted(r["messages"][-1]["content"] for r in server.requests) == sorted(f"q{i}" for i in range(20))


def test_openai_engine_unreachable_is_a_clear_error() -> None:
    with ScriptedEndpoint(lambda body: "") as server:
        url = server.base_url
    engine = OpenAIEngine(url, model="m", timeout_s=2, max_retries=0)   # the server is gone
    with pytest.raises(RuntimeError, match="unreachable"):
        engine.generate([[{"role": "user", "content": "hi"}]], max_new_tokens=4)


@pytest.mark.parametrize("missing", ["vllm", "cuda"])
def test_vllm_engine_without_vllm_or_cuda_says_how_to_install(missing: str, monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    import torch

    if missing == "vllm":
        find_spec = importlib.util.find_spec
        monkeypatch.setattr(importlib.util, "find_spec",
                            lambda name, *a: None if name == "vllm" else find_spec(name, *a))
    else:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match=r"pip install -e \.\[gpu\]") as err:
        VLLMEngine(str(tmp_path))
    assert ("not installed" if missing == "vllm" else "no CUDA GPU") in str(err.value)
