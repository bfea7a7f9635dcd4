"""The generation stage: shard k of n of an experiment's layouts -> images, resumable and shard-invariant.

Contract (``docs/architecture.md``):

- input ``layouts/{experiment}.jsonl``; layouts are put in a canonical order (by ``image_id``, then ``id``) and
  shard k of n takes the layouts whose index i in that order has ``i % n == k``;
- image ``images/{experiment}/{id}.png`` (or ``{id}.jpg`` at JPEG quality 75 with ``image_format: jpeg75``), written
  atomically; the initial noise of each image comes from ``derive_seed(run_seed, experiment, id)``, so an image does
  not depend on n, k or on which other images exist;
- resumable: an image whose file exists is skipped; a killed job loses at most the image in flight;
- ``images/{experiment}/shards/{k}-of-{n}.json``: the shard manifest (ids, seeds, settings, timings, notes), written
  when the shard is complete; ``{k}-of-{n}.partial.json`` holds the progress while it runs;
- ``images/{experiment}/settings.json``: the settings the folder's images were made with; a run with other
  settings refuses to mix its images into the folder;
- ``images/{experiment}/done.json`` (:func:`finalize`): written once every layout has its image; downstream
  stages depend on this single file and read the image list from it.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from tqdm import tqdm

from instdiff.errors import InputError
from instdiff.io import atomic_path, read_json, write_json
from instdiff.layout import Layout, read_layouts
from instdiff.precision import check_precision
from instdiff.seeding import derive_seed

log = logging.getLogger(__name__)

IMAGE_FORMATS = {"png": ".png", "jpeg75": ".jpg"}


# --------------------------------------------------------------------------------------------- sharding


def canonical_order(layouts: Iterable[Layout]) -> list[Layout]:
    """Layouts sorted by (image_id, id): the order shards are cut from (independent of the file's order)."""

    def key(lay: Layout):
        return (0, int(lay.image_id), lay.id) if lay.image_id is not None else (1, 0, lay.id)

    return sorted(layouts, key=key)


def shard_indices(n_items: int, shard: int, nshards: int) -> list[int]:
    """Indices of shard ``shard`` of ``nshards``: round robin, so shards differ by at most one item."""
    if nshards < 1 or not 0 <= shard < nshards:
        raise ValueError(f"shard must be in 0..{nshards - 1}, got {shard} of {nshards}")
    return list(range(shard, n_items, nshards))


def image_file(out_dir: str | Path, layout_id: str, image_format: str = "png") -> Path:
    if image_format not in IMAGE_FORMATS:
        raise InputError(None, f"unknown image_format {image_format!r}", f"use one of {sorted(IMAGE_FORMATS)}",
                         "generation.image_format")
    return Path(out_dir) / f"{layout_id}{IMAGE_FORMATS[image_format]}"


def save_image(image, path: Path, image_format: str) -> None:
    """Atomic save: PNG (lossless) or JPEG at quality 75 (PIL's default, the original's accident)."""
    with atomic_path(path) as tmp:
        if image_format == "png":
            image.save(tmp, format="PNG")
        else:
            image.convert("RGB").save(tmp, format="JPEG", quality=75)


def image_seed(run_seed: int, experiment: str, layout_id: str) -> int:
    return derive_seed(run_seed, experiment, layout_id)


def settings_from_config(experiment: dict[str, Any], generation: dict[str, Any]) -> dict[str, Any]:
    """:class:`instdiff.pipeline.GenerationSettings` fields of an experiment (config ``experiments.<name>`` and
    ``generation``), with the schema's defaults."""
    return {
        "location": experiment.get("location", "mask"),
        "steps": int(experiment.get("steps", 50)),
        "guidance_scale": float(experiment.get("guidance_scale", 7.5)),
        "alpha": float(experiment.get("alpha", 1.0)),
        "mis": float(experiment.get("mis", 0.36)),
        "negative_prompt": generation.get("negative_prompt", ""),
        "refiner_strength": float((experiment.get("refiner") or {}).get("strength", 0.0)),
        "refiner_steps": int((experiment.get("refiner") or {}).get("steps", 20)),
    }


def refiner_from_config(experiment: dict[str, Any]) -> str | None:
    """The SDXL refiner an experiment cascades into (``experiments.<name>.refiner.model``), if any."""
    return (experiment.get("refiner") or {}).get("model")


# --------------------------------------------------------------------------------------------- settings guard


def check_folder_settings(out_dir: Path, fingerprint: dict[str, Any]) -> None:
    """Refuse to add images to a folder whose existing images were made with other settings."""
    path = out_dir / "settings.json"
    if path.exists():
        old = read_json(path)
        if old != fingerprint:
            diff = sorted(k for k in set(old) | set(fingerprint) if old.get(k) != fingerprint.get(k))
            raise InputError(
                path, f"images in {out_dir} were generated with other settings (differ in {diff})",
                f"delete {out_dir} to regenerate, or restore the old settings",
            )
    else:
        write_json(path, fingerprint)


# --------------------------------------------------------------------------------------------- the runner


def run_shard(
    layouts_path: str | Path,
    model_dir: str | Path | None,
    out_dir: str | Path,
    manifest_path: str | Path,
    experiment: str,
    shard: int,
    nshards: int,
    run_seed: int,
    settings: dict[str, Any],
    image_format: str = "png",
    precision: str = "fp32",
    device: str | None = None,
    refiner: str | None = None,
    pipeline: Callable | None = None,
) -> dict[str, Any]:
    """Generate shard ``shard`` of ``nshards`` of an experiment; returns (and writes) the shard manifest.

    ``settings`` are :class:`instdiff.pipeline.GenerationSettings` fields; ``precision`` a mode of
    :mod:`instdiff.precision` (part of the folder's settings fingerprint). ``pipeline`` (an
    ``InstanceDiffusionPipeline`` or anything with its call signature) is loaded from ``model_dir`` when not given,
    and only if some image is missing.
    """
    from instdiff.pipeline import GenerationSettings, InstanceDiffusionPipeline, prepare_layout

    out_dir, manifest_path = Path(out_dir), Path(manifest_path)
    gen = GenerationSettings(**settings)
    layouts = canonical_order(read_layouts(layouts_path))
    mine = [layouts[i] for i in shard_indices(len(layouts), shard, nshards)]
    fingerprint = {
        "experiment": experiment, "run_seed": int(run_seed), "settings": gen.to_dict(), "image_format": image_format,
        "precision": check_precision(precision, field="precision"),
        "model": None if model_dir is None else str(model_dir),
    }
    check_folder_settings(out_dir, fingerprint)
    partial_path = manifest_path.with_name(manifest_path.stem + ".partial.json")
    log.info("%s shard %d of %d: %d of %d layouts", experiment, shard, nshards, len(mine), len(layouts))

    records: list[dict[str, Any]] = []
    todo = [lay for lay in mine if not image_file(out_dir, lay.id, image_format).exists()]
    todo_ids = {lay.id for lay in todo}
    for lay in mine:
        if lay.id not in todo_ids:
            rec = _record(lay, run_seed, experiment, image_format, "existing")
            notes = prepare_layout(lay)[1]  # deterministic: the notes the generating run recorded
            if notes:
                rec["notes"] = notes
            records.append(rec)
    log.info("%d images already exist, %d to generate", len(mine) - len(todo), len(todo))

    t_start = time.perf_counter()
    if todo and pipeline is None:
        t_load = time.perf_counter()
        pipeline = InstanceDiffusionPipeline.from_folder(model_dir, precision=precision, device=device, refiner=refiner)
        log.info("loaded the model from %s in %.1f s", model_dir, time.perf_counter() - t_load)
    for lay in tqdm(todo, desc=f"{experiment} {shard}-of-{nshards}", unit="img", mininterval=5.0):
        rec = _record(lay, run_seed, experiment, image_format, "generated")
        t0 = time.perf_counter()
        out = pipeline(lay, gen, seed=rec["seed"])
        save_image(out.images[0], out_dir / rec["file"], image_format)
        if out.refined:
            save_image(out.refined[0], out_dir / "refined" / rec["file"], image_format)
        rec["seconds"] = round(time.perf_counter() - t0, 4)
        rec["timings"] = {k: round(v, 4) for k, v in out.timings.items()}
        if out.notes:
            rec["notes"] = list(out.notes)
            log.info("%s: %s", lay.id, "; ".join(out.notes))
        records.append(rec)
        write_json(partial_path, _manifest(experiment, shard, nshards, fingerprint, records, complete=False))

    manifest = _manifest(experiment, shard, nshards, fingerprint, _in_order(records, mine), complete=True)
    manifest["timings"]["wall_s"] = round(time.perf_counter() - t_start, 3)
    write_json(manifest_path, manifest)
    partial_path.unlink(missing_ok=True)
    log.info("%s shard %d of %d done: %d generated", experiment, shard, nshards, manifest["n_generated"])
    return manifest


def _record(lay: Layout, run_seed: int, experiment: str, image_format: str, status: str) -> dict[str, Any]:
    return {
        "id": lay.id,
        "file": image_file(".", lay.id, image_format).name,
        "seed": image_seed(run_seed, experiment, lay.id),
        "status": status,
        "n_instances": len(lay.instances),
    }


def _in_order(records: Sequence[dict], layouts: Sequence[Layout]) -> list[dict]:
    by_id = {r["id"]: r for r in records}
    return [by_id[lay.id] for lay in layouts]


def _manifest(experiment, shard, nshards, fingerprint, records, complete: bool) -> dict[str, Any]:
    gen = [r for r in records if r["status"] == "generated"]
    seconds = [r["seconds"] for r in gen]
    return {
        "experiment": experiment,
        "shard": shard,
        "nshards": nshards,
        "complete": complete,
        "n_images": len(records),
        "n_generated": len(gen),
        "fingerprint": fingerprint,
        "timings": {
            "generate_s": round(sum(seconds), 3),
            "mean_s_per_image": round(sum(seconds) / len(seconds), 4) if seconds else None,
        },
        "images": records,
    }


# --------------------------------------------------------------------------------------------- done file


def finalize(layouts_path: str | Path, manifests: Sequence[str | Path], out_dir: str | Path,
             done_path: str | Path, experiment: str) -> dict[str, Any]:
    """Check that every layout has exactly one image and write ``images/{experiment}/done.json``.

    ``done.json``: ``{experiment, n_images, n (= n_images), image_format, fingerprint, images: [{id, file, seed}] in canonical
    layout order, shards: [{manifest, n_images, n_generated, generate_s}], notes: {id: [...]}}``; ``file`` is
    relative to the folder holding ``done.json``.
    """
    out_dir = Path(out_dir)
    layouts = canonical_order(read_layouts(layouts_path))
    entries: dict[str, dict] = {}
    shards, fingerprint = [], None
    for path in manifests:
        m = read_json(path)
        if not m.get("complete"):
            raise InputError(path, "shard manifest is not complete", "rerun that generate shard")
        if fingerprint is None:
            fingerprint = m["fingerprint"]
        elif m["fingerprint"] != fingerprint:
            raise InputError(path, "shard was generated with other settings than the others", "rerun every shard")
        shards.append({"manifest": Path(path).name, "n_images": m["n_images"], "n_generated": m["n_generated"],
                       "generate_s": m["timings"]["generate_s"]})
        for rec in m["images"]:
            if rec["id"] in entries:
                raise InputError(path, f"image {rec['id']} appears in two shards", "rerun with one shard count")
            entries[rec["id"]] = rec
    missing = [lay.id for lay in layouts if lay.id not in entries or not (out_dir / entries[lay.id]["file"]).exists()]
    if missing:
        raise InputError(out_dir, f"{len(missing)} layouts have no image (first: {missing[:5]})",
                         "rerun the generate shards of this experiment")
    images = [{k: entries[lay.id][k] for k in ("id", "file", "seed")} for lay in layouts]
    done = {
        "experiment": experiment,
        "n_images": len(images),
        "n": len(images),  # the same count under the name the real-images done record also uses
        "image_format": None if fingerprint is None else fingerprint["image_format"],
        "fingerprint": fingerprint,
        "images": images,
        "shards": shards,
        "notes": {lay.id: entries[lay.id]["notes"] for lay in layouts if entries[lay.id].get("notes")},
    }
    write_json(done_path, done)
    return done


def read_done(done_path: str | Path) -> list[Path]:
    """The image files listed by a ``done.json``, in canonical layout order (for downstream stages)."""
    done_path = Path(done_path)
    done = read_json(done_path)
    return [done_path.parent / rec["file"] for rec in done["images"]]
