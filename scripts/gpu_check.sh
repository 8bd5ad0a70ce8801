#!/usr/bin/env bash
# GPU check, for a machine with an NVIDIA GPU (run by hand or through the device tool).
# Runs tests/gpu and times one SmolLM2-135M-shaped node. Optional inputs, where the machine
# cannot install the project: .whl/ (wheels for Python 3.12) and .gpu/ (tokenizer, config).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/trex-gpu-check}; mkdir -p "$OUT"
PY=${PY:-python3}
if [ -d .whl ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
[ -d .gpu/tokenizer ] && export TREX_TOKENIZER_DIR=$PWD/.gpu/tokenizer
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
$PY -c "import torch, transformers, trl, peft, datasets; print('torch', torch.__version__, 'transformers', transformers.__version__, 'trl', trl.__version__, 'peft', peft.__version__, 'datasets', datasets.__version__)" | tee -a "$OUT/gpu.txt"
$PY -m pytest -q -p no:cacheprovider tests/gpu --ignore tests/gpu/test_vllm_server_gpu.py 2>&1 | tee "$OUT/gpu-tests.txt"
# llm=vllm: trex's vLLM server in a Ray actor holding a GPU (needs ray), /health, a chat reply, stop
$PY -m pytest -q -p no:cacheprovider tests/gpu/test_vllm_server_gpu.py 2>&1 | tee "$OUT/vllm-server.txt"
MODEL=${TREX_GPU_MODEL:-.gpu/smollm2-config}
if [ -d "$MODEL" ]; then
  $PY bench/node_phases.py --model "$MODEL" --random-init --samples 512 --dev 100 | tee "$OUT/node-phases.json"
fi
