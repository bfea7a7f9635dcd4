"""FID and KID of an experiment's generated images against the real val2017 images at 512x512.

Definitions (computed by torchmetrics 1.9 on features of torch-fidelity's InceptionV3, ``inception-v3-compat``):

- Features: the 2048-d pool3 activations (or 64/192/768 for tests) of InceptionV3 on uint8 RGB images, resized
  inside the network to 299x299. ``resize="tf1"`` uses torch-fidelity's TF1-compatible bilinear resize (what the
  TF FID code and torch-fidelity do; comparable with published FIDs); ``resize="antialias"`` is torchmetrics' default
  antialiased bilinear resize.
- FID = ||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2)), with mu/S the mean and unbiased covariance of the
  real (r) and generated (g) features: torchmetrics ``FrechetInceptionDistance``'s definition, computed by
  :func:`frechet_distance` (with fewer images than feature dimensions, the trace of the square root comes exactly from
  an images x images matrix instead of the eigenvalues of the 2048 x 2048 product: :func:`trace_sqrt_product`).
- KID = unbiased squared MMD with the polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over ``subsets`` random
  subsets of ``subset_size`` images of each set (torchmetrics ``KernelInceptionDistance``); reported as mean and std
  over subsets. Subsets are drawn from a torch generator seeded with ``seed``.
- ``fid_jpeg75`` / ``kid_*_jpeg75``: the same with every generated image round-tripped through PIL JPEG at quality
  75 (what the original ``eval_local.py`` saved), against the same reference; shows how much the format moves FID.
  Only for images stored losslessly: JPEG files (``generation.image_format: jpeg75`` or a ``jpeg_copy``
  experiment) are already what the paper scored, so they are not compressed twice (``settings.stored_format``).

The reference (real-image) features are extracted once per (weights, feature, resize, resolution) and cached in an
``.npz`` whose sha256 every FID file records. Images must all be ``resolution`` x ``resolution`` (the real images are
squashed to 512x512, as the annotations are); nothing is resized silently before the network.
"""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from instdiff.core.device import resolve_device
from instdiff.core.errors import InputError
from instdiff.core.io import atomic_path, read_json, write_json
from instdiff.metrics.record import validate, write_record

log = logging.getLogger(__name__)

# torch-fidelity's converted TF Inception (2015-12-05). The 8 hex digits in the file name are the sha256 prefix that
# torch.hub checks on download; a prefix is no pin, so the full sha256 of the published file (95,628,359 bytes, the
# same bytes as pytorch-fid's pt_inception-2015-12-05-6726825d.pth) is checked after the download and before every
# load. Our sandbox cannot fetch the file: the pin is the value independent users of the release record, and it
# agrees with the prefix.
INCEPTION_URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
INCEPTION_HASH_PREFIX = "6726825d"
INCEPTION_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
INCEPTION_NAME = "inception-v3-compat"
RESIZE_MODES = ("tf1", "antialias")
FEATURES = (64, 192, 768, 2048)  # the InceptionV3 feature layers torch-fidelity's network returns
JPEG_QUALITY = 75
# Smallest value of each count setting (config/schema/fid.schema.yaml): a KID subset needs two images.
MINIMUM = {"resolution": 1, "kid_subsets": 1, "kid_subset_size": 2, "batch_size": 1}


# ----------------------------------------------------------------------------------------------- weights files

def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def download_inception(path: str | Path, checksum_path: str | Path, url: str = INCEPTION_URL,
                       hash_prefix: str | None = INCEPTION_HASH_PREFIX,
                       expected_sha256: str = INCEPTION_SHA256) -> dict[str, Any]:
    """Download torch-fidelity's Inception weights; nothing is kept unless the full sha256 equals the pin."""
    import torch

    with atomic_path(path) as tmp:
        torch.hub.download_url_to_file(url, str(tmp), hash_prefix=hash_prefix, progress=False)
        _check_sha256(tmp, expected_sha256, shown_as=path)
    record = {"name": "inception", "file": str(path), "url": url, "sha256": file_sha256(path), "random": False}
    write_json(checksum_path, record)
    return record


def checksum_record_path(weights_path: str | Path) -> Path:
    """The record rule inception_weights writes beside the weights (``{stem}.sha256.json``)."""
    return Path(weights_path).with_suffix(".sha256.json")


