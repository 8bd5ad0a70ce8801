"""The Researcher: asks the LLM for K child experiments of a node and validates them; writes a
research brief at the root, diagnoses finished nodes and distills insights every few of them.

Nothing is clamped: an invalid proposal is retried once with its validation error in the
prompt, then dropped with a logged reason. Planning calls that fail (brief, insights, tools)
cost only themselves, never the search.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import openai
from pydantic import ValidationError

from trex.agent.notes import Insight, InsightBook, ResearchBrief, ToolNote
from trex.agent.reflect import (
    diagnose_node,
    earlier_insights,
    insights_schema,
    load_book,
    parse_brief,
    parse_insights,
    save_book,
)
from trex.agent.similarity import most_similar
from trex.agent.sources import SourceRules, check_recipe
from trex.agent.tools import ResearchTools, Tool, action_schema
from trex.config import ResearcherConfig
from trex.llm.client import LLMClient, LLMUnavailable
from trex.prompts import TaskCard, render_propose, render_retry
from trex.prompts.research import ProposeExtras, extras_lines, render_brief, render_insights, render_tool_step
from trex.search.contracts import Finished, Proposal, ProposalFailed
from trex.tree.describe import spec_key
from trex.tree.memory import build_memory, summarize
from trex.tree.records import ExperimentSpec, LLMUsage
from trex.tree.store import Tree, write_json

log = logging.getLogger(__name__)


def proposal_schema(k: int, kinds: tuple[str, ...]) -> dict[str, Any]:
    """JSON schema of the reply: exactly k ExperimentSpecs, kinds limited to the task's; always []
    for a task without kinds (an empty enum admits nothing, and llama.cpp's grammar fails on it)."""
    spec = ExperimentSpec.model_json_schema()
    recipe_kinds = spec["$defs"]["DataRecipe"]["properties"]["kinds"]
    if kinds:
        recipe_kinds["items"] = {"type": "string", "enum": list(kinds)}
    else:
        recipe_kinds["maxItems"] = 0
    spec["$defs"]["Direction"]["enum"] = [d for d in spec["$defs"]["Direction"]["enum"] if d != "baseline"]
    defs = spec.pop("$defs")
    return {"type": "object", "$defs": {**defs, "ExperimentSpec": spec},
            "properties": {"experiments": {"type": "array", "minItems": k, "maxItems": k,
                                           "items": {"$ref": "#/$defs/ExperimentSpec"}}},
            "required": ["experiments"]}


def reply_schemas(kinds: tuple[str, ...], k: int) -> dict[str, dict[str, Any]]:
    """Every reply schema the Researcher and the LLM data operators send, by name (for checks)."""
    from trex.data.llm_ops import NEW_SCHEMA, REWRITE_SCHEMA, SCORE_SCHEMA  # loads `datasets`

    return {"experiments": proposal_schema(k, kinds), "retry": proposal_schema(1, kinds),
            "brief": ResearchBrief.schema_for_llm(), "research_tool": action_schema(),
            "insights": insights_schema(), "synthesize_new": NEW_SCHEMA, "synthesize_rewrite": REWRITE_SCHEMA,
            "llm_score": SCORE_SCHEMA}


Existing = list[tuple[str, ExperimentSpec, str | None]]   # (node id, spec, parent id)


def inherit(item: dict[str, Any], parent: ExperimentSpec) -> dict[str, Any]:
    """A proposal's data and train settings on top of its parent's: what it leaves out is kept.
    (A small LLM often sends only the fields it changes, or none; schema defaults would silently
    reset the rest: 128 examples, 1 epoch.)"""
    base = parent.model_dump(mode="json")
    out = dict(item)
    for part in ("data", "train"):
        given = item.get(part)
        if given is None or isinstance(given, dict):
            out[part] = {**base[part], **(given or {})}
    return out


def parse_proposals(text: str, kinds: tuple[str, ...], known: set[str],
                    max_samples: int | None = None, parent_id: str | None = None, *,
                    rules: SourceRules | None = None, existing: Existing | None = None,
                    threshold: float = 1.0, duplicates: list[ExperimentSpec] | None = None,
                    parent: ExperimentSpec | None = None) -> tuple[list[ExperimentSpec], list[str]]:
    """Valid, new specs from a reply, and one reason for each item rejected. Data and training
    settings an item leaves out are the `parent`'s (an edit, not a reset to the model defaults).
    Valid specs rejected only for repeating an experiment are also appended to `duplicates`."""
    try:
        data = json.loads(text, strict=False)   # raw newlines inside strings are harmless
    except (json.JSONDecodeError, RecursionError) as err:
        where = f" ({err.msg} at char {err.pos})" if isinstance(err, json.JSONDecodeError) else ""
        return [], [f"reply is not valid JSON{where}"]
    items = data.get("experiments") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return [], ['reply must be an object {"experiments": [...]} holding a list']
    specs: list[ExperimentSpec] = []
    errors: list[str] = []
    seen = set(known)
    others: Existing = list(existing or [])
    for i, item in enumerate(items):
        if parent is not None and isinstance(item, dict):
            item = inherit(item, parent)
        try:
            spec = ExperimentSpec.model_validate(item, context={"kinds": kinds, "proposal": True,
                                                                     "max_samples": max_samples})
        except ValidationError as err:
            issues = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()[:6])
            errors.append(f"experiment {i + 1}: {issues}")
            continue
        if rules is not None and (bad := check_recipe(spec.data, rules)):
            errors.append(f"experiment {i + 1}: " + "; ".join(bad))
            continue
        key = spec_key(spec, parent_id)
        if key in seen:
            errors.append(f"experiment {i + 1}: same data and training settings as an existing experiment")
            if duplicates is not None:
                duplicates.append(spec)
            continue
        if threshold < 1.0:
            sim, twin = most_similar(spec, parent_id, others)
            if sim >= threshold:
                errors.append(f"experiment {i + 1}: nearly the same settings as {twin} (similarity {sim:.3f} >= "
                              f"{threshold:g}); change at least one setting substantially")
                if duplicates is not None:
                    duplicates.append(spec)
                continue
        seen.add(key)
        others.append((f"experiment {i + 1}", spec, parent_id))
        specs.append(spec)
    return specs, errors


