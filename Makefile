# One command to set up and run the main job; one to set up and run the tests.
.PHONY: setup run test test-all lint gpu-check

# Nothing on the default path needs the Hub; offline avoids 30-50 s lookup time-outs.
export HF_HUB_OFFLINE ?= 1

setup:
	./scripts/setup.sh

run: setup
	.venv/bin/python -m trex.launch +task=math $(ARGS)

# The default suite (what CI runs): everything but the tests marked slow.
test: setup
	.venv/bin/python -m pytest -ra -m "not slow" $(ARGS)

# Everything, with the slow real-SmolLM2 / llama.cpp runs and the default command end to end.
test-all: setup
	.venv/bin/python -m pytest -ra $(ARGS)

lint: setup
	.venv/bin/ruff check .
	.venv/bin/mypy

gpu-check:
	bash scripts/gpu_check.sh
