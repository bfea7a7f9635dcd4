"""The fixture README §1 weight rule: deterministic random weights keyed on the ORIGINAL parameter names.

Test helper only (tests/): regenerates ``ckpt["model"]`` of the fixture set from its ``weights_checksums.json``
(names, shapes, base_seed) so the parity tests can run it through our converter.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path

import numpy as np
import torch
from tests.conftest import parity_fixtures

REPO_ROOT = Path(__file__).resolve().parents[2]
_SCALEU = re.compile(r"^scaleu_[bs]_[0-9]+$")


def fixture_dir() -> Path:
    return parity_fixtures()


def checksums() -> dict:
    return json.loads((fixture_dir() / "weights_checksums.json").read_text())


def rule_tensor(name: str, shape, base_seed: int) -> torch.Tensor:
    shape = tuple(shape)
    last = name.rsplit(".", 1)[-1]
    if last in ("alpha_attn", "alpha_dense"):
        return torch.full(shape, 0.5, dtype=torch.float32)
    seed = int(hashlib.sha256((str(base_seed) + ":" + name).encode()).hexdigest()[:15], 16)
    z = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float32).double()
    if _SCALEU.match(name):
        v = 0.1 * z
    elif name.startswith("position_net.null_") or name == "position_net.pos_embedding":
        v = z
    elif len(shape) >= 2:
        v = z / math.sqrt(math.prod(shape[1:]))
    elif len(shape) == 1 and name.endswith("bias"):
        v = 0.02 * z
    elif len(shape) == 1 and last in ("weight", "gamma"):
        v = 1 + 0.1 * z
    else:
        raise AssertionError(f"no rule case for {name} {shape}")
    return v.float()


def rule_state_dict(prefix: str = "", check: bool = True) -> dict[str, torch.Tensor]:
    """All rule tensors whose original name starts with ``prefix``, checked against first4 / sum of the fixture."""
    info = checksums()
    out = {}
    for entry in info["tensors"]:
        name = entry["name"]
        if not name.startswith(prefix):
            continue
        t = rule_tensor(name, entry["shape"], info["base_seed"])
        if check:
            flat = t.reshape(-1)
            first4 = flat[:4].tolist()
            assert np.array_equal(np.float32(first4), np.float32(entry["first4"][: len(first4)])), name
            s = float(t.double().sum())
            assert math.isclose(s, entry["sum"], rel_tol=1e-9, abs_tol=1e-9 * math.sqrt(max(entry["sum_sq"], 1.0))), name
        out[name] = t
    return out