def pinned_sha256(weights_path: str | Path) -> str:
    """The sha256 the weights file must have before it is loaded.

    The release file: :data:`INCEPTION_SHA256`, whatever its record says. The smoke's random stand-in (its record says
    ``random: true``): the sha256 recorded when rule inception_weights wrote it, since random weights have no
    published hash. Either way the load itself runs no code (:func:`load_state_dict_file`).
    """
    record_path = checksum_record_path(weights_path)
    if record_path.is_file():
        record = read_json(record_path)
        if isinstance(record, dict) and record.get("random") is True:
            sha = record.get("sha256")
            if not (isinstance(sha, str) and len(sha) == 64):
                raise InputError(record_path, f"no sha256 recorded for the random weights (got {sha!r})",
                                 "delete both files and rerun rule inception_weights", "sha256")
            return sha
    return INCEPTION_SHA256


def _check_sha256(path: Path, expected: str, shown_as: str | Path | None = None) -> None:
    actual = file_sha256(path)
    if actual != expected.lower():
        raise InputError(shown_as or path, f"sha256 {actual} is not the pinned {expected}",
                         "delete the file and rerun rule inception_weights (it downloads the release and checks "
                         "the pin); never load weights from elsewhere", "sha256")


def load_state_dict_file(path: str | Path) -> dict:
    """The tensors of a ``.pth`` state dict, read with ``torch.load(weights_only=True)``: the unpickler accepts
    tensors and plain containers only, so a crafted file is refused before any of its code can run."""
    import pickle

    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, TypeError, AttributeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(path, f"not a weights-only state dict, refused unrun ({first[:300]})",
                         "delete the file and rerun rule inception_weights", "weights") from None
    if not (isinstance(state, dict) and all(isinstance(v, torch.Tensor) for v in state.values())):
        raise InputError(path, f"expected a state dict of tensors, got {type(state).__name__}",
                         "delete the file and rerun rule inception_weights", "weights")
    return state


def _random_state_dict(shapes: Mapping[str, tuple[tuple[int, ...], Any]], seed: int) -> dict:
    """Scale-preserving random weights for every tensor of the Inception state dict.

    PyTorch's default init shrinks activations layer by layer (pool3 features ~1e-8 after 90 convs), which makes
    FID numerically meaningless; He-normal convolutions with identity batch norm keep features O(1).
    """
    import torch

    gen = torch.Generator().manual_seed(int(seed))
    out = {}
    for key, (shape, dtype) in shapes.items():
        if key.endswith("num_batches_tracked"):
            out[key] = torch.zeros(shape, dtype=dtype)
        elif key.endswith("running_var") or (key.endswith(".weight") and len(shape) == 1):
            out[key] = torch.ones(shape, dtype=dtype)          # BN scale and running variance
        elif key.endswith("running_mean") or key.endswith(".bias"):
            out[key] = torch.zeros(shape, dtype=dtype)
        else:
            fan_in = int(np.prod(shape[1:]))
            out[key] = torch.randn(shape, generator=gen, dtype=dtype) * (2.0 / fan_in) ** 0.5
    return out


def write_random_inception(path: str | Path, checksum_path: str | Path, seed: int = 0) -> dict[str, Any]:
    """Write random weights for torch-fidelity's InceptionV3 (same architecture and keys) for the smoke config.

    The key names and shapes are read from the real class built on the meta device (no memory, no init, no download:
    an empty state dict is "loaded" into it), so the file loads through exactly the code path the real weights use.
    """
    import torch

    shapes = {k: (tuple(v.shape), v.dtype) for k, v in _inception_skeleton().state_dict().items()}
    state = _random_state_dict(shapes, seed)
    # Serialise through a buffer: torch.save names the archive after the file, which would make the sha256 depend
    # on the (temporary) file name rather than on the weights.
    buf = io.BytesIO()
    torch.save(state, buf)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.getvalue())
    record = {"name": "inception", "file": str(path), "url": None, "sha256": file_sha256(path), "random": True,
              "seed": int(seed)}
    write_json(checksum_path, record)
    return record


