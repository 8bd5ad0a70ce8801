"""Supervised fine-tuning with TRL's SFTTrainer and a PEFT LoRA adapter."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from datasets import Dataset
from peft import LoraConfig, PeftModel
from transformers import PreTrainedModel, PreTrainedTokenizerBase, Trainer, TrainerCallback
from transformers.trainer_callback import PrinterCallback
from trl import SFTConfig, SFTTrainer

from trex.faults import fault_callbacks
from trex.train.guards import NonFiniteGuard
from trex.tree.records import InitFrom, TrainConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainStats:
    steps: int
    train_loss: float
    tokens: int


def cpu_supports_bf16() -> bool:
    """bf16 autocast runs on any x86 CPU with PyTorch, but is only fast with AVX512-BF16/AMX."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


class PlainLossSFTTrainer(SFTTrainer):
    """SFTTrainer with the model's own full-logits cross-entropy instead of TRL's tiled fused
    LM-head kernel. Same completion-only labels and token-count normalization; on CPU the tiled
    kernel made each step ~2x slower (bench/train_step.py measures both)."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs["labels"]
        kwargs = {k: v for k, v in inputs.items() if k in ("input_ids", "attention_mask", "position_ids")}
        outputs = model(**kwargs, use_cache=False)
        logits, targets = outputs.logits[:, :-1], labels[:, 1:]
        total = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.size(-1)), targets.reshape(-1),
                                                  ignore_index=-100, reduction="sum")
        mask = targets != -100
        count = mask.sum() if num_items_in_batch is None else torch.as_tensor(num_items_in_batch)
        loss = total / count.clamp(min=1)
        with torch.no_grad():
            correct = ((logits.argmax(-1) == targets) & mask).sum()
        mode = "train" if model.training else "eval"
        self._metrics[mode]["mean_token_accuracy"].append((correct / mask.sum().clamp(min=1)).item())
        return (loss, outputs) if return_outputs else loss


class ProgressCallback(TrainerCallback):
    """Steps and log records to the driver's live view (trex.track.live.Reporter)."""

    def __init__(self, reporter: Any) -> None:
        self.reporter = reporter

    def on_step_end(self, args, state, control, **kwargs):
        self.reporter.step(state.global_step, state.max_steps)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs:
            self.reporter.logged({"step": state.global_step, **logs})


class JsonlLogCallback(TrainerCallback):
    """Training logs to the node's train_log.jsonl and its log file, instead of stdout."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs:
            record = {"step": state.global_step, **logs}
            with open(self.path, "a") as fh:
                fh.write(json.dumps(record) + "\n")
            log.info("train %s", record)


def lora_config(train: TrainConfig) -> LoraConfig:
    return LoraConfig(r=train.lora_r, lora_alpha=train.lora_alpha, lora_dropout=train.lora_dropout,
                      target_modules="all-linear", task_type="CAUSAL_LM")


@dataclass(frozen=True)
class TrainSetup:
    """What every trainer needs, whatever the method."""

    tokenizer: PreTrainedTokenizerBase
    train: TrainConfig
    out_dir: Path
    parent_adapter: str | None
    bf16: bool
    logging_steps: int
    seed: int
    progress: Any = None          # a trex.track.live.Reporter: steps and loss to the driver's live view


def with_adapter(model: PreTrainedModel, setup: TrainSetup) -> tuple[PreTrainedModel, LoraConfig | None]:
    """Continue the parent's adapter (init_from=parent), or hand a fresh LoRA config to the trainer."""
    if setup.train.init_from is InitFrom.PARENT:
        if setup.parent_adapter is None:
            raise ValueError("train.init_from=parent, but the parent has no adapter (it is the base model); "
                             "use init_from=base")
        # a PeftModel forwards the PreTrainedModel interface to the model it wraps
        return cast(PreTrainedModel, PeftModel.from_pretrained(model, setup.parent_adapter, is_trainable=True)), None
    return model, lora_config(setup.train)


def common_args(setup: TrainSetup) -> dict[str, Any]:
    """TrainingArguments shared by the SFT, DPO and GRPO configs."""
    t, use_gpu = setup.train, torch.cuda.is_available()
    return dict(output_dir=str(setup.out_dir / "checkpoints"), num_train_epochs=t.epochs,
                learning_rate=t.learning_rate, per_device_train_batch_size=t.batch_size,
                bf16=setup.bf16 and (use_gpu or cpu_supports_bf16()), use_cpu=not use_gpu,
                gradient_checkpointing=False, save_strategy="no", report_to="none",
                logging_steps=setup.logging_steps, seed=setup.seed, data_seed=setup.seed, dataloader_num_workers=0,
                disable_tqdm=True, lr_scheduler_type="cosine",
                warmup_steps=0.05)   # a float below 1 is a fraction of all steps


def run_trainer(trainer: Trainer, setup: TrainSetup, tokens: int) -> tuple[PreTrainedModel, TrainStats]:
    """Train with trex's logging and guards, save the adapter to out_dir/adapter."""
    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(JsonlLogCallback(setup.out_dir / "train_log.jsonl"))
    if setup.progress is not None:
        trainer.add_callback(ProgressCallback(setup.progress))
    trainer.add_callback(NonFiniteGuard())
    for callback in fault_callbacks(setup.out_dir):
        trainer.add_callback(callback)
    output = trainer.train()
    model = cast(PreTrainedModel, trainer.model)   # set by the trainer's constructor
    model.save_pretrained(setup.out_dir / "adapter")
    return model, TrainStats(steps=output.global_step, train_loss=float(output.training_loss),
                             tokens=tokens)


def train_sft(model: PreTrainedModel, dataset: Dataset, setup: TrainSetup,
              fused_loss: bool = True) -> tuple[PreTrainedModel, TrainStats]:
    """Fine-tune `model` on prompt/completion chats."""
    model, peft_config = with_adapter(model, setup)
    args = SFTConfig(**common_args(setup), max_length=setup.train.max_length)
    trainer_cls = SFTTrainer if torch.cuda.is_available() and fused_loss else PlainLossSFTTrainer
    trainer = trainer_cls(model=model, args=args, train_dataset=dataset.select_columns(["prompt", "completion"]),
                          processing_class=setup.tokenizer, peft_config=peft_config)
    tokens = int(sum(len(ids) for ids in cast(Dataset, trainer.train_dataset)["input_ids"])) * setup.train.epochs
    return run_trainer(trainer, setup, tokens)
