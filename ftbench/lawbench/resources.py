"""What the 2-1 (proofreading) scorer looks up, and where it finds it.

LawBench's ChERRANT run reads two tables shipped with its evaluation code
(`evaluation/utils/data/cilin.txt`, GBK; `confusion_dict.txt`), pinyin readings from `pypinyin`
and OpenCC's traditional-to-simplified conversion. `official()` builds exactly those from
$FTBENCH_DATA/lawbench/cherrant/ and the two packages, and fails with a message saying what to
fetch or install when one is missing. `bare()` uses none of them (every character pair
unknown to the thesaurus, no shared readings or confusions, no conversion): deterministic
everywhere, and only meant for the bundled fixture and offline smoke runs.
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

from ftbench.base import SourceUnavailable
from ftbench.lawbench.cherrant import Resources
from ftbench.source import data_root

TABLES_URL = "https://github.com/open-compass/LawBench/tree/main/evaluation/utils/data"
TABLES = ("cilin.txt", "confusion_dict.txt")


def tables_dir() -> Path:
    return data_root() / "lawbench" / "cherrant"


def read_cilin(path: Path) -> dict[str, str]:
    """Word -> Cilin code, as ChERRANT's `read_cilin` builds it (a later line wins)."""
    semantic: dict[str, str] = {}
    for line in path.read_text(encoding="gbk").strip().split("\n"):
        code, *words = line.split(" ")
        for word in words:
            semantic[word] = code
    return semantic


def read_confusion(path: Path) -> dict[str, frozenset[str]]:
    """Character -> confusable characters, as ChERRANT's `read_confusion` builds it."""
    confusion: dict[str, frozenset[str]] = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            key, *values = line.rstrip("\n").split(" ")
            confusion[key] = frozenset(values)
    return confusion


def official(directory: str | Path = "") -> Resources:
    """The resources LawBench's 2-1 scorer uses, the tables read from `directory` (default
    $FTBENCH_DATA/lawbench/cherrant/); SourceUnavailable naming what is missing."""
    return _official(str(Path(directory or tables_dir()).resolve()))


@cache
def _official(directory: str) -> Resources:
    folder = Path(directory)
    missing = [name for name in TABLES if not (folder / name).is_file()]
    if missing:
        raise SourceUnavailable(f"lawbench 2-1 scoring needs ChERRANT's {', '.join(missing)} in {folder}: copy them "
                                f"from {TABLES_URL} (or set FTBENCH_DATA); use source=fixture for the bare scorer")
    try:
        from opencc import OpenCC
        from pypinyin import Style, pinyin
    except ImportError as err:
        raise SourceUnavailable(f"lawbench 2-1 scoring needs the pypinyin and opencc packages ({err}); "
                                "pip install pypinyin opencc") from None

    @cache
    def readings(char: str) -> frozenset[str]:
        return frozenset(pinyin(char, style=Style.NORMAL, heteronym=True)[0])

    return Resources(readings=readings, semantic=read_cilin(folder / "cilin.txt"),
                     confusion=read_confusion(folder / "confusion_dict.txt"),
                     simplify=OpenCC("t2s").convert, name="official")


@cache
def bare() -> Resources:
    return Resources(name="bare")
