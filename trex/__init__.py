"""trex: agent-driven tree search over LLM fine-tuning experiments."""
__version__ = "0.1.0"