def _inception_network(features_list: Sequence[str], antialias: bool = True, meta: bool = False):
    """torchmetrics' ``NoTrainInceptionV3`` (torch-fidelity's network) with its weights left to the caller.

    torch-fidelity's constructor calls ``torch.load`` on the path it is given with ``weights_only=False``; it is given an
    empty state dict we have just written to a private folder, never the weights file, which the caller loads with
    :func:`load_state_dict_file`. ``meta``: build on the meta device (no memory, no init).
    """
    import contextlib
    import tempfile

    import torch
    from torchmetrics.image.fid import NoTrainInceptionV3

    class _WeightsLater(NoTrainInceptionV3):
        def load_state_dict(self, state_dict, strict=True, assign=False):  # noqa: D401 - the constructor's call
            if not state_dict:
                return None
            return super().load_state_dict(state_dict, strict=strict, assign=assign)

    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty.pth"
        torch.save({}, empty)
        with torch.device("meta") if meta else contextlib.nullcontext():
            return _WeightsLater(name=INCEPTION_NAME, features_list=list(features_list),
                                 feature_extractor_weights_path=str(empty), antialias=antialias)


def _inception_skeleton():
    """torch-fidelity's InceptionV3 built on the meta device, weights left unloaded (only its keys/shapes are used)."""
    return _inception_network(["2048"], meta=True)


def load_extractor(weights_path: str | Path, feature: int = 2048, resize: str = "tf1", device: str | None = None,
                   expected_sha256: str | None = None):
    """torchmetrics' ``NoTrainInceptionV3`` (torch-fidelity's network) with the given weights file, on ``device``
    (default: CUDA when available).

    The file must match its pin (``expected_sha256``, default :func:`pinned_sha256`) and is read weights-only; the
    network is built on the meta device and takes the loaded tensors as they are (``assign``).
    """
    if resize not in RESIZE_MODES:
        raise InputError(None, f"unknown resize mode {resize!r}", f"use one of {RESIZE_MODES}", "fid.resize")
    if not Path(weights_path).is_file():
        raise InputError(weights_path, "Inception weights file does not exist", "run rule inception_weights")
    _check_sha256(Path(weights_path), expected_sha256 or pinned_sha256(weights_path))
    state = load_state_dict_file(weights_path)
    net = _inception_network([str(feature)], antialias=(resize == "antialias"), meta=True)
    try:
        net.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        raise InputError(weights_path, f"not torch-fidelity's InceptionV3 weights ({str(exc).splitlines()[0][:300]})",
                         "delete the file and rerun rule inception_weights", "weights") from None
    net = net.to(net.feature_extractor_internal_dtype).requires_grad_(False).eval()
    return net.to(resolve_device(device))


# ----------------------------------------------------------------------------------------------- images

def read_image_list(done_path: str | Path) -> list[tuple[str, Path]]:
    """(id, file) pairs of an image set's ``done.json`` (``{"experiment", "images": [{"id", "file"}], "n"}``).

    A relative ``file`` is taken relative to the folder of ``done.json`` unless it exists relative to the CWD.
    """
    done_path = Path(done_path)
    data = read_json(done_path)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise InputError(done_path, "no 'images' list", "rerun the rule that writes it", "images")
    out = []
    for i, rec in enumerate(data["images"]):
        if not isinstance(rec, dict) or "file" not in rec or "id" not in rec:
            raise InputError(done_path, f"entry {i} lacks 'id' or 'file'", "rerun the rule that writes it", "images")
        f = Path(rec["file"])
        if not f.is_absolute() and not f.exists():
            f = done_path.parent / f
        out.append((str(rec["id"]), f))
    if "n" in data and int(data["n"]) != len(out):
        raise InputError(done_path, f"'n' is {data['n']} but {len(out)} images are listed", "rerun the rule", "n")
    return out


def load_uint8(path: Path, resolution: int, jpeg_quality: int | None = None) -> np.ndarray:
    """HxWx3 uint8 RGB; optionally round-tripped through JPEG at ``jpeg_quality``."""
    from PIL import Image

    from instdiff.core.image_errors import DECODE_ERRORS, regenerate_fix

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if im.size != (resolution, resolution):
                raise InputError(path, f"image is {im.size[0]}x{im.size[1]}, expected {resolution}x{resolution}",
                                 "regenerate the image set at the configured resolution", "fid.resolution")
            if jpeg_quality is not None:
                buf = io.BytesIO()
                im.save(buf, format="JPEG", quality=int(jpeg_quality))
                buf.seek(0)
                im = Image.open(buf).convert("RGB")
            return np.asarray(im, dtype=np.uint8)
    except DECODE_ERRORS as exc:  # FileNotFoundError is an OSError
        if isinstance(exc, InputError):
            raise
        raise InputError(path, f"cannot read image ({exc.__class__.__name__})", regenerate_fix(path)) from None


