"""W&B: one run per node in a group per search; offline unless the user is logged in.

A node's run opens when its job starts (same id on every session, `resume="allow"`) and streams
its training log (train/loss per step, through the driver's progress board); when the node ends
its metrics and cost go to the summary and its adapter is logged as an artifact. Online, a
child's run uses its parent's adapter artifact first, so W&B's lineage view draws the tree
(offline runs cannot use artifacts; their config names the parent's run and artifact). At the
end a `search` run holds the tree table with spec columns and the final scores. Any W&B failure
logs a warning and disables the tracker."""
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
SPEC_COLUMNS = ["objective", "train.method", "train.learning_rate", "train.epochs", "train.batch_size", "train.lora_r",
                "train.init_from", "data.max_samples", "data.answer_format"]


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
    rows = []
    for n in tree:
        spec = flatten(n.spec.model_dump(mode="json"))
        rows.append([n.id, n.parent_id, n.depth, n.score, n.status.value, n.spec.direction.value, n.origin, n.proxy,
                     *(spec.get(k) for k in SPEC_COLUMNS)])
    return rows


def artifact_name(group: str, node_id: str) -> str:
    return f"adapter-{run_id(group, node_id)}"


class WandbTracker:
    def __init__(self, project: str, mode: str, run_dir: Path, policy: str, log_best_adapter: bool = False,
                 log_adapters: bool = True) -> None:
        self.project, self.mode, self.dir, self.policy = project, resolve_mode(mode), run_dir, policy
        self.log_best_adapter, self.log_adapters = log_best_adapter, log_adapters
        self.group = run_dir.name
        self.enabled = self.mode != "disabled"
        self.open: dict[str, Any] = {}        # node id -> its W&B run while the node runs

    def node_started(self, node: Node, group: str) -> None:
        self.group = group
        self._guard(self._start, node)

    def log_steps(self, node_id: str, records: list[dict[str, Any]]) -> None:
        run = self.open.get(node_id)
        if run is not None:
            self._guard(lambda rows: [run.log({f"train/{k}": v for k, v in r.items() if _number(v)}) for r in rows],
                        records)

    def log_node(self, node: Node, group: str) -> None:
        self.group = group
        self._guard(self._log_node, node)

    def finish(self) -> None:
        """Close runs still open, then log the tree table, final scores and best adapter."""
        for run in self.open.values():
            self._guard(lambda r: r.finish(), run)
        self.open.clear()
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
                          reinit="create_new", resume="allow", **kwargs)

    def _node_run(self, node: Node, name: str) -> Any:
        parent_run = run_id(self.group, node.parent_id) if node.parent_id else None
        run = self._init(name=name, id=run_id(self.group, name), job_type="node",
                         tags=[node.spec.direction.value, self.policy,
                               *([f"origin:{node.origin}"] if node.origin else [])],
                         config={**flatten(node.spec.model_dump(mode="json")), "node_id": node.id,
                                 "origin": node.origin,
                                 "parent_id": node.parent_id, "parent_run_id": parent_run, "depth": node.depth,
                                 "parent_artifact": artifact_name(self.group, node.parent_id) if node.parent_id
                                 else None, "policy": self.policy})
        run.define_metric("train/*", step_metric="train/step")
        return run

    def _start(self, node: Node) -> None:
        if node.id not in self.open and not node.rung_scores:
            self.open[node.id] = self._node_run(node, node.id)

    def _log_node(self, node: Node) -> None:
        rung = max(0, len(node.rung_scores) - 1)     # a promoted node is logged once per rung
        name = node.id if rung == 0 else f"{node.id}-rung{rung}"
        run = self.open.pop(node.id, None) if rung == 0 else None
        run = run or self._node_run(node, name)
        run.tags = (*run.tags, node.status.value.lower(), *(["proxy"] if node.proxy else []))
        summary: dict[str, Any] = {"score": node.score, "reward": node.reward, "status": node.status.value,
                                   "proxy": node.proxy, "rung": rung}
        if node.result is not None:
            summary.update(node.result.metrics, fidelity=node.result.fidelity, dev_fraction=node.result.dev_fraction)
            summary.update({f"cost/{k}": v for k, v in node.result.cost.model_dump().items()})
        run.log({k: v for k, v in summary.items() if _number(v)})
        run.summary.update(summary)
        if self.log_adapters and node.result and node.result.adapter_path and rung == 0:
            self._log_adapter(run, node)
        run.finish()

    def _log_adapter(self, run: Any, node: Node) -> None:
        """The node's adapter as an artifact; online, the parent's adapter artifact is used first (the
        child's recipe starts from the parent's; a warm start also loads its weights)."""
        import wandb

        location = str(node.result.adapter_path) if node.result else ""
        if node.parent_id and self.mode == "online":     # the edge parent -> child in W&B's lineage view
            try:
                run.use_artifact(f"{artifact_name(self.group, node.parent_id)}:latest")
            except Exception as err:  # noqa: BLE001 - the root (the base model) has no adapter artifact
                log.debug("no adapter artifact for %s: %s", node.parent_id, err)
        artifact = wandb.Artifact(artifact_name(self.group, node.id), type="model",
                                  metadata={"node": node.id, "parent": node.parent_id, "dev_score": node.score})
        if Path(location).is_dir():
            artifact.add_dir(location)
        elif location.split("://")[0] in ("s3", "gs") and "?" not in location:
            artifact.add_reference(location)
        else:
            return           # a storage URI W&B cannot reference (file://, a custom endpoint): config names it
        run.log_artifact(artifact)

    def _log_search(self, tree: Tree) -> None:
        import wandb

        final_path = self.dir / "final.json"
        final = json.loads(final_path.read_text()) if final_path.is_file() else {}
        best = tree.best()
        run = self._init(name="search", id=run_id(self.group, "search"), job_type="search",
                         tags=[self.policy, "search"], config={"policy": self.policy, "task": tree.task})
        # wandb types columns as the invariant list[str | int]
        run.log({"tree": wandb.Table(columns=TREE_COLUMNS + SPEC_COLUMNS, data=tree_rows(tree))})  # type: ignore[arg-type]
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


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
