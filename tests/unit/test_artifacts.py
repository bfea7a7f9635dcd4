"""Artifacts of the real run, each as a stand-in in the real container read by the shipped loading code
(docs/artifacts.md lists every artifact and its test): the CLIP tokenizer folder in the hub's layout, the open_clip
weights in a Hugging Face cache found offline, the SDXL refiner as a saved hub folder."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import torch

from instdiff.model.tiny import _bytes_to_unicode, build_clip_tokenizer
from tests.unit.test_refiner import refiner  # noqa: F401 (the tiny SDXL img2img pipeline fixture)

TEXTS = ["a red car", "A photo of two Dogs, playing!", "zebra  giraffe\tsurfboard 123"]


# ---------------------------------------------------------------------------------------------- CLIP tokenizer
def _special(content: str) -> dict:
    return {"content": content, "single_word": False, "lstrip": False, "rstrip": False, "normalized": True}


def write_hub_tokenizer_folder(folder, with_fast: bool):
    """The files of ``openai/clip-vit-large-patch14`` at the pinned revision (instdiff.model.release): the slow
    tokenizer's ``vocab.json`` (49408 entries) and ``merges.txt`` (``#version: 0.2`` then 48894 merges), the two
    configs, and ``tokenizer.json`` when ``with_fast``. Vocabulary and merges come from CLIP's own BPE file."""
    import open_clip.tokenizer as oct

    folder.mkdir(parents=True)
    lines = gzip.open(oct.default_bpe()).read().decode("utf-8").split("\n")
    merges = lines[1 : 49152 - 256 - 2 + 1]
    vocab = list(_bytes_to_unicode().values())
    vocab += [v + "</w>" for v in vocab]
    vocab += ["".join(m.split()) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    (folder / "vocab.json").write_text(json.dumps({v: i for i, v in enumerate(vocab)}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    (folder / "special_tokens_map.json").write_text(json.dumps({
        "bos_token": _special("<|startoftext|>"), "eos_token": _special("<|endoftext|>"),
        "unk_token": _special("<|endoftext|>"), "pad_token": "<|endoftext|>"}))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "add_prefix_space": False, "bos_token": _special("<|startoftext|>"), "do_lower_case": True,
        "eos_token": _special("<|endoftext|>"), "errors": "replace", "model_max_length": 77,
        "name_or_path": "openai/clip-vit-large-patch14", "pad_token": "<|endoftext|>",
        "special_tokens_map_file": "./special_tokens_map.json", "tokenizer_class": "CLIPTokenizer",
        "unk_token": _special("<|endoftext|>")}))
    if with_fast:
        build_clip_tokenizer().backend_tokenizer.save(str(folder / "tokenizer.json"))
    return folder


