"""What a spec and its results are, in one line for people and in one hash for deduplication."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from trex.tree.records import ExperimentSpec, InitFrom, RunResult


def score_text(value: float | None) -> str:
    """A score as the CLI, report and model card print it: 3 decimals, "-" when there is none."""
    return "-" if value is None else f"{value:.3f}"


def metric_name(results: Iterable[RunResult | None]) -> str:
    """The task's metric as the results name it (`dev_<metric>`, per-kind keys aside); "score" if none."""
    return next((key.removeprefix("dev_") for result in results if result for key in result.metrics
                 if key.startswith("dev_") and "/" not in key), "score")


def spec_line(spec: ExperimentSpec) -> str:
    d, t = spec.data, spec.train
    kinds = ",".join(d.kinds) if d.kinds else "all"
    return (f"direction={spec.direction.value} kinds={kinds} max_samples={d.max_samples} "
            f"answer_format={d.answer_format.value} lr={t.learning_rate:g} epochs={t.epochs} "
            f"batch={t.batch_size} lora_r={t.lora_r} lora_alpha={t.lora_alpha} init_from={t.init_from.value}")


def spec_key(spec: ExperimentSpec, parent_id: str | None = None) -> str:
    """Canonical hash of what an experiment does (data + training), ignoring its prose.

    A warm start continues a particular parent's adapter, so then the parent is part of it."""
    warm = spec.train.init_from is InitFrom.PARENT
    body = json.dumps({"data": spec.data.model_dump(mode="json"), "train": spec.train.model_dump(mode="json"),
                       "parent": parent_id if warm else None}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def fidelity_note(result: RunResult | None) -> str:
    """' (proxy: 33% of its training, 50% of dev)' for a reduced-fidelity result, else ''."""
    if result is None or not result.proxy:
        return ""
    return f" (proxy: {result.fidelity:.0%} of its training, {result.dev_fraction:.0%} of dev)"
