"""Rebuild this folder from a LawBench checkout: `python build.py /path/to/LawBench [MODEL]`.

Keeps what `test_lawbench_published.py` reads, in LawBench's own layout:
- predictions/zero_shot/results.csv: the header and MODEL's rows;
- predictions/zero_shot/MODEL/<task>.json.gz: each row's prediction and refr (and, for 2-1, the
  origin_prompt the source sentence is read from), gzipped;
- evaluation/utils/data/cilin.txt (GBK) and confusion_dict.txt, cut to what ChERRANT's
  character-level costs can look up on MODEL's 2-1 texts: its tokens are single characters, so
  cilin keeps its single-character words and confusion_dict its entries, both restricted to
  characters occurring in those texts (before and after OpenCC's t2s). A later cilin line
  still wins, as in the full file.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def slim(kind: str, rows: dict) -> dict:
    keep = ("origin_prompt", "prediction", "refr") if kind == "2-1" else ("prediction", "refr")
    return {key: {field: row[field] for field in keep} for key, row in rows.items()}


def characters(rows: dict) -> set[str]:
    from opencc import OpenCC

    convert = OpenCC("t2s").convert
    texts = [json.dumps(row["origin_prompt"], ensure_ascii=False) + row["prediction"] + row["refr"]
             for row in rows.values()]
    return set("".join(texts)) | set(convert("".join(texts)))


def main(checkout: Path, model: str) -> None:
    source, target = checkout / "predictions" / "zero_shot", HERE / "predictions" / "zero_shot"
    (target / model).mkdir(parents=True, exist_ok=True)
    with (source / "results.csv").open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = [row for row in reader if row["model_name"] == model]
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=reader.fieldnames or [], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    (target / "results.csv").write_text(out.getvalue(), encoding="utf-8")
    for path in sorted((source / model).glob("*.json")):
        data = slim(path.stem, json.loads(path.read_text(encoding="utf-8")))
        blob = json.dumps(data, ensure_ascii=False, indent=0).encode()
        (target / model / f"{path.name}.gz").write_bytes(gzip.compress(blob, 9, mtime=0))
    chars = characters(json.loads((source / model / "2-1.json").read_text(encoding="utf-8")))
    tables, kept = checkout / "evaluation" / "utils" / "data", HERE / "evaluation" / "utils" / "data"
    kept.mkdir(parents=True, exist_ok=True)
    cilin = []
    for line in (tables / "cilin.txt").read_text(encoding="gbk").strip().split("\n"):
        code, *words = line.split(" ")
        words = [w for w in words if w in chars]
        if words:
            cilin.append(" ".join([code, *words]))
    (kept / "cilin.txt").write_text("\n".join(cilin) + "\n", encoding="gbk")
    with (tables / "confusion_dict.txt").open(encoding="utf-8") as handle:
        confusion = []
        for line in handle:
            key, *values = line.rstrip("\n").split(" ")
            values = [v for v in values if v in chars]
            if key in chars and values:
                confusion.append(" ".join([key, *values]) + "\n")
    (kept / "confusion_dict.txt").write_text("".join(confusion), encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "GPT4")
