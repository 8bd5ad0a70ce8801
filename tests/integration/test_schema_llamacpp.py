"""The real llama.cpp server turns every reply schema into a grammar: one short constrained
completion per task's proposal schema and one per other reply schema, all on one server.

A grammar llama.cpp cannot parse kills llama-cpp-python's server (a segfault), so a request that
comes back 200 on a server that still answers shows the schema compiled. Replies are cut at a
few tokens: their JSON may be incomplete, which is fine here."""
from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import ftbench
from tests.unit.test_reply_schemas import empty_enum_schema, task_kinds
from trex.agent.researcher import proposal_schema, reply_schemas
from trex.llm.client import LLMClient, LLMSchemaError, StructuredMode, inline_refs

pytestmark = pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None,
                                reason="llama-cpp-python is not installed (the project's `cpu` extra)")
ALIAS = "smollm2-135m-instruct"
ASK = [{"role": "user", "content": "Reply with one JSON object."}]


@pytest.fixture(scope="module")
def server_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("llamacpp") / "server.log"


@pytest.fixture(scope="module")
def client(server_log: Path) -> Iterator[LLMClient]:
    from trex.llm.llamacpp import LlamaCppServer, builtin_gguf

    try:
        gguf = builtin_gguf()
    except FileNotFoundError as err:
        pytest.skip(str(err))
    with LlamaCppServer(gguf, ALIAS, n_ctx=2048, n_threads=2, log_path=server_log) as server:
        yield LLMClient(server.base_url, ALIAS, mode=StructuredMode.LLAMACPP, temperature=0.0,
                        max_tokens=4, max_retries=0, timeout_s=60.0)


def compiles(client: LLMClient, schema: dict, name: str, server_log: Path) -> None:
    """llama.cpp's converter takes the schema as is (it would silently fall back to any JSON on an
    error), and the server answers a constrained request and then its model list."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    assert json_schema_to_gbnf(json.dumps(inline_refs(schema))).strip()
    reply = client.complete_json(ASK, schema, name=name, seed=0)
    assert reply.usage.calls == 1 and reply.usage.completion_tokens > 0
    client.check()
    assert "failed to parse grammar" not in server_log.read_text(errors="replace")


@pytest.mark.parametrize("name", ftbench.list_tasks())
def test_proposal_schema_of_every_task_compiles(client: LLMClient, server_log: Path, name: str) -> None:
    compiles(client, proposal_schema(3, task_kinds(name)), "experiments", server_log)


@pytest.mark.parametrize("label", [n for n in reply_schemas((), 1) if n not in ("experiments", "retry")])
def test_every_other_reply_schema_compiles(client: LLMClient, server_log: Path, label: str) -> None:
    compiles(client, reply_schemas((), 1)[label], label, server_log)


def test_a_schema_that_would_crash_the_server_is_refused_and_the_server_lives(client: LLMClient) -> None:
    with pytest.raises(LLMSchemaError, match=r"experiments.items.data.kinds.items: empty enum"):
        client.complete_json(ASK, empty_enum_schema(), name="experiments")
    client.check()


def test_a_crashed_llamacpp_server_is_restarted_and_answers_again(tmp_path: Path) -> None:
    """The crash the issue saw (a segfault), on the real server: noticed, logged, restarted on the
    same URL, and the next constrained request succeeds."""
    import os
    import signal
    import time

    from trex.llm.llamacpp import LlamaCppServer, builtin_gguf

    with LlamaCppServer(builtin_gguf(), ALIAS, n_ctx=2048, n_threads=2, log_path=tmp_path / "server.log") as server:
        client = LLMClient(server.base_url, ALIAS, mode=StructuredMode.LLAMACPP, temperature=0.0, max_tokens=4,
                           timeout_s=60.0)
        os.kill(server.process.pid, signal.SIGSEGV)
        deadline = time.monotonic() + 30
        while not server.supervisor.deaths and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.supervisor.deaths[0].how == "killed by SIGSEGV"
        assert server.supervisor.wait_up(60)
        reply = client.complete_json(ASK, reply_schemas((), 1)["insights"], name="insights", seed=0)
        assert reply.usage.completion_tokens > 0 and server.supervisor.generation == 1
