"""The typed records that cross component boundaries. Frozen; nodes refer to each other by id.

`ExperimentSpec` is what the Researcher LLM fills in, so its JSON schema is the contract:
closed sets are enums, numbers have ranges, and anything else is rejected with a message
the LLM can act on. Task-dependent checks (which problem kinds exist, whether a proposal
may claim to be the baseline) read the validation context: {"kinds": [...], "proposal": True, "max_samples": N}.
"""
from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator


class Direction(StrEnum):
    BASELINE = "baseline"
    MORE_DATA = "more_data"
    DATA_SELECTION = "data_selection"
    ANSWER_FORMAT = "answer_format"
    LEARNING_RATE = "learning_rate"
    TRAINING_LENGTH = "training_length"
    CAPACITY = "capacity"
    WARM_START = "warm_start"


class AnswerFormat(StrEnum):
    DIRECT = "direct"          # the answer sentence only
    REASONING = "reasoning"    # a short worked solution, then the answer sentence


class TrainMethod(StrEnum):
    SFT = "sft"      # supervised fine-tuning on the recipe's completions
    DPO = "dpo"      # preference pairs: the gold completion over a wrong one
    GRPO = "grpo"    # reinforcement learning with the task's scorer as a verifiable reward


class InitFrom(StrEnum):
    BASE = "base"
    PARENT = "parent"


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SourceKind(StrEnum):
    TASK = "task"    # the task's own train split
    HUB = "hub"      # a Hugging Face Hub dataset id (train split)
    FILE = "file"    # a local jsonl / csv / parquet file


class Source(Frozen):
    kind: SourceKind = SourceKind.TASK
    name: str = Field("", max_length=300, description="Hub id or file path; empty for the task")
    question_field: str = Field("question", max_length=100)
    answer_field: str = Field("answer", max_length=100)
    weight: float = Field(1.0, gt=0.0, le=100.0, description="share of the mix")


class FilterOp(Frozen):
    """Keep examples whose question length lies in [min_chars, max_chars] and, with a pattern,
    whose question matches it (or does not, with keep_matching=false)."""

    op: Literal["filter"] = "filter"
    min_chars: int = Field(0, ge=0, le=100_000)
    max_chars: int = Field(100_000, ge=1, le=1_000_000)
    pattern: str | None = Field(None, max_length=200)
    keep_matching: bool = True

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as err:
                raise ValueError(f"pattern {pattern!r} is not a valid regular expression: {err}") from None
        return pattern


class DedupOp(Frozen):
    """Drop exact duplicate questions, or near duplicates (MinHash Jaccard >= threshold)."""

    op: Literal["dedup"] = "dedup"
    near: bool = False
    threshold: float = Field(0.85, ge=0.5, le=1.0)


class DecontaminateOp(Frozen):
    """Drop training examples sharing any word n-gram with the task's dev or test questions."""

    op: Literal["decontaminate"] = "decontaminate"
    ngram: int = Field(8, ge=3, le=32)


class SynthesizeOp(Frozen):
    """Ask the agent LLM for `count` more examples: new ones in the style of a few drawn from the
    data (mode=new), or paraphrases of drawn questions that keep their answers (mode=rewrite)."""

    op: Literal["synthesize"] = "synthesize"
    mode: Literal["new", "rewrite"] = "new"
    count: int = Field(32, ge=1, le=2000)
    focus: str = Field("", max_length=300, description="what the new examples should stress")


class LLMScoreOp(Frozen):
    """Have the agent LLM rate up to `max_examples` drawn examples 1-5 for correctness and
    clarity; keep those rated at least `min_score` (the rest are dropped)."""

    op: Literal["llm_score"] = "llm_score"
    min_score: int = Field(3, ge=1, le=5)
    max_examples: int = Field(256, ge=1, le=5000)


Operator = Annotated[FilterOp | DedupOp | DecontaminateOp | SynthesizeOp | LLMScoreOp, Field(discriminator="op")]
LLM_OPS = ("synthesize", "llm_score")