def test_building_the_clip_tokenizer_leaves_open_clip_unimported():
    """The smoke's model builders take CLIP's merges file from open_clip's folder without importing open_clip (its
    __init__ pulls torchvision and timm: seconds of tiny_instancediffusion's and tiny_gligen's jobs); the file is
    the one open_clip's own tokenizer reads."""
    import subprocess
    import sys

    from tests.conftest import REPO

    code = ("import sys; from instdiff.model.tiny import build_clip_tokenizer, clip_bpe_file; "
            "assert len(build_clip_tokenizer()) == 49408; print(clip_bpe_file()); "
            "print(sorted(m for m in ('open_clip', 'torchvision', 'timm') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    bpe, loaded = proc.stdout.strip().splitlines()[-2:]
    assert loaded == "[]"
    import open_clip.tokenizer as oct

    assert bpe == str(__import__("pathlib").Path(oct.default_bpe()))


@pytest.mark.parametrize("with_fast", [True, False], ids=["hub-files", "slow-files-only"])
def test_clip_tokenizer_folder_in_the_hub_layout(tmp_path, with_fast):
    """The converter's ``CLIPTokenizer.from_pretrained(folder)`` on the hub's files gives OpenAI's ids (open_clip's
    SimpleTokenizer is the independent reference), padded to 77 with the end-of-text token."""
    import open_clip
    from transformers import CLIPTokenizer

    folder = write_hub_tokenizer_folder(tmp_path / "tok", with_fast)
    assert len(json.loads((folder / "vocab.json").read_text())) == 49408
    assert len((folder / "merges.txt").read_text().splitlines()) == 48894 + 1
    tok = CLIPTokenizer.from_pretrained(str(folder))
    reference = open_clip.tokenizer.SimpleTokenizer()
    for text in TEXTS:
        expected = [49406, *reference.encode(text), 49407]
        assert tok(text).input_ids == expected, text
    padded = tok(TEXTS[0], padding="max_length", max_length=77).input_ids
    assert len(padded) == 77 and padded[-1] == 49407


# ---------------------------------------------------------------------------------------------- open_clip weights
def test_open_clip_weights_found_in_a_hub_cache_offline(tmp_path, monkeypatch):
    """ViT-L-14 ``laion2b_s32b_b82k`` lives on the hub as ``laion/CLIP-ViT-L-14-laion2B-s32B-b82K`` with
    ``open_clip_model.safetensors`` (preferred by open_clip) beside ``open_clip_pytorch_model.bin``. A cache in the
    hub's layout (``models--laion--…/snapshots/<commit>/``, ``refs/main``) is found with the hub offline and saved
    as the state-dict file the attribute metric loads; the record keeps the source file and its SHA256."""
    import huggingface_hub.constants as hub_constants
    from safetensors.torch import save_file

    from instdiff.core import checkpoints
    from instdiff.metrics import clip_models

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    commit = "0" * 39 + "1"
    repo = tmp_path / "hub" / "models--laion--CLIP-ViT-L-14-laion2B-s32B-b82K"
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    weights = {"logit_scale": torch.tensor(4.6052), "text_projection": torch.randn(8, 4),
               "visual.proj": torch.randn(8, 4)}  # a few real ViT-L-14 key names, small shapes
    save_file(weights, str(snap / "open_clip_model.safetensors"))
    torch.save({k: v + 1 for k, v in weights.items()}, snap / "open_clip_pytorch_model.bin")

    pin = checkpoints.sha256(snap / "open_clip_model.safetensors")  # a release run pins the published file
    record = clip_models.download("ViT-L-14", "laion2b_s32b_b82k", tmp_path / "clip.pt", expected_sha256=pin,
                                  hub_cache=tmp_path / "hub")
    saved = torch.load(tmp_path / "clip.pt", weights_only=True)
    assert set(saved) == set(weights) and all(torch.equal(saved[k], weights[k]) for k in weights)
    assert record["source_file"] == "open_clip_model.safetensors"
    assert record["source_sha256"] == pin
    assert record["preprocess"] == clip_models.RELEASE_PREPROCESS | {"interpolation": "bicubic"}
    assert record["source"].startswith("laion/CLIP-ViT-L-14-laion2B-s32B-b82K")


# ---------------------------------------------------------------------------------------------- SDXL refiner
def test_refiner_hub_folder_loads_through_load_refiner(refiner, tmp_path):  # noqa: F811
    """``stabilityai/stable-diffusion-xl-refiner-1.0`` is a diffusers folder: model_index.json (text_encoder and
    tokenizer null), unet/, vae/, text_encoder_2/, tokenizer_2/, scheduler/. Saved that way, the tiny refiner loads
    through the pipeline's ``load_refiner`` and refines exactly as the in-memory one."""
    from PIL import Image

    from instdiff.generation.refiner import load_refiner, refine

    folder = tmp_path / "stable-diffusion-xl-refiner-1.0"
    refiner.save_pretrained(folder, safe_serialization=True)
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionXLImg2ImgPipeline"
    assert index["text_encoder"] == [None, None] and index["tokenizer"] == [None, None]
    for sub in ("unet", "vae", "text_encoder_2", "tokenizer_2", "scheduler"):
        assert (folder / sub).is_dir(), sub
    assert (folder / "unet" / "diffusion_pytorch_model.safetensors").exists()

    loaded = load_refiner(str(folder), torch.float32, torch.device("cpu"))
    image = Image.new("RGB", (32, 32), (120, 30, 200))
    ours = refine(loaded, "a cat", [image], 0.5, 4, torch.Generator().manual_seed(3))[0]
    theirs = refine(refiner, "a cat", [image], 0.5, 4, torch.Generator().manual_seed(3))[0]
    assert (np.asarray(ours) == np.asarray(theirs)).all()


# ---------------------------------------------------------------------------------------------- YOLOv8
@pytest.mark.parametrize("name,cls", [("yolov8m", "DetectionModel"), ("yolov8m-seg", "SegmentationModel")])
def test_yolo_file_is_an_ultralytics_checkpoint(tmp_path, name, cls):
    """The released ``.pt`` files are ultralytics checkpoint dicts after ``strip_optimizer``: the model as a pickled
    fp16 module with the 80 COCO class names, ``ema`` None, ``date`` and ``version``. The stand-in is written by
    ultralytics itself and has the same container; ``YOLO(path)`` reads the task from it."""
    from instdiff.detection import ultralytics_env
    from instdiff.detection import yolo_models

    path = tmp_path / f"{name}.pt"
    yolo_models.build_tiny(name, path)
    ultralytics_env.setup()  # before the unpickling below imports ultralytics
    ckpt = torch.load(path, map_location="cpu", weights_only=False)  # our own file; ultralytics loads it this way
    assert type(ckpt["model"]).__name__ == cls and ckpt["ema"] is None
    assert {"date", "version"} <= set(ckpt)
    assert next(ckpt["model"].parameters()).dtype == torch.float16
    assert len(ckpt["model"].names) == 80 and ckpt["model"].names[0] == "person"
    model = yolo_models.load(path)
    assert model.task == ("segment" if name.endswith("-seg") else "detect")
