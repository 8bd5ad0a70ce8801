"""summary.md: the best node, its lineage of specs, dev and test scores against the base model."""
from __future__ import annotations

from dataclasses import dataclass

from trex.tree.describe import fidelity_note, score_text, spec_line
from trex.tree.records import Node, NodeStatus
from trex.tree.store import Tree


@dataclass(frozen=True)
class FinalScores:
    """Hidden-test scores, computed once at the end."""

    base_test: float | None
    best_test: float | None


def phase_row(node: Node) -> str:
    who = node.origin or "-"
    if node.result is None:
        return f"| {node.id} | {who} | {node.status.value} | - | - | - | - | - |"
    c = node.result.cost
    wall = (node.finished_at or 0) - (node.started_at or 0)
    overhead = max(0.0, wall - c.total_s)
    dev = score_text(node.score) + ("*" if node.proxy else "")
    return (f"| {node.id} | {who} | {node.status.value} | {dev} | {c.data_s:.1f} | {c.train_s:.1f} | "
            f"{c.eval_s:.1f} | {overhead:.2f} |")


def render_summary(tree: Tree, metric: str, final: FinalScores, stop_reason: str, wall_s: float,
                   task_version: str = "") -> str:
    base, best = tree.root, tree.best()
    lines = [f"# trex run: {tree.task}", "",
             *([f"Scores are on task version {task_version} (its splits and scoring rules).", ""]
               if task_version else []),
             f"Stopped: {stop_reason}. Wall time {wall_s / 60:.1f} min. Nodes: {len(tree)} "
             f"({tree.count(NodeStatus.SUCCEEDED)} succeeded, {tree.count(NodeStatus.FAILED)} failed, "
             f"{tree.count(NodeStatus.PENDING)} never run). Researcher LLM: {tree.llm_usage.calls} calls, "
             f"{tree.llm_usage.prompt_tokens + tree.llm_usage.completion_tokens} tokens, "
             f"{tree.llm_usage.seconds:.0f} s.", "",
             f"| | dev {metric} | test {metric} |", "|---|---|---|",
             f"| base model ({base.id}) | {score_text(base.score)} | {score_text(final.base_test)} |"]
    if best is not None:
        lines.append(f"| best node ({best.id}) | {score_text(best.score)} | {score_text(final.best_test)} |")
        lines += ["", f"## Lineage of {best.id}", ""]
        for node in tree.lineage(best.id):
            lines.append(f"- **{node.id}** (dev {score_text(node.score)}{fidelity_note(node.result)}, "
                         f"{node.origin or 'llm'}): "
                         f"{node.spec.objective}  ")
            lines.append(f"  `{spec_line(node.spec)}`")
    lines += ["", "## Nodes (seconds per phase; overhead = driver-observed wall minus executor time)", "",
              "Chosen by: llm = the Researcher's spec; hybrid = the Researcher's change with numbers from the "
              "sampler (TPE); repaired = a repeated proposal whose numbers the sampler moved; sampler = the "
              "sampler alone." + (" A dev score marked * is a proxy (search.fidelity=asha): the node trained a "
                                  "share of its spec and was scored on part of the dev split; it was not promoted."
                                  if any(n.proxy for n in tree) else ""), "",
              "| node | chosen by | status | dev | data | train | eval | overhead |",
              "|---|---|---|---|---|---|---|---|",
              *[phase_row(n) for n in tree]]
    failed = [n for n in tree if n.status is NodeStatus.FAILED and n.result]
    if failed:
        lines += ["", "## Failures", ""]
        lines += [f"- {n.id}: {(n.result.error or '').splitlines()[0][:300]}" for n in failed if n.result]
    return "\n".join(lines) + "\n"
