"""Budgets: which one, if any, stops the search. Pure: the caller passes the elapsed time."""
from __future__ import annotations

from trex.tree.store import Tree


def device_hours(tree: Tree) -> float:
    """Executor time summed over finished nodes (one device per executor)."""
    return sum(n.result.cost.total_s for n in tree if n.result is not None) / 3600


def budget_spent(tree: Tree, *, max_nodes: int | None, max_minutes: float, elapsed_s: float,
                 max_device_hours: float | None = None, max_llm_tokens: int | None = None) -> str:
    """The reason the search must stop, or '' while every budget lasts.

    max_nodes counts every node created (queued ones will still run; pass None to ask
    whether queued nodes may start); elapsed_s is the wall time over all sessions."""
    if max_nodes is not None and len(tree) >= max_nodes:
        return f"max_nodes={max_nodes} reached"
    if elapsed_s / 60 >= max_minutes:
        return f"max_minutes={max_minutes:g} reached"
    if max_device_hours is not None and device_hours(tree) >= max_device_hours:
        return f"max_device_hours={max_device_hours:g} reached"
    tokens = tree.llm_usage.prompt_tokens + tree.llm_usage.completion_tokens
    if max_llm_tokens is not None and tokens >= max_llm_tokens:
        return f"max_llm_tokens={max_llm_tokens} reached"
    return ""
