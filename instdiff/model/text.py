"""CLIP text encodings used by InstanceDiffusion, both from the checkpoint's own CLIP text encoder.

* ``encode_prompts``: the prompt context, as the original FrozenCLIPEmbedder: pad / truncate to 77 tokens
  ("max_length"), ``last_hidden_state`` (B, 77, hidden).
* ``pooled_phrase_embeddings``: the per-instance ``positive_embeddings``. The original loads HF
  ``CLIPModel("openai/clip-vit-large-patch14")`` and takes ``text_model_output.pooler_output`` of each phrase tokenised
  with ``padding=True``: the final-LayerNorm hidden state at the end-of-text token, before the text projection.
  The text tower of that CLIPModel has the same weights as the SD1.5 text encoder stored in the InstanceDiffusion
  checkpoint (SD1.5 froze CLIP ViT-L/14's text model), so we compute it with the converted ``CLIPTextModel``; with a
  causal mask the pooled vector does not depend on the padding, so one batch per call gives the same result.
  Phrases longer than 77 tokens are truncated (the original would fail on them).
"""

from __future__ import annotations

import torch


@torch.no_grad()
def encode_prompts(text_encoder, tokenizer, prompts: list[str]) -> torch.Tensor:
    ids = tokenizer(prompts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                    return_tensors="pt").input_ids
    return text_encoder(ids.to(text_encoder.device)).last_hidden_state


@torch.no_grad()
def pooled_phrase_embeddings(text_encoder, tokenizer, phrases: list[str]) -> torch.Tensor:
    """(len(phrases), hidden) pooled CLIP text embeddings; an empty list gives a (0, hidden) tensor."""
    hidden = text_encoder.config.hidden_size
    if not phrases:
        return torch.zeros(0, hidden, device=text_encoder.device, dtype=text_encoder.dtype)
    enc = tokenizer(phrases, padding=True, max_length=tokenizer.model_max_length, truncation=True,
                    return_tensors="pt")
    out = text_encoder(input_ids=enc.input_ids.to(text_encoder.device),
                       attention_mask=enc.attention_mask.to(text_encoder.device))
    return out.pooler_output
