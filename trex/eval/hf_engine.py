"""Batched greedy generation with transformers.

Evaluation prompts of one task share a long head (system prompt + instruction: 45 of ~75 tokens
for `math` with SmolLM2), and most answers are a few tokens long while a few run to the limit.
So `generate`:

- encodes the shared token prefix once and reuses its KV cache in every batch;
- prefills the rest in small groups of similar length (little padding), then decodes the whole
  batch laid out as [prefix][padding][own tokens] under a padding mask;
- drops a row from the batch (and its cache) as soon as it emits EOS, so the long tail runs
  at the batch size it actually has;
- on CPU, lets SDPA take grouped-query heads as they are under that mask (see `_sdpa_masked_gqa`).

Completions are token-for-token those of one-prompt-at-a-time `model.generate` in float32 (the
tests and bench/eval_throughput.py check it); in bf16, batching may flip near-tied argmaxes.

Decoding is plain argmax, as `model.generate(do_sample=False)` does; where the model's generation
config asks for logits processors (repetition penalty, ...), `generate` defers to
`model.generate` with left padding instead.
"""
from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import Any

import torch
from transformers import AttentionInterface, DynamicCache, GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase
from transformers.cache_utils import DynamicLayer
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

MIN_SHARED_PREFIX = 8   # tokens; shorter shared heads are not worth a separate forward pass
PREFILL_GROUP = 8       # rows per prefill forward: enough to fill the matmuls, few enough to pad little
# generation-config fields that make greedy decoding differ from a plain argmax
_PROCESSOR_FIELDS = ("repetition_penalty", "encoder_repetition_penalty", "no_repeat_ngram_size",
                     "encoder_no_repeat_ngram_size", "bad_words_ids", "min_length", "min_new_tokens",
                     "forced_bos_token_id", "forced_eos_token_id", "suppress_tokens", "begin_suppress_tokens",
                     "sequence_bias", "exponential_decay_length_penalty", "stop_strings", "guidance_scale",
                     "watermarking_config", "renormalize_logits")


def _sdpa_masked_gqa(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                     attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                     **kwargs: Any) -> tuple[torch.Tensor, None]:
    """transformers' SDPA attention, except that under a padding mask grouped-query heads go to
    torch as they are (`enable_gqa`) instead of being copied out to every query head first: on
    CPU that copy is most of a decode step's attention time. Same kernel, same result."""
    if attention_mask is None or kwargs.get("position_bias") is not None or kwargs.get("cache") is not None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout, scaling, **kwargs)
    out = torch.nn.functional.scaled_dot_product_attention(
        query, key, value, attn_mask=attention_mask, dropout_p=dropout, scale=scaling,
        enable_gqa=query.shape[1] != key.shape[1])
    return out.transpose(1, 2).contiguous(), None


MASKED_GQA = "trex_sdpa_masked_gqa"
AttentionInterface.register(MASKED_GQA, _sdpa_masked_gqa)
AttentionMaskInterface.register(MASKED_GQA, sdpa_mask)


