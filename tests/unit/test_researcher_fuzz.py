"""Fuzz the Researcher with broken LLM replies through the real HTTP path: it never crashes,
returns only valid specs, and gives a reason for every proposal it drops. Data sources that do
not exist or would leak held-out data are rejected, and the LLM reads why in its retry prompt."""
from __future__ import annotations

import copy
import json
import logging
import random
from pathlib import Path

import pytest

from tests.conftest import reply, spec_json
from trex.agent.researcher import Researcher
from trex.agent.sources import SourceRules, check_source, rules_for_task
from trex.config import ResearcherConfig
from trex.llm.client import LLMClient
from trex.llm.scripted import ScriptedEndpoint
from trex.prompts import TaskCard
from trex.search.core import baseline_spec
from trex.tree.records import ExperimentSpec, NodeStatus, RunResult, Source, SourceKind
from trex.tree.store import Tree

KINDS = ("add", "subtract", "multiply", "two_step")
HELDOUT_HUB = "someone/math-benchmark"


def tree_with_root() -> Tree:
    tree = Tree("math")
    root = tree.add(baseline_spec(), None, 0)
    tree.record(root.id, RunResult(status=NodeStatus.SUCCEEDED, score=0.1), 0.1, 1)
    return tree


def rules(tmp_path: Path) -> SourceRules:
    test_file = tmp_path / "test.jsonl"
    test_file.write_text('{"question": "1+1", "answer": "2"}\n')
    return SourceRules(task="math", heldout_hub_ids=(HELDOUT_HUB,), heldout_files=(str(test_file),), offline=True)


def with_source(**source: object) -> dict:
    spec = spec_json("new data", direction="more_data")
    spec["data"]["sources"] = [source]
    return spec


def mutate(rng: random.Random, spec: dict) -> dict:
    """One random corruption of a valid spec: wrong type, out of range, unknown key or value, removal."""
    spec = copy.deepcopy(spec)
    section = rng.choice(["data", "train", None])
    target = spec if section is None else spec[section]
    key = rng.choice(sorted(target))
    junk = [None, -1, 0, 10**12, 1e-30, float("nan"), "", "x" * 5000, [], {}, [1, "a"], True, "sixteen",
            {"op": "teleport"}, [{"op": "filter", "pattern": "("}], "ünïcødé ☃"]
    roll = rng.random()
    if roll < 0.6:
        target[key] = rng.choice(junk)
    elif roll < 0.8:
        target.pop(key)
    else:
        target[f"hallucinated_{rng.randrange(100)}"] = rng.choice(junk)
    return spec


def truncations(text: str, rng: random.Random, n: int) -> list[str]:
    return [text[: rng.randrange(1, len(text))] for _ in range(n)]


