"""`python -m ftbench`: the task table, scoring a model, and refusing bad input before writing."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import ftbench
from ftbench.cli import main


def test_list_names_every_task_with_its_paper_score(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    header, *rows = out.splitlines()
    assert header.split() == ["name", "metric", "version", "paper", "TREX", "license", "source_url", "note"]
    names = [r.split()[0] for r in rows if r.strip() and not r.startswith("paper TREX:")]
    assert names == ftbench.list_tasks(available_only=False)
    sst2 = next(r for r in rows if r.startswith("sst2 "))
    assert "accuracy" in sst2 and "97.2" in sst2 and "https://huggingface.co/datasets/stanfordnlp/sst2" in sst2


def test_list_notes_missing_and_broken_tasks(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(ftbench._REGISTRY, "ghost", "ftbench.ghost.task:GhostTask")
    monkeypatch.setitem(ftbench._REGISTRY, "broken", "ftbench.math.no_such_module:Broken")
    assert main(["list"]) == 0
    rows = {r.split()[0]: r for r in capsys.readouterr().out.splitlines() if r.strip()}
    assert "not available yet" in rows["ghost"]
    assert "cannot load: ModuleNotFoundError" in rows["broken"]


def test_cli_module_runs_and_stays_light() -> None:
    proc = subprocess.run([sys.executable, "-c", "import sys, ftbench.cli; "
                           "print(sorted(m for m in ('torch', 'trex', 'ray', 'trl') if m in sys.modules))"],
                          capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "[]", proc.stderr
    proc = subprocess.run([sys.executable, "-m", "ftbench", "list"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "custom" in proc.stdout, proc.stderr


def test_eval_scores_the_tiny_model_and_writes_predictions(tiny_model: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "math.jsonl"
    assert main(["eval", "--task", "math", "--task-option", "source=fixture", "--model", str(tiny_model),
                 "--limit", "4", "--max-new-tokens", "4", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "math v1.0 test (4 examples): exact_match = " in printed
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 4
    assert set(rows[0]) == {"id", "kind", "question", "gold", "completion", "prediction", "score"}
    assert [r["id"] for r in rows] == [e.id for e in ftbench.get_task("math", source="fixture").load("test")[:4]]


def test_eval_custom_task_on_dev_with_yaml_options(tiny_model: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "custom.jsonl"
    assert main(["eval", "--task", "custom", "--task-option", "source=fixture", "--task-option",
                 "labels=[billing, shipping, technical]", "--task-option", "metric=macro_f1", "--split", "dev",
                 "--model", str(tiny_model), "--max-new-tokens", "3", "--batch-size", "4", "--out", str(out)]) == 0
    assert "custom v1.0 dev (6 examples): macro_f1 = 0.0000" in capsys.readouterr().out
    assert len(out.read_text().splitlines()) == 6


@pytest.mark.parametrize("args, message", [
    (["--task", "math", "--split", "train"], "--split train: evaluate on dev or test"),
    (["--task", "chess"], "--task 'chess' is unknown; available:"),
    (["--task", "math", "--task-option", "trian_size=3"], "--task-option trian_size: not an option of 'math'; "
                                                          "accepted: dev_size, metric, source, test_size, train_size"),
    (["--task", "math", "--task-option", "source"], "task option 'source' is not key=value"),
    (["--task", "math", "--task-option", "source=nowhere"], "source='nowhere'"),
    (["--task", "custom", "--task-option", "train=missing.jsonl", "--task-option", "source=fixture"],
     "train='missing.jsonl' not found"),
    (["--task", "math", "--limit", "0"], "--limit 0: must be >= 1"),
    (["--task", "math", "--engine", "openai"], "--engine openai needs --base-url"),
    (["--task", "math", "--adapter", "no-such-adapter"], "--adapter no-such-adapter: not a PEFT adapter folder"),
    (["--task", "math", "--model", "not/a-folder-here", "--task-option", "source=fixture"],
     "--model not/a-folder-here"),
])
def test_bad_input_exits_2_before_writing(args: list[str], message: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "p.jsonl"
    argv = ["eval", "--model", str(tmp_path), *args, "--out", str(out)]   # later --model wins
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()
