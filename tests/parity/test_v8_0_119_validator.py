"""``detection.mode: validator`` with ``mask_path: v8.0.119`` against ultralytics 8.0.119's own validator.

The 8.0.119 wheel is fetched from the package registry at test time (``pip download --no-deps``, cached in
``~/.cache/instdiff/wheels`` or ``$INSTDIFF_WHEEL_CACHE``), unpacked in a temporary folder and run in a
subprocess (``ultralytics_8_0_119_worker.py``), so the venv's ultralytics is never replaced. Both sides get the same
raw network outputs (random boxes in clusters so that NMS suppresses, random class scores and mask coefficients,
random prototypes) for letterboxed batches of several shapes: square with and without padding, padding on the y
axis only, a fractional pad on the x axis only, pads on both axes, and a letterbox of the image's own size. The
wheel's validator runs with its own defaults (conf, iou, max_det), ours with ``VALIDATOR_SETTINGS``: detections
(class, score, box) and every mask pixel must agree.

Skipped only when the registry cannot be reached (or no pip exists to ask it); any other download failure fails.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

VERSION = "8.0.119"
WORKER = Path(__file__).with_name("ultralytics_8_0_119_worker.py")
NC, NM = 80, 32

# (letterbox (h, w), [(original (h, w), gain, pad (w, h)), ...]) per batch
BATCHES = [
    ((640, 640), [((512, 512), 1.25, (0.0, 0.0))]),                 # square, no padding
    ((672, 672), [((512, 512), 1.25, (16.0, 16.0))] * 2),           # square, padded on both axes (the paper's case)
    ((512, 640), [((480, 640), 1.0, (0.0, 16.0))]),                 # landscape, padding on y only
    ((640, 448), [((640, 427), 1.0, (10.5, 0.0))]),                 # portrait, fractional padding on x only
    ((512, 672), [((375, 500), 1.28, (16.0, 16.0))]),               # COCO-like, both axes
    ((640, 640), [((640, 640), 1.0, (0.0, 0.0))]),                  # letterbox of the image's own size
]


def _pip() -> list[str] | None:
    try:
        import pip  # noqa: F401

        return [sys.executable, "-m", "pip"]
    except ImportError:
        exe = shutil.which("pip3") or shutil.which("pip")
        return [exe] if exe else None


def _registry_reachable(host: str = "pypi.org") -> bool:
    try:
        socket.create_connection((host, 443), timeout=5).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def wheel_dir(tmp_path_factory) -> str:
    cache = Path(os.environ.get("INSTDIFF_WHEEL_CACHE", Path.home() / ".cache" / "instdiff" / "wheels"))
    wheels = sorted(cache.glob(f"ultralytics-{VERSION}-*.whl"))
    if not wheels:
        pip = _pip()
        if pip is None:
            pytest.skip("no pip to fetch the ultralytics 8.0.119 wheel with")
        cache.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run([*pip, "download", f"ultralytics=={VERSION}", "--no-deps", "--only-binary=:all:",
                               "-d", str(cache)], capture_output=True, text=True, timeout=300)
        wheels = sorted(cache.glob(f"ultralytics-{VERSION}-*.whl"))
        if not wheels:
            if not _registry_reachable():
                pytest.skip(f"package registry unreachable: cannot fetch ultralytics=={VERSION}")
            pytest.fail(f"pip download ultralytics=={VERSION} failed:\n{proc.stderr[-2000:]}")
    out = tmp_path_factory.mktemp("ultralytics_8_0_119")
    with zipfile.ZipFile(wheels[0]) as zf:
        zf.extractall(out)
    return str(out)


def _inputs(seed: int = 0):
    """Raw network outputs per batch: (bs, 4 + NC + NM, anchors) predictions and (bs, NM, h/4, w/4) prototypes."""
    rng = np.random.default_rng(seed)
    arrays, spec_batches = {}, []
    image_id = 1
    for b, (lb, images) in enumerate(BATCHES):
        h, w = lb
        bs, anchors = len(images), 500
        pred = np.zeros((bs, 4 + NC + NM, anchors), np.float32)
        for i in range(bs):
            centres = rng.uniform([0.1 * w, 0.1 * h], [0.9 * w, 0.9 * h], size=(6, 2))
            pick = rng.integers(0, len(centres), anchors)
            pred[i, 0:2] = (centres[pick] + rng.normal(0, 6, (anchors, 2))).T
            pred[i, 2] = rng.uniform(0.05 * w, 0.5 * w, anchors)
            pred[i, 3] = rng.uniform(0.05 * h, 0.5 * h, anchors)
            scores = rng.uniform(0, 1, (NC, anchors))
            pred[i, 4:4 + NC] = np.where(rng.uniform(0, 1, (NC, anchors)) < 0.002, scores, 1e-4)
            pred[i, 4 + NC:] = rng.normal(0, 1.5, (NM, anchors))
        arrays[f"pred{b}"] = pred
        arrays[f"proto{b}"] = rng.normal(0, 1, (bs, NM, h // 4, w // 4)).astype(np.float32)
        metas = []
        for orig, gain, pad in images:
            metas.append({"file": f"{image_id:012d}.jpg", "id": image_id, "orig": list(orig),
                          "ratio_pad": [[gain, gain], list(pad)]})
            image_id += 1
        spec_batches.append({"lb_shape": list(lb), "images": metas})
    return arrays, {"nc": NC, "batches": spec_batches}


def _theirs(wheel_dir: str, arrays: dict, spec: dict, tmp_path: Path) -> list[list[dict]]:
    np.savez(tmp_path / "in.npz", spec=json.dumps(spec), **arrays)
    env = {**os.environ, "YOLO_CONFIG_DIR": str(tmp_path / "yolo_config"), "YOLO_OFFLINE": "1",
           "YOLO_AUTOINSTALL": "0"}
    proc = subprocess.run([sys.executable, str(WORKER), wheel_dir, str(tmp_path / "in.npz"),
                           str(tmp_path / "out.json")], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads((tmp_path / "out.json").read_text())


def _ours(arrays: dict, spec: dict) -> list[list[dict]]:
    import torch

    from instdiff.detection.detect import VALIDATOR_SETTINGS, validator_postprocess
    from instdiff.detection.ultralytics_env import setup

    setup()
    from ultralytics.data.converter import coco80_to_coco91_class

    settings = {**VALIDATOR_SETTINGS, "mode": "validator", "mask_path": "v8.0.119"}
    out = []
    for b, batch in enumerate(spec["batches"]):
        preds = (torch.from_numpy(arrays[f"pred{b}"]), torch.from_numpy(arrays[f"proto{b}"]))
        metas = [(tuple(im["orig"]), (tuple(im["ratio_pad"][0]), tuple(im["ratio_pad"][1]))) for im in batch["images"]]
        records = validator_postprocess(preds, tuple(batch["lb_shape"]), metas, [im["id"] for im in batch["images"]],
                                        settings, "segment", NC, coco80_to_coco91_class())
        out.append([d for per_image in records for d in per_image])
    return out


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # pycocotools decode, numpy 2
def test_validator_v8_0_119_equals_the_wheel(wheel_dir, tmp_path):
    from pycocotools import mask as mask_utils

    arrays, spec = _inputs()
    theirs = _theirs(wheel_dir, arrays, spec, tmp_path)
    ours = _ours(arrays, spec)
    n_pixels = n_masks = 0
    for b, (t_batch, o_batch) in enumerate(zip(theirs, ours, strict=True)):
        assert len(t_batch) == len(o_batch) > 0, f"batch {b}: {len(o_batch)} detections, 8.0.119 has {len(t_batch)}"
        for t, o in zip(t_batch, o_batch):
            where = f"batch {b} image {o['image_id']}"
            assert (o["image_id"], o["category_id"], o["score"]) == (t["image_id"], t["category_id"], t["score"]), where
            assert o["bbox"] == t["bbox"], where
            mt, mo = mask_utils.decode(t["segmentation"]), mask_utils.decode(o["segmentation"])
            assert mt.shape == mo.shape, where
            differ = int((mt != mo).sum())
            assert differ == 0, f"{where}: {differ} of {mt.sum()} mask pixels differ from 8.0.119's"
            n_pixels += int(mt.sum())
            n_masks += 1
    assert n_masks > 50 and n_pixels > 0  # the comparison covered many non-empty masks
