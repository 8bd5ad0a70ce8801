"""Every reply schema, for every task, is valid JSON Schema that llama.cpp can turn into a grammar;
a schema it cannot is refused before any request, and a server's schema error is named as such."""
from __future__ import annotations

import json

import openai
import pytest
from jsonschema import Draft202012Validator

import ftbench
from tests.conftest import reply, spec_json
from trex.agent.researcher import parse_proposals, proposal_schema, reply_schemas
from trex.llm.client import LLMClient, LLMSchemaError, LLMUnavailable, StructuredMode
from trex.llm.schema_lint import schema_problems
from trex.llm.scripted import ScriptedEndpoint, ScriptedHTTPError

OPTIONS = {"custom": {"source": "fixture"}}   # every other task builds with its defaults


def task_kinds(name: str) -> tuple[str, ...]:
    try:
        return tuple(ftbench.get_task(name, **OPTIONS.get(name, {})).kinds)
    except (ftbench.SourceUnavailable, ImportError, OSError) as err:
        pytest.skip(f"task {name!r} cannot be built here: {err}")


@pytest.mark.parametrize("name", ftbench.list_tasks())
def test_every_reply_schema_of_every_task_is_servable(name: str) -> None:
    kinds = task_kinds(name)
    for label, schema in reply_schemas(kinds, k=3).items():
        assert schema_problems(schema) == [], label
        Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("name", ftbench.list_tasks())
def test_a_valid_reply_fits_the_schema_and_the_parser(name: str) -> None:
    kinds = task_kinds(name)
    second = spec_json("second", epochs=2)
    second["data"]["kinds"] = list(kinds[:1])
    text = reply(spec_json("first"), second)
    Draft202012Validator(proposal_schema(2, kinds)).validate(json.loads(text))
    specs, errors = parse_proposals(text, kinds, set())
    assert len(specs) == 2 and errors == []


@pytest.mark.parametrize("kinds", [(), ("add", "multiply")])
def test_a_kind_outside_the_task_is_refused_by_the_schema(kinds: tuple[str, ...]) -> None:
    bad = spec_json("other kind")
    bad["data"]["kinds"] = ["no_such_kind"]
    assert not Draft202012Validator(proposal_schema(1, kinds)).is_valid(json.loads(reply(bad)))


def empty_enum_schema() -> dict:
    """The schema that crashed llama.cpp's server: a task without kinds, as it used to be built."""
    schema = proposal_schema(2, ("x",))
    schema["$defs"]["DataRecipe"]["properties"]["kinds"]["items"]["enum"] = []
    return schema


@pytest.mark.parametrize("schema, problem", [
    (empty_enum_schema(), "experiments.items.data.kinds.items: empty enum"),
    ({"type": "object", "properties": {"a": {"anyOf": []}}}, "a: empty anyOf"),
    ({"type": "array", "items": {"type": []}}, "items: empty type"),
    ({"type": "array", "items": {"type": "text"}}, "items: unknown type 'text'"),
    ({"type": "array", "items": {}, "maxItems": 0}, "(root): empty items"),
    ({"properties": {"a": {"not": {"type": "null"}}}}, "a: 'not' is not supported"),
    ({"type": "array", "minItems": 3, "maxItems": 2}, "(root): minItems=3 > maxItems=2"),
    ({"properties": {"s": {"type": "string", "pattern": "[a-z]+"}}}, "s: pattern '[a-z]+' must start with ^"),
    ({"properties": {"a": {"$ref": "#/$defs/Missing"}}}, "a: unresolved $ref '#/$defs/Missing'"),
    ({"$defs": {"N": {"properties": {"next": {"$ref": "#/$defs/N"}}}}, "$ref": "#/$defs/N"},
     "next: recursive $ref"),
])
def test_schema_problems_name_the_path(schema: dict, problem: str) -> None:
    assert any(p.startswith(problem) for p in schema_problems(schema)), schema_problems(schema)


def test_complete_json_refuses_a_bad_schema_before_sending() -> None:
    with ScriptedEndpoint(lambda body: "{}") as endpoint:
        client = LLMClient(endpoint.base_url, "scripted", mode=StructuredMode.LLAMACPP, max_retries=0)
        with pytest.raises(LLMSchemaError, match=r"is invalid at experiments\.items\.data\.kinds\.items: "
                                                 r"empty enum"):
            client.complete_json([{"role": "user", "content": "hi"}], empty_enum_schema(), name="experiments")
    assert endpoint.requests == []


@pytest.mark.parametrize("status, message", [
    (400, "Invalid schema for response_format 'experiments'"),
    (500, "error parsing grammar: expecting name at experiments-item-data-kinds"),
])
def test_a_server_schema_error_is_a_schema_error_not_retried(status: int, message: str) -> None:
    def refuse(body: dict) -> str:
        raise ScriptedHTTPError(status, message)

    with ScriptedEndpoint(refuse) as endpoint:
        client = LLMClient(endpoint.base_url, "scripted", max_retries=2, backoff_s=0.01)
        with pytest.raises(LLMSchemaError, match=f"HTTP {status}.*{message[:20]}") as caught:
            client.complete_json([{"role": "user", "content": "hi"}], {"type": "object"})
    assert len(endpoint.requests) == 1
    assert isinstance(caught.value, LLMUnavailable) and "unreachable" not in str(caught.value)


def test_other_server_errors_keep_their_type_and_retries() -> None:
    def fail(body: dict) -> str:
        raise ScriptedHTTPError(500, "out of memory")

    with ScriptedEndpoint(fail) as endpoint:
        client = LLMClient(endpoint.base_url, "scripted", max_retries=1, backoff_s=0.01)
        with pytest.raises(openai.InternalServerError):
            client.complete_json([{"role": "user", "content": "hi"}], {"type": "object"})
    assert len(endpoint.requests) == 2
