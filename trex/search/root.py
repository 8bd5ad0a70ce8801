"""The root of every search: the base model evaluated as is, and the template its first
children edit."""
from __future__ import annotations

from trex.tree.records import DataRecipe, Direction, ExperimentSpec, TrainConfig

TEMPLATE_SAMPLES, TEMPLATE_EPOCHS, TEMPLATE_LR = 256, 1, 5e-4
TEST_JOBS = 2     # the final test pass scores the base model and the best node


def baseline_spec(max_samples: int | None = None) -> ExperimentSpec:
    """The root: the base model evaluated as is. Its data and training settings are the template
    the first children edit: a sound LoRA recipe (lr 5e-4, reasoning completions) sized to finish
    well inside a CPU budget (256 examples x 1 epoch: about 9 minutes on one loaded core of the
    2-core reference machine). Until a node's time is known, no child trains longer than it."""
    data = DataRecipe(max_samples=min(TEMPLATE_SAMPLES, max_samples or TEMPLATE_SAMPLES))
    return ExperimentSpec(objective="Evaluate the base model on the dev split (no training).",
                          direction=Direction.BASELINE, rationale="Reference point for every experiment.",
                          data=data, train=TrainConfig(learning_rate=TEMPLATE_LR, epochs=TEMPLATE_EPOCHS))
