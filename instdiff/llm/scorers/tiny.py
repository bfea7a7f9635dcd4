"""Tiny random Grounding DINO and OWLv2 for the smoke config: built from configs, saved in the Hugging Face format,
so the shipped ``from_pretrained`` code loads them exactly like the released checkpoints.

They find nothing meaningful (random weights); they exist to run the real code path end to end offline.
"""

from __future__ import annotations

from pathlib import Path

from instdiff.llm.vocab import COCO_CATEGORIES

_SPECIAL_BERT = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _words() -> list[str]:
    words = sorted({w for name in COCO_CATEGORIES for w in name.split()} | {"a", "an", "the", "in", "on", "of", "with"})
    return [".", ","] + words


def build_tiny_grounding_dino(out_dir: str | Path, seed: int = 0, image_size: int = 64) -> Path:
    """A ~0.2 M-parameter GroundingDinoForObjectDetection + processor (Swin backbone, word-level BERT vocab)."""
    import torch
    from transformers import (
        BertConfig,
        BertTokenizer,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoImageProcessor,
        GroundingDinoProcessor,
        SwinConfig,
    )

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vocab = {token: i for i, token in enumerate(_SPECIAL_BERT + _words())}
    torch.manual_seed(seed)
    backbone = SwinConfig(
        embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1], window_size=4, image_size=image_size,
        out_features=["stage2", "stage3", "stage4"], out_indices=[2, 3, 4],
    )
    text = BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, vocab_size=len(vocab))
    config = GroundingDinoConfig(
        backbone_config=backbone, text_config=text, d_model=32, encoder_layers=1, decoder_layers=2,
        encoder_ffn_dim=32, decoder_ffn_dim=32, encoder_attention_heads=2, decoder_attention_heads=2,
        num_queries=20, encoder_n_points=2, decoder_n_points=2, max_text_len=32,
    )
    GroundingDinoForObjectDetection(config).eval().save_pretrained(out)
    tokenizer = BertTokenizer(vocab=vocab, do_lower_case=True, model_max_length=32)
    image_processor = GroundingDinoImageProcessor(size={"shortest_edge": image_size, "longest_edge": image_size})
    GroundingDinoProcessor(image_processor, tokenizer).save_pretrained(out)
    return out


def _clip_byte_vocab() -> dict[str, int]:
    """A character-level CLIP BPE vocabulary (bytes, bytes + '</w>', the two specials) with no merges."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    chars = list(bytes_to_unicode().values())
    tokens = chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(tokens)}


def build_tiny_owlv2(out_dir: str | Path, seed: int = 0, image_size: int = 64) -> Path:
    """A ~1.6 M-parameter Owlv2ForObjectDetection + processor (character-level CLIP tokenizer)."""
    import torch
    from transformers import CLIPTokenizer, Owlv2Config, Owlv2ForObjectDetection, Owlv2ImageProcessor, Owlv2Processor

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vocab = _clip_byte_vocab()
    torch.manual_seed(seed)
    config = Owlv2Config(
        text_config=dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=16,
                         bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"], pad_token_id=vocab["<|endoftext|>"]),
        vision_config=dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=2,
                           image_size=image_size, patch_size=16),
        projection_dim=32,
    )
    Owlv2ForObjectDetection(config).eval().save_pretrained(out)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=16)
    image_processor = Owlv2ImageProcessor(size={"height": image_size, "width": image_size})
    Owlv2Processor(image_processor, tokenizer).save_pretrained(out)
    return out


def build_tiny_scorer(kind: str, out_dir: str | Path, seed: int = 0) -> Path:
    """The tiny model of a scorer kind (smoke run); CogVLM has none (17B, cluster only)."""
    builders = {"grounding_dino": build_tiny_grounding_dino, "owlv2": build_tiny_owlv2}
    if kind not in builders:
        raise ValueError(f"no tiny model for scorer kind {kind!r}: run {kind} on the cluster (tiny: false)")
    return builders[kind](out_dir, seed)