@contextlib.contextmanager
def masked_gqa(model: Any) -> Iterator[None]:
    """Run a CPU model that uses SDPA with `_sdpa_masked_gqa` for the duration (restored after)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model   # a PeftModel's own model
    if model.device.type != "cpu" or getattr(base.config, "_attn_implementation", None) != "sdpa":
        yield
        return
    base.set_attn_implementation(MASKED_GQA)
    try:
        yield
    finally:
        base.set_attn_implementation("sdpa")


def encode(tokenizer: PreTrainedTokenizerBase, chats: list[list[dict[str, str]]]) -> list[list[int]]:
    """Prompt token ids: the chat template with the generation prompt, no extra special tokens."""
    prompts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in chats]
    return [list(ids) for ids in tokenizer(prompts, add_special_tokens=False)["input_ids"]]


def pad_id(tokenizer: PreTrainedTokenizerBase) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def left_pad(rows: list[list[int]], pad: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask) with every row right-aligned."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row):] = torch.tensor(row, dtype=torch.long)
        mask[i, width - len(row):] = 1
    return ids.to(device), mask.to(device)


def shared_prefix_len(rows: list[list[int]]) -> int:
    """Length of the common head of all rows, leaving each row at least one token of its own."""
    limit = min(len(r) for r in rows) - 1
    n = 0
    while n < limit and all(r[n] == rows[0][n] for r in rows):
        n += 1
    return n


def stop_ids(model: Any, tokenizer: PreTrainedTokenizerBase) -> set[int]:
    eos = getattr(model.generation_config, "eos_token_id", None)
    eos = tokenizer.eos_token_id if eos is None else eos
    return set(eos) if isinstance(eos, list | tuple) else {eos}


def plain_greedy(config: GenerationConfig) -> bool:
    """Whether greedy decoding under `config` is argmax of the raw logits."""
    default = GenerationConfig()
    return all(getattr(config, f, None) == getattr(default, f, None) for f in _PROCESSOR_FIELDS)


def plain_cache(cache: Any) -> bool:
    """Whether `cache` is a DynamicCache of full-attention layers (no sliding window, no state)."""
    return isinstance(cache, DynamicCache) and all(type(layer) is DynamicLayer for layer in cache.layers)


def _prefill(model: Any, prefix: Any, prefix_len: int, rows: list[list[int]], pad: int,
             group: int) -> tuple[torch.Tensor, Any, torch.Tensor]:
    """Last-token logits, KV cache and attention mask for `prefix + row`, one batch row per row.

    Rows (sorted by length) run `group` at a time, each group padded only to its own longest row;
    the groups' caches are then joined with masked zero entries between prefix and suffix, so the
    batch layout is [prefix][padding][row] for every row.
    """
    device, width = model.device, max(len(r) for r in rows)
    logits: list[torch.Tensor] = []
    masks: list[torch.Tensor] = []
    keys: list[list[torch.Tensor]] = []
    values: list[list[torch.Tensor]] = []
    for start in range(0, len(rows), group):
        chunk = rows[start:start + group]
        ids, mask = left_pad(chunk, pad, device)
        mask = torch.cat([mask.new_ones((len(chunk), prefix_len)), mask], dim=1)
        cache = None
        if prefix_len:
            cache = copy.deepcopy(prefix)
            cache.batch_repeat_interleave(len(chunk))
        positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, prefix_len:]
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache,
                    use_cache=True, logits_to_keep=1)
        gap = width - ids.shape[1]
        logits.append(out.logits[:, -1])
        masks.append(torch.cat([mask[:, :prefix_len], mask.new_zeros((len(chunk), gap)), mask[:, prefix_len:]], 1))
        for store, tensors in ((keys, [layer.keys for layer in out.past_key_values.layers]),
                               (values, [layer.values for layer in out.past_key_values.layers])):
            store.append([torch.cat([t[:, :, :prefix_len], t.new_zeros((*t.shape[:2], gap, t.shape[3])),
                                     t[:, :, prefix_len:]], dim=2) for t in tensors])
    cache = DynamicCache()
    for layer in range(len(keys[0])):
        cache.update(torch.cat([k[layer] for k in keys]), torch.cat([v[layer] for v in values]), layer)
    return torch.cat(logits), cache, torch.cat(masks)


def _greedy_rows(model: Any, prefix: Any, prefix_len: int, rows: list[list[int]], pad: int,
                 stops: set[int], max_new_tokens: int) -> list[list[int]]:
    """Greedy continuations of `prefix + row` for each row (sorted by length); finished rows leave the batch."""
    logits, cache, mask = _prefill(model, prefix, prefix_len, rows, pad, PREFILL_GROUP)
    next_pos = mask.sum(-1, keepdim=True)   # real tokens so far = the next position
    active = list(range(len(rows)))        # original row index of each batch row
    generated: list[list[int]] = [[] for _ in rows]
    for step in range(max_new_tokens):
        tokens = logits.float().argmax(-1)
        keep = []
        for j, token in enumerate(tokens.tolist()):
            generated[active[j]].append(token)
            if token not in stops:
                keep.append(j)
        if not keep or step == max_new_tokens - 1:
            break
        if len(keep) < len(active):
            index = torch.tensor(keep, device=model.device)
            cache.batch_select_indices(index)
            tokens, mask, next_pos = tokens[index], mask[index], next_pos[index]
            active = [active[j] for j in keep]
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        logits = model(input_ids=tokens[:, None], attention_mask=mask, position_ids=next_pos,
                       past_key_values=cache, use_cache=True).logits[:, -1]
        next_pos = next_pos + 1
    return generated


def _generate_hf(model: Any, rows: list[list[int]], pad: int, max_new_tokens: int) -> list[list[int]]:
    """`model.generate` on left-padded rows (for generation configs with logits processors)."""
    ids, mask = left_pad(rows, pad, model.device)
    out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
                         pad_token_id=pad)
    return out[:, ids.shape[1]:].tolist()


def generate(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, chats: list[list[dict[str, str]]],
             *, batch_size: int, max_new_tokens: int, use_hf_generate: bool = False) -> list[str]:
    """Greedy completion of each chat, in input order, special tokens removed, stripped.

    `use_hf_generate` forces `model.generate` on left-padded batches (the reference path).
    """
    if not chats:
        return []
    encoded = encode(tokenizer, chats)
    pad, stops = pad_id(tokenizer), stop_ids(model, tokenizer)
    fast = plain_greedy(model.generation_config) and not use_hf_generate
    prefix_len = shared_prefix_len(encoded) if fast else 0
    prefix_len = prefix_len if prefix_len >= MIN_SHARED_PREFIX else 0
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    outputs: list[str] = [""] * len(encoded)
    model.eval()
    with torch.inference_mode(), masked_gqa(model) if fast else contextlib.nullcontext():
        prefix = None
        if fast:   # the shared head's cache; its layers also tell whether the cache can be re-laid out
            head = torch.tensor([encoded[0][:max(prefix_len, 1)]], device=model.device)
            prefix = model(input_ids=head, use_cache=True, logits_to_keep=1).past_key_values
            fast = plain_cache(prefix)
            prefix_len = prefix_len if fast else 0
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            if fast:
                new = _greedy_rows(model, prefix, prefix_len, [encoded[i][prefix_len:] for i in idx], pad, stops,
                                   max_new_tokens)
            else:
                new = _generate_hf(model, [encoded[i] for i in idx], pad, max_new_tokens)
            for i, text in zip(idx, tokenizer.batch_decode(new, skip_special_tokens=True), strict=True):
                outputs[i] = text.strip()
    return outputs
