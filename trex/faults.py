"""Fault injection for chaos tests and drills: make a chosen node fail in a chosen way, for real.

`TREX_FAULTS` names a JSON file mapping node ids to a fault, e.g.
`{"n0002": {"phase": "train", "fault": "nan"}, "n0003": {"phase": "eval", "fault": "oom", "once": true}}`.
Phases: data, train (at the second optimizer step), eval. Faults: raise (an exception), nan (poison a
trainable weight, so the loss turns NaN), oom (ask the allocator for 4 TiB), hang (sleep for ever),
sigkill (the executor process kills itself). With `once`, a marker file in the node folder keeps the
fault from firing again when the node is re-run. Unset (always, outside tests), nothing happens.
"""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

PHASES = ("data", "train", "eval")
FAULTS = ("raise", "nan", "oom", "hang", "sigkill")


class InjectedFault(RuntimeError):
    """An exception raised on purpose by a fault plan."""


def planned(node_dir: Path, phase: str) -> str | None:
    """The fault planned for this node and phase, claimed (so a `once` fault fires only once)."""
    path = os.environ.get("TREX_FAULTS")
    if not path:
        return None
    entry = json.loads(Path(path).read_text()).get(node_dir.name)
    if not entry or entry.get("phase") != phase:
        return None
    if entry["fault"] not in FAULTS or phase not in PHASES:
        raise ValueError(f"TREX_FAULTS: unknown fault {entry!r}; faults: {FAULTS}, phases: {PHASES}")
    if entry.get("once"):
        try:
            (node_dir / f".fault-{phase}").open("x").close()
        except FileExistsError:
            return None
    return str(entry["fault"])


def perform(fault: str, phase: str, model=None) -> None:
    """Make the fault happen in this process."""
    import torch

    if fault == "raise":
        raise InjectedFault(f"injected exception in {phase}")
    if fault == "oom":
        torch.empty(2**40, dtype=torch.float32)   # 4 TiB: the allocator refuses
    if fault == "hang":
        while True:
            time.sleep(60)
    if fault == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    if fault == "nan" and model is not None:
        with torch.no_grad():
            next(p for p in model.parameters() if p.requires_grad).fill_(float("nan"))


def inject(node_dir: Path, phase: str) -> None:
    """Perform the fault planned for this node and phase, if any."""
    fault = planned(node_dir, phase)
    if fault is not None:
        perform(fault, phase)


def fault_callbacks(node_dir: Path, step: int = 2) -> list[Any]:
    """A trainer callback that performs this node's train-phase fault at `step`, if one is planned."""
    fault = planned(Path(node_dir), "train")
    if fault is None:
        return []
    from transformers import TrainerCallback

    class FaultAtStep(TrainerCallback):
        def on_step_begin(self, args, state, control, model=None, **kwargs):
            if state.global_step + 1 == step:
                perform(str(fault), "train", model)

    return [FaultAtStep()]
