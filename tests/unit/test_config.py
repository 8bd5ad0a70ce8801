"""Config conversion and the CLI's refusal of bad input (non-zero exit, nothing written)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from trex.config import ConfigError, from_dict

TASKS = ["math"]


def minimal(**extra) -> dict:
    return {"task": {"name": "math"}, **extra}


def test_defaults_fill_in() -> None:
    cfg = from_dict(minimal(), TASKS)
    assert cfg.search.max_nodes == 12 and cfg.llm.backend == "llamacpp" and cfg.task.name == "math"
    assert cfg.researcher.numeric == "hybrid" and cfg.llm.n_threads is None


@pytest.mark.parametrize("data, message", [
    ({}, "no task selected; add +task=<name> with one of: math"),
    (minimal(search={"max_nodes": 0}), "search.max_nodes=0 must be > 0"),
    (minimal(search={"max_nodes": "many"}), "search.max_nodes must be an integer, got 'many'"),
    (minimal(search={"policy": "bogo"}), "search.policy='bogo' is not accepted; choose one of uct"),
    (minimal(search={"explore": 1}), "unknown key(s) search.explore"),
    (minimal(llm={"backend": "openai", "base_url": None}), "needs llm.base_url"),
    ({"task": {"name": "chess"}}, "unknown task 'chess'; available: math"),
    (minimal(tracker={"kind": "mlflow"}), "tracker.kind='mlflow'"),
    (minimal(executor={"engine": "tgi"}), "executor.engine='tgi' is not accepted; choose one of hf, vllm, openai"),
    (minimal(executor={"engine": "openai"}), "executor.engine=openai needs executor.engine_base_url"),
    (minimal(executor={"vllm_gpu_memory_utilization": 1.5}), "must lie in (0, 1]"),
    (minimal(executor={"quantization": "int3"}),
     "executor.quantization='int3' is not accepted; choose one of none, nf4"),
    (minimal(researcher={"numeric": "bayes"}),
     "researcher.numeric='bayes' is not accepted; choose one of llm, sampler, hybrid"),
    (minimal(researcher={"sampler_children": -1}), "researcher.sampler_children=-1 must be >= 0"),
    (minimal(llm={"n_threads": 0}), "llm.n_threads=0 must be > 0, or null"),
    (minimal(search={"fidelity": "half"}), "search.fidelity='half' is not accepted; choose one of full, asha"),
    (minimal(search={"eta": 1}), "search.eta=1 must be an integer >= 2"),
    (minimal(search={"min_fidelity": 1.0}), "search.min_fidelity=1.0 must lie in (0, 1)"),
    (minimal(search={"proxy_dev_fraction": 0}), "search.proxy_dev_fraction=0.0 must lie in (0, 1]"),
])
def test_bad_values_are_named_with_what_is_accepted(data, message) -> None:
    with pytest.raises(ConfigError) as err:
        from_dict(data, TASKS)
    assert message in str(err.value)


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "trex.launch", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_without_task_lists_tasks_and_writes_nothing(tmp_path: Path) -> None:
    proc = run_cli(f"run_dir={tmp_path / 'runs'}", cwd=tmp_path)
    assert proc.returncode == 2
    assert "no task selected" in proc.stderr and "math" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_cli_bad_override_exits_nonzero_before_writing(tmp_path: Path) -> None:
    proc = run_cli("+task=math", "search.max_concurrent=-1", f"run_dir={tmp_path / 'runs'}", cwd=tmp_path)
    assert proc.returncode == 2
    assert "search.max_concurrent=-1 must be > 0" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_cli_unknown_task_is_refused(tmp_path: Path) -> None:
    proc = run_cli("+task=chess", cwd=tmp_path)
    assert proc.returncode != 0 and "chess" in proc.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_cli_vllm_engine_without_gpu_is_refused_before_writing(tmp_path: Path) -> None:
    proc = run_cli("+task=math", "executor.engine=vllm", f"run_dir={tmp_path / 'runs'}", cwd=tmp_path)
    assert proc.returncode == 2
    assert "executor.engine=vllm" in proc.stderr and "pip install -e .[gpu]" in proc.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_cli_qlora_without_gpu_is_refused_before_writing(tmp_path: Path) -> None:
    proc = run_cli("+task=math", "executor.quantization=nf4", f"run_dir={tmp_path / 'runs'}", cwd=tmp_path)
    assert proc.returncode == 2 and "executor.quantization=nf4 (QLoRA) needs a CUDA GPU" in proc.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("policy", ["greedy", "sequential", "random"])
def test_search_groups_compose_on_the_uct_defaults(policy: str, tmp_path: Path) -> None:
    proc = run_cli("+task=math", f"search={policy}", "--cfg", "job", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"policy: {policy}" in proc.stdout and "max_nodes: 12" in proc.stdout


def test_cli_resume_refuses_a_changed_search_and_writes_nothing(tmp_path: Path) -> None:
    import json
    from dataclasses import asdict

    from trex.config import RunConfig, TaskConfig

    run = tmp_path / "old-run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(asdict(RunConfig(task=TaskConfig(name="math")))))
    before = sorted(p.name for p in run.iterdir())
    proc = run_cli(f"resume={run}", "search.policy=random", cwd=tmp_path)
    assert proc.returncode == 2 and "search.policy (saved 'uct', asked 'random')" in proc.stderr
    assert sorted(p.name for p in run.iterdir()) == before
    proc = run_cli(f"resume={tmp_path / 'nope'}", cwd=tmp_path)
    assert proc.returncode == 2 and "is not a trex run folder" in proc.stderr


def test_each_knob_has_one_default_the_yaml_files_and_the_code_agree() -> None:
    """conf/<group>/<default>.yaml repeats the dataclass defaults (for reading); they must not drift."""
    import yaml

    from trex import config as c
    from trex.tree.policy import PolicySettings

    groups = {"search/uct": c.SearchConfig, "executor/cpu": c.ExecutorConfig, "researcher/default": c.ResearcherConfig,
              "llm/llamacpp": c.LLMConfig, "model/smollm2": c.ModelConfig, "tracker/wandb": c.TrackerConfig,
              "cluster/local": c.ClusterConfig}
    root = Path(__file__).resolve().parents[2] / "conf"
    drift = [f"{group}.{key}: yaml {value!r}, code {getattr(cls(), key)!r}"
             for group, cls in groups.items()
             for key, value in (yaml.safe_load((root / f"{group}.yaml").read_text()) or {}).items()
             if getattr(cls(), key) != value]
    assert drift == []
    assert PolicySettings.of(c.SearchConfig()) == PolicySettings()


@pytest.mark.parametrize("cpus, slots, per_executor, expected",
                         [(2, 2, 1, 1), (16, 2, 1, 8), (8, 2, 2, 4), (4, 4, 1, 1)])
def test_llamacpp_gets_the_cores_the_executors_leave_free(cpus: int, slots: int, per_executor: int,
                                                         expected: int) -> None:
    from trex.runner import llm_threads

    cfg = from_dict(minimal(cluster={"num_cpus": cpus}, search={"max_concurrent": slots},
                            executor={"cpus_per_executor": per_executor}), TASKS)
    assert llm_threads(cfg) == expected
    assert llm_threads(from_dict(minimal(llm={"n_threads": 3}), TASKS)) == 3
