"""Batched greedy generation with transformers.

Evaluation prompts of one task share a long head (system prompt + instruction: 45 of ~75 tokens
for `math` with SmolLM2), and most answers are a few tokens long while a few run to the limit.
So `generate`:

- encodes the shared token prefix once and reuses its KV cache in every batch;
- batches the rest, left-padded between prefix and suffix, sorted by length;
- drops a row from the batch (and its cache) as soon as it emits EOS, so the long tail runs
  at the batch size it actually has.

Decoding is plain argmax, as `model.generate(do_sample=False)` does; where the model's generation
config asks for logits processors (repetition penalty, ...), `generate` defers to
`model.generate` with left padding instead.
"""
from __future__ import annotations

import copy
from typing import Any

import torch
from transformers import GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase

MIN_SHARED_PREFIX = 8   # tokens; shorter shared heads are not worth a separate forward pass
# generation-config fields that make greedy decoding differ from a plain argmax
_PROCESSOR_FIELDS = ("repetition_penalty", "encoder_repetition_penalty", "no_repeat_ngram_size",
                     "encoder_no_repeat_ngram_size", "bad_words_ids", "min_length", "min_new_tokens",
                     "forced_bos_token_id", "forced_eos_token_id", "suppress_tokens", "begin_suppress_tokens",
                     "sequence_bias", "exponential_decay_length_penalty", "stop_strings", "guidance_scale",
                     "watermarking_config", "renormalize_logits")


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


def _greedy_rows(model: Any, prefix: Any, prefix_len: int, rows: list[list[int]], pad: int,
                 stops: set[int], max_new_tokens: int) -> list[list[int]]:
    """Greedy continuations of `prefix + row` for each row; finished rows leave the batch."""
    device = model.device
    ids, mask = left_pad(rows, pad, device)
    if prefix_len:
        mask = torch.cat([torch.ones((len(rows), prefix_len), dtype=mask.dtype, device=device), mask], dim=1)
        cache = copy.deepcopy(prefix)
        cache.batch_repeat_interleave(len(rows))
    else:
        cache = None
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions[:, prefix_len:],
                past_key_values=cache, use_cache=True, logits_to_keep=1)
    cache, next_pos = out.past_key_values, positions[:, -1:] + 1
    active = list(range(len(rows)))        # original row index of each batch row
    generated: list[list[int]] = [[] for _ in rows]
    for step in range(max_new_tokens):
        tokens = out.logits[:, -1].float().argmax(-1)
        keep = []
        for j, token in enumerate(tokens.tolist()):
            generated[active[j]].append(token)
            if token not in stops:
                keep.append(j)
        if not keep or step == max_new_tokens - 1:
            break
        if len(keep) < len(active):
            index = torch.tensor(keep, device=device)
            cache.batch_select_indices(index)
            tokens, mask, next_pos = tokens[index], mask[index], next_pos[index]
            active = [active[j] for j in keep]
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        out = model(input_ids=tokens[:, None], attention_mask=mask, position_ids=next_pos,
                    past_key_values=cache, use_cache=True)
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
    with torch.inference_mode():
        prefix = None
        if prefix_len:
            head = torch.tensor([encoded[0][:prefix_len]], device=model.device)
            prefix = model(input_ids=head, use_cache=True, logits_to_keep=1).past_key_values
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