def extract_features(files: Sequence[Path], extractor, resolution: int, batch_size: int = 32,
                     jpeg_quality: int | None = None) -> np.ndarray:
    """(N, D) float64 features of ``files`` in order (on the extractor's device)."""
    import torch
    from tqdm import tqdm

    device = next(extractor.parameters()).device
    feats = []
    with torch.inference_mode():
        for start in tqdm(range(0, len(files), batch_size), desc="inception features", unit="batch",
                          disable=len(files) <= batch_size):
            batch = np.stack([load_uint8(f, resolution, jpeg_quality) for f in files[start:start + batch_size]])
            x = torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous().to(device)
            feats.append(extractor(x).double().cpu().numpy())
    if not feats:
        return np.zeros((0, 0))
    return np.concatenate(feats, axis=0)


# ----------------------------------------------------------------------------------------------- distances

def _precomputed(dim: int):
    """Identity 'feature extractor' so torchmetrics computes FID/KID on features we extracted and cached."""
    import torch

    class Precomputed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.num_features = dim

        def forward(self, x):
            return x

    return Precomputed()


def _centred(features: np.ndarray) -> np.ndarray:
    """``(x - mean) / sqrt(n - 1)`` in float64: F with F^T F the unbiased covariance."""
    x = np.asarray(features, dtype=np.float64)
    return (x - x.mean(axis=0)) / np.sqrt(x.shape[0] - 1)


def trace_sqrt_product(x: np.ndarray, y: np.ndarray) -> float:
    """Tr((S_x S_y)^(1/2)) for the unbiased covariances S_x, S_y of the feature rows ``x`` (n_x, d) and ``y`` (n_y, d).

    With F_x, F_y the centred features over sqrt(n - 1) (S = F^T F), the nonzero eigenvalues of
    S_x S_y = F_x^T (F_x F_y^T) F_y are those of C C^T, C = F_x F_y^T (n_x x n_y), so the trace of the square root is
    the sum of C's singular values: exact, real and non-negative, where the eigenvalues of the d x d product of two
    rank-deficient covariances carry rounding noise in their ~d zero eigenvalues (up to ~1e-6 of FID, from the square
    roots of ~1e-13). When both sets have more images than dimensions (the paper run: 5,000 against 2,048), C is
    the larger matrix, and the d x d product's eigenvalues are summed as torchmetrics does.
    """
    import torch

    fx, fy = _centred(x), _centred(y)
    if min(fx.shape[0], fy.shape[0]) <= fx.shape[1]:
        return float(np.linalg.svd(fx @ fy.T, compute_uv=False).sum())
    sx, sy = torch.from_numpy(fx.T @ fx), torch.from_numpy(fy.T @ fy)
    return float(torch.linalg.eigvals(sx @ sy).sqrt().real.sum())


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """||mu_r - mu_g||^2 + Tr(S_r) + Tr(S_g) - 2 Tr((S_r S_g)^(1/2)) of two feature sets (rows), in float64."""
    fr, fg = _centred(real), _centred(fake)
    mean_term = float(np.square(np.mean(real, axis=0, dtype=np.float64) - np.mean(fake, axis=0, dtype=np.float64)).sum())
    return mean_term + float(np.square(fr).sum() + np.square(fg).sum()) - 2.0 * trace_sqrt_product(real, fake)


