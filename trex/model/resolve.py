"""Where the trainee model comes from: the built-in GGUF (converted once), a folder, or a Hub id."""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

BUILTIN_PREFIX = "builtin:"
BUILTINS = {"smollm2-135m-instruct"}


def cache_dir() -> Path:
    return Path(os.environ.get("TREX_CACHE", Path.home() / ".cache" / "trex"))


def convert_gguf(gguf: Path, out_dir: Path) -> Path:
    """Dequantize a GGUF into an HF model folder (weights, config, tokenizer, chat template).

    Written to a temp folder and renamed into place, so a crash never leaves half a model.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out_dir = Path(out_dir)
    if (out_dir / "config.json").is_file():
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    log.info("converting %s to an HF folder at %s (once)", gguf.name, out_dir)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # A model loaded from GGUF is flagged as quantized and refuses save_pretrained; its
        # weights are already dequantized, so copy them into a plain model of the same config.
        config = loaded.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        model = AutoModelForCausalLM.from_config(config)
        model.load_state_dict(loaded.state_dict())
        model.generation_config = loaded.generation_config
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def resolve_model(name_or_path: str) -> str:
    """A path or Hub id that transformers can load; builtins are converted into the cache."""
    if name_or_path.startswith(BUILTIN_PREFIX):
        name = name_or_path[len(BUILTIN_PREFIX):]
        if name not in BUILTINS:
            raise ValueError(f"unknown built-in model {name!r}; built-ins: {', '.join(sorted(BUILTINS))}")
        from trex.llm.llamacpp import builtin_gguf

        return str(convert_gguf(builtin_gguf(), cache_dir() / "models" / name))
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ValueError(f"model folder {path} has no config.json")
        return str(path.resolve())
    return name_or_path   # a Hub id; transformers resolves it (offline: fails fast with HF_HUB_OFFLINE=1)


def build_tiny_llama(tokenizer_src: str, out_dir: Path, seed: int = 0) -> Path:
    """A tiny random Llama with `tokenizer_src`'s tokenizer, for tests (seconds to train)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_src)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=1024, tie_word_embeddings=True,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    LlamaForCausalLM(config).save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return Path(out_dir)
