"""Runs ultralytics 8.0.119's own segmentation validator (unpacked from its wheel) on tensors from an .npz file.

Run as ``python ultralytics_8_0_119_worker.py WHEEL_DIR IN.npz OUT.json`` in a subprocess, with ``WHEEL_DIR``
first on ``sys.path``, so that 8.0.119 is imported as ``ultralytics`` without touching the venv's ultralytics.

What runs is the wheel's code: ``SegmentationValidator.init_metrics`` (a COCO ``val2017.txt`` path, so
``save_json`` is forced and ``process_mask_upsample`` chosen, as for the paper), ``preprocess``, ``postprocess``
(its NMS) and ``update_metrics`` (box scaling, the uint8 cast, ``scale_image``, ``pred_to_json``). The only
stand-ins are for the environment, not the code under test:

- ``pkg_resources`` (setuptools, absent from this venv) which 8.0.119's ``checks.py`` imports: version parsing
  and ``require`` come from ``packaging`` and ``importlib.metadata``;
- the NMS wall-clock limit is lifted (on a loaded CPU it cuts a batch short at a random image);
- no network: 8.0.119 probes DNS servers (1.1.1.1:53, ...) when imported (``utils.is_online``); sockets are refused
  in this process, which it reads as offline.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import sys
import types
from pathlib import Path


def _pkg_resources() -> types.ModuleType:
    import packaging.requirements
    import packaging.version

    mod = types.ModuleType("pkg_resources")

    class DistributionNotFound(Exception):
        pass

    class VersionConflict(Exception):
        pass

    def parse_requirements(text):
        lines = text if isinstance(text, (list, tuple)) else str(text).splitlines()
        for line in lines:
            line = line.split("#")[0].strip()
            if line:
                yield packaging.requirements.Requirement(line)

    def require(spec):
        req = packaging.requirements.Requirement(spec)
        try:
            version = importlib.metadata.version(req.name)
        except importlib.metadata.PackageNotFoundError:
            raise DistributionNotFound(spec) from None
        if version not in req.specifier:
            raise VersionConflict(f"{req.name} {version} does not satisfy {spec}")

    mod.parse_version = packaging.version.parse
    mod.parse_requirements = parse_requirements
    mod.require = require
    mod.DistributionNotFound = DistributionNotFound
    mod.VersionConflict = VersionConflict
    return mod


def _no_network(*args, **kwargs):
    raise OSError("no network in the ultralytics 8.0.119 parity worker")


def main(wheel_dir: str, in_path: str, out_path: str) -> None:
    import socket

    socket.create_connection = _no_network  # the wheel's import-time online probe
    sys.path.insert(0, wheel_dir)
    sys.modules.setdefault("pkg_resources", _pkg_resources())
    import numpy as np
    import torch

    import ultralytics
    from ultralytics.yolo.cfg import get_cfg
    from ultralytics.yolo.utils import DEFAULT_CFG, ops
    from ultralytics.yolo.v8.segment.val import SegmentationValidator

    assert ultralytics.__version__ == "8.0.119" and ultralytics.__file__.startswith(wheel_dir), ultralytics.__file__
    ops.non_max_suppression = functools.partial(ops.non_max_suppression, max_time_img=1e6)

    data = np.load(in_path)
    spec = json.loads(str(data["spec"]))
    work = Path(out_path).parent / "v8_0_119_val"
    # 8.0.119's own defaults for conf (None -> 0.001 in BaseValidator), iou and max_det: the test compares them
    # with ours. Plots off: they need fonts from the network and do not touch the results.
    args = get_cfg(DEFAULT_CFG, {"mode": "val", "plots": False})
    validator = SegmentationValidator(save_dir=work, args=args)
    validator.training = False  # as __call__ sets it for `yolo val` (no trainer)
    validator.data = {"val": str(Path("datasets") / "coco" / "val2017.txt")}
    names = {i: f"class{i}" for i in range(spec["nc"])}
    validator.init_metrics(types.SimpleNamespace(names=names))
    assert validator.args.save_json and validator.process is ops.process_mask_upsample

    out = []
    for b, batch_spec in enumerate(spec["batches"]):
        bs = len(batch_spec["images"])
        h, w = batch_spec["lb_shape"]
        batch = {"img": torch.zeros((bs, 3, h, w), dtype=torch.uint8),
                 "batch_idx": torch.zeros(0), "cls": torch.zeros((0, 1)), "bboxes": torch.zeros((0, 4)),
                 "masks": torch.zeros((bs, h // 4, w // 4)),
                 "ori_shape": [tuple(im["orig"]) for im in batch_spec["images"]],
                 "ratio_pad": [(tuple(im["ratio_pad"][0]), tuple(im["ratio_pad"][1])) for im in batch_spec["images"]],
                 "im_file": [im["file"] for im in batch_spec["images"]]}
        batch = validator.preprocess(batch)
        pred = torch.from_numpy(data[f"pred{b}"])
        proto = torch.from_numpy(data[f"proto{b}"])
        preds = validator.postprocess((pred, (None, None, proto)))
        validator.jdict = []
        validator.update_metrics(preds, batch)
        out.append(validator.jdict)
    Path(out_path).write_text(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:4])
