"""Evaluation engines: one interface, three back ends (transformers, vLLM, an OpenAI-compatible server).

Every engine turns chats into greedy completions, in input order, stripped of surrounding
whitespace and special tokens, so the executor scores their output the same way whatever ran it.
"""
from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from trex.eval import hf_engine

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

Chat = list[dict[str, str]]
GPU_INSTALL_HINT = "pip install -e .[gpu]"


@runtime_checkable
class Engine(Protocol):
    def generate(self, chats: Sequence[Chat], max_new_tokens: int) -> list[str]:
        """Greedy completion of each chat, in input order."""
        ...


class HFEngine:
    """transformers, batched greedy decoding with a shared-prefix cache (see `hf_engine.generate`).

    On CPU, larger batches pay: 64 ran 1.4x faster than 16 on SmolLM2-135M (bench/eval_throughput.py).
    """

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, batch_size: int = 64) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size

    def generate(self, chats: Sequence[Chat], max_new_tokens: int) -> list[str]:
        return hf_engine.generate(self.model, self.tokenizer, list(chats), batch_size=self.batch_size,
                                  max_new_tokens=max_new_tokens)


def naive_generate(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, chats: Sequence[Chat],
                   max_new_tokens: int) -> list[str]:
    """One chat at a time, no padding: the reference the batched engine must reproduce."""
    import torch

    model.eval()
    outputs = []
    for ids in hf_engine.encode(tokenizer, list(chats)):
        prompt = torch.tensor([ids], device=model.device)
        with torch.inference_mode():
            # transformers' typing makes PreTrainedModel.generate a Tensor | Module attribute
            out = model.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt),  # type: ignore[operator]
                                 max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=hf_engine.pad_id(tokenizer))
        # decode is typed str | list[str]; one sequence gives a str
        outputs.append(tokenizer.decode(out[0, len(ids):], skip_special_tokens=True).strip())  # type: ignore[union-attr]
    return outputs


class OpenAIEngine:
    """Chat completions from an OpenAI-compatible server (vLLM serve, llama.cpp, ...), temperature 0.

    Requests run `concurrency` at a time; the client retries transient failures `max_retries` times.
    """

    def __init__(self, base_url: str, model: str, api_key: str = "EMPTY", concurrency: int = 8,
                 timeout_s: float = 120.0, max_retries: int = 2,
                 stage: Callable[[str], str] | None = None) -> None:
        from openai import OpenAI

        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.base_url, self.model, self.base_model, self.concurrency = base_url, model, model, concurrency
        self.stage = stage     # storage URI -> a path the server can read (trex.eval.staging)
        self.api_key, self.timeout_s = api_key, timeout_s
        self.client = OpenAI(base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=max_retries)

    def set_adapter(self, adapter_path: str | Path | None) -> None:
        """Evaluate a PEFT adapter: load it into the server (vLLM's runtime LoRA API) and ask for it
        by name from now on; None goes back to the base model. A folder path must be readable by the
        server; a storage URI is first staged onto the server's machine by `stage`."""
        if adapter_path is None:
            self.model = self.base_model
            return
        import hashlib

        import httpx

        from trex import storage

        if storage.is_uri(str(adapter_path)):
            if self.stage is None:
                raise RuntimeError(f"adapter {adapter_path} is in storage and this engine has no way to stage it "
                                   f"for {self.base_url}")
            path = self.stage(str(adapter_path))
        else:
            path = str(Path(adapter_path).resolve())
        # The name changes with the files: a node's adapter can be retrained in place (fidelity rungs).
        stamp = max((f.stat().st_mtime_ns for f in Path(path).glob("*")), default=0) if Path(path).is_dir() else 0
        name = "trex-" + hashlib.sha256(f"{path}@{stamp}".encode()).hexdigest()[:12]
        try:
            reply = httpx.post(f"{self.base_url.rstrip('/')}/load_lora_adapter", timeout=self.timeout_s,
                               json={"lora_name": name, "lora_path": path},
                               headers={"Authorization": f"Bearer {self.api_key}"})
        except httpx.HTTPError as err:
            raise RuntimeError(f"evaluation endpoint {self.base_url} is unreachable "
                               f"({type(err).__name__}: {err})") from err
        if reply.status_code == 404:
            raise RuntimeError(f"evaluation endpoint {self.base_url} cannot load LoRA adapters at run time: start "
                               "vLLM with --enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True")
        if reply.status_code >= 400 and "already been loaded" not in reply.text:
            raise RuntimeError(f"evaluation endpoint {self.base_url} refused adapter {adapter_path} "
                               f"(HTTP {reply.status_code}): {reply.text[:300]}")
        self.model = name

    def _complete(self, chat: Chat, max_new_tokens: int) -> str:
        import openai

        try:
            response = self.client.chat.completions.create(model=self.model, messages=chat,  # type: ignore[arg-type]
                                                           temperature=0.0, max_tokens=max_new_tokens)
        except openai.APIConnectionError as err:   # timeouts included
            raise RuntimeError(f"evaluation endpoint {self.base_url} is unreachable "
                               f"({type(err).__name__}: {err}); is the server running?") from err
        except openai.APIStatusError as err:
            raise RuntimeError(f"evaluation endpoint {self.base_url} answered HTTP {err.status_code} "
                               f"for model {self.model!r}: {err.message}") from err
        if not response.choices:
            raise RuntimeError(f"evaluation endpoint {self.base_url} returned no choices")
        return (response.choices[0].message.content or "").strip()

    def generate(self, chats: Sequence[Chat], max_new_tokens: int) -> list[str]:
        if not chats:
            return []
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(chats))) as pool:
            return list(pool.map(lambda chat: self._complete(chat, max_new_tokens), chats))


