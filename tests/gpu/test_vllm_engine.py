"""vLLM evaluation with a LoRA adapter (applied per request, not merged) matches transformers.

Skipped without CUDA and vLLM (`pip install -e .[gpu]`). vLLM runs in bf16 (as it would in
production); the reference is transformers in float32. bf16 moves logits by a few hundredths of
their spread, so where two tokens are that close vLLM may take the other one, and the greedy
paths part. Hence the check is on each token vLLM chose, teacher-forced through the reference:
it must be the reference's argmax or within `TOL` of it. Where vLLM took the reference's argmax
at every step, its text must equal HFEngine's exactly.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU")]

NEW_TOKENS = 12
TOL = 0.2   # in units of each step's logit standard deviation; a wrong pick sits ~4 of them below the max
QUESTIONS = ["Ava has 3 apples and finds 4 more. How many apples does Ava have now?",
             "Ben has 12 bags with 5 coins in each bag. How many coins are there in total?",
             "Chloe has 40 shells and gives away 13. How many shells are left?",
             "Dev buys 4 boxes of 6 cards and then gives 5 cards to a friend. How many cards does Dev have left?",
             "Emma has 9 pencils and finds 30 more. How many pencils does Emma have now?",
             "Farid has 77 stickers and gives away 20. How many stickers are left?"]


@pytest.fixture(scope="module")
def model_and_adapter(smollm2_tokenizer_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small random Llama (head_dim 64, which every vLLM attention backend takes) and a LoRA
    adapter on all its linear layers with random, non-zero B matrices, so it changes the output."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=256, intermediate_size=512, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    base_dir, adapter_dir = tmp_path_factory.mktemp("vllm-base"), tmp_path_factory.mktemp("vllm-adapter")
    model = LlamaForCausalLM(config)
    model.save_pretrained(base_dir)
    tokenizer.save_pretrained(base_dir)
    lora = LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", init_lora_weights=False, task_type="CAUSAL_LM")
    get_peft_model(model, lora).save_pretrained(adapter_dir)
    return base_dir, adapter_dir


def reference(base: Path, adapter: Path | None) -> Any:
    """transformers in float32 on the GPU (no TF32), with the adapter unmerged."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    torch.backends.cuda.matmul.allow_tf32 = False
    model: Any = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32).to("cuda")
    return (PeftModel.from_pretrained(model, str(adapter)) if adapter else model).eval()


def shortfalls(model: Any, prompts: list[list[int]], completions: list[list[int]]) -> list[list[float]]:
    """Per generated token: (reference max logit - logit of the token) / logit std at that step."""
    out = []
    for prompt, completion in zip(prompts, completions, strict=True):
        ids = torch.tensor([prompt + completion], device="cuda")
        with torch.inference_mode():
            logits = model(input_ids=ids).logits[0, len(prompt) - 1:-1].float()
        chosen = logits.gather(1, torch.tensor(completion, device="cuda")[:, None])[:, 0]
        out.append(((logits.max(-1).values - chosen) / logits.std(-1)).tolist())
    return out


def test_vllm_lora_matches_transformers(model_and_adapter: tuple[Path, Path]) -> None:
    pytest.importorskip("vllm")
    from transformers import AutoTokenizer
    from vllm import SamplingParams

    from ftbench import get_task
    from trex.eval.engines import HFEngine, VLLMEngine

    base, adapter = model_and_adapter
    chats = [get_task("math").messages(q) for q in QUESTIONS]
    engine = VLLMEngine(str(base), adapter_path=str(adapter), max_lora_rank=16, gpu_memory_utilization=0.3,
                        dtype="bfloat16", enforce_eager=True, seed=0)
    prompts = [p["prompt_token_ids"] for p in engine.prompts(chats)]

    def vllm_tokens() -> list[list[int]]:
        params = SamplingParams(temperature=0.0, max_tokens=NEW_TOKENS)
        outs = engine.llm.generate(engine.prompts(chats), params, lora_request=engine.lora_request, use_tqdm=False)
        return [list(o.outputs[0].token_ids) for o in outs]

    tuned = vllm_tokens()
    texts = engine.generate(chats, NEW_TOKENS)
    model = reference(base, adapter)
    short = shortfalls(model, prompts, tuned)
    assert max(max(s) for s in short) <= TOL, short
    exact = [i for i, s in enumerate(short) if max(s) == 0.0]   # vLLM took the reference's argmax throughout
    assert exact, f"vLLM left the reference's greedy path in every prompt: {short}"
    hf_texts = HFEngine(model, AutoTokenizer.from_pretrained(base), batch_size=4).generate(chats, NEW_TOKENS)
    assert [texts[i] for i in exact] == [hf_texts[i] for i in exact]

    engine.set_adapter(None)                             # the same engine, now the base model
    plain = vllm_tokens()
    assert plain != tuned, "the adapter changed nothing: it was not applied"
    assert max(max(s) for s in shortfalls(reference(base, None), prompts, plain)) <= TOL

    engine.set_adapter(str(adapter))                     # and back, under a fresh LoRA id
    assert vllm_tokens() == tuned