def fid_kid(real: np.ndarray, fake: np.ndarray, kid_subsets: int = 100, kid_subset_size: int = 1000,
            seed: int = 0) -> dict[str, float]:
    """FID (:func:`frechet_distance`) and KID (mean, std; torchmetrics) between two feature sets (module docstring)."""
    import warnings

    import torch
    from torchmetrics.image.kid import KernelInceptionDistance

    if real.shape[0] < 2 or fake.shape[0] < 2:
        raise ValueError("FID needs at least 2 real and 2 generated images")
    dim = real.shape[1]
    r, f = torch.from_numpy(np.ascontiguousarray(real, np.float64)), torch.from_numpy(np.ascontiguousarray(fake, np.float64))
    subset = int(min(kid_subset_size, real.shape[0], fake.shape[0]))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        kid = KernelInceptionDistance(feature=_precomputed(dim), subsets=int(kid_subsets), subset_size=subset)
    kid.update(r, real=True)
    kid.update(f, real=False)
    # KID draws its subsets with torch's global RNG: seed it inside a forked RNG state so nothing else is disturbed.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        kid_mean, kid_std = kid.compute()
    return {"fid": frechet_distance(real, fake), "kid_mean": float(kid_mean), "kid_std": float(kid_std),
            "kid_subset_size": subset}


# ----------------------------------------------------------------------------------------------- cached reference

def reference_statistics(real_done: str | Path, weights_path: str | Path, out_npz: str | Path,
                         feature: int = 2048, resize: str = "tf1", resolution: int = 512,
                         batch_size: int = 32, device: str | None = None) -> dict[str, Any]:
    """Extract and cache the real images' features (``.npz`` with ``features``, ``ids`` and the settings)."""
    pairs = read_image_list(real_done)
    if len(pairs) < 2:
        raise InputError(real_done, f"{len(pairs)} real images; FID needs at least 2", "check the data stage", "images")
    extractor = load_extractor(weights_path, feature, resize, device)
    feats = extract_features([p for _, p in pairs], extractor, resolution, batch_size)
    with atomic_path(out_npz) as tmp:
        np.savez(tmp, features=feats, ids=np.array([i for i, _ in pairs]), feature=feature, resize=resize,
                 resolution=resolution, weights_sha256=file_sha256(weights_path))
    info = {"file": str(out_npz), "sha256": file_sha256(out_npz), "n": len(pairs)}
    log.info("reference statistics %s: %d images, sha256 %s", out_npz, len(pairs), info["sha256"][:12])
    return info


def _load_reference(path: str | Path, feature: int, resize: str, resolution: int, weights_sha: str) -> np.lib.npyio.NpzFile:
    ref = np.load(path, allow_pickle=False)
    expect = {"feature": feature, "resize": resize, "resolution": resolution, "weights_sha256": weights_sha}
    for key, want in expect.items():
        got = ref[key].item()
        if got != want:
            raise InputError(path, f"reference statistics were computed with {key}={got!r}, not {want!r}",
                             "delete the file and rerun rule fid_reference", key)
    return ref


def stored_format(files: Sequence[str | Path]) -> str:
    """"jpeg" when every image file is a JPEG (by suffix, as generation and jpeg_copy name them), else "png"."""
    return "jpeg" if files and all(Path(f).suffix.lower() in (".jpg", ".jpeg") for f in files) else "png"


@dataclass(frozen=True)
class FidSettings:
    """How FID / KID are computed (config section ``fid``, config/schema/fid.schema.yaml; these defaults are its).

    ``jpeg_quality``: also score JPEG copies at this quality (None: off; images stored as JPEG are never compressed
    twice, see :func:`stored_format`). ``device``: where the Inception runs (None: CUDA when available).
    """

    feature: int = 2048
    resize: str = "tf1"
    resolution: int = 512
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    seed: int = 0
    jpeg_quality: int | None = JPEG_QUALITY
    batch_size: int = 32
    device: str | None = None

    def __post_init__(self):
        if self.feature not in FEATURES:
            raise InputError(None, f"unknown Inception feature {self.feature!r}", f"use one of {FEATURES}",
                             "fid.feature")
        if self.resize not in RESIZE_MODES:
            raise InputError(None, f"unknown resize mode {self.resize!r}", f"use one of {RESIZE_MODES}", "fid.resize")
        for name in MINIMUM:
            if int(getattr(self, name)) < MINIMUM[name]:
                raise InputError(None, f"{name} must be at least {MINIMUM[name]}, got {getattr(self, name)!r}",
                                 "set a positive number", f"fid.{name}")
        if self.jpeg_quality is not None and not 1 <= int(self.jpeg_quality) <= 100:
            raise InputError(None, f"jpeg_quality must be in 1..100 or null, got {self.jpeg_quality!r}",
                             "set a PIL JPEG quality, or null to skip the JPEG scores", "fid.jpeg_quality")


