"""The shipped tiny smoke detectors: a normal ultralytics checkpoint, loaded by the real call, that detects."""

from __future__ import annotations

import json
import shutil

import pytest

from instdiff.core import checkpoints
from instdiff.detection import yolo_models
from instdiff.detection import yolo_train
from instdiff.core.errors import InputError


def _record() -> dict:
    return json.loads((yolo_train.assets_dir() / yolo_train.RECORD).read_text())


@pytest.mark.parametrize("kind", ["detect", "segment"])
def test_shipped_file_matches_its_record_and_loads_through_yolo(kind):
    entry = _record()[kind]
    path = yolo_train.assets_dir() / entry["file"]
    assert checkpoints.sha256(path) == entry["sha256"]
    assert path.stat().st_size < 8e6
    model = yolo_models.load(path)
    assert model.task == kind and len(model.names) == 80 and model.names[0] == "person"
    assert entry["settings"]["seed"] != 2024  # trained on other images than the smoke's (run seed 2024)


def test_checkpoint_is_the_trainers_own_format_without_local_paths():
    import torch

    from instdiff.detection.ultralytics_env import setup

    setup()
    from ultralytics.nn.tasks import torch_safe_load

    path = yolo_train.assets_dir() / _record()["segment"]["file"]
    ckpt, _ = torch_safe_load(str(path), safe_only=True)  # ultralytics' allow-list loader (ULTRALYTICS_SAFE_LOAD)
    assert {"model", "train_args", "version", "date", "train_metrics"} <= set(ckpt)
    assert ckpt["optimizer"] is None and ckpt["ema"] is None and ckpt["epoch"] == -1  # as strip_optimizer leaves it
    assert type(ckpt["model"]).__name__ == "SegmentationModel"
    assert next(ckpt["model"].parameters()).dtype == torch.float16
    text = json.dumps({**ckpt["train_args"], **dict(ckpt["model"].args)}, default=str)
    assert "/tmp" not in text and ckpt["train_args"]["data"] == "yolo/data.yaml"
    assert b"instdiff-yolo-train-" not in path.read_bytes()  # the temporary training folder appears nowhere


@pytest.mark.parametrize("kind", ["detect", "segment"])
def test_pickle_holds_only_torch_ultralytics_and_builtin_classes(kind):
    """What a safe loader must allow for a trainer checkpoint: no numpy scalars, paths or instdiff objects."""
    import pickletools
    import zipfile

    path = yolo_train.assets_dir() / _record()[kind]["file"]
    with zipfile.ZipFile(path) as zf:
        data = zf.read(next(n for n in zf.namelist() if n.endswith("/data.pkl")))
    ops = list(pickletools.genops(data))
    modules = {str(arg).split()[0] for op, arg, _ in ops if op.name == "GLOBAL"}
    modules |= {ops[i - 2][1] for i, (op, _, _) in enumerate(ops) if op.name == "STACK_GLOBAL"}
    assert modules and all(m.split(".")[0] in ("torch", "ultralytics", "collections", "__builtin__", "builtins")
                           for m in modules), modules
    assert "ultralytics.nn.tasks" in modules


def test_build_tiny_refuses_a_file_that_differs_from_its_record(tmp_path, monkeypatch):
    assets = tmp_path / "assets"
    shutil.copytree(yolo_train.assets_dir(), assets)
    record = json.loads((assets / yolo_train.RECORD).read_text())
    with (assets / record["detect"]["file"]).open("ab") as fh:
        fh.write(b"\0")
    monkeypatch.setattr(yolo_models, "assets_dir", lambda: assets)
    with pytest.raises(InputError, match="SHA256"):
        yolo_models.build_tiny("yolov8m", tmp_path / "out.pt")
    assert not (tmp_path / "out.pt").exists()
    yolo_models.build_tiny("yolov8m-seg", tmp_path / "seg.pt")  # the untouched one still copies
    assert checkpoints.read_record(tmp_path / "seg.pt")["sha256"] == record["segment"]["sha256"]


def test_smoke_upper_bound_clears_the_floors(tmp_path):
    """The smoke's `real` row, by the smoke's own functions on its own synthetic images (other seed than training)."""
    got = yolo_train.smoke_upper_bound(tmp_path)
    for key, floor in yolo_train.SMOKE_FLOORS.items():
        assert got[key] >= floor, (key, got)
    # The row now sees interface bugs: a shifted category map or boxes on the wrong scale fall below the floor.
    from instdiff.metrics import files

    dets = json.loads((tmp_path / "detections_box.json").read_text())
    ids = sorted({c["id"] for c in json.loads((tmp_path / "annotations_512.json").read_text())["categories"]})
    broken = {"category": [{**d, "category_id": ids[(ids.index(d["category_id"]) + 1) % len(ids)]} for d in dets],
              "scale": [{**d, "bbox": [v * 0.8 for v in d["bbox"]]} for d in dets]}
    for name, bad in broken.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(bad))
        doc = files.coco_file(tmp_path / "annotations_512.json", tmp_path / f"{name}.json",
                              tmp_path / "images/done.json", None, tmp_path / f"m_{name}.json", "bbox", "real")
        assert doc["values"]["ap50"] < yolo_train.SMOKE_FLOORS["box_ap50"], name


def test_training_recipe_writes_loadable_recorded_checkpoints(tmp_path):
    """The committed recipe end to end at toy scale: trainer checkpoints, path-free, recorded, loadable."""
    record = yolo_train.train_tiny_detectors(tmp_path, n_train=4, n_val=4, epochs=1, detect_epochs=1, imgsz=64,
                                             batch=4)
    assert set(record) == {"detect", "segment"}
    assert json.loads((tmp_path / yolo_train.RECORD).read_text()) == record
    for kind, entry in record.items():
        path = tmp_path / entry["file"]
        assert checkpoints.sha256(path) == entry["sha256"] and entry["settings"]["epochs"] == 1
        assert yolo_models.load(path).task == kind
        assert str(tmp_path).encode() not in path.read_bytes() and b"instdiff-yolo-train-" not in path.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([yolo_train.RECORD, *yolo_train.FILES.values()])


def test_command_prints_one_json_object(tmp_path, capsys):
    from instdiff.cli import main

    assert main(["train-tiny-detector", "--out", str(tmp_path), "--task", "segment", "--n-train", "4", "--n-val", "4",
                 "--epochs", "1", "--imgsz", "64", "--batch", "4"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"segment"} and out["segment"]["settings"]["n_train"] == 4
