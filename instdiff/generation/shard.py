"""The generation stage: shard k of n of an experiment's layouts -> images, resumable and shard-invariant.

Contract (``docs/architecture.md``):

- input ``layouts/{experiment}.jsonl``; layouts are put in a canonical order (by ``image_id``, then ``id``) and
  the order is cut into groups of ``generation.group_size`` (B) layouts, group g = positions [gB, (g+1)B), and
  shard k of n takes the groups with ``g % n == k`` (B = 1: the layouts with ``i % n == k``); a group's layouts are
  sampled together (their MIS and CFG rows stacked in the same UNet calls);
- image ``images/{experiment}/{id}.png`` (or ``{id}.jpg`` at JPEG quality 75 with ``image_format: jpeg75``), written
  atomically; the initial noise of each image comes from ``derive_seed(run_seed, experiment, id)``, so an image does
  not depend on n, k or on which other images exist (``seed_experiment``: another experiment's seeds, so a second
  model starts each image from the same noise as the first);
- the images come from the generator ``model`` names (:mod:`instdiff.generation.generators`: InstanceDiffusion,
  GLIGEN), loaded once from ``model_dir`` and called per layout or group;
- resumable: a group whose images all match their records (``instdiff.generation.image_records``: layout hash, model content
  hash, settings hash, generation code version, thread count, batching, file sha256, the file decodes) is skipped; any other group is generated again
  whole; a killed job loses at most the group in flight;
- ``images/{experiment}/shards/{k}-of-{n}.json``: the shard manifest (ids, seeds, settings, timings, notes), written
  when the shard is complete, with its throughput; ``{k}-of-{n}.partial.json`` holds the progress while it runs;
- ``images/{experiment}/settings.json``: the settings the folder's images are made with; a run with other
  settings generates the images again (each image's record holds its settings' hash);
- ``images/{experiment}/done.json`` (:func:`finalize`): written once every layout has its image; downstream
  stages depend on this single file and read the image list from it.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from tqdm import tqdm

from instdiff.core.checkpoints import sha256 as file_sha256
from instdiff.core.errors import InputError
from instdiff.core.image_errors import regenerate_fix, rerun_shards_fix
from instdiff.core.device import device_label
from instdiff.generation.generators import DEFAULT_MODEL, load_generator, spec_of
from instdiff.generation.settings import GenerationSettings
from instdiff.generation.image_records import (
    RECORDS_DIR, REUSE_KEYS, folder_sha256, generation_code_version, image_file, is_current, layout_sha256,
    read_record, write_record,
)
from instdiff.core.io import atomic_path, clean_own_temps, read_json, write_json
from instdiff.core.layout import Layout, read_layouts
from instdiff.generation.precision import check_precision
from instdiff.core.seeding import derive_seed

log = logging.getLogger(__name__)

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


def shard_groups(n_items: int, shard: int, nshards: int, group_size: int = 1) -> list[list[int]]:
    """Indices of shard ``shard`` of ``nshards``, in groups generated together (one batch of UNet calls).

    Group g holds the canonical positions [g·B, (g+1)·B) and goes to shard g % n, so a shard is a union of whole
    groups and a group's make-up never depends on the shard count. B = 1 is the plain round robin.
    """
    if group_size < 1:
        raise ValueError(f"group_size must be >= 1, got {group_size}")
    n_groups = -(-n_items // group_size)
    return [list(range(g * group_size, min(n_items, (g + 1) * group_size)))
            for g in shard_indices(n_groups, shard, nshards)]


def save_image(image, path: Path, image_format: str) -> None:
    """Atomic save: PNG (lossless) or JPEG at quality 75 (PIL's default, the original's accident)."""
    with atomic_path(path) as tmp:
        if image_format == "png":
            image.save(tmp, format="PNG")
        else:
            image.convert("RGB").save(tmp, format="JPEG", quality=75)


def image_seed(run_seed: int, experiment: str, layout_id: str) -> int:
    return derive_seed(run_seed, experiment, layout_id)


def generation_threads(generation: dict[str, Any], smoke: bool) -> int:
    """The rule's threads and torch's pinned thread count (``generation.threads``; 2 on the smoke models, else 8)."""
    threads = generation.get("threads")
    return int(threads) if threads is not None else (2 if smoke else 8)


def refiner_from_config(experiment: dict[str, Any]) -> str | None:
    """The SDXL refiner an experiment cascades into (``experiments.<name>.refiner.model``), if any."""
    return (experiment.get("refiner") or {}).get("model")


# --------------------------------------------------------------------------------------------- folder settings


def record_folder_settings(out_dir: Path, fingerprint: dict[str, Any]) -> dict[str, Any] | None:
    """Write ``settings.json``, the settings the folder's images are being made with.

    Other settings than the folder's images were made with (an edited experiment) regenerate them: each image's
    record holds the hash of its settings (``settings_sha256``), so the old images no longer count as current,
    and ``finalize`` accepts only shards of one fingerprint. Nothing mixes, and nothing has to be deleted by hand.
    """
    path = out_dir / "settings.json"
    old = read_json(path) if path.exists() else None
    if old != fingerprint:
        if old is not None:
            diff = sorted(k for k in set(old) | set(fingerprint) if old.get(k) != fingerprint.get(k))
            log.info("%s: the settings changed (%s): its images are generated again", out_dir, ", ".join(diff))
        write_json(path, fingerprint)
    return old


def adopt_records(out_dir: Path, ids: Iterable[str], digest: str) -> None:
    """Give records written before images carried their settings' hash (``settings_sha256``) that hash, when the
    folder's ``settings.json`` says they were made with the current settings: a folder of those versions refused
    other settings, so all its images were. Their images are then reused rather than generated again."""
    for layout_id in ids:
        rec = read_record(out_dir, layout_id)
        if rec is not None and "settings_sha256" not in rec:
            write_record(out_dir, {**rec, "settings_sha256": digest})


def settings_sha256(fingerprint: dict[str, Any]) -> str:
    """sha256 of a folder fingerprint's canonical JSON: the settings part of an image's identity."""
    canonical = json.dumps(fingerprint, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------------- the runner

# GenerationSettings fields that change how images are computed, not what they show: a change regenerates the
# images (their records no longer match) instead of refusing the folder.
EXECUTION_KEYS = ("batched", "max_batch")


def pin_threads(torch_threads: int | None) -> int:
    """Set torch's CPU thread count (None: keep the current one) and return it.

    CPU reductions are split by thread count, so the same image computed under ``--cores 1`` and ``--cores 2``
    can differ by one level on a few pixels; the count comes from the config, not from the cores Snakemake gave.
    """
    import torch

    if torch_threads is not None:
        torch.set_num_threads(int(torch_threads))
    return torch.get_num_threads()


@dataclass
class ShardJob:
    """One generate job: shard ``shard`` of ``nshards`` of an experiment's layouts -> images and a shard manifest.

    ``settings``: :class:`~instdiff.generation.settings.GenerationSettings` (or its fields, as the rule's params
    carry them); ``precision`` a mode of :mod:`instdiff.generation.precision` (part of the folder's settings fingerprint).
    :meth:`run` does the three steps in order, as a diffusers pipeline's ``__call__`` does its named steps:
    :meth:`prepare` (which images exist, which groups to generate), :meth:`generate` (the missing groups) and
    :meth:`write` (the shard manifest).
    """

    layouts_path: Path
    model_dir: Path | None
    out_dir: Path
    manifest_path: Path
    experiment: str
    shard: int
    nshards: int
    run_seed: int
    settings: GenerationSettings
    image_format: str = "png"
    precision: str = "fp32"
    device: str | None = None
    refiner: str | None = None
    group_size: int = 1
    torch_threads: int | None = None
    model: str = DEFAULT_MODEL
    seed_experiment: str | None = None

    def __post_init__(self):
        self.layouts_path, self.out_dir = Path(self.layouts_path), Path(self.out_dir)
        self.manifest_path = Path(self.manifest_path)
        if not isinstance(self.settings, GenerationSettings):
            self.settings = GenerationSettings(**self.settings)
        image_file(".", "x", self.image_format)  # an unknown format is an InputError naming the field
        check_precision(self.precision, field="precision")
        spec_of(self.model)  # an unknown model is an InputError naming the field
        if self.nshards < 1 or not 0 <= self.shard < self.nshards:
            raise ValueError(f"shard must be in 0..{self.nshards - 1}, got {self.shard} of {self.nshards}")
        if self.group_size < 1:
            raise ValueError(f"group_size must be >= 1, got {self.group_size}")

    @property
    def partial_path(self) -> Path:
        """The progress manifest while the shard runs (removed when the complete one is written)."""
        return self.manifest_path.with_name(self.manifest_path.stem + ".partial.json")

    def run(self, pipeline: Callable | None = None) -> dict[str, Any]:
        """Generate the shard; returns (and writes) the shard manifest.

        ``pipeline`` (a generator of :mod:`instdiff.generation.generators`: called per layout, plus ``generate_group``
        when ``group_size > 1``) is loaded from ``model_dir`` by ``model`` when not given, and only if some image is
        missing.
        Images are generated ``group_size`` layouts at a time (:func:`shard_groups`); a group is regenerated whole
        when any of its images is missing, stale or damaged, so its batches are always the same.
        """
        plan = self.prepare()
        t_start = time.perf_counter()
        progress, t_gen = self.generate(plan, pipeline)
        return self.write(plan, progress, t_start, t_gen)

    def prepare(self) -> ShardPlan:
        """Step 1: the shard's groups, the folder's settings guard, and which groups already have current images."""
        from instdiff.generation.pipeline import prepare_layout

        gen = self.settings
        layouts = canonical_order(read_layouts(self.layouts_path))
        groups = [[layouts[i] for i in g] for g in shard_groups(len(layouts), self.shard, self.nshards,
                                                                  self.group_size)]
        n_mine = sum(len(g) for g in groups)
        fingerprint = {
            "experiment": self.experiment, "run_seed": int(self.run_seed),
            "settings": {k: v for k, v in gen.to_dict().items() if k not in EXECUTION_KEYS},
            "image_format": self.image_format, "precision": check_precision(self.precision, field="precision"),
        }
        # Only where they differ from InstanceDiffusion's own seeds: folders made before these keys keep matching.
        if self.model != DEFAULT_MODEL:
            fingerprint["model"] = self.model
        if self.seed_experiment not in (None, self.experiment):
            fingerprint["seed_experiment"] = self.seed_experiment
        if record_folder_settings(self.out_dir, fingerprint) == fingerprint:
            adopt_records(self.out_dir, [lay.id for grp in groups for lay in grp], settings_sha256(fingerprint))
        log.info("%s shard %d of %d: %d of %d layouts in %d groups of up to %d", self.experiment, self.shard,
                 self.nshards, n_mine, len(layouts), len(groups), self.group_size)

        _remove_stale_temps(self.out_dir, [lay.id for grp in groups for lay in grp])
        threads = pin_threads(self.torch_threads)
        common = {
            "settings_sha256": settings_sha256(fingerprint),
            "model_sha256": None if self.model_dir is None else folder_sha256(self.model_dir),
            "code_version": generation_code_version(),
            "torch_threads": threads,
            "batch": {"group_size": int(self.group_size), "batched": gen.batched, "max_batch": gen.max_batch},
        }
        with_refined = gen.refiner_strength > 0
        plan = ShardPlan(layouts, groups, fingerprint)
        for grp in groups:
            recs = [_record(lay, self.run_seed, self.seed_experiment or self.experiment, self.image_format, common)
                    for lay in grp]
            if all(is_current(self.out_dir, r["file"], r, with_refined) for r in recs):
                for lay, rec in zip(grp, recs):
                    rec.update({k: v for k, v in read_record(self.out_dir, lay.id).items() if k.endswith("sha256")})
                    rec["status"] = "existing"
                    notes = prepare_layout(lay)[1]  # deterministic: the notes the generating run recorded
                    if notes:
                        rec["notes"] = notes
                plan.records.extend(recs)
            else:
                plan.todo.append(recs)
        log.info("%d images already exist, %d to generate", n_mine - plan.n_todo, plan.n_todo)
        return plan

    def generate(self, plan: ShardPlan, pipeline: Callable | None = None) -> tuple[Throughput, float]:
        """Step 2: the groups without current images, each saved with its records as soon as it is done (a killed
        job loses at most the group in flight); returns the throughput and when generation started."""
        if plan.todo and pipeline is None:
            t_load = time.perf_counter()
            pipeline = load_generator(self.model, self.model_dir, precision=self.precision, device=self.device,
                                      refiner=self.refiner)
            log.info("loaded %s from %s in %.1f s", self.model, self.model_dir, time.perf_counter() - t_load)
        by_id = {lay.id: lay for lay in plan.layouts}
        progress = Throughput(plan.n_todo, device_label(getattr(pipeline, "device", None)))
        t_gen = time.perf_counter()
        desc = f"{self.experiment} {self.shard}-of-{self.nshards}"
        for recs in tqdm(plan.todo, desc=desc, unit="group", mininterval=5.0):
            t0 = time.perf_counter()
            outs = _generate_group(pipeline, [by_id[r["id"]] for r in recs], self.settings, [r["seed"] for r in recs])
            for rec, out in zip(recs, outs):
                _save_outputs(self.out_dir, rec, out, self.image_format)
            seconds = time.perf_counter() - t0
            for rec, out in zip(recs, outs):
                rec["seconds"] = round(seconds / len(recs), 4)
                rec["timings"] = {k: round(v, 4) for k, v in out.timings.items()}
                if out.notes:
                    rec["notes"] = list(out.notes)
                    log.info("%s: %s", rec["id"], "; ".join(out.notes))
            plan.records.extend(recs)
            log.info("%s", progress.update(len(recs)))
            write_json(self.partial_path, self._manifest(plan.fingerprint, plan.records, complete=False))
        return progress, t_gen

    def write(self, plan: ShardPlan, progress: Throughput, t_start: float, t_gen: float) -> dict[str, Any]:
        """Step 3: the complete shard manifest, its records in canonical order; the progress file goes."""
        order = [lay for grp in plan.groups for lay in grp]
        manifest = self._manifest(plan.fingerprint, _in_order(plan.records, order), complete=True)
        manifest["timings"]["wall_s"] = round(time.perf_counter() - t_start, 3)
        manifest["throughput"] = progress.summary(time.perf_counter() - t_gen)
        write_json(self.manifest_path, manifest)
        self.partial_path.unlink(missing_ok=True)
        log.info("%s shard %d of %d done: %d generated", self.experiment, self.shard, self.nshards,
                 manifest["n_generated"])
        return manifest

    def _manifest(self, fingerprint: dict[str, Any], records: list[dict], complete: bool) -> dict[str, Any]:
        return _manifest(self.experiment, self.shard, self.nshards, fingerprint, records, complete)


@dataclass
class ShardPlan:
    """What :meth:`ShardJob.prepare` found: the canonical layouts, the shard's groups, the folder fingerprint, the
    records of the images already current and the groups still to generate (their records)."""

    layouts: list[Layout]
    groups: list[list[Layout]]
    fingerprint: dict[str, Any]
    records: list[dict[str, Any]] = field(default_factory=list)
    todo: list[list[dict[str, Any]]] = field(default_factory=list)

    @property
    def n_todo(self) -> int:
        return sum(len(g) for g in self.todo)


def _remove_stale_temps(out_dir: Path, ids: Sequence[str]) -> None:
    """Delete the temporary files a killed write of this shard's images left (``io.atomic_path`` names them
    ``.{stem}.<random>.tmp{suffix}``); other shards' ids are not touched, as they may be writing now."""
    for folder in (out_dir, out_dir / "refined", out_dir / RECORDS_DIR):
        if not folder.is_dir():
            continue
        for layout_id in ids:
            for tmp in folder.glob(f".{glob.escape(layout_id)}.*.tmp*"):
                tmp.unlink(missing_ok=True)


