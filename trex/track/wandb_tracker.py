"""W&B: one run per node in a group per search; offline unless the user is logged in."""
from __future__ import annotations

import logging
import os
from pathlib import Path

from trex.track.base import flatten
from trex.tree.records import Node

log = logging.getLogger(__name__)


def resolve_mode(mode: str) -> str:
    """auto -> online when an API key is configured, else offline."""
    if mode != "auto":
        return mode
    if os.environ.get("WANDB_MODE") in ("offline", "online", "disabled"):
        return os.environ["WANDB_MODE"]
    if os.environ.get("WANDB_API_KEY") or (Path.home() / ".netrc").is_file() and \
            "api.wandb.ai" in (Path.home() / ".netrc").read_text():
        return "online"
    return "offline"


class WandbTracker:
    def __init__(self, project: str, mode: str, run_dir: Path, policy: str) -> None:
        self.project, self.mode, self.dir, self.policy = project, resolve_mode(mode), run_dir, policy
        self.run_ids: dict[str, str] = {}

    def log_node(self, node: Node, group: str) -> None:
        try:
            self._log(node, group)
        except Exception as err:   # noqa: BLE001 - tracking must never stop the search
            log.warning("W&B logging of %s failed: %s", node.id, err)

    def _log(self, node: Node, group: str) -> None:
        os.environ.setdefault("WANDB_SILENT", "true")
        import wandb

        run_id = f"{group}-{node.id}"
        parent_run = self.run_ids.get(node.parent_id or "", "")
        run = wandb.init(project=self.project, group=group, name=node.id, id=run_id, dir=str(self.dir),
                         mode=self.mode, job_type="node", reinit="create_new",
                         tags=[node.spec.direction.value, self.policy, node.status.value.lower()],
                         notes=f"parent={node.parent_id} parent_run={parent_run}",
                         config={**flatten(node.spec.model_dump(mode="json")), "node_id": node.id,
                                 "parent_id": node.parent_id, "depth": node.depth})
        result = node.result
        summary: dict[str, float | str | None] = {"score": node.score, "reward": node.reward,
                                                  "status": node.status.value}
        if result is not None:
            summary.update(result.metrics)
            summary.update({f"cost/{k}": v for k, v in result.cost.model_dump().items()})
        run.log({k: v for k, v in summary.items() if isinstance(v, (int, float))})
        run.summary.update(summary)
        run.finish()
        self.run_ids[node.id] = run_id

    def finish(self) -> None:
        pass
