"""Prompts of the Researcher's planning steps: the research brief, insight distillation, the
research-tool loop, and the context sections they add to the propose prompt."""
from __future__ import annotations

from dataclasses import dataclass

from trex.agent.notes import Insight, ResearchBrief, ToolNote
from trex.prompts.propose import SYSTEM, TaskCard

TOOL_HELP = (
    "literature_search (query: keywords; papers from arXiv), dataset_search (query: keywords; datasets on the "
    "Hugging Face Hub), dataset_card (query: a Hub dataset id owner/name), dataset_rows (query: a Hub dataset "
    "id; a few example rows), done (stop and propose; query may be empty)"
)


@dataclass(frozen=True)
class ProposeExtras:
    """What the planning steps add to a propose prompt; empty parts are left out."""

    brief: ResearchBrief | None = None
    insights: tuple[Insight, ...] = ()
    notes: tuple[ToolNote, ...] = ()
    sampler: str = ""      # what the numeric sampler has learned (best region, knob importance)


def _task_lines(card: TaskCard) -> list[str]:
    return [f"Task: {card.name}. Metric: {card.metric} on the dev split (higher is better). "
            f"Model being fine-tuned: {card.base_model} with LoRA.", card.description.strip()]


def render_brief(card: TaskCard) -> list[dict[str, str]]:
    """Ask for a short research brief before the first experiment."""
    parts = [*_task_lines(card),
             "Before any experiment runs, write a short research brief for fine-tuning this model on this task: "
             "up to 3 goals (what a good fine-tune must get right), up to 3 risks (what could go wrong: "
             "overfitting, format errors, contamination...), and up to 3 promising directions to try first. "
             "One short sentence each.",
             'Answer as {"goals": [...], "risks": [...], "directions": [...]}.']
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n".join(parts)}]


def render_insights(card: TaskCard, finished: list[str], previous: list[Insight]) -> list[dict[str, str]]:
    """Ask for up to 3 lessons from the finished experiments, each citing its node ids."""
    parts = [*_task_lines(card), "Finished experiments (node id, changes against the parent, outcome):", *finished]
    if previous:
        parts += ["Lessons already drawn (refine or replace them):", *insight_lines(previous)]
    parts += ["Draw up to 3 lessons from these results that should guide the next experiments. Each lesson is "
              "one sentence and cites the node ids (e.g. n0003) whose results support it; cite only ids listed "
              "above.", 'Answer as {"insights": [{"lesson": "...", "nodes": ["n0001", ...]}, ...]}.']
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n".join(parts)}]


def render_tool_step(card: TaskCard, memory: str, parent_id: str, notes: list[ToolNote],
                     remaining: int) -> list[dict[str, str]]:
    """One step of the research-tool loop: pick a tool and a query, or stop."""
    parts = [*_task_lines(card)]
    if memory:
        parts += ["What the search has tried so far:", memory]
    if notes:
        parts += ["Your research so far:", *note_lines(notes)]
    parts += [f"Before proposing experiments that refine {parent_id}, you may look up papers and training "
              f"datasets. Tools: {TOOL_HELP}. You have {remaining} tool call(s) left. Use a tool only when it "
              "may change what you propose.",
              'Answer as {"tool": "<tool name>", "query": "..."}.']
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n".join(parts)}]


def brief_lines(brief: ResearchBrief) -> list[str]:
    return (["Research brief (written at the start of the search):"]
            + [f"- goal: {g}" for g in brief.goals] + [f"- risk: {r}" for r in brief.risks]
            + [f"- direction: {d}" for d in brief.directions])


def insight_lines(insights: list[Insight] | tuple[Insight, ...]) -> list[str]:
    return [f"- {i.lesson} (from {i.source}: {', '.join(i.node_ids)})" for i in insights]


def note_lines(notes: list[ToolNote] | tuple[ToolNote, ...]) -> list[str]:
    return [f"- {n.tool}({n.query!r}):\n{n.answer}" for n in notes]


def extras_lines(extras: ProposeExtras) -> list[str]:
    """The propose prompt's sections for the brief, the insights and the tool notes."""
    lines: list[str] = []
    if extras.brief is not None:
        lines += brief_lines(extras.brief)
    if extras.insights:
        lines += ["Lessons from finished experiments:", *insight_lines(extras.insights)]
    if extras.notes:
        lines += ["Your research notes (tool calls made before this proposal):", *note_lines(extras.notes)]
    if extras.sampler:
        lines += [extras.sampler + " Decide what to change; the sampler sets the values of the numeric "
                  "settings you change (learning rate, epochs, max_samples, LoRA rank)."]
    return lines