def fuzz_replies(tmp_path: Path, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    good = reply(spec_json("lr up", learning_rate=1e-3), spec_json("two epochs", epochs=2))
    fixed = ["", " ", "null", "42", '"text"', "[]", "{}", '{"experiments": null}', '{"experiments": "many"}',
             '{"experiments": [1, 2]}', '{"experiments": [null, []]}', '{"experiments": [{}]}',
             "[" * 5000 + "]" * 5000, '{"experiments": ' + "[" * 3000 + "]" * 3000 + "}",
             "```json\n" + good + "\n```", good[:-1], good + "garbage", "\x00\x01\x02",
             reply(spec_json("nan lr", learning_rate=float("nan")), spec_json("inf", epochs=float("inf"))),
             reply(spec_json("baseline again", direction="baseline"), spec_json("vibes", direction="vibes")),
             reply(*[spec_json(f"spam {i}", epochs=1 + i % 3) for i in range(50)])]
    hallucinated = [
        with_source(kind="file", name=str(tmp_path / "missing.jsonl")),
        with_source(kind="file", name=str(tmp_path / "test.jsonl")),
        with_source(kind="file", name="/etc/passwd"),
        with_source(kind="hub", name=HELDOUT_HUB),
        with_source(kind="hub", name="made-up/dataset-that-does-not-exist"),
        with_source(kind="hub", name="not a hub id!"),
        with_source(kind="task", name="test"),
        with_source(kind="task", name="math:dev"),
        with_source(kind="s3", name="bucket/key"),
    ]
    bad_kinds = spec_json("unknown kind")
    bad_kinds["data"]["kinds"] = ["division", "calculus"]
    out = fixed + [reply(h, spec_json("fine", epochs=3)) for h in hallucinated] + [reply(bad_kinds)]
    out += truncations(good, rng, 25)
    base = spec_json("base", learning_rate=1e-4)
    out += [reply(mutate(rng, base), mutate(rng, base)) for _ in range(60)]
    return out


def test_fuzzed_replies_never_crash_and_every_drop_has_a_reason(tmp_path: Path, caplog) -> None:
    replies = fuzz_replies(tmp_path)
    current = {"text": ""}
    endpoint = ScriptedEndpoint(lambda body: current["text"])
    client = LLMClient(endpoint.base_url, "scripted", max_retries=0)
    card = TaskCard("math", "exact_match", "Arithmetic.", KINDS, "tiny", max_train_samples=1000)
    researcher = Researcher(client, card, k=2, config=ResearcherConfig(similarity_threshold=0.98),
                            rules=rules(tmp_path))
    caplog.set_level(logging.WARNING)
    with endpoint:
        for i, text in enumerate(replies):
            current["text"] = text
            caplog.clear()
            proposal = researcher.propose(tree_with_root(), "n0000", seed=i)
            assert len(proposal.specs) <= 2
            for spec in proposal.specs:       # whatever passes is a valid, allowed experiment
                ExperimentSpec.model_validate(spec.model_dump(mode="json"), context={"kinds": KINDS, "proposal": True})
                assert all(s.kind is SourceKind.TASK for s in spec.data.sources) or spec.data.sources[0].name == ""
            if len(proposal.specs) < 2:
                assert proposal.rejected, f"reply {i} lost a proposal without a reason: {text[:200]!r}"
                assert all(r.strip() for r in proposal.rejected)
                assert "dropped" in caplog.text


@pytest.mark.parametrize("source, message", [
    ({"kind": "file", "name": "MISSING"}, "does not exist on this machine"),
    ({"kind": "file", "name": "TEST"}, "held-out dev/test data"),
    ({"kind": "hub", "name": HELDOUT_HUB}, "task's dev/test data comes from"),
    ({"kind": "hub", "name": "made-up/thing"}, "offline"),
    ({"kind": "task", "name": "test"}, "test split is held out"),
])
def test_disallowed_sources_are_rejected_and_the_llm_is_told_why(tmp_path: Path, source: dict, message: str) -> None:
    r = rules(tmp_path)
    name = {"MISSING": str(tmp_path / "nope.jsonl"), "TEST": r.heldout_files[0]}.get(source["name"], source["name"])
    bad = with_source(kind=source["kind"], name=name)
    replies = [reply(bad, spec_json("fine")), reply(spec_json("fixed", epochs=2))]
    endpoint = ScriptedEndpoint(lambda body: replies[len(endpoint.requests) - 1])
    card = TaskCard("math", "exact_match", "Arithmetic.", KINDS, "tiny")
    researcher = Researcher(LLMClient(endpoint.base_url, "scripted", max_retries=0), card, k=2, rules=r)
    with endpoint:
        proposal = researcher.propose(tree_with_root(), "n0000", seed=0)
    assert [s.objective for s in proposal.specs] == ["fine", "fixed"]
    retry_prompt = endpoint.requests[1]["messages"][-1]["content"]
    assert "experiment 1: data.sources[0]" in retry_prompt and message in retry_prompt


def test_an_existing_file_and_the_task_train_split_are_allowed(tmp_path: Path) -> None:
    extra = tmp_path / "extra.jsonl"
    extra.write_text('{"question": "2+2", "answer": "4"}\n')
    r = rules(tmp_path)
    assert check_source(Source(kind=SourceKind.FILE, name=str(extra)), r) is None
    assert check_source(Source(), r) is None
    assert check_source(Source(kind=SourceKind.TASK, name="math"), r) is None


def test_rules_for_an_ftbench_task_hold_back_its_hub_id_and_eval_files(tmp_path: Path) -> None:
    from ftbench import get_task

    class HubTask:
        name, source_url = "sst2", "https://huggingface.co/datasets/stanfordnlp/sst2"

    assert rules_for_task(HubTask()).heldout_hub_ids == ("stanfordnlp/sst2",)
    custom = get_task("custom", source="fixture")
    held = rules_for_task(custom).heldout_files
    assert len(held) == 2 and all(("dev" in h or "test" in h) for h in held)
    assert json.dumps(held)   # plain strings
