"""Pooled instance-phrase embeddings and prompt contexts from the checkpoint's CLIP text encoder (tiny model)."""

from __future__ import annotations

import pytest
import torch

from instdiff.model.config import ModelConfig
from instdiff.model.convert import build_text_encoder
from instdiff.model.text import encode_prompts, pooled_phrase_embeddings
from instdiff.model.tiny import build_clip_tokenizer


@pytest.fixture(scope="module")
def clip():
    torch.manual_seed(0)
    return build_text_encoder(ModelConfig.tiny()).eval(), build_clip_tokenizer()


def test_pooled_is_the_end_of_text_hidden_state(clip):
    te, tok = clip
    pooled = pooled_phrase_embeddings(te, tok, ["a red car"])
    ids = tok(["a red car"]).input_ids[0]
    with torch.no_grad():
        hidden = te(torch.tensor([ids])).last_hidden_state
    torch.testing.assert_close(pooled[0], hidden[0, len(ids) - 1])  # EOS is the last token, after the final LN


def test_pooled_does_not_depend_on_batch_padding(clip):
    te, tok = clip
    alone = pooled_phrase_embeddings(te, tok, ["dog"])
    padded = pooled_phrase_embeddings(te, tok, ["dog", "a very long phrase about a fluffy white dog on grass"])
    torch.testing.assert_close(padded[:1], alone, atol=1e-6, rtol=1e-5)
    assert pooled_phrase_embeddings(te, tok, []).shape == (0, te.config.hidden_size)


def test_prompt_context_is_77_tokens(clip):
    te, tok = clip
    ctx = encode_prompts(te, tok, ["a cat", ""])
    assert ctx.shape == (2, 77, te.config.hidden_size)
