"""The real built-in model: GGUF -> HF conversion, and one Researcher call through llama.cpp."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from trex.llm.llamacpp import LlamaCppServer, builtin_gguf

pytestmark = pytest.mark.slow

PROMPTS = ["The capital of France is", "One, two, three, four,", "def add(a, b):\n    return",
           "Water boils at a temperature of", "The quick brown fox jumps over the"]


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from trex.model.resolve import convert_gguf

    return convert_gguf(builtin_gguf(), tmp_path_factory.mktemp("models") / "smollm2")


def test_conversion_writes_a_plain_hf_folder(converted: Path) -> None:
    import json

    config = json.loads((converted / "config.json").read_text())
    assert config["model_type"] == "llama" and config["hidden_size"] == 576
    assert config["num_hidden_layers"] == 30 and "quantization_config" not in config
    assert (converted / "model.safetensors").is_file() and (converted / "chat_template.jinja").is_file()
    assert not list(converted.parent.glob(".smollm2.*"))   # no half-written temp folder left


def test_converted_model_agrees_with_llama_cpp(converted: Path) -> None:
    """Same tokens, and the same next-token choice as llama.cpp on the quantized original."""
    import numpy as np
    import torch
    from llama_cpp import Llama
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(converted)
    model = AutoModelForCausalLM.from_pretrained(converted).eval()
    llm = Llama(model_path=str(builtin_gguf()), n_ctx=256, n_threads=2, verbose=False, logits_all=True)
    agree, correlations = 0, []
    for text in PROMPTS:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert ids == llm.tokenize(text.encode(), add_bos=False, special=False)
        llm.reset()
        llm.eval(ids)
        ref = np.asarray(llm.scores[len(ids) - 1])
        with torch.inference_mode():
            ours = model(torch.tensor([ids])).logits[0, -1].numpy()
        agree += int(ref.argmax() == ours.argmax())
        correlations.append(float(np.corrcoef(ref, ours)[0, 1]))
    assert agree >= 4, f"top-1 agreed on only {agree}/5 prompts"
    assert min(correlations) > 0.9, correlations


def test_one_researcher_call_returns_a_valid_spec(tmp_path: Path) -> None:
    from ftbench import get_task
    from trex.agent.researcher import Researcher, parse_proposals
    from trex.llm.client import LLMClient, StructuredMode
    from trex.prompts import TaskCard
    from trex.search.core import baseline_spec
    from trex.tree.records import NodeStatus, RunResult
    from trex.tree.store import Tree

    task = get_task("math")
    card = TaskCard(task.name, task.metric, task.description, task.kinds, "SmolLM2-135M-Instruct", 512)
    tree = Tree("math")
    root = tree.add(baseline_spec(), None, 0)
    tree.record(root.id, RunResult(status=NodeStatus.SUCCEEDED, score=0.04), 0.04, 1)
    with LlamaCppServer(builtin_gguf(), "smollm2", log_path=tmp_path / "server.log") as server:
        client = LLMClient(server.base_url, "smollm2", mode=StructuredMode.LLAMACPP, temperature=0.7)
        client.check()
        proposal = Researcher(client, card, k=3, log_path=tmp_path / "calls.jsonl").propose(tree, root.id, seed=0)
    # A 135M model may well repeat its parent (then the Researcher rightly drops it as a
    # duplicate); what must hold on any CPU is that its grammar-constrained reply is a
    # schema-valid experiment list that passes validation.
    first = json.loads((tmp_path / "calls.jsonl").read_text().splitlines()[0])["reply"]
    valid, errors = parse_proposals(first, task.kinds, known=set(), max_samples=512, parent_id=root.id)
    assert valid, f"first reply held no schema-valid experiment: {errors}"
    assert all(s.direction != "baseline" for s in proposal.specs + valid)
    assert proposal.usage.calls >= 1 and proposal.usage.completion_tokens > 0
    assert (tmp_path / "calls.jsonl").read_text().count("\n") == proposal.usage.calls


def test_unreachable_endpoint_and_wrong_model_fail_clearly(tmp_path: Path) -> None:
    from trex.llm.client import LLMClient, LLMUnavailable
    from trex.llm.llamacpp import free_port

    with pytest.raises(LLMUnavailable, match="unreachable"):
        LLMClient(f"http://127.0.0.1:{free_port()}/v1", "x", max_retries=0, timeout_s=2).check()
    with LlamaCppServer(builtin_gguf(), "smollm2", log_path=tmp_path / "server.log") as server:
        with pytest.raises(LLMUnavailable, match=r"does not serve model 'gpt-9'.*smollm2"):
            LLMClient(server.base_url, "gpt-9").check()