class DataRecipe(Frozen):
    sources: list[Source] = Field(default_factory=lambda: [Source()], min_length=1, max_length=8)
    kinds: list[str] = Field(default_factory=list, max_length=16,
                             description="problem kinds to train on; empty means all kinds")
    ops: list[Operator] = Field(default_factory=list, max_length=8, description="applied in order")
    max_samples: int = Field(128, ge=16, le=50_000, description="cap on training examples")
    answer_format: AnswerFormat = AnswerFormat.REASONING

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, kinds: list[str], info: ValidationInfo) -> list[str]:
        allowed: Any = (info.context or {}).get("kinds")
        unknown = [k for k in kinds if allowed is not None and k not in allowed]
        if unknown:
            raise ValueError(f"unknown kinds {unknown}; choose from {list(allowed)} or [] for all")
        return kinds

    @field_validator("max_samples")
    @classmethod
    def _within_run_limit(cls, n: int, info: ValidationInfo) -> int:
        limit = (info.context or {}).get("max_samples")
        if limit is not None and n > limit:
            raise ValueError(f"max_samples={n} exceeds this run's limit of {limit} training examples")
        return n


# Learning rates are chosen from a log grid: every backend can hold an LLM to it (an enum),
# while free-form floats from small models come out as noise (e.g. 0.1564789e-0).
LEARNING_RATES = (1e-5, 2e-5, 3e-5, 5e-5, 1e-4, 2e-4, 3e-4, 5e-4, 1e-3, 2e-3)


class TrainConfig(Frozen):
    method: TrainMethod = TrainMethod.SFT
    learning_rate: float = Field(2e-4, json_schema_extra={"enum": list(LEARNING_RATES)})
    epochs: int = Field(1, ge=1, le=10)
    batch_size: int = Field(8, ge=1, le=128)
    max_length: int = Field(256, ge=32, le=4096)
    lora_r: int = Field(16, ge=1, le=256)
    lora_alpha: int = Field(32, ge=1, le=512)
    lora_dropout: float = Field(0.05, ge=0.0, le=0.5)
    init_from: InitFrom = InitFrom.BASE
    beta: float = Field(0.1, ge=0.0, le=1.0, description="DPO/GRPO: strength of the pull toward the reference")
    num_generations: int = Field(4, ge=2, le=16, description="GRPO: completions sampled per prompt")

    @field_validator("learning_rate")
    @classmethod
    def _on_grid(cls, lr: float) -> float:
        if not any(abs(lr - g) <= 1e-9 * g + 1e-12 for g in LEARNING_RATES):
            raise ValueError(f"learning_rate={lr:g} is not on the grid; choose one of "
                             f"{', '.join(f'{g:g}' for g in LEARNING_RATES)}")
        return lr


class ExperimentSpec(Frozen):
    objective: str = Field(min_length=3, max_length=400)
    direction: Direction
    rationale: str = Field("", max_length=1000)
    data: DataRecipe = DataRecipe()
    train: TrainConfig = TrainConfig()

    @field_validator("direction")
    @classmethod
    def _not_baseline(cls, direction: Direction, info: ValidationInfo) -> Direction:
        if (info.context or {}).get("proposal") and direction is Direction.BASELINE:
            raise ValueError("'baseline' is reserved for the root; pick another direction")
        return direction


class NodeStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class Cost(Frozen):
    """Wall seconds per phase, measured inside the executor, and the work done."""

    data_s: float = 0.0
    train_s: float = 0.0
    eval_s: float = 0.0
    total_s: float = 0.0
    train_samples: int = 0
    train_tokens: int = 0
    eval_samples: int = 0

    def __add__(self, other: Cost) -> Cost:
        """Two jobs of one node (a rung and its promotion); train_samples stays the data set's size."""
        return Cost(data_s=self.data_s + other.data_s, train_s=self.train_s + other.train_s,
                    eval_s=self.eval_s + other.eval_s, total_s=self.total_s + other.total_s,
                    train_samples=max(self.train_samples, other.train_samples),
                    train_tokens=self.train_tokens + other.train_tokens,
                    eval_samples=self.eval_samples + other.eval_samples)