class Researcher:
    def __init__(self, client: LLMClient, card: TaskCard, k: int, log_path: Path | None = None,
                 memory_tokens: int = 1500, *, config: ResearcherConfig = ResearcherConfig(),
                 rules: SourceRules | None = None, tools: ResearchTools | None = None,
                 run_dir: Path | None = None, retry_invalid: bool = True) -> None:
        self.retry_invalid = retry_invalid   # False when a sampler repairs or replaces what was dropped
        self.client, self.card, self.k, self.log_path = client, card, k, log_path
        self.memory_tokens, self.config, self.rules, self.tools = memory_tokens, config, rules, tools
        self.max_samples = card.max_train_samples
        self.run_dir = run_dir
        self.brief: ResearchBrief | None = None
        self.book = InsightBook()
        self.earlier: list[Insight] = earlier_insights(config.insights_from)

    # -- the root ------------------------------------------------------------------
    def start(self, root_id: str, seed: int) -> LLMUsage:
        """Load (on resume) or write the research brief, and load this run's insights."""
        if self.run_dir is not None:
            self.book = load_book(self.run_dir / "insights.json")
            path = self.run_dir / "brief.json"
            if path.is_file():
                self.brief, _ = parse_brief(path.read_text())
                return LLMUsage()
        if not self.config.brief:
            return LLMUsage()
        messages = render_brief(self.card)
        try:
            reply = self.client.complete_json(messages, ResearchBrief.schema_for_llm(), name="brief", seed=seed)
        except (LLMUnavailable, openai.OpenAIError) as err:
            log.warning("research brief skipped: %s", err)
            return LLMUsage()
        self._log(root_id, "brief", messages, reply.text)
        self.brief, why = parse_brief(reply.text)
        if self.brief is None:
            log.warning("research brief dropped: %s", why)
        elif self.run_dir is not None:
            write_json(self.run_dir / "brief.json", self.brief.model_dump(mode="json"))
        return reply.usage

    # -- proposing -----------------------------------------------------------------
    def propose(self, tree: Tree, node_id: str, seed: int, hint: str = "") -> Proposal:
        """Up to k validated children for `node_id`, with reasons for those dropped; `hint` is what
        the numeric sampler has learned. Raises ProposalFailed when the LLM endpoint fails."""
        try:
            return self._propose(tree, node_id, seed, hint)
        except (LLMUnavailable, openai.OpenAIError) as err:
            raise ProposalFailed(str(err)) from err

    def _propose(self, tree: Tree, node_id: str, seed: int, hint: str) -> Proposal:
        memory = ""
        if self.config.memory == "full":
            memory = build_memory(tree, node_id, self.memory_tokens, diagnose=self.config.diagnose).render()
        notes, usage = self._research(memory, node_id, seed)
        extras = extras_lines(ProposeExtras(self.brief, tuple(self.insights()), tuple(notes), hint))
        messages = render_propose(self.card, memory, tree[node_id], tree.children(node_id), self.k, extras)
        existing: Existing = [(n.id, n.spec, n.parent_id) for n in tree]
        repeats: list[ExperimentSpec] = []
        checks: dict[str, Any] = {"rules": self.rules, "existing": existing,
                                  "threshold": self.config.similarity_threshold, "duplicates": repeats}
        known = {spec_key(n.spec, n.parent_id) for n in tree}
        reply = self.client.complete_json(messages, proposal_schema(self.k, self.card.kinds),
                                          name="experiments", seed=seed)
        self._log(node_id, "propose", messages, reply.text)
        checks["parent"] = tree[node_id].spec
        specs, errors = parse_proposals(reply.text, self.card.kinds, known, self.max_samples, node_id, **checks)
        usage = usage + reply.usage
        missing = self.k - len(specs)
        if errors and missing > 0 and self.retry_invalid:
            retry = render_retry(messages, reply.text, errors, missing)
            second = self.client.complete_json(retry, proposal_schema(missing, self.card.kinds),
                                               name="experiments", seed=seed + 1)
            self._log(node_id, "retry", retry, second.text)
            usage = usage + second.usage
            known |= {spec_key(s, node_id) for s in specs}
            existing += [(f"proposed {i + 1}", s, node_id) for i, s in enumerate(specs)]
            more, errors = parse_proposals(second.text, self.card.kinds, known, self.max_samples, node_id, **checks)
            specs += more[:missing]
        for reason in errors:
            log.warning("proposal for %s dropped: %s", node_id, reason)
        return Proposal(specs=specs[: self.k], rejected=errors, usage=usage, duplicates=repeats)

    def _research(self, memory: str, node_id: str, seed: int) -> tuple[list[ToolNote], LLMUsage]:
        """The bounded tool loop: the LLM picks a tool and a query, or stops."""
        notes: list[ToolNote] = []
        usage = LLMUsage()
        if self.tools is None or not self.config.tools:
            return notes, usage
        if self.tools.offline:   # every tool would answer from the catalog: show it, spend no LLM call
            return [ToolNote(tool="catalog", query="(offline)", answer=self.tools.from_catalog(""))], usage
        for step in range(self.config.max_tool_calls):
            messages = render_tool_step(self.card, memory, node_id, notes, self.config.max_tool_calls - step)
            reply = self.client.complete_json(messages, action_schema(), name="research_tool", seed=seed + 1000 + step)
            self._log(node_id, "tool", messages, reply.text)
            usage = usage + reply.usage
            try:
                action = json.loads(reply.text, strict=False)
                tool, query = Tool(action["tool"]), str(action.get("query", ""))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as err:
                log.info("research loop for %s stopped: unusable tool step (%s)", node_id, err)
                break
            if tool is Tool.DONE:
                break
            notes.append(ToolNote(tool=tool.value, query=query[:200], answer=self.tools.call(tool, query)))
        return notes, usage

    # -- after a node --------------------------------------------------------------
    def insights(self) -> list[Insight]:
        """Lessons shown in propose prompts: this run's latest, then an earlier run's."""
        return self.book.insights[-3:] + self.earlier

    def on_finished(self, tree: Tree, node_id: str, seed: int) -> Finished:
        """Diagnose the node (no LLM) and, every `insights_every` finished nodes, distill insights."""
        diagnosis = None
        if self.config.diagnose:
            try:
                diagnosis = diagnose_node(tree, node_id)
            except (OSError, ValueError, KeyError, TypeError) as err:
                log.warning("diagnosis of %s failed: %s", node_id, err)
        finished = sum(n.done for n in tree)
        every = self.config.insights_every
        if not every or finished < 2 or finished % every or finished in self.book.distilled_at:
            return Finished(diagnosis)
        return Finished(diagnosis, self._distill(tree, node_id, finished, seed))

    def _distill(self, tree: Tree, node_id: str, finished: int, seed: int) -> LLMUsage:
        lines = [summarize(tree, n) for n in tree if n.done]
        messages = render_insights(self.card, lines, self.book.insights[-3:])
        try:
            reply = self.client.complete_json(messages, insights_schema(), name="insights", seed=seed)
        except (LLMUnavailable, openai.OpenAIError) as err:
            log.warning("insights skipped: %s", err)
            return LLMUsage()
        self._log(node_id, "insights", messages, reply.text)
        kept, dropped = parse_insights(reply.text, {n.id for n in tree}, finished)
        for reason in dropped:
            log.warning("insight dropped: %s", reason)
        self.book = InsightBook(insights=self.book.insights + [i for i in kept if i.node_ids],
                                distilled_at=[*self.book.distilled_at, finished])
        if self.run_dir is not None:
            save_book(self.run_dir / "insights.json", self.book)
        return reply.usage

    def _log(self, node_id: str, purpose: str, messages: list[dict[str, str]], reply: str) -> None:
        """Append the call to the run's llm-calls.jsonl and to the node folder's (API keys redacted)."""
        line = self.client.redact(json.dumps({"node": node_id, "purpose": purpose, "messages": messages,
                                              "reply": reply})) + "\n"
        paths = [self.log_path] if self.log_path is not None else []
        if self.run_dir is not None:
            paths.append(self.run_dir / "nodes" / node_id / "llm-calls.jsonl")
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a") as fh:
                fh.write(line)
