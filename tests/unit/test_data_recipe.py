"""The data-recipe operators on small in-memory data, including their failures."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import Dataset

from ftbench import get_task
from ftbench.base import Split
from trex.data.ops import RecipeError, apply_dedup, apply_filter
from trex.data.recipe import build_sft_dataset, recipe_key
from trex.tree.records import AnswerFormat, DataRecipe, DecontaminateOp, DedupOp, FilterOp, Source, SourceKind


def rows(*questions: str) -> Dataset:
    return Dataset.from_list([{"question": q, "answer": "1", "solution": "", "kind": "", "source": "t"}
                              for q in questions])


TASK = get_task("math", train_size=200, dev_size=20, test_size=20)


def test_filter_by_length_and_pattern() -> None:
    ds = rows("short", "a somewhat longer question", "how many apples?", "how many pears?")
    assert apply_filter(ds, FilterOp(min_chars=6, max_chars=20))["question"] == ["how many apples?", "how many pears?"]
    assert apply_filter(ds, FilterOp(pattern="apples"))["question"] == ["how many apples?"]
    assert len(apply_filter(ds, FilterOp(pattern="apples", keep_matching=False))) == 3
    with pytest.raises(RecipeError, match="filter: min_chars=9 exceeds max_chars=3"):
        apply_filter(ds, FilterOp(min_chars=9, max_chars=3))


def test_invalid_regex_is_rejected_at_validation() -> None:
    with pytest.raises(ValueError, match="not a valid regular expression"):
        FilterOp(pattern="(unclosed")


def test_exact_and_near_dedup() -> None:
    base = "Ava has 12 apples and finds 30 more apples in the big old garden today"
    ds = rows(base, base.upper(), base.replace("today", "now"), "Ben gives away 4 marbles out of his 90")
    assert len(apply_dedup(ds, DedupOp())) == 3                    # case-folded exact duplicate dropped
    near = apply_dedup(ds, DedupOp(near=True, threshold=0.7))
    assert near["question"] == [base, "Ben gives away 4 marbles out of his 90"]


def test_decontaminate_drops_examples_overlapping_dev_or_test(tmp_path: Path) -> None:
    leaked = TASK.load(Split.TEST)[0].question
    path = tmp_path / "extra.jsonl"
    path.write_text("".join(json.dumps({"q": q, "a": "7"}) + "\n"
                            for q in [leaked, "a brand new question about ducks"]))
    recipe = DataRecipe(sources=[Source(kind=SourceKind.FILE, name=str(path), question_field="q", answer_field="a")],
                        ops=[DecontaminateOp(ngram=6)], max_samples=16, answer_format=AnswerFormat.DIRECT)
    built = build_sft_dataset(TASK, recipe, seed=0)
    assert built.counts == {"load[0]": 2, "decontaminate[0]": 1, "mix": 1}
    assert built.dataset[0]["prompt"][0]["content"].endswith("a brand new question about ducks")
    assert built.dataset[0]["completion"][0]["content"] == "The answer is 7."


def test_file_sources_csv_and_errors(tmp_path: Path) -> None:
    csv = tmp_path / "d.csv"
    csv.write_text("text,label\nwhat is 2+2?,4\nwhat is 3+3?,6\n")
    ok = DataRecipe(sources=[Source(kind=SourceKind.FILE, name=str(csv), question_field="text", answer_field="label")],
                    max_samples=16)
    assert len(build_sft_dataset(TASK, ok, 0).dataset) == 2
    cases = [
        (Source(kind=SourceKind.FILE, name=str(csv), question_field="prompt"), "field(s) ['prompt', 'answer'] not in"),
        (Source(kind=SourceKind.FILE, name=str(tmp_path / "none.jsonl")), "is not a file"),
        (Source(kind=SourceKind.FILE, name=str(tmp_path / "d.txt")), "must end in one of"),
        (Source(kind=SourceKind.HUB, name="openai/gsm8k"), "offline"),
        (Source(kind=SourceKind.HUB, name="not a hub id!"), "is not a Hub dataset id"),
    ]
    for source, message in cases:
        with pytest.raises(RecipeError, match=r"load source\[0\]") as err:
            build_sft_dataset(TASK, DataRecipe(sources=[source], max_samples=16), 0)
        assert message in str(err.value)


def test_mix_follows_weights_and_cap(tmp_path: Path) -> None:
    path = tmp_path / "extra.jsonl"
    path.write_text("".join(json.dumps({"question": f"extra question {i}", "answer": str(i)}) + "\n"
                            for i in range(100)))
    recipe = DataRecipe(sources=[Source(weight=3.0), Source(kind=SourceKind.FILE, name=str(path), weight=1.0)],
                        kinds=["add"], max_samples=40)
    built = build_sft_dataset(TASK, recipe, 0)
    texts = [r["prompt"][0]["content"] for r in built.dataset]
    assert len(texts) == 40 and sum("extra question" in t for t in texts) == 10
    assert built.counts["select[0]"] == 50                          # a quarter of 200 task problems are "add"


def test_unknown_kind_and_empty_result_fail_clearly() -> None:
    with pytest.raises(RecipeError, match="select: kinds=\\['division'\\] unknown"):
        build_sft_dataset(TASK, DataRecipe(kinds=["division"]), 0)
    with pytest.raises(RecipeError, match="recipe left no training examples"):
        build_sft_dataset(TASK, DataRecipe(ops=[FilterOp(pattern="zebra")]), 0)


def test_cache_reuses_a_built_recipe(tmp_path: Path) -> None:
    recipe = DataRecipe(max_samples=32, ops=[DedupOp()])
    first = build_sft_dataset(TASK, recipe, 0, cache_dir=tmp_path)
    again = build_sft_dataset(TASK, recipe, 0, cache_dir=tmp_path)
    assert not first.cached and again.cached and again.key == first.key
    assert again.dataset.to_list() == first.dataset.to_list()
    other = build_sft_dataset(TASK, recipe.model_copy(update={"max_samples": 16}), 0, cache_dir=tmp_path)
    assert not other.cached and recipe_key(TASK, recipe, 1) != first.key


def test_cache_key_follows_the_task_options_and_the_files_they_name(tmp_path: Path) -> None:
    small, large = get_task("math", train_size=200), get_task("math", train_size=300)
    assert recipe_key(small, DataRecipe(), 0) != recipe_key(large, DataRecipe(), 0)
    assert recipe_key(small, DataRecipe(), 0) == recipe_key(get_task("math", train_size=200), DataRecipe(), 0)

    class FileTask:
        name, version = "files", "1"

        def __init__(self, train: str) -> None:
            self.train = train

    data = tmp_path / "train.jsonl"
    data.write_text('{"input": "a", "output": "b"}\n')
    before = recipe_key(FileTask(str(data)), DataRecipe(), 0)   # type: ignore[arg-type]
    data.write_text('{"input": "a", "output": "c"}\n{"input": "d", "output": "e"}\n')
    assert recipe_key(FileTask(str(data)), DataRecipe(), 0) != before   # type: ignore[arg-type]
