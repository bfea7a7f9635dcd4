"""Instance-masked fuser self-attention (``--use_masked_att`` of the original; off by default, reference §1.4.2-3).

The original masks the fuser's self-attention only in the blocks at full latent resolution (64x64 for 512 px) and
only with ``efficient_attention: False``. Token layout: [HW visual | 30 box | 30 point | 30 scribble | 30 polygon |
64 seg]. With A the (30, HW) instance masks ``att_masks`` flattened as stored (the original's first axis is x, so
this is the transpose of the visual-token order; the training data did the same, so it is kept), the allowed pairs:

* visual i -> visual j iff some instance k covers both i and j (background-background pairs are blocked);
* box / polygon token k <-> visual i iff A[k, i]; point / scribble tokens <-> visual: always;
* grounding <-> grounding and every seg-token row / column: always; and every token attends to itself.

The original checks "any box pixel" over the whole (usually size 1) batch; batched here, the check is per row, so a
batch of [conditional, unconditional] rows equals the two separate calls (unconditional rows are not masked).
"""

from __future__ import annotations

import torch

from instdiff.core.original_constants import NUM_SEG_TOKENS


def att_masks_from_boxes(boxes: torch.Tensor, size: int = 64) -> torch.Tensor:
    """The original ``get_attmask_w_box``: (B,30,4) normalised xyxy -> (B,30,size,size), 1 on
    [round(size*x0):round(size*x1), round(size*y0):round(size*y1)] (first axis x; Python rounding)."""
    b, n, _ = boxes.shape
    out = torch.zeros(b, n, size, size, dtype=boxes.dtype, device=boxes.device)
    for i in range(b):
        for k in range(n):
            x0, y0, x1, y1 = (round(size * float(v)) for v in boxes[i, k])
            out[i, k, x0:x1, y0:y1] = 1
    return out


def instance_attention_mask(att_masks: torch.Tensor) -> torch.Tensor:
    """Boolean (B,1,N,N) mask (True = may attend) for N = HW + 4*30 + 64 tokens; rows without any instance pixel
    get no masking."""
    b, n_objs = att_masks.shape[:2]
    a = (att_masks.reshape(b, n_objs, -1) > 0).float()  # (B, 30, HW)
    hw = a.shape[-1]
    n = hw + 4 * n_objs + NUM_SEG_TOKENS
    mask = torch.ones(b, n, n, dtype=torch.bool, device=att_masks.device)
    mask[:, :hw, :hw] = torch.bmm(a.transpose(1, 2), a) > 0
    inst = a > 0
    box = slice(hw, hw + n_objs)
    poly = slice(hw + 3 * n_objs, hw + 4 * n_objs)
    for rows in (box, poly):
        mask[:, rows, :hw] = inst
        mask[:, :hw, rows] = inst.transpose(1, 2)
    mask |= torch.eye(n, dtype=torch.bool, device=mask.device)
    active = a.flatten(1).sum(1) > 0
    mask[~active] = True
    return mask.unsqueeze(1)