def compute_fid(experiment_done: str | Path, reference_npz: str | Path, weights_path: str | Path,
                out_json: str | Path, settings: FidSettings = FidSettings(),
                manifest: Mapping[str, Any] | None = None, experiment: str | None = None) -> dict[str, Any]:
    """Write ``metrics/{experiment}/fid.json``: FID/KID on the images as stored and on JPEG copies
    (``settings.jpeg_quality``)."""
    s = settings
    weights_sha = file_sha256(weights_path)
    ref = _load_reference(reference_npz, s.feature, s.resize, s.resolution, weights_sha)
    real = ref["features"]
    pairs = read_image_list(experiment_done)
    if len(pairs) < 2:
        raise InputError(experiment_done, f"{len(pairs)} images; FID needs at least 2", "generate the image set", "images")
    if experiment is None:
        experiment = str(read_json(experiment_done).get("experiment", Path(experiment_done).parent.name))
    files = [p for _, p in pairs]
    stored = stored_format(files)
    # Already JPEG: a second compression would score a format nobody used.
    jpeg_quality = None if stored == "jpeg" else s.jpeg_quality
    values, subset = _scores(files, real, load_extractor(weights_path, s.feature, s.resize, s.device), s, jpeg_quality)
    result = {
        "metric": "fid",
        "variant": s.resize,
        "experiment": experiment,
        "values": values,
        "n_images": len(pairs),
        "settings": _record_settings(s, pairs, ref, reference_npz, weights_sha, subset, jpeg_quality, stored),
        "manifest": dict(manifest or {}),
    }
    write_record(out_json, validate(result, out_json))
    log.info("FID %s: %.3f (N=%d vs %d real)", experiment, values["fid"], len(pairs), real.shape[0])
    return result


def _scores(files: Sequence[Path], real: np.ndarray, extractor, s: FidSettings,
            jpeg_quality: int | None) -> tuple[dict[str, float], int]:
    """FID / KID of the images as stored and, with ``jpeg_quality``, of their JPEG copies (``*_jpeg{q}`` keys);
    returns the values and the KID subset size used."""
    fake = extract_features(files, extractor, s.resolution, s.batch_size)
    values = fid_kid(real, fake, s.kid_subsets, s.kid_subset_size, s.seed)
    subset = values.pop("kid_subset_size")
    if jpeg_quality is not None:
        fake_jpeg = extract_features(files, extractor, s.resolution, s.batch_size, jpeg_quality=jpeg_quality)
        jv = fid_kid(real, fake_jpeg, s.kid_subsets, s.kid_subset_size, s.seed)
        tag = f"jpeg{int(jpeg_quality)}"
        values.update({f"fid_{tag}": jv["fid"], f"kid_mean_{tag}": jv["kid_mean"], f"kid_std_{tag}": jv["kid_std"]})
    return values, subset


def _record_settings(s: FidSettings, pairs: Sequence[tuple[str, Path]], ref, reference_npz: str | Path,
                     weights_sha: str, subset: int, jpeg_quality: int | None, stored: str) -> dict[str, Any]:
    """The ``settings`` block of the FID file: implementation, inputs' hashes and what was actually used."""
    from importlib import metadata

    real_ids = set(map(str, ref["ids"].tolist()))
    gen_ids = {i for i, _ in pairs}
    return {
        "implementation": f"FID: torchmetrics {metadata.version('torchmetrics')} FrechetInceptionDistance's definition "
                          f"(instdiff.metrics.fid.frechet_distance), KID: its KernelInceptionDistance, on "
                          f"torch-fidelity {metadata.version('torch-fidelity')} InceptionV3 ({INCEPTION_NAME})",
        "mode": s.resize,
        "feature": s.feature,
        "resolution": s.resolution,
        "n_generated": len(pairs),
        "n_real": int(ref["features"].shape[0]),
        "ids_not_in_reference": len(gen_ids - real_ids),
        "reference_sha256": file_sha256(reference_npz),
        "inception_sha256": weights_sha,
        "kid_subsets": int(s.kid_subsets),
        "kid_subset_size": subset,
        "kid_seed": int(s.seed),
        "jpeg_quality": jpeg_quality,
        "stored_format": stored,
    }
