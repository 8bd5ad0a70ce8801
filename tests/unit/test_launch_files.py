"""launch/: the cluster files parse and say what the README says; trex commands in them compose."""
from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

import ftbench
from trex.config import from_dict

LAUNCH = Path(__file__).resolve().parents[2] / "launch"
CONF = LAUNCH.parent / "conf"


def compose(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        cfg = hydra_compose("config", overrides=overrides)
    return from_dict(OmegaConf.to_container(cfg, resolve=True), ftbench.list_tasks())


def test_ray_cluster_file() -> None:
    spec = yaml.safe_load((LAUNCH / "ray-cluster.yaml").read_text())
    types = spec["available_node_types"]
    assert spec["head_node_type"] in types and types[spec["head_node_type"]]["resources"] == {"CPU": 0}
    workers = {k: v for k, v in types.items() if k != spec["head_node_type"]}
    assert workers and all(0 <= v["min_workers"] <= v["max_workers"] <= spec["max_workers"] for v in workers.values())
    assert any("[gpu]" in c for c in spec["setup_commands"])
    assert spec["setup_commands"][0].startswith("pip install -q \"torch")
    assert spec["file_mounts"] == {"~/trex": "."}
    assert any("--head" in c for c in spec["head_start_ray_commands"])


def test_kuberay_rayjob_and_its_entrypoint_composes() -> None:
    job = yaml.safe_load((LAUNCH / "kuberay-rayjob.yaml").read_text())
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    spec = job["spec"]
    assert spec["shutdownAfterJobFinishes"] is True and yaml.safe_load(spec["runtimeEnvYAML"])["env_vars"]
    [group] = spec["rayClusterSpec"]["workerGroupSpecs"]
    assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
    assert group["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    args = shlex.split(spec["entrypoint"])
    assert args[:3] == ["python", "-m", "trex.launch"]
    run = compose(args[3:])
    assert run.cluster.kind == "ray" and run.llm.backend == "vllm" and run.executor.engine == "vllm"
    assert run.storage is not None and run.storage.startswith("s3://")
    pods = [spec["rayClusterSpec"]["headGroupSpec"]["template"]["spec"], group["template"]["spec"]]
    assert all("persistentVolumeClaim" not in v for pod in pods for v in pod.get("volumes", [])), "no shared volume"
    assert {c["image"] for pod in pods for c in pod["containers"]} == {"ghcr.io/your-org/trex:0.1.0"}


def test_the_image_is_built_from_the_pinned_ray_version() -> None:
    import ray

    dockerfile = (LAUNCH / "Dockerfile").read_text()
    base = next(line.split()[1] for line in dockerfile.splitlines() if line.startswith("FROM "))
    assert base.startswith(f"rayproject/ray:{ray.__version__}-py3") and "[gpu]" in dockerfile
    assert yaml.safe_load((LAUNCH / "kuberay-rayjob.yaml").read_text())["spec"]["rayClusterSpec"]["rayVersion"] \
        == ray.__version__
    assert "launch/Dockerfile" in (LAUNCH / "README.md").read_text()


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_slurm_script_parses_and_joins_ray() -> None:
    script = LAUNCH / "slurm.sh"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    text = script.read_text()
    assert "#SBATCH --nodes=" in text and "ray start --head" in text and "cluster=ray" in text


def test_readme_covers_every_route() -> None:
    text = (LAUNCH / "README.md").read_text()
    for needle in ("ray up launch/ray-cluster.yaml", "kubectl apply -f launch/kuberay-rayjob.yaml",
                   "sbatch launch/slurm.sh", "ray job submit", "python -m trex.track.compare"):
        assert needle in text, needle
