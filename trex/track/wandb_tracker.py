"""W&B: one run per node in a group per search; offline unless the user is logged in.

Each node run carries the flattened spec, the node/parent ids and the parent's run id in its
config, metrics and cost in its summary, direction and policy as tags. At the end a `search`
run in the same group holds the tree table, the final scores and (optionally) the best
adapter as an artifact. Any W&B failure logs a warning and disables the tracker."""
from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any, cast

from trex.track.base import flatten
from trex.tree.records import Node, NodeStatus
from trex.tree.store import Tree

log = logging.getLogger(__name__)

TREE_COLUMNS = ["node", "parent", "depth", "score", "status", "direction", "origin", "proxy"]


def resolve_mode(mode: str) -> str:
    """auto -> online when an API key is configured, else offline."""
    if mode != "auto":
        return mode
    if os.environ.get("WANDB_MODE") in ("offline", "online", "disabled"):
        return os.environ["WANDB_MODE"]
    if os.environ.get("WANDB_API_KEY") or ((Path.home() / ".netrc").is_file() and
            "api.wandb.ai" in (Path.home() / ".netrc").read_text()):
        return "online"
    return "offline"


def run_id(group: str, node_id: str) -> str:
    """A stable W&B run id (so a resumed search links children to parents logged earlier)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"{group}-{node_id}")[-120:]


def tree_rows(tree: Tree) -> list[list[Any]]:
    return [[n.id, n.parent_id, n.depth, n.score, n.status.value, n.spec.direction.value, n.origin, n.proxy]
            for n in tree]


class WandbTracker:
    def __init__(self, project: str, mode: str, run_dir: Path, policy: str, log_best_adapter: bool = False) -> None:
        self.project, self.mode, self.dir, self.policy = project, resolve_mode(mode), run_dir, policy
        self.log_best_adapter = log_best_adapter
        self.group = run_dir.name
        self.enabled = self.mode != "disabled"

    def log_node(self, node: Node, group: str) -> None:
        self.group = group
        self._guard(self._log_node, node)

    def finish(self) -> None:
        """Log the tree table, final scores and best adapter from the run folder's files."""
        if (self.dir / "tree.json").is_file():
            self._guard(self._log_search, Tree.load(self.dir / "tree.json"))
        self._guard(lambda _: __import__("wandb").teardown(), None)   # flushes the offline files

    def _guard(self, fn: Any, arg: Any) -> None:
        if not self.enabled:
            return
        try:
            fn(arg)
        except Exception as err:   # noqa: BLE001 - tracking must never stop the search
            log.warning("W&B tracking failed (%s: %s); disabling it for this search", type(err).__name__, err)
            self.enabled = False

    def _init(self, **kwargs: Any) -> Any:
        os.environ.setdefault("WANDB_SILENT", "true")
        import wandb

        return wandb.init(project=self.project, group=self.group[:128], dir=str(self.dir),
                          mode=cast(Any, self.mode),   # one of wandb's modes (resolve_mode)
                          reinit="create_new", **kwargs)

    def _log_node(self, node: Node) -> None:
        parent_run = run_id(self.group, node.parent_id) if node.parent_id else None
        rung = max(0, len(node.rung_scores) - 1)     # a promoted node is logged once per rung
        name = node.id if rung == 0 else f"{node.id}-rung{rung}"
        run = self._init(name=name, id=run_id(self.group, name), job_type="node",
                         tags=[node.spec.direction.value, self.policy, node.status.value.lower(),
                               *([f"origin:{node.origin}"] if node.origin else []), *(["proxy"] if node.proxy else [])],
                         config={**flatten(node.spec.model_dump(mode="json")), "node_id": node.id,
                                 "origin": node.origin,
                                 "parent_id": node.parent_id, "parent_run_id": parent_run, "depth": node.depth,
                                 "policy": self.policy})
        summary: dict[str, Any] = {"score": node.score, "reward": node.reward, "status": node.status.value,
                                   "proxy": node.proxy, "rung": rung}
        if node.result is not None:
            summary.update(node.result.metrics, fidelity=node.result.fidelity, dev_fraction=node.result.dev_fraction)
            summary.update({f"cost/{k}": v for k, v in node.result.cost.model_dump().items()})
        run.log({k: v for k, v in summary.items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
        run.summary.update(summary)
        run.finish()

    def _log_search(self, tree: Tree) -> None:
        import wandb

        final_path = self.dir / "final.json"
        final = json.loads(final_path.read_text()) if final_path.is_file() else {}
        best = tree.best()
        run = self._init(name="search", id=run_id(self.group, "search"), job_type="search",
                         tags=[self.policy, "search"], config={"policy": self.policy, "task": tree.task})
        # wandb types columns as the invariant list[str | int]
        run.log({"tree": wandb.Table(columns=TREE_COLUMNS, data=tree_rows(tree))})  # type: ignore[arg-type]
        run.summary.update({**final, "best_dev": best.score if best else None, "nodes": len(tree),
                            "succeeded": tree.count(NodeStatus.SUCCEEDED), "failed": tree.count(NodeStatus.FAILED)})
        adapter = best.result.adapter_path if best and best.result else None
        if self.log_best_adapter and best is not None and adapter and Path(adapter).is_dir():
            artifact = wandb.Artifact(run_id(self.group, "best-adapter"), type="model",
                                      metadata={"node": best.id, "dev_score": best.score,
                                                "test_score": final.get("best_test")})
            artifact.add_dir(adapter)
            run.log_artifact(artifact)
        run.finish()
