"""Name maps between the original (ldm) checkpoint and our diffusers modules, both directions.

The maps are built from the model structure (``UNetConfig`` / ``VAEConfig``) as a table of block prefixes, so the
same code converts the released SD1.5-size checkpoint and the tiny smoke checkpoint. The inverse maps only name keys in
messages: the tiny checkpoint is written from the original's own layout (``original_layout.py``), so the converter is
tested against names it did not produce. InstanceDiffusion's additions keep their names: ``position_net.*`` and
``scaleu_*`` unchanged, fusers inside their transformer block (``...transformer_blocks.0.fuser.*``), reference §2.3.
"""

from __future__ import annotations

from instdiff.model.config import UNetConfig, VAEConfig

# ldm ResBlock -> diffusers ResnetBlock2D (UNet)
_UNET_RESNET = {"in_layers.0": "norm1", "in_layers.2": "conv1", "emb_layers.1": "time_emb_proj",
                "out_layers.0": "norm2", "out_layers.3": "conv2", "skip_connection": "conv_shortcut"}
# ldm VAE ResnetBlock -> diffusers ResnetBlock2D
_VAE_RESNET = {"norm1": "norm1", "conv1": "conv1", "norm2": "norm2", "conv2": "conv2", "nin_shortcut": "conv_shortcut"}
# ldm VAE AttnBlock (1x1 convs) -> diffusers Attention (linears)
_VAE_ATTN = {"norm": "group_norm", "q": "to_q", "k": "to_k", "v": "to_v", "proj_out": "to_out.0"}


def unet_blocks(cfg: UNetConfig) -> list[tuple[str, str, dict | None]]:
    """(ldm prefix, diffusers prefix, inner rename table or None) for every block of the UNet trunk."""
    rows: list[tuple[str, str, dict | None]] = [
        ("time_embed.0", "time_embedding.linear_1", None),
        ("time_embed.2", "time_embedding.linear_2", None),
        ("input_blocks.0.0", "conv_in", None),
        ("out.0", "conv_norm_out", None),
        ("out.2", "conv_out", None),
        ("middle_block.0", "mid_block.resnets.0", _UNET_RESNET),
        ("middle_block.1", "mid_block.attentions.0", {}),
        ("middle_block.2", "mid_block.resnets.1", _UNET_RESNET),
    ]
    levels, n_layers = len(cfg.block_out_channels), cfg.layers_per_block
    k = 1
    for lvl in range(levels):
        for j in range(n_layers):
            rows.append((f"input_blocks.{k}.0", f"down_blocks.{lvl}.resnets.{j}", _UNET_RESNET))
            if cfg.attention_levels[lvl]:
                rows.append((f"input_blocks.{k}.1", f"down_blocks.{lvl}.attentions.{j}", {}))
            k += 1
        if lvl < levels - 1:
            rows.append((f"input_blocks.{k}.0.op", f"down_blocks.{lvl}.downsamplers.0.conv", None))
            k += 1
    k = 0
    for up in range(levels):
        attn = cfg.attention_levels[levels - 1 - up]
        for j in range(n_layers + 1):
            rows.append((f"output_blocks.{k}.0", f"up_blocks.{up}.resnets.{j}", _UNET_RESNET))
            if attn:
                rows.append((f"output_blocks.{k}.1", f"up_blocks.{up}.attentions.{j}", {}))
            if j == n_layers and up < levels - 1:
                rows.append((f"output_blocks.{k}.{2 if attn else 1}.conv", f"up_blocks.{up}.upsamplers.0.conv", None))
            k += 1
    return rows


def vae_blocks(cfg: VAEConfig) -> list[tuple[str, str, dict | None]]:
    rows: list[tuple[str, str, dict | None]] = []
    levels = len(cfg.block_out_channels)
    for part in ("encoder", "decoder"):
        rows += [
            (f"{part}.conv_in", f"{part}.conv_in", None),
            (f"{part}.conv_out", f"{part}.conv_out", None),
            (f"{part}.norm_out", f"{part}.conv_norm_out", None),
            (f"{part}.mid.block_1", f"{part}.mid_block.resnets.0", _VAE_RESNET),
            (f"{part}.mid.block_2", f"{part}.mid_block.resnets.1", _VAE_RESNET),
            (f"{part}.mid.attn_1", f"{part}.mid_block.attentions.0", _VAE_ATTN),
        ]
    for i in range(levels):
        for j in range(cfg.layers_per_block):
            rows.append((f"encoder.down.{i}.block.{j}", f"encoder.down_blocks.{i}.resnets.{j}", _VAE_RESNET))
        if i < levels - 1:
            rows.append((f"encoder.down.{i}.downsample.conv", f"encoder.down_blocks.{i}.downsamplers.0.conv", None))
        up = levels - 1 - i  # ldm numbers decoder levels from the bottom, diffusers from the top
        for j in range(cfg.layers_per_block + 1):
            rows.append((f"decoder.up.{i}.block.{j}", f"decoder.up_blocks.{up}.resnets.{j}", _VAE_RESNET))
        if i > 0:
            rows.append((f"decoder.up.{i}.upsample.conv", f"decoder.up_blocks.{up}.upsamplers.0.conv", None))
    rows += [("quant_conv", "quant_conv", None), ("post_quant_conv", "post_quant_conv", None)]
    return rows


