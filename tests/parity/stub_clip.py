"""The parity fixtures' stub CLIP (fixtures/instdiff-parity/README.md §7.2): a test stand-in, never shipped."""

from __future__ import annotations

import numpy as np

from instdiff.metrics.attribute import COLORS, TEXTURES

COLOR_PROTOS = np.array([(0, 0, 0), (1, 1, 1), (1, 0, 0), (0, 1, 0), (1, 1, 0), (0, 0, 1), (1, 0.75, 0.8), (0.5, 0, 0.5)],
                        dtype=np.float32)
TEXTURE_PROTOS = np.array([(0.2, 0.2, 0.2), (0.9, 0.9, 0.8), (0.6, 0.6, 0.65), (0.55, 0.35, 0.2), (0.2, 0.6, 0.9),
                           (0.7, 0.3, 0.5), (0.4, 0.25, 0.15), (0.8, 0.9, 0.95)], dtype=np.float32)


class StubClip:
    """17-dim features: colour/texture prototype affinities of the crop's mean RGB; bag of attribute words."""

    def encode_images(self, images):
        feats = []
        for im in images:
            x = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
            if x.shape[0] == 0 or x.shape[1] == 0:
                raise ValueError("zero-size crop")
            m = x.reshape(-1, 3).astype(np.float64).mean(axis=0)  # float64: a strided float32 sum drifts
            f = np.concatenate([np.exp(-4 * ((m - COLOR_PROTOS) ** 2).sum(-1)),
                                np.exp(-4 * ((m - TEXTURE_PROTOS) ** 2).sum(-1)), [0.5]])
            feats.append(f.astype(np.float32))
        return np.stack(feats)

    def encode_texts(self, texts):
        out = np.zeros((len(texts), 17), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                if word in COLORS:
                    out[i, COLORS.index(word)] += 1
                elif word in TEXTURES:
                    out[i, 8 + TEXTURES.index(word)] += 1
                else:
                    out[i, 16] += 0.25
        return out