def _generate_group(pipeline, layouts: Sequence[Layout], gen, seeds: Sequence[int]) -> list:
    if len(layouts) == 1:
        return [pipeline(layouts[0], gen, seed=seeds[0])]
    return pipeline.generate_group(layouts, gen, seeds=seeds)


def _save_outputs(out_dir: Path, rec: dict[str, Any], out, image_format: str) -> None:
    """Image, then its refined copy, then the record: a record exists only once both files are complete."""
    save_image(out.images[0], out_dir / rec["file"], image_format)
    rec["sha256"] = file_sha256(out_dir / rec["file"])
    if out.refined:
        refined = out_dir / "refined" / rec["file"]
        save_image(out.refined[0], refined, image_format)
        rec["refined_sha256"] = file_sha256(refined)
    write_record(out_dir, {k: rec[k] for k in ("id", "file", "sha256", *REUSE_KEYS)}
                 | ({"refined_sha256": rec["refined_sha256"]} if out.refined else {}))


class Throughput:
    """Images per second and the ETA of a shard's remaining images, for the log and the manifest."""

    def __init__(self, total: int, device: str | None = None):
        self.total, self.done, self.t0, self.device = total, 0, time.perf_counter(), device

    def update(self, n: int) -> str:
        self.done += n
        elapsed = time.perf_counter() - self.t0
        rate = self.done / elapsed if elapsed > 0 else float("inf")
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        return f"{self.done}/{self.total} images, {rate:.3f} images/s, ETA {_hms(eta)}"

    def summary(self, elapsed: float) -> dict[str, Any]:
        if not self.done:
            return {"n_generated": 0, "images_per_s": None, "s_per_image": None, "device": self.device}
        return {"n_generated": self.done, "images_per_s": round(self.done / elapsed, 4),
                "s_per_image": round(elapsed / self.done, 4), "device": self.device}


