"""Numbers and word lists fixed by the original InstanceDiffusion code: never configurable, defined only here.

Sources (``reference/original-instancediffusion.md``; file:line of the original repository):

* ``MAX_OBJS``: the instance slots, ``prepare_batch(max_objs=30)`` (``inference.py:46``, ``eval_local.py:156-158``);
  ``eval_attribute_binding.py`` keeps the same 30.
* ``N_SCRIBBLE_POINTS`` / ``N_POLYGON_POINTS``: ``text_grounding_net.py:18-19`` (``eval_pim.py``'s
  ``n_scribble_points`` is the same 20).
* ``SEG_RESOLUTION``: instance masks are resized (nearest) to 512x512; ``NUM_SEG_TOKENS``: the 64 tokens the
  ConvNeXt mask branch adds to the grounding sequence; ``FOURIER_FREQS``: the Fourier embedder's 16 frequencies
  (reference §8.3).
* ``LATENT_SCALE``: the SD1.5 autoencoder's ``scale_factor`` (the ldm config).
* ``TEXT_EMBED_DIM``: ``FrozenCLIPEmbedder`` (CLIP ViT-L/14) gives 768-d rows, the width of the grounding input's
  ``positive_embeddings``.
* ``NUM_TRAIN_TIMESTEPS`` / ``LINEAR_START`` / ``LINEAR_END``: the ldm ``linear`` noise schedule of SD1.5's config
  (``timesteps: 1000``, ``linear_start: 0.00085``, ``linear_end: 0.012``), which the sampler and the checkpoint
  converter both need.
* ``COLORS`` / ``TEXTURES``: ``--add_random_colors`` / ``--add_random_textures`` prefix ``COLORS[ann_id % 8]`` /
  ``TEXTURES[ann_id % 8]``; ``eval_attribute_binding.py`` classifies over the same lists, in the same order.
"""

from __future__ import annotations

MAX_OBJS = 30
N_SCRIBBLE_POINTS = 20
N_POLYGON_POINTS = 256
SEG_RESOLUTION = 512
NUM_SEG_TOKENS = 64
FOURIER_FREQS = 16
LATENT_SCALE = 0.18215
TEXT_EMBED_DIM = 768
NUM_TRAIN_TIMESTEPS = 1000
LINEAR_START = 0.00085
LINEAR_END = 0.012
COLORS = ["black", "white", "red", "green", "yellow", "blue", "pink", "purple"]
TEXTURES = ["rubber", "fluffy", "metallic", "wooden", "plastic", "fabric", "leather", "glass"]
