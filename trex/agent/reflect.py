"""Parsing and storage of the research brief and insights, and the node diagnosis's file IO.

Parsing is pure: a bad reply yields nothing and a reason, never an exception.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from trex import storage
from trex.agent.notes import Insight, InsightBook, ResearchBrief
from trex.llm.schema_lint import reply_schema
from trex.tree.diagnosis import diagnose
from trex.tree.records import Diagnosis, Frozen, NodeStatus
from trex.tree.store import Tree, write_json

log = logging.getLogger(__name__)
MAX_INSIGHTS = 3


class LessonReply(Frozen):
    lesson: str = Field(min_length=3, max_length=300)
    nodes: list[str] = Field(min_length=1, max_length=8)


class InsightsReply(Frozen):
    insights: list[LessonReply] = Field(max_length=MAX_INSIGHTS)


def insights_schema() -> dict[str, Any]:
    return reply_schema(InsightsReply)


def parse_brief(text: str) -> tuple[ResearchBrief | None, str]:
    """The brief in a reply, or None and why not."""
    try:
        return ResearchBrief.model_validate(json.loads(text, strict=False)), ""
    except (json.JSONDecodeError, ValidationError, TypeError) as err:
        return None, f"brief rejected: {str(err).splitlines()[0][:200]}"


def parse_insights(text: str, known_ids: set[str], finished: int) -> tuple[list[Insight], list[str]]:
    """Up to 3 lessons citing existing node ids (unknown ids are dropped; a lesson with none left is too)."""
    try:
        items = json.loads(text, strict=False).get("insights")
    except (json.JSONDecodeError, AttributeError) as err:
        return [], [f"insights reply is not a JSON object: {err}"]
    if not isinstance(items, list):
        return [], ['insights reply must be {"insights": [...]}']
    kept: list[Insight] = []
    dropped: list[str] = []
    for i, item in enumerate(items[:MAX_INSIGHTS]):
        if not isinstance(item, dict) or not isinstance(item.get("lesson"), str):
            dropped.append(f"insight {i + 1}: not an object with a lesson")
            continue
        cited: Any = item.get("nodes") if isinstance(item.get("nodes"), list) else []
        ids = [str(n) for n in cited if str(n) in known_ids]
        unknown = [str(n) for n in cited if str(n) not in known_ids]
        if unknown:
            dropped.append(f"insight {i + 1}: unknown node id(s) {unknown} dropped")
        try:
            kept.append(Insight(lesson=item["lesson"].strip(), node_ids=ids, after_nodes=finished))
        except ValidationError as err:
            dropped.append(f"insight {i + 1}: {err.errors()[0]['msg']}")
    return kept, dropped


def load_book(path: Path) -> InsightBook:
    try:
        return InsightBook.model_validate_json(path.read_text()) if path.is_file() else InsightBook()
    except ValidationError as err:
        log.warning("ignoring unreadable %s: %s", path, err)
        return InsightBook()


def earlier_insights(folder: str | None) -> list[Insight]:
    """The latest lessons of an earlier run, labelled with its folder."""
    if not folder:
        return []
    book = load_book(Path(folder) / "insights.json")
    return [i.model_copy(update={"source": f"run {Path(folder).name}"}) for i in book.insights[-MAX_INSIGHTS:]]


def save_book(path: Path, book: InsightBook) -> None:
    write_json(path, book.model_dump(mode="json"))


def _rows(path: str | None) -> list[dict[str, Any]] | None:
    """A node's prediction rows, from its local folder or its storage URI (None if missing)."""
    if not path:
        return None
    if storage.is_uri(path):
        try:
            text = storage.read_bytes(path).decode()
        except (OSError, FileNotFoundError) as err:
            log.warning("predictions at %s cannot be read: %s", path, err)
            return None
    elif Path(path).is_file():
        text = Path(path).read_text()
    else:
        return None
    rows = []
    for line in text.splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return [r for r in rows if isinstance(r, dict) and "id" in r]


def diagnose_node(tree: Tree, node_id: str, max_siblings: int = 3) -> Diagnosis | None:
    """Read the node's (and its relatives') dev predictions and diagnose; None when there are none."""
    node = tree[node_id]
    if node.status is not NodeStatus.SUCCEEDED or node.result is None:
        return None
    rows = _rows(node.result.predictions_path)
    if not rows:
        return None
    parent = tree[node.parent_id] if node.parent_id else None
    parent_rows = _rows(parent.result.predictions_path) if parent and parent.result else None
    siblings: list[tuple[str, list[dict[str, Any]]]] = []
    for sib in tree.children(node.parent_id) if node.parent_id else []:
        if sib.id != node_id and sib.status is NodeStatus.SUCCEEDED and sib.result and len(siblings) < max_siblings:
            if (sib_rows := _rows(sib.result.predictions_path)) is not None:
                siblings.append((sib.id, sib_rows))
    return diagnose(rows, (parent.id, parent_rows) if parent and parent_rows else None, siblings,
                    seed=int(node_id.lstrip("n") or 0))
