"""How long a node will take, learned from the finished ones, and trimming a spec to the time
left: a node that cannot finish inside max_minutes would only hold a slot past the budget."""
from __future__ import annotations

import statistics
from dataclasses import dataclass

from trex.tree.records import ExperimentSpec, NodeStatus
from trex.tree.store import Tree


@dataclass(frozen=True)
class NodeCost:
    overhead_s: float      # data building + evaluation, per job
    pass_s: float          # training seconds per example per epoch

    def predict(self, spec: ExperimentSpec, share: float = 1.0) -> float:
        """Seconds of a job training `share` of the spec's examples x epochs."""
        return self.overhead_s + self.pass_s * spec.data.max_samples * spec.train.epochs * share


def learned_cost(tree: Tree) -> NodeCost | None:
    """Medians over the trained nodes that succeeded (None before the first one). A promoted
    node's cost covers all its rungs' jobs and its fidelity the training they did together."""
    trained = [n for n in tree if n.parent_id is not None and n.status is NodeStatus.SUCCEEDED
               and n.result is not None and n.result.cost.train_samples > 0]
    if not trained:
        return None
    rows = [(n.result.cost, n.spec.train.epochs * n.result.fidelity, max(1, len(n.rung_scores)))
            for n in trained if n.result is not None]
    return NodeCost(overhead_s=statistics.median((c.data_s + c.eval_s) / jobs for c, _, jobs in rows),
                    pass_s=statistics.median(c.train_s / (c.train_samples * passes) for c, passes, _ in rows))


def fit_to_time(spec: ExperimentSpec, seconds: float, cost: NodeCost, min_samples: int = 32,
                share: float = 1.0) -> ExperimentSpec | None:
    """`spec` with fewer epochs, then fewer examples (halved), until its first job (training
    `share` of it) is predicted to finish in `seconds`; unchanged if it already does; None if
    even 1 epoch of `min_samples` would not."""
    train, data = spec.train, spec.data
    while cost.predict(spec, share) > seconds:
        if train.epochs > 1:
            train = train.model_copy(update={"epochs": train.epochs - 1})
        elif data.max_samples // 2 >= min_samples:
            data = data.model_copy(update={"max_samples": data.max_samples // 2})
        else:
            return None
        spec = spec.model_copy(update={"train": train, "data": data})
    return spec
