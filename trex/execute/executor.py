"""The Executor: one experiment spec -> data -> train -> eval -> RunResult.

Plain Python (no Ray import): the driver wraps `Executor` as a Ray actor. Any exception
inside a job becomes a FAILED result carrying the traceback's tail.
"""
from __future__ import annotations

import json
import logging
import resource
import shutil
import tempfile
import time
import traceback
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftbench import get_task
from ftbench.base import Split
from trex import storage
from trex.config import ExecutorConfig
from trex.data.llm_ops import DataLLM
from trex.faults import inject
from trex.search.contracts import Job
from trex.search.fidelity import dev_subset, segment_rows
from trex.track.live import Reporter
from trex.tree.records import Cost, InitFrom, LLMUsage, NodeStatus, RunResult, TrainConfig

if TYPE_CHECKING:
    from trex.eval.engines import OpenAIEngine, VLLMEngine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExecutorSettings:
    task: str
    model_path: str
    task_options: dict[str, int] = field(default_factory=dict)
    data_llm: DataLLM | None = None     # the agent LLM, for the synthesize / llm_score data operators
    config: ExecutorConfig = ExecutorConfig()   # the run's `executor` config group, whole
    board: Any = None                   # the driver's ProgressBoard actor (trex.track.live), if any


def load_base_model(path: str, on_gpu: bool, quantization: str):
    """The model to fine-tune: fp32 on CPU, bf16 on GPU, or 4-bit NF4 for QLoRA (GPU only)."""
    import torch
    from transformers import AutoModelForCausalLM

    if quantization == "nf4":
        if not on_gpu:
            raise RuntimeError("executor.quantization=nf4 (QLoRA) needs a CUDA GPU; this executor has none")
        from peft import prepare_model_for_kbit_training
        from transformers import BitsAndBytesConfig

        config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                    bnb_4bit_compute_dtype=torch.bfloat16)
        model: Any = AutoModelForCausalLM.from_pretrained(path, quantization_config=config, dtype=torch.bfloat16,
                                                          device_map={"": torch.cuda.current_device()})
        return prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16 if on_gpu else torch.float32)
    return model.to("cuda") if on_gpu else model


OOM_MARKS = ("out of memory", "can't allocate memory", "cannot allocate memory")


def failure_reason(err: BaseException) -> str:
    """The first line of a FAILED node's error: out-of-memory errors are named as such."""
    text = f"{type(err).__name__}: {err}"
    if isinstance(err, MemoryError) or any(mark in str(err).lower() for mark in OOM_MARKS):
        return f"out of memory: {text[:500]}"
    return text


def release_device_memory() -> None:
    """After a failure (an out-of-memory above all), give cached GPU memory back for the next job."""
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def ray_node_id() -> str:
    """The Ray node this process runs on, or '' outside a Ray worker."""
    import sys

    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return ""
    return ray.get_runtime_context().get_node_id()


