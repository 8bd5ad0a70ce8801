"""Adapters in storage staged for an evaluation server on another machine (trex.eval.staging)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from trex.eval import staging
from trex.eval.engines import OpenAIEngine
from trex.llm.scripted import ScriptedEndpoint

NODES = [{"NodeID": "head", "NodeManagerAddress": "10.0.0.1", "Alive": True},
         {"NodeID": "gone", "NodeManagerAddress": "10.0.0.2", "Alive": False},
         {"NodeID": "gpu", "NodeManagerAddress": "10.0.0.3", "Alive": True}]


def adapter(root: Path, rank: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "adapter_config.json").write_text(json.dumps({"r": rank}))
    (root / "adapter_model.safetensors").write_bytes(os.urandom(64))
    return root


def test_the_server_node_is_found_by_address_and_loopback_is_the_executors_own() -> None:
    assert staging.server_node("10.0.0.3", NODES, own_node="head") == "gpu"
    assert staging.server_node("127.0.0.1", NODES, own_node="head") == "head"
    with pytest.raises(RuntimeError, match=r"10\.0\.0\.2 is not on a node of this Ray cluster.*10\.0\.0\.1"):
        staging.server_node("10.0.0.2", NODES, own_node="head")      # its node is dead
    assert staging.server_ip("http://localhost:8000/v1") == "127.0.0.1"
    with pytest.raises(ValueError, match="has no host"):
        staging.server_ip("/v1")


def test_the_cache_downloads_a_fresh_copy_each_time_and_keeps_the_newest(tmp_path: Path) -> None:
    source = adapter(tmp_path / "store" / "n1" / "adapter", rank=8)
    cache = staging.AdapterCache(str(tmp_path / "cache"))
    first = Path(cache.stage(f"file://{source}"))
    assert json.loads((first / "adapter_config.json").read_text()) == {"r": 8}
    adapter(source, rank=16)                          # retrained in place (a fidelity rung)
    second = Path(cache.stage(f"file://{source}"))
    assert second != first and json.loads((second / "adapter_config.json").read_text()) == {"r": 16}
    for _ in range(staging.KEEP + 2):
        cache.stage(f"file://{source}")
    assert len(list(cache.root.iterdir())) == staging.KEEP and not first.exists()
    with pytest.raises(FileNotFoundError, match="no folder at"):
        cache.stage(f"file://{tmp_path}/store/missing")


def test_the_openai_engine_loads_a_stored_adapter_from_its_staged_copy(tmp_path: Path) -> None:
    loads: list[dict[str, Any]] = []

    def respond(body: dict[str, Any]) -> str:
        if "lora_path" in body:
            loads.append({**body, "config": json.loads((Path(body["lora_path"]) / "adapter_config.json").read_text())})
            return ""
        return f"served by {body['model']}"

    source = adapter(tmp_path / "store" / "adapter", rank=8)
    cache = staging.AdapterCache(str(tmp_path / "cache"))
    with ScriptedEndpoint(respond) as server:
        engine = OpenAIEngine(server.base_url, model="base", timeout_s=10, stage=cache.stage)
        engine.set_adapter(f"file://{source}")
        first = engine.generate([[{"role": "user", "content": "hi"}]], max_new_tokens=4)
        adapter(source, rank=16)
        engine.set_adapter(f"file://{source}")
        engine.set_adapter(None)
        base = engine.generate([[{"role": "user", "content": "hi"}]], max_new_tokens=4)
        with pytest.raises(RuntimeError, match="no way to stage it"):
            OpenAIEngine(server.base_url, model="base").set_adapter(f"file://{source}")
    assert [load["config"] for load in loads] == [{"r": 8}, {"r": 16}]
    assert all(Path(load["lora_path"]).is_relative_to(tmp_path / "cache") for load in loads)
    assert loads[0]["lora_name"] != loads[1]["lora_name"]        # a retrained adapter is never served stale
    assert first == [f"served by {loads[0]['lora_name']}"] and base == ["served by base"]
