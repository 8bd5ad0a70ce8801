"""Tokens/s of llama-cpp-python builds (e.g. GGML_NATIVE=ON vs OFF) through trex's server.

Each build is a folder holding one llama-cpp-python wheel. The wheel is unpacked once into
<folder>/site and put first on the server's PYTHONPATH; the rest (fastapi, openai, ...) comes
from the running environment. Rounds alternate the builds, so drift hits all of them alike;
each round starts a fresh server, warms it up and times `--repeats` completions of the smoke
test's prompt (its start varied, so no prompt is served from the previous one's cache).

    python bench/llamacpp_build.py portable=/tmp/lcp/wh-portable native=/tmp/lcp/wh-native

A folder with a `load_backends` file holds a GGML_BACKEND_DL build: the server first loads its
CPU variants with ggml_backend_load_all_from_path (through a sitecustomize.py written next to
the package), which llama-cpp-python 0.3.36 never calls.
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from openai import OpenAI

from trex.llm.llamacpp import LlamaCppServer, builtin_gguf
from trex.llm.portable import check_portable
from trex.llm.smoke import ALIAS, QUESTION, SYSTEM, Completion, complete

log = logging.getLogger("bench.llamacpp_build")

SITECUSTOMIZE = """\
import ctypes, pathlib
import llama_cpp._ggml as g
lib = pathlib.Path(g.__file__).parent / "lib"
g.libggml.ggml_backend_load_all_from_path.argtypes = [ctypes.c_char_p]
g.libggml.ggml_backend_load_all_from_path(str(lib).encode())
"""


def unpack(build: Path) -> Path:
    """The site folder holding the build's wheel unpacked (made on first use)."""
    site = build / "site"
    if not (site / "llama_cpp").is_dir():
        wheel = next(build.glob("*.whl"))
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-cache-dir",
                        "--target", str(site), str(wheel)], check=True)
        if (build / "load_backends").exists():
            (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return site


def time_build(site: Path, threads: int, repeats: int, max_tokens: int,
               log_path: Path) -> list[Completion]:
    """Start a server on the build in site, warm it up, then time `repeats` completions."""
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(site)
    server = LlamaCppServer(builtin_gguf(), ALIAS, n_threads=threads, log_path=log_path)
    try:
        server.start()
        client = OpenAI(base_url=server.base_url, api_key="not-needed")
        complete(client, f"Warm-up. {SYSTEM}", QUESTION, 8)
        return [complete(client, f"Run {i}. {SYSTEM}", QUESTION, max_tokens) for i in range(repeats)]
    finally:
        server.stop()
        os.environ.pop("PYTHONPATH")
        if saved is not None:
            os.environ["PYTHONPATH"] = saved


def row(name: str, runs: list[Completion]) -> str:
    """A markdown table row: median (min-max) prompt and generation tokens/s."""
    def cell(values: list[float]) -> str:
        return f"{statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f})"
    return (f"| {name} | {len(runs)} | {runs[0].prompt_tokens} | {cell([r.prompt_tps for r in runs])} "
            f"| {runs[0].completion_tokens} | {cell([r.generation_tps for r in runs])} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("builds", nargs="+", metavar="NAME=FOLDER")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    builds = {name: Path(folder) for name, folder in (b.split("=", 1) for b in args.builds)}
    sites = {name: unpack(folder) for name, folder in builds.items()}
    for name, site in sites.items():
        problems = check_portable(site / "llama_cpp" / "lib")
        log.info("%s: %s", name, "portable" if not problems else "; ".join(problems)[:300])
    runs: dict[str, list[Completion]] = {name: [] for name in builds}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for name, site in sites.items():
                timed = time_build(site, args.threads, args.repeats, args.max_tokens,
                                   Path(tmp) / f"{name}.log")
                log.info("round %d %s: %s", round_, name, "; ".join(c.summary() for c in timed))
                runs[name] += timed
    print("| build | runs | prompt tokens | prompt tok/s median (min-max) | generated tokens "
          "| generation tok/s median (min-max) |")
    print("|---|---|---|---|---|---|")
    for name, timed in runs.items():
        print(row(name, timed))


if __name__ == "__main__":
    main()
