"""``instdiff generate``: images for one layout in the original demo JSON format (``inference.py --input_json``).

Writes ``{out}/{stem}_{k}.png`` for k = 0 … num_images − 1 and ``{out}/{stem}_layout.png`` (a preview of the layout),
and prints one JSON object (files, seeds, settings, notes, timings). Defaults follow ``inference.py``: seed 0,
alpha 0.75, mis 0.36, guidance 7.5, the ``mask`` test config, its negative prompt. Unlike the original, masks and
scribbles in the JSON are used (see :mod:`instdiff.data.demo`). The initial noise of image k is the k-th
``randn(1, 4, 64, 64)`` draw of a CPU generator seeded with ``--seed``, which is what the original's
``torch.manual_seed(seed); torch.randn(num_images, 4, 64, 64)`` gives.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from instdiff.core.device import resolve_device
from instdiff.core.errors import InputError
from instdiff.generation.precision import PRECISIONS, removed_dtype_error

DEFAULT_MODEL = os.environ.get("INSTDIFF_MODEL", "resources/models/instancediffusion")
# inference.py's negative prompt, this command's default as the script's: the config's default is the schema's ""
# (eval_local.py prepends "cartoon style, painting style, "; config/config.yaml passes that one).
INFERENCE_NEGATIVE_PROMPT = (
    "longbody, lowres, bad anatomy, bad hands, missing fingers, extra digit, fewer digits, cropped, worst quality, low quality"
)


def register(subparsers) -> None:
    p = subparsers.add_parser("generate", help="generate images for one demo-format layout JSON",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layout", required=True,
                   help="layout JSON in the original demo format, or a shipped demo: boxes_picnic, points_harbour, "
                        "scribbles_garden, mask_teapot (instdiff/assets/demos)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--model", default=DEFAULT_MODEL, help="converted model folder (default: $INSTDIFF_MODEL or %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mis", type=float, default=0.36, help="fraction of steps run as per-instance chains")
    p.add_argument("--alpha", type=float, default=0.75, help="fraction of steps with the instance fusers on")
    p.add_argument("--config", choices=["box", "mask", "point", "scribble"], default="mask",
                   help="test config: which location inputs the model uses")
    p.add_argument("--guidance-scale", type=float, default=7.5)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--num-images", type=int, default=1)
    p.add_argument("--negative-prompt", default=None, help="default: inference.py's negative prompt")
    p.add_argument("--precision", choices=PRECISIONS, default=None,
                   help="autocast-fp16: the original inference.py (fp32 weights under fp16 autocast); fp32: "
                        "eval_local.py; bf16: fast mode. Default: autocast-fp16 on GPU, fp32 on CPU")
    p.add_argument("--dtype", default=None, help=argparse.SUPPRESS)  # removed: answered with what to use instead
    p.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    p.add_argument("--sequential", action="store_true", help="one UNet call per chain and guidance pass (the original's order)")
    p.add_argument("--refiner", default=None, help="SDXL refiner (folder or hub id) for the cascade")
    p.add_argument("--cascade-strength", type=float, default=0.0, help="> 0 runs the SDXL refiner at this strength")
    p.set_defaults(func=run)


def run(args) -> int:
    import torch

    from instdiff.cli import print_json
    from instdiff.data.demo import complete_from_masks, draw_layout, read_demo
    from instdiff.generation.shard import save_image
    from instdiff.generation.pipeline import GenerationSettings, InstanceDiffusionPipeline, prepare_layout

    from instdiff.core.logging_setup import setup

    setup()
    if args.dtype is not None:
        raise removed_dtype_error(args.dtype, field="--dtype")
    layout = complete_from_masks(read_demo(args.layout), args.seed)
    model = Path(args.model)
    if not model.is_dir():
        raise InputError(model, "model folder does not exist",
                         "run the models rule (snakemake models) or pass --model / set INSTDIFF_MODEL", "--model")
    if args.num_images < 1:
        raise InputError(None, "--num-images must be at least 1", "pass a positive number", "--num-images")
    device = resolve_device(args.device)
    precision = args.precision or ("autocast-fp16" if str(device).startswith("cuda") else "fp32")
    settings = GenerationSettings(
        location=args.config, steps=args.steps, guidance_scale=args.guidance_scale, alpha=args.alpha, mis=args.mis,
        negative_prompt=INFERENCE_NEGATIVE_PROMPT if args.negative_prompt is None else args.negative_prompt,
        batched=not args.sequential, refiner_strength=args.cascade_strength,
    )
    pipe = InstanceDiffusionPipeline.from_folder(model, precision=precision, device=device,
                                                 refiner=args.refiner if args.cascade_strength > 0 else None)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    preview = out_dir / f"{layout.id}_layout.png"
    save_image(draw_layout(prepare_layout(layout)[0]), preview, "png")

    generator = torch.Generator("cpu").manual_seed(args.seed)
    images, refined, timings, notes = [], [], [], []
    for k in range(args.num_images):
        out = pipe(layout, settings, generator=generator)
        path = out_dir / f"{layout.id}_{k}.png"
        save_image(out.images[0], path, "png")
        images.append(str(path))
        if out.refined:
            rpath = out_dir / f"{layout.id}_{k}_xl_s{args.cascade_strength}_n{settings.refiner_steps}.png"
            save_image(out.refined[0], rpath, "png")
            refined.append(str(rpath))
        timings.append(out.timings)
        notes = out.notes
    print_json({
        "layout": str(args.layout), "images": images, "refined": refined, "preview": str(preview),
        "seed": args.seed, "model": str(model), "precision": precision, "device": str(device),
        "settings": settings.to_dict(), "n_instances": len(layout.instances), "notes": notes, "timings": timings,
    })
    return 0
