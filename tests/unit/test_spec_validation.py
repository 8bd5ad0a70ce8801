"""What the Researcher accepts from an LLM, and the one retry with the validation error."""
import json

import pytest

from tests.conftest import reply, spec_json
from trex.agent.researcher import Researcher, parse_proposals, proposal_schema, spec_key
from trex.llm.client import LLMClient, inline_refs
from trex.llm.scripted import ScriptedEndpoint
from trex.prompts import TaskCard
from trex.search.core import baseline_spec
from trex.tree.records import ExperimentSpec, NodeStatus, RunResult
from trex.tree.store import Tree

KINDS = ("add", "subtract", "multiply", "two_step")


def parse(text: str, known: set[str] | None = None):
    return parse_proposals(text, KINDS, known or set())


def test_valid_reply_parses() -> None:
    specs, errors = parse(reply(spec_json("a b c"), spec_json("d e f", learning_rate=1e-4)))
    assert len(specs) == 2 and errors == []
    assert specs[1].train.learning_rate == 1e-4


@pytest.mark.parametrize("text, message", [
    ("not json at all", "not valid JSON"),
    ('{"experiments": [', "not valid JSON"),
    ('[1, 2]', "must be an object"),
    ('{"experiments": {"a": 1}}', "must be an object"),
])
def test_malformed_replies_are_rejected_with_a_reason(text: str, message: str) -> None:
    specs, errors = parse(text)
    assert specs == [] and len(errors) == 1 and message in errors[0]


@pytest.mark.parametrize("mutate, message", [
    (lambda s: s["train"].update(learning_rate=0.5), "learning_rate"),
    (lambda s: s["train"].update(learning_rate=1.7e-4), "learning_rate=0.00017 is not on the grid"),
    (lambda s: s["train"].update(epochs=0), "epochs"),
    (lambda s: s["train"].update(lora_r="sixteen"), "lora_r"),
    (lambda s: s["train"].update(method="ppo"), "method"),
    (lambda s: s["data"].update(kinds=["division"]), "unknown kinds ['division']"),
    (lambda s: s["data"].update(max_samples=10**9), "max_samples"),
    (lambda s: s.update(direction="baseline"), "reserved for the root"),
    (lambda s: s.update(direction="vibes"), "direction"),
    (lambda s: s.update(favourite_colour="blue"), "favourite_colour"),
    (lambda s: s.pop("objective"), "objective"),
])
def test_out_of_range_wrong_type_and_hallucinated_fields_are_rejected(mutate, message) -> None:
    bad = spec_json("bad one")
    mutate(bad)
    specs, errors = parse(reply(spec_json("good one"), bad))
    assert len(specs) == 1 and len(errors) == 1
    assert errors[0].startswith("experiment 2:") and message in errors[0]


def test_duplicates_of_the_tree_and_of_each_other_are_rejected() -> None:
    first = ExperimentSpec.model_validate(spec_json("one"))
    specs, errors = parse(reply(spec_json("one"), spec_json("two", epochs=2), spec_json("three", epochs=2)),
                          known={spec_key(first)})
    assert [s.objective for s in specs] == ["two"]
    assert len(errors) == 2 and all("same data and training settings" in e for e in errors)


def test_schema_offers_task_kinds_and_no_baseline() -> None:
    schema = inline_refs(proposal_schema(3, KINDS))
    item = schema["properties"]["experiments"]["items"]
    assert schema["properties"]["experiments"]["minItems"] == 3
    assert item["properties"]["data"]["properties"]["kinds"]["items"]["enum"] == list(KINDS)
    assert "baseline" not in item["properties"]["direction"]["enum"]
    assert "$ref" not in json.dumps(schema)


def researcher_against(responses: list[str]) -> tuple[Researcher, ScriptedEndpoint, Tree]:
    endpoint = ScriptedEndpoint(lambda body: responses[len(endpoint.requests) - 1])
    client = LLMClient(endpoint.base_url, "scripted", max_retries=0)
    card = TaskCard("math", "exact_match", "Arithmetic.", KINDS, "tiny")
    tree = Tree("math")
    root = tree.add(baseline_spec(), None, 0)
    tree.record(root.id, RunResult(status=NodeStatus.SUCCEEDED, score=0.1), 0.1, 1)
    return Researcher(client, card, k=2), endpoint, tree


def test_invalid_proposal_is_retried_once_with_the_error_in_the_prompt() -> None:
    bad = spec_json("too hot", learning_rate=3.0)
    researcher, endpoint, tree = researcher_against([reply(spec_json("fine"), bad),
                                                     reply(spec_json("fixed", learning_rate=3e-4))])
    with endpoint:
        proposal = researcher.propose(tree, "n0000", seed=0)
    assert [s.objective for s in proposal.specs] == ["fine", "fixed"]
    assert proposal.rejected == [] and proposal.usage.calls == 2
    retry_prompt = endpoint.requests[1]["messages"][-1]["content"]
    assert "learning_rate" in retry_prompt and "Send exactly 1 corrected" in retry_prompt
    schema = endpoint.requests[1]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["experiments"]["maxItems"] == 1


def test_twice_invalid_proposal_is_dropped_with_its_reason(caplog) -> None:
    bad = reply(spec_json("okay"), spec_json("still bad", epochs=99))
    researcher, endpoint, tree = researcher_against([bad, "garbage"])
    with endpoint:
        proposal = researcher.propose(tree, "n0000", seed=0)
    assert [s.objective for s in proposal.specs] == ["okay"]
    assert len(endpoint.requests) == 2
    assert proposal.rejected and "not valid JSON" in proposal.rejected[0]
    assert "dropped" in caplog.text


def test_warm_start_from_another_parent_is_not_a_duplicate() -> None:
    warm = ExperimentSpec.model_validate(spec_json("warm", init_from="parent"))
    cold = ExperimentSpec.model_validate(spec_json("cold"))
    assert spec_key(warm, "n0001") != spec_key(warm, "n0002")
    assert spec_key(cold, "n0001") == spec_key(cold, "n0002")


def test_run_limit_on_training_examples_is_enforced_not_clamped() -> None:
    big = spec_json("big data")
    big["data"]["max_samples"] = 5000
    specs, errors = parse_proposals(reply(big), KINDS, set(), max_samples=512)
    assert specs == [] and "max_samples=5000 exceeds this run's limit of 512" in errors[0]
