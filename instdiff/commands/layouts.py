"""``instdiff layouts``: an experiment's layouts for an outside generator, as our jsonl, GLIGEN's input or COCO."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser("layouts", help="write an experiment's layouts as jsonl, GLIGEN input or COCO json "
                              "(docs/layouts.md)",
                              description="Write the layouts an experiment's images follow, for a model outside "
                              "instdiff: our jsonl (docs/layouts.md), GLIGEN's phrases with normalised xyxy boxes, or "
                              "COCO annotations. Score its images afterwards as a `kind: external` experiment.")
    p.add_argument("--configfile", required=True, help="the run's config (its `run` names the results folder)")
    p.add_argument("--experiment", required=True, help="the experiment whose layouts to write (e.g. box)")
    p.add_argument("--format", required=True, choices=["jsonl", "gligen", "coco"],
                   help="jsonl: our layouts file | gligen: prompt, phrases, normalised xyxy locations per line | "
                        "coco: a COCO instances json")
    p.add_argument("--out", required=True, help="the file to write")
    p.add_argument("--results", default="results", help="the results folder of the workflow (default: results)")
    p.set_defaults(func=run)


def layouts_file(configfile: str, experiment: str, results: str = "results"):
    """The layouts file the workflow wrote for ``experiment`` of the run ``configfile`` describes. An external
    experiment's layouts are those of the experiment it follows."""
    from pathlib import Path

    import yaml

    from instdiff.core.errors import InputError

    try:
        config = yaml.safe_load(Path(configfile).read_text()) or {}
    except FileNotFoundError:
        raise InputError(configfile, "config file does not exist", "pass the run's config, e.g. config/config.yaml",
                         "--configfile") from None
    except yaml.YAMLError as exc:
        raise InputError(configfile, f"not valid YAML ({exc.__class__.__name__})", "fix the config file") from None
    experiments = config.get("experiments") or {}
    if experiment not in experiments:
        raise InputError(configfile, f"no experiment {experiment!r}", f"use one of {', '.join(experiments)}",
                         "--experiment")
    if experiments[experiment].get("kind") == "external":
        experiment = experiments[experiment].get("layouts")
    path = Path(results) / str(config.get("run")) / "layouts" / f"{experiment}.jsonl"
    if not path.is_file():
        raise InputError(path, "the experiment's layouts have not been written yet",
                         f"run `snakemake {path} --configfile {configfile}` first", "--experiment")
    return path


def run(args) -> int:
    from instdiff.cli import print_json
    from instdiff.data.layout_export import export_layouts

    path = layouts_file(args.configfile, args.experiment, args.results)
    print_json({"experiment": args.experiment, **export_layouts(path, args.format, args.out)})
    return 0