def _rename(name: str, rows, forward: bool) -> str | None:
    """Map one name with the block table; None when no block claims it."""
    best = None
    for ldm, diff, inner in rows:
        src, dst = (ldm, diff) if forward else (diff, ldm)
        if name.startswith(src + ".") and (best is None or len(src) > len(best[0])):
            best = (src, dst, inner)
    if best is None:
        return None
    src, dst, inner = best
    rest = name[len(src) + 1 :]
    if inner:
        table = inner if forward else {v: k for k, v in inner.items()}
        for a in sorted(table, key=len, reverse=True):
            if rest.startswith(a + "."):
                rest = table[a] + rest[len(a) :]
                break
        else:
            return None
    return f"{dst}.{rest}"


def unet_to_diffusers(name: str, cfg: UNetConfig) -> str | None:
    """Original UNetModel key -> key of InstanceDiffusionUNet (``unet.`` prefix for the diffusers trunk)."""
    if name.startswith("position_net.") or name.startswith("scaleu_"):
        return name
    mapped = _rename(name, unet_blocks(cfg), forward=True)
    return None if mapped is None else "unet." + mapped


def unet_to_original(name: str, cfg: UNetConfig) -> str | None:
    if name.startswith("position_net.") or name.startswith("scaleu_"):
        return name
    if not name.startswith("unet."):
        return None
    return _rename(name[len("unet.") :], unet_blocks(cfg), forward=False)


def vae_to_diffusers(name: str, cfg: VAEConfig) -> str | None:
    return _rename(name, vae_blocks(cfg), forward=True)


def vae_to_original(name: str, cfg: VAEConfig) -> str | None:
    return _rename(name, vae_blocks(cfg), forward=False)


def is_vae_attention_weight(diffusers_name: str) -> bool:
    """ldm stores the VAE mid-attention q/k/v/proj_out as 1x1 convs; diffusers as linears (reshape needed)."""
    return ".mid_block.attentions.0.to_" in diffusers_name and diffusers_name.endswith("weight")


TEXT_PREFIX = "transformer."  # FrozenCLIPEmbedder holds the HF CLIPTextModel as ``transformer``
# transformers 4.27 (the release) nests the text tower as ``text_model.``; transformers 5.x's CLIPTextModel has no
# such level. Both spellings are read; the release's is written back in messages.
TEXT_MODEL_LEVEL = "text_model."
TEXT_NAMINGS = ("transformers-4.27", "transformers-5")
# ``position_ids`` is a buffer (persistent in 4.27, so in the release; not persistent in 5.x): checked, not loaded.
TEXT_POSITION_IDS = "transformer.text_model.embeddings.position_ids"
TEXT_POSITION_IDS_NAMES = (TEXT_POSITION_IDS, "transformer.embeddings.position_ids")


def text_naming(names) -> str:
    """Which transformers version wrote a text-encoder section, from its key names."""
    nested = any(n.startswith(TEXT_PREFIX + TEXT_MODEL_LEVEL) for n in names)
    return TEXT_NAMINGS[0] if nested else TEXT_NAMINGS[1]


def text_to_diffusers(name: str) -> str | None:
    """``transformer.text_model.X`` (4.27) or ``transformer.X`` (5.x) -> ``X`` of our CLIPTextModel."""
    if not name.startswith(TEXT_PREFIX):
        return None
    name = name[len(TEXT_PREFIX) :]
    return name[len(TEXT_MODEL_LEVEL) :] if name.startswith(TEXT_MODEL_LEVEL) else name


def text_to_original(name: str, naming: str = TEXT_NAMINGS[0]) -> str:
    level = TEXT_MODEL_LEVEL if naming == TEXT_NAMINGS[0] else ""
    return TEXT_PREFIX + level + name
