"""The Researcher's own records: the research brief, distilled insights, research-tool notes."""
from __future__ import annotations

from typing import Annotated

from pydantic import Field

from trex.llm.schema_lint import reply_schema
from trex.tree.records import Frozen

Line = str
Point = Annotated[str, Field(min_length=3, max_length=200)]


class ResearchBrief(Frozen):
    """Written once at the root from the task card; shown in every propose prompt (brief.json)."""

    goals: list[Point] = Field(min_length=1, max_length=3)
    risks: list[Point] = Field(min_length=1, max_length=3)
    directions: list[Point] = Field(min_length=1, max_length=3)

    @classmethod
    def schema_for_llm(cls) -> dict:
        return reply_schema(cls)


class Insight(Frozen):
    """A lesson from finished nodes, with the nodes that support it and where it comes from."""

    lesson: str = Field(min_length=3, max_length=300)
    node_ids: list[str] = Field(min_length=1)
    source: str = "this run"        # "this run" or an earlier run's folder
    after_nodes: int = 0            # finished nodes when it was distilled


class InsightBook(Frozen):
    """insights.json: every lesson distilled in this run, oldest first."""

    insights: list[Insight] = Field(default_factory=list)
    distilled_at: list[int] = Field(default_factory=list)   # finished-node counts that triggered a distillation


class ToolNote(Frozen):
    """One research-tool call and its (trimmed) answer, shown in the propose prompt."""

    tool: str
    query: str
    answer: str
