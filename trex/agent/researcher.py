"""The Researcher: asks the LLM for K child experiments of a node and validates them.

Nothing is clamped: an invalid proposal is retried once with its validation error in the
prompt, then dropped with a logged reason.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from trex.agent.prompts import TaskCard, render_propose, render_retry
from trex.llm.client import LLMClient
from trex.tree.records import ExperimentSpec, InitFrom, LLMUsage
from trex.tree.memory import build_memory
from trex.tree.store import Tree

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Proposal:
    specs: list[ExperimentSpec]
    rejected: list[str] = field(default_factory=list)   # one reason per dropped proposal
    usage: LLMUsage = LLMUsage()


def proposal_schema(k: int, kinds: tuple[str, ...]) -> dict[str, Any]:
    """JSON schema of the reply: exactly k ExperimentSpecs, kinds limited to the task's."""
    spec = ExperimentSpec.model_json_schema()
    spec["$defs"]["DataRecipe"]["properties"]["kinds"]["items"] = {"type": "string", "enum": list(kinds)}
    spec["$defs"]["Direction"]["enum"] = [d for d in spec["$defs"]["Direction"]["enum"] if d != "baseline"]
    defs = spec.pop("$defs")
    return {"type": "object", "$defs": {**defs, "ExperimentSpec": spec},
            "properties": {"experiments": {"type": "array", "minItems": k, "maxItems": k,
                                           "items": {"$ref": "#/$defs/ExperimentSpec"}}},
            "required": ["experiments"]}


def spec_key(spec: ExperimentSpec, parent_id: str | None = None) -> str:
    """Canonical hash of what an experiment does (data + training), ignoring its prose.

    A warm start continues a particular parent's adapter, so then the parent is part of it."""
    warm = spec.train.init_from is InitFrom.PARENT
    body = json.dumps({"data": spec.data.model_dump(mode="json"), "train": spec.train.model_dump(mode="json"),
                       "parent": parent_id if warm else None}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def parse_proposals(text: str, kinds: tuple[str, ...], known: set[str],
                    max_samples: int | None = None, parent_id: str | None = None) -> tuple[list[ExperimentSpec], list[str]]:
    """Valid, new specs from a reply, and one reason for each item rejected."""
    try:
        data = json.loads(text, strict=False)   # raw newlines inside strings are harmless
    except json.JSONDecodeError as err:
        return [], [f"reply is not valid JSON ({err.msg} at char {err.pos})"]
    items = data.get("experiments") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return [], ['reply must be an object {"experiments": [...]} holding a list']
    specs: list[ExperimentSpec] = []
    errors: list[str] = []
    seen = set(known)
    for i, item in enumerate(items):
        try:
            spec = ExperimentSpec.model_validate(item, context={"kinds": kinds, "proposal": True,
                                                                     "max_samples": max_samples})
        except ValidationError as err:
            issues = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()[:6])
            errors.append(f"experiment {i + 1}: {issues}")
            continue
        key = spec_key(spec, parent_id)
        if key in seen:
            errors.append(f"experiment {i + 1}: same data and training settings as an existing experiment")
            continue
        seen.add(key)
        specs.append(spec)
    return specs, errors


class Researcher:
    def __init__(self, client: LLMClient, card: TaskCard, k: int, log_path: Path | None = None,
                 memory_tokens: int = 1500) -> None:
        self.client, self.card, self.k, self.log_path = client, card, k, log_path
        self.memory_tokens = memory_tokens
        self.max_samples = card.max_train_samples

    def propose(self, tree: Tree, node_id: str, seed: int) -> Proposal:
        """Up to k validated children for `node_id`, with reasons for those dropped."""
        memory = build_memory(tree, node_id, self.memory_tokens).render()
        messages = render_propose(self.card, memory, tree[node_id], tree.children(node_id), self.k)
        schema = proposal_schema(self.k, self.card.kinds)
        known = {spec_key(n.spec, n.parent_id) for n in tree}
        reply = self.client.complete_json(messages, schema, name="experiments", seed=seed)
        self._log(node_id, messages, reply.text)
        specs, errors = parse_proposals(reply.text, self.card.kinds, known, self.max_samples, node_id)
        usage = reply.usage
        missing = self.k - len(specs)
        if errors and missing > 0:
            retry = render_retry(messages, reply.text, errors, missing)
            second = self.client.complete_json(retry, proposal_schema(missing, self.card.kinds),
                                               name="experiments", seed=seed + 1)
            self._log(node_id, retry, second.text)
            usage = usage + second.usage
            known |= {spec_key(s, node_id) for s in specs}
            more, errors = parse_proposals(second.text, self.card.kinds, known, self.max_samples, node_id)
            specs += more[:missing]
        for reason in errors:
            log.warning("proposal for %s dropped: %s", node_id, reason)
        return Proposal(specs=specs[: self.k], rejected=errors, usage=usage)

    def _log(self, node_id: str, messages: list[dict[str, str]], reply: str) -> None:
        if self.log_path is None:
            return
        with open(self.log_path, "a") as fh:
            fh.write(json.dumps({"node": node_id, "messages": messages, "reply": reply}) + "\n")
