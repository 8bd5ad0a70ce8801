"""llm=vllm on a GPU: trex's vLLM server actor holds its GPU, passes trex's endpoint check,
answers a chat completion, and is gone at exit.

Skipped without CUDA and vLLM (`pip install -e .[gpu]`). Serves a small random Llama with the
SmolLM2 tokenizer (its chat template), so no download is needed."""
from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("vllm")
pytest.importorskip("ray")
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU")]


@pytest.fixture(scope="module")
def served_model(smollm2_tokenizer_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=256, intermediate_size=512, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("vllm-served")
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def test_server_actor_serves_and_stops(served_model: Path, tmp_path: Path) -> None:
    import ray

    from trex.llm.client import LLMClient, StructuredMode
    from trex.llm.vllm_server import VLLMServer, VLLMServerSettings

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        gpus = ray.cluster_resources()["GPU"]
        settings = VLLMServerSettings(model=str(served_model), max_model_len=2048, gpu_memory_utilization=0.3,
                                      startup_timeout_s=600)
        with VLLMServer(settings, tmp_path / "llm-server.log") as server:
            assert ray.available_resources().get("GPU", 0) == gpus - 1
            client = LLMClient(server.base_url, str(served_model), "not-needed", mode=StructuredMode.JSON_SCHEMA,
                               temperature=0.0, max_tokens=32, timeout_s=120)
            client.check()
            reply = client._client.chat.completions.create(   # a plain request, no schema
                model=str(served_model), messages=[{"role": "user", "content": "Hi"}], max_tokens=8)
            assert len(reply.choices) == 1 and reply.usage.completion_tokens > 0
            host_port = server.base_url.removesuffix("/v1")
        with pytest.raises(OSError):
            urllib.request.urlopen(f"{host_port}/health", timeout=5)
    finally:
        ray.shutdown()
    assert (tmp_path / "llm-server.log").stat().st_size > 0