class LLMUsage(Frozen):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0
    seconds: float = 0.0
    cost_usd: float | None = None     # from the configured price table; None = unknown

    def __add__(self, other: LLMUsage) -> LLMUsage:
        costs = [c for c in (self.cost_usd, other.cost_usd) if c is not None]
        return LLMUsage(prompt_tokens=self.prompt_tokens + other.prompt_tokens,
                        completion_tokens=self.completion_tokens + other.completion_tokens,
                        calls=self.calls + other.calls, seconds=self.seconds + other.seconds,
                        cost_usd=sum(costs) if costs else None)


class FailureType(StrEnum):
    NO_ANSWER = "no_answer"     # nothing could be extracted from the completion
    WRONG = "wrong"             # an answer, scored 0
    PARTIAL = "partial"         # an answer with partial credit (0 < score < 1)


class FailureSample(Frozen):
    id: str
    kind: str
    failure: FailureType
    question: str               # truncated for the prompt
    prediction: str
    gold: str


class KindStat(Frozen):
    kind: str
    n: int
    failures: int
    mean_score: float


class Comparison(Frozen):
    """This node against another evaluated on the same dev examples."""

    other_id: str
    relation: Literal["parent", "sibling"]
    score_delta: float                          # mean per-example score, this minus other
    kind_deltas: dict[str, float] = Field(default_factory=dict)
    fixed: int = 0                              # examples failed by the other, passed here
    broken: int = 0                             # passed by the other, failed here
    fixed_ids: list[str] = Field(default_factory=list)
    broken_ids: list[str] = Field(default_factory=list)


class Diagnosis(Frozen):
    """What went wrong on the dev split, built without an LLM from predictions.jsonl."""

    n: int
    failures: int
    by_kind: list[KindStat] = Field(default_factory=list)
    by_type: dict[FailureType, int] = Field(default_factory=dict)
    samples: list[FailureSample] = Field(default_factory=list)
    comparisons: list[Comparison] = Field(default_factory=list)


class RunResult(Frozen):
    status: NodeStatus
    score: float | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    cost: Cost = Cost()
    llm_usage: LLMUsage = LLMUsage()   # data operators' LLM calls
    adapter_path: str | None = None
    predictions_path: str | None = None
    error: str | None = None
    ray_node: str = ""      # the Ray node the experiment ran on ('' outside Ray)
    fidelity: float = 1.0       # share of the spec's training the adapter has had
                                # (search.fidelity=asha: < 1 on low rungs)
    dev_fraction: float = 1.0   # share of the dev split the score was measured on

    @property
    def proxy(self) -> bool:
        """A reduced-fidelity result: part of the training, or part of the dev split."""
        return self.fidelity < 1.0 or self.dev_fraction < 1.0


class Node(Frozen):
    id: str
    parent_id: str | None
    depth: int
    spec: ExperimentSpec
    status: NodeStatus = NodeStatus.PENDING
    result: RunResult | None = None
    score: float | None = None
    reward: float | None = None
    visits: int = 0
    value_sum: float = 0.0
    value_max: float = 0.0
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    proposal_usage: LLMUsage = LLMUsage()
    diagnosis: Diagnosis | None = None
    origin: str = ""     # who chose the spec: root | llm | hybrid | repaired | sampler ('' in older trees)
    rung_scores: tuple[float, ...] = ()   # search.fidelity=asha: the dev score at each rung reached

    @property
    def proxy(self) -> bool:
        return self.result is not None and self.result.proxy

    @property
    def done(self) -> bool:
        return self.status in (NodeStatus.SUCCEEDED, NodeStatus.FAILED)

    @property
    def mean_value(self) -> float:
        return self.value_sum / self.visits if self.visits else 0.0