def _hms(seconds: float) -> str:
    if seconds == float("inf"):
        return "unknown"
    s = int(round(seconds))
    return f"{s // 3600:d}:{s // 60 % 60:02d}:{s % 60:02d}"


def _record(lay: Layout, run_seed: int, experiment: str, image_format: str, common: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": lay.id,
        "file": image_file(".", lay.id, image_format).name,
        "seed": image_seed(run_seed, experiment, lay.id),
        "status": "generated",
        "n_instances": len(lay.instances),
        "layout_sha256": layout_sha256(lay),
        **common,
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
    """Check that every layout has exactly one current image and write ``images/{experiment}/done.json``.

    Refused: a layout without an image, an image made from another version of its layout, images of different
    models or thread counts, a file whose bytes differ from those recorded, a missing refined copy.
    ``done.json``: ``{experiment, n_images, n (= n_images), image_format, fingerprint, images: [{id, file, seed}] in
    canonical layout order, shards: [{manifest, n_images, n_generated, generate_s}], notes: {id: [...]}}``;
    ``file`` is relative to the folder holding ``done.json``.
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
                       "generate_s": m["timings"]["generate_s"], "throughput": m.get("throughput")})
        for rec in m["images"]:
            if rec["id"] in entries:
                raise InputError(path, f"image {rec['id']} appears in two shards", "rerun with one shard count")
            entries[rec["id"]] = rec
    missing = [lay.id for lay in layouts if lay.id not in entries or not (out_dir / entries[lay.id]["file"]).exists()]
    if missing:
        raise InputError(out_dir, f"{len(missing)} layouts have no image (first: {missing[:5]})",
                         rerun_shards_fix(done_path))
    with_refined = bool(fingerprint and fingerprint["settings"].get("refiner_strength", 0) > 0)
    _check_current(out_dir, layouts, entries, with_refined, done_path)
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
    # Shards of the experiment may write settings.json side by side, so its leftovers wait for this job, which
    # runs after every shard.
    clean_own_temps([out_dir / "settings.json"])
    return done


def _check_current(out_dir: Path, layouts: Sequence[Layout], entries: dict[str, dict], with_refined: bool,
                   done_path: str | Path) -> None:
    """Every image is of its current layout, all of one model / thread count, with the recorded bytes."""
    stale = [lay.id for lay in layouts if entries[lay.id].get("layout_sha256") != layout_sha256(lay)]
    if stale:
        raise InputError(out_dir, f"{len(stale)} images were generated from other versions of their layouts "
                         f"(first: {stale[:5]})", rerun_shards_fix(done_path))
    for key in ("settings_sha256", "model_sha256", "torch_threads", "batch"):
        values = {json.dumps(e.get(key), sort_keys=True) for e in entries.values()}
        if len(values) > 1:
            raise InputError(out_dir, f"images were generated with different {key} ({sorted(values)[:3]})",
                             rerun_shards_fix(done_path))
    for lay in layouts:
        rec = entries[lay.id]
        files = [(out_dir / rec["file"], rec.get("sha256"))]
        if with_refined:
            files.append((out_dir / "refined" / rec["file"], rec.get("refined_sha256")))
        for path, digest in files:
            if not path.is_file():
                raise InputError(path, "image is missing (the refiner's copy of a generated image?)",
                                 regenerate_fix(path))
            if digest is None or file_sha256(path) != digest:
                raise InputError(path, "image bytes differ from those its shard recorded (changed or damaged)",
                                 regenerate_fix(path))


def read_done(done_path: str | Path) -> list[Path]:
    """The image files listed by a ``done.json``, in canonical layout order (for downstream stages)."""
    done_path = Path(done_path)
    done = read_json(done_path)
    return [done_path.parent / rec["file"] for rec in done["images"]]