@contextmanager
def node_log(path: Path) -> Iterator[None]:
    """Send this process's log records to the node's log file while the job runs."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
        handler.close()


class Executor:
    def __init__(self, settings: ExecutorSettings) -> None:
        import datasets
        import torch
        import transformers

        torch.set_num_threads(max(1, settings.config.cpus_per_executor))
        datasets.disable_progress_bars()          # progress goes to each node's log, not the console
        transformers.utils.logging.disable_progress_bar()
        self.settings = settings
        self.task = get_task(settings.task, **settings.task_options)
        # a vllm/openai engine, built on first use and kept across jobs
        self._engine: VLLMEngine | OpenAIEngine | None = None
        # openai engine + storage URI: puts adapters on the server's machine
        self._stager: Callable[[str], str] | None = None
        self._progress = Reporter(None, "")   # the running job's live progress (one job at a time)

    def run(self, job: Job) -> RunResult:
        """Run one job. A node folder that is a storage URI is worked in local scratch, uploaded
        when the job ends (failed or not) and the scratch removed; its result names URIs."""
        remote = storage.is_uri(job.node_dir)
        self._progress = Reporter(self.settings.board, job.node_id)
        node_dir = self._scratch(job) if remote else Path(job.node_dir)
        node_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        phases: dict[str, float] = defaultdict(float)
        with node_log(node_dir / "log.txt"):
            log.info("node %s: starting on Ray node %s", job.node_id, ray_node_id() or "-")
            try:
                # an adapter to evaluate on an openai server stays in storage: it is staged on the server's machine
                names = (("parent_adapter",) if self.settings.config.engine == "openai"
                         else ("parent_adapter", "adapter"))
                result = self._run(self._localized(job, node_dir, names) if remote else job, node_dir, phases,
                                   started, location=job.node_dir if remote else None)
            except Exception as err:   # an experiment's failure is a FAILED node
                log.exception("node %s failed", job.node_id)
                tail = "".join(traceback.format_exception(err))[-3000:]
                result = RunResult(status=NodeStatus.FAILED, error=f"{failure_reason(err)}\n{tail}",
                                   cost=Cost(total_s=time.monotonic() - started, **phases))
                release_device_memory()
        if remote:
            result = self._published(result, node_dir, job.node_dir)
        return result.model_copy(update={"ray_node": ray_node_id()})

    # -- storage URIs: local scratch in, artifacts out ------------------------------------
    def _scratch(self, job: Job) -> Path:
        root = Path(self.settings.config.scratch_dir or Path(tempfile.gettempdir()) / "trex-scratch")
        leaf = job.node_dir.partition("?")[0].rstrip("/").rsplit("/", 1)[-1]
        return root / uuid.uuid4().hex[:12] / leaf

    @staticmethod
    def _localized(job: Job, node_dir: Path, names: tuple[str, ...] = ("parent_adapter", "adapter")) -> Job:
        """The job with the adapters it reads from storage (`names`) downloaded into its scratch."""
        fetched: dict[str, Any] = {}
        for name in names:
            uri = getattr(job, name)
            if uri and storage.is_uri(uri):
                fetched[name] = str(storage.download(uri, node_dir / f".{name}"))
                log.info("node %s: %s fetched from %s", job.node_id, name.replace("_", " "), uri)
        return replace(job, **fetched)

    @staticmethod
    def _published(result: RunResult, node_dir: Path, location: str) -> RunResult:
        """Upload the job's artifacts (adapter, predictions, logs) to `location`, remove the scratch,
        and point the result's paths at storage; an upload that fails fails the job."""
        for name in (".parent_adapter", ".adapter"):
            shutil.rmtree(node_dir / name, ignore_errors=True)
        try:
            storage.upload(node_dir, location)
        except Exception as err:  # noqa: BLE001 - pyarrow raises OSError, ArrowException, ...
            return result.model_copy(update={"status": NodeStatus.FAILED, "score": None,
                                             "error": f"could not upload the node's artifacts to {location}: "
                                                      f"{err}\n{result.error or ''}"[:3000]})
        finally:
            shutil.rmtree(node_dir.parent, ignore_errors=True)

        def moved(path: str | None) -> str | None:
            if not path or not path.startswith(str(node_dir)):
                return path
            return storage.join(location, Path(path).relative_to(node_dir).as_posix())
        return result.model_copy(update={"adapter_path": moved(result.adapter_path),
                                         "predictions_path": moved(result.predictions_path)})

    def _run(self, job: Job, node_dir: Path, phases: dict[str, float], started: float,
             location: str | None = None) -> RunResult:
        import torch
        from transformers import AutoTokenizer

        from trex.data.recipe import build_sft_dataset
        from trex.model.resolve import cache_dir
        from trex.train.dispatch import train_node
        from trex.train.sft import TrainSetup

        s, c = self.settings, self.settings.config
        on_gpu = torch.cuda.is_available()
        tokenizer = AutoTokenizer.from_pretrained(s.model_path)
        model: Any = None
        if job.train or c.engine == "hf":
            model = load_base_model(s.model_path, on_gpu, c.quantization)
        if on_gpu:
            torch.cuda.reset_peak_memory_stats()
        metrics: dict[str, float] = {}
        adapter_path, samples, tokens = job.adapter, 0, 0
        llm_usage = LLMUsage()
        if job.train:
            t = time.monotonic()
            self._progress.phase("data")
            inject(node_dir, "data")
            built = build_sft_dataset(self.task, job.spec.data, job.data_seed, cache_dir() / "datasets", s.data_llm,
                                      c.data_llm_max_tokens)
            dataset, llm_usage = built.dataset, built.llm_usage
            phases["data_s"] = time.monotonic() - t
            samples = len(dataset)
            train = job.spec.train
            if job.segment != (0.0, 1.0):    # search.fidelity=asha: this rung's share of the training stream
                dataset = dataset.select(segment_rows(samples, train.epochs, job.segment, job.seed))
                train = train.model_copy(update={"epochs": 1, **({"init_from": InitFrom.PARENT} if job.rung else {})})
                log.info("node %s: rung %d, training %.0f%%-%.0f%% of its spec (%d example-passes)%s", job.node_id,
                         job.rung, 100 * job.segment[0], 100 * job.segment[1], len(dataset),
                         ", continuing its own adapter" if job.rung else "")
            (node_dir / "data.json").write_text(json.dumps({"key": built.key, "cached": built.cached,
                                                            "rows_after_each_step": built.counts}, indent=1))
            metrics["data_cached"] = float(built.cached)
            log.info("node %s: training on %d examples", job.node_id, samples)
            t = time.monotonic()
            self._progress.phase("train")
            if c.backend == "ray_train":
                model, stats = self._train_on_ray(job, train, model, dataset, node_dir)
            else:
                setup = TrainSetup(tokenizer=tokenizer, train=train, out_dir=node_dir,
                                   parent_adapter=job.parent_adapter, bf16=c.bf16, logging_steps=c.logging_steps,
                                   seed=job.seed, progress=self._progress)
                model, stats = train_node(model, dataset, setup, self.task, c.max_new_tokens)
            phases["train_s"] = time.monotonic() - t
            adapter_path, tokens = str(node_dir / "adapter"), stats.tokens
            metrics.update(train_loss=stats.train_loss, train_steps=float(stats.steps))
        elif job.adapter and model is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, job.adapter)
        if c.engine != "hf" and model is not None:
            model = None          # the trained adapter is on disk; free the device for the engine
            if on_gpu:
                torch.cuda.empty_cache()
        t = time.monotonic()
        self._progress.phase(f"eval {job.split}")
        inject(node_dir, "eval")
        examples = self.task.load(job.split)
        if job.dev_fraction < 1.0:     # a proxy rung: a fixed spread of the dev split
            examples = [examples[i] for i in dev_subset([e.kind for e in examples], job.dev_fraction)]
        chats = [self.task.messages(e.question) for e in examples]
        served = adapter_path
        if c.engine == "openai" and location and adapter_path and not storage.is_uri(adapter_path):
            served = storage.join(location, "adapter")      # the server's machine reads it from storage
            storage.upload(Path(adapter_path), served)
        completions = self._engine_for(model, tokenizer, served).generate(chats, c.max_new_tokens)
        rows, by_kind = [], defaultdict(list)
        predictions = []
        for example, completion in zip(examples, completions, strict=True):
            prediction = self.task.extract(completion)
            predictions.append(prediction)
            by_kind[example.kind].append((prediction, example))
            rows.append({"id": example.id, "kind": example.kind, "question": example.question,
                         "gold": example.answer, "completion": completion, "prediction": prediction,
                         "score": self.task.score(prediction, example)})
        predictions_path = node_dir / f"predictions{'' if job.split is Split.DEV else '-' + job.split}.jsonl"
        predictions_path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        score = self.task.aggregate(predictions, examples)
        phases["eval_s"] = time.monotonic() - t
        metrics[f"{job.split}_{self.task.metric}"] = score
        metrics.update({f"{job.split}_{self.task.metric}/{k}": self.task.aggregate([p for p, _ in v], [e for _, e in v])
                        for k, v in by_kind.items() if k})
        metrics["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if on_gpu:
            metrics["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
        cost = Cost(total_s=time.monotonic() - started, train_samples=samples, train_tokens=tokens,
                    eval_samples=len(rows), **phases)
        return RunResult(status=NodeStatus.SUCCEEDED, score=score, metrics=metrics, cost=cost, llm_usage=llm_usage,
                         adapter_path=adapter_path, predictions_path=str(predictions_path),
                         fidelity=job.segment[1] if job.train else 1.0, dev_fraction=job.dev_fraction)

    def _engine_for(self, model, tokenizer, adapter_path: str | None):
        """The evaluation engine of `settings.engine`, pointed at `adapter_path` (None: the base model)."""
        from trex.eval.engines import HFEngine, OpenAIEngine, VLLMEngine

        s, c = self.settings, self.settings.config
        if c.engine == "hf":
            return HFEngine(model, tokenizer, batch_size=c.eval_batch_size)
        if self._engine is None:
            if c.engine == "vllm":
                self._engine = VLLMEngine(s.model_path, gpu_memory_utilization=c.vllm_gpu_memory_utilization)
            elif c.engine == "openai":
                self._engine = OpenAIEngine(str(c.engine_base_url), str(c.engine_model), stage=self._stage)
            else:
                raise ValueError(f"executor.engine={c.engine!r} is not one of hf, vllm, openai")
        self._engine.set_adapter(adapter_path)
        return self._engine

    def _stage(self, location: str) -> str:
        """The adapter at `location` copied onto the openai server's machine; its path there."""
        from trex.eval.staging import stager_for

        if self._stager is None:
            self._stager = stager_for(str(self.settings.config.engine_base_url))
        return self._stager(location)

    def _train_on_ray(self, job: Job, train: TrainConfig, model, dataset, node_dir: Path):
        """Train on Ray Train workers (any node: the rows travel through Ray, the adapter comes back
        through the node's storage), then load the adapter here for evaluation."""
        from peft import PeftModel

        from trex.train.dispatch import RayTrainRequest, train_on_ray

        req = RayTrainRequest(settings=replace(self.settings, data_llm=None), rows=dataset.to_list(), train=train,
                              location=job.node_dir, parent_adapter=job.parent_adapter, seed=job.seed)
        stats = train_on_ray(req)
        if storage.is_uri(job.node_dir):
            storage.download(storage.join(job.node_dir, "adapter"), node_dir / "adapter")
        return PeftModel.from_pretrained(model, str(node_dir / "adapter")), stats
