"""The `trex` command on a run folder: status, diff, report, export's refusals, and `run` as the Hydra app."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.report_run import make_run, parse
from trex import cli


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    make_run(tmp_path / "r")
    (tmp_path / "r" / "config.json").write_text('{"task": {"name": "math"}, "model": {"name_or_path": "m"}, '
                                                '"search": {"seed": 0}, "executor": {}}')
    return tmp_path / "r"


def test_status_lists_every_node_and_the_best(run_dir: Path, capsys: pytest.CaptureFixture) -> None:
    os.environ["COLUMNS"] = "200"
    assert cli.main(["status", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert all(node in out for node in ("n0000", "n0001", "n0002", "n0003 *", "n0004"))
    assert "best 0.550 (n0003)" in out and "max_nodes=5 reached" in out and "FAILED" in out and "PENDING" in out


def test_diff_shows_the_keys_that_differ(run_dir: Path, capsys: pytest.CaptureFixture) -> None:
    os.environ["COLUMNS"] = "200"
    assert cli.main(["diff", str(run_dir), "n0001", "n0003"]) == 0
    out = capsys.readouterr().out
    assert "train.epochs" in out and "train.learning_rate" not in out and "common ancestors" in out
    with pytest.raises(SystemExit, match="no node 'n0099'"):
        cli.main(["diff", str(run_dir), "n0001", "n0099"])


def test_report_writes_the_page(run_dir: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["report", str(run_dir)]) == 0
    assert (run_dir / "report.html").as_uri() in capsys.readouterr().out
    assert len(parse(run_dir / "report.html")[1]["nodes"]) == 5
    with pytest.raises(SystemExit, match="not a trex run folder"):
        cli.main(["report", str(run_dir / "nodes")])


@pytest.mark.parametrize(("node", "message"), [("n0000", "is the base model itself"), ("n0002", "is FAILED"),
                                               ("n0004", "is PENDING"), ("n0042", "no node 'n0042'")])
def test_export_refuses_what_is_not_a_trained_model(run_dir: Path, tmp_path: Path, node: str, message: str,
                                                    capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["export", str(run_dir), "--node", node, "--out", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_push_to_hub_while_offline_says_so_before_writing(run_dir: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert cli.main(["export", str(run_dir), "--node", "n0001", "--out", str(tmp_path / "o"), "--push-to-hub",
                     "me/model"]) == 2
    assert "HF_HUB_OFFLINE is set" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_trex_run_is_the_hydra_app_with_task_options() -> None:
    proc = subprocess.run([sys.executable, "-m", "trex.cli", "run", "+task=math", "task.train_size=8", "--cfg", "job"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr
    assert "train_size: 8" in proc.stdout and "name: math" in proc.stdout


def test_resume_and_compare_route_to_their_commands(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    proc = subprocess.run([sys.executable, "-m", "trex.cli", "resume", str(tmp_path / "r"), "--cfg", "job"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0 and f"resume: {tmp_path / 'r'}" in proc.stdout, proc.stderr
    with pytest.raises(SystemExit) as exit_:
        cli.main(["compare", str(tmp_path)])
    assert exit_.value.code == 2 and "no run folders" in capsys.readouterr().err


def test_a_resumed_run_is_running_until_it_writes_final_json_again(run_dir: Path) -> None:
    import time

    assert cli.finished(run_dir)
    time.sleep(1.5)
    (run_dir / "tree.json").write_text((run_dir / "tree.json").read_text())   # a new session saves its tree
    assert not cli.finished(run_dir)