def require_vllm() -> Any:
    """The `vllm` module, or a RuntimeError that says how to get a working one."""
    import torch

    problems = []
    if importlib.util.find_spec("vllm") is None:
        problems.append("vllm is not installed")
    if not torch.cuda.is_available():
        problems.append("no CUDA GPU is visible")
    if problems:
        raise RuntimeError(f"VLLMEngine needs vLLM and an NVIDIA GPU, but {' and '.join(problems)}: run "
                           f"`{GPU_INSTALL_HINT}` on a GPU machine, or evaluate with the hf engine")
    import vllm

    return vllm


class VLLMEngine:
    """vLLM offline inference; a LoRA adapter is applied per request (never merged).

    One engine serves many adapters: `set_adapter` swaps the adapter without reloading the base
    model. Prompts are built with the model's own chat template and sent as token ids, exactly
    as `HFEngine` builds them.
    """

    def __init__(self, model_path: str, adapter_path: str | None = None, max_lora_rank: int = 64,
                 gpu_memory_utilization: float = 0.8, **llm_kwargs: Any) -> None:
        vllm = require_vllm()
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.llm = vllm.LLM(model=model_path, enable_lora=True, max_loras=1, max_lora_rank=max_lora_rank,
                            gpu_memory_utilization=gpu_memory_utilization, **llm_kwargs)
        self.lora_request: Any = None
        self._lora_ids = 0
        self.set_adapter(adapter_path)

    def set_adapter(self, adapter_path: str | Path | None) -> None:
        """Evaluate with this PEFT adapter folder from now on (None: the base model)."""
        if adapter_path is None:
            self.lora_request = None
            return
        if not (Path(adapter_path) / "adapter_config.json").is_file():
            raise FileNotFoundError(f"{adapter_path} is not a PEFT adapter folder (no adapter_config.json)")
        from vllm.lora.request import LoRARequest

        # A fresh name and id each time: vLLM caches adapters by them, and a path may be rewritten
        # between calls. Keywords, since vLLM versions order these fields differently.
        self._lora_ids += 1
        self.lora_request = LoRARequest(lora_name=f"adapter-{self._lora_ids}", lora_int_id=self._lora_ids,
                                        lora_path=str(adapter_path))

    def prompts(self, chats: Sequence[Chat]) -> list[dict[str, list[int]]]:
        """vLLM token prompts for `chats` (the same ids `HFEngine` feeds transformers)."""
        return [{"prompt_token_ids": ids} for ids in hf_engine.encode(self.tokenizer, list(chats))]

    def generate(self, chats: Sequence[Chat], max_new_tokens: int) -> list[str]:
        from vllm import SamplingParams

        if not chats:
            return []
        params = SamplingParams(temperature=0.0, max_tokens=max_new_tokens, skip_special_tokens=True)
        results = self.llm.generate(self.prompts(chats), params, lora_request=self.lora_request, use_tqdm=False)
        return [r.outputs[0].text.strip() for r in results]   # vLLM keeps the input order
