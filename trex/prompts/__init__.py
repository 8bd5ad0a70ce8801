"""All prompt text trex sends to an LLM lives in this package, rendered by typed functions."""
from trex.prompts.data import render_rewrite, render_score, render_synthesize
from trex.prompts.propose import TaskCard, render_propose, render_retry

__all__ = ["TaskCard", "render_propose", "render_retry", "render_rewrite", "render_score", "render_synthesize"]
