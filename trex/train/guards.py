"""Training guards: stop a run as soon as its loss or trainable weights stop being finite."""
from __future__ import annotations

import math

import torch
from transformers import TrainerCallback


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the node fails with this reason instead of training on."""


class NonFiniteGuard(TrainerCallback):
    """After every optimizer step, check the trainable weights (a NaN or infinite loss turns them
    non-finite at once through the gradients); on every log, check the loss itself."""

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if model is None:
            return
        for name, param in model.named_parameters():
            if param.requires_grad and not bool(torch.isfinite(param).all()):
                raise TrainingDiverged(f"NaN/inf loss: trainable weight {name} is no longer finite after step "
                                       f"{state.global_step} of {state.max_steps}; training stopped early")

    def on_log(self, args, state, control, logs=None, **kwargs):
        loss = (logs or {}).get("loss")
        if isinstance(loss, float) and not math.isfinite(loss):
            raise TrainingDiverged(f"NaN/inf loss ({loss}) at step {state.global_step} of {state.max_steps}; "
                                   "training stopped early")
