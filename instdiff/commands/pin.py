"""``instdiff pin --configfile FILE``: pin every unpinned download once, on the login node (trust on first use).

For each download whose pin is missing (``instdiff.commands.preflight.missing_pins``) it asks the source once:

- a file pinned by ``sha256`` is fetched (streamed, hashed, not kept) and its sha256 and size are recorded;
- a hub snapshot pinned by ``revision`` gets the commit the hub's ``main`` points at today
  (``{HF_ENDPOINT}/api/models/{repo}/revision/main``).

The values go to a lock file, a config overlay (``config/pins.lock.yaml`` by default) with where each came from, for
the user to review and commit, then to pass after the config (``--configfile config/config.yaml
config/pins.lock.yaml``). Trust on first use: the pin proves later downloads equal this one, not that this one is
what the authors published; check what you can (README "Pins"). Nothing is written for a download whose source
gives no answer, and nothing that no source establishes.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import urllib.request
from pathlib import Path
from typing import Any, Mapping

import yaml

from instdiff.commands.preflight import Download, downloads, merged_config
from instdiff.core.errors import InputError
from instdiff.core.io import atomic_path
from instdiff.data.hub import COMMIT

DEFAULT_LOCK = "config/pins.lock.yaml"
HUB_ENDPOINT_ENV = "HF_ENDPOINT"  # huggingface_hub's own variable for a mirror
HUB_ENDPOINT = "https://huggingface.co"
OPEN_CLIP_HUB_FILE = "open_clip_model.safetensors"  # open_clip asks the hub for this file first
TIMEOUT_S = 60


def hub_endpoint() -> str:
    return os.environ.get(HUB_ENDPOINT_ENV, HUB_ENDPOINT).rstrip("/")


def _get(url: str):
    req = urllib.request.Request(url, headers={"User-Agent": "instdiff-pin"})
    return urllib.request.urlopen(req, timeout=TIMEOUT_S)  # noqa: S310 (http/https URLs from the code or config)


def file_digest(url: str) -> tuple[str, int]:
    """sha256 and size of the file at ``url``, streamed (nothing is kept)."""
    h, size = hashlib.sha256(), 0
    with _get(url) as resp:
        for block in iter(lambda: resp.read(1 << 20), b""):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def hub_commit(repo: str, endpoint: str | None = None) -> str:
    """The commit ``main`` of hub repository ``repo`` points at now."""
    with _get(f"{endpoint or hub_endpoint()}/api/models/{repo}/revision/main") as resp:
        sha = json.loads(resp.read().decode("utf-8")).get("sha")
    if not sha or not COMMIT.match(str(sha)):
        raise InputError(None, f"the hub answered no commit for {repo} (got {sha!r})",
                         "check the repository name and that it is public, or pin it by hand")
    return str(sha)


def file_url(download: Download, pins: Mapping[str, Any], endpoint: str | None = None) -> str:
    """The URL whose bytes ``download``'s sha256 pins: its URL, or the hub file open_clip fetches."""
    if not download.source.startswith("open_clip:"):
        return download.source
    from instdiff.metrics.clip_models import hub_source  # imports open_clip: only when a CLIP file is pinned

    _, arch, tag = download.source.split(":")
    cfg, repo = hub_source(arch, tag, download.key)
    if download.key.startswith("models.sha256.") and cfg.get("url"):
        return cfg["url"]
    # models.clip_attribute follows the repo's main (the sha256 pins the bytes); llm.clip pins a commit first
    revision = pins.get(download.key.rsplit(".", 1)[0] + ".revision", "main") if download.key.startswith(
        "llm.") else "main"
    return f"{endpoint or hub_endpoint()}/{repo}/resolve/{revision}/{OPEN_CLIP_HUB_FILE}"


def pin_downloads(todo: list[Download], known: Mapping[str, Any] | None = None,
                  endpoint: str | None = None) -> dict[str, dict[str, Any]]:
    """Config key -> {value, source, bytes} for each download of ``todo`` (revisions first: a file at a pinned
    commit is fetched at the commit just found)."""
    pins: dict[str, Any] = dict(known or {})
    out: dict[str, dict[str, Any]] = {}
    for d in sorted(todo, key=lambda d: d.kind != "revision"):
        if d.kind == "revision":
            repo = d.source
            if d.source.startswith("open_clip:"):
                from instdiff.metrics.clip_models import hub_source

                _, arch, tag = d.source.split(":")
                repo = hub_source(arch, tag, d.key)[1]
            value = hub_commit(repo, endpoint)
            out[d.key] = {"value": value, "source": f"{endpoint or hub_endpoint()}/{repo} (main)"}
        else:
            url = file_url(d, pins, endpoint)
            value, size = file_digest(url)
            out[d.key] = {"value": value, "source": url, "bytes": size}
        pins[d.key] = value
    return out


def write_lock(path: str | Path, found: Mapping[str, Mapping[str, Any]], configs: list[str]) -> dict[str, Any]:
    """Merge ``found`` into the lock file at ``path`` (a config overlay) and write it atomically, sources as
    comments."""
    path = Path(path)
    lock = yaml.safe_load(path.read_text()) if path.exists() else {}
    lock = lock or {}
    for key, entry in found.items():
        node = lock
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = entry["value"]
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = [f"# Written by `instdiff pin` ({stamp}) for {', '.join(configs)}: trust on first use.",
              "# Each value is what its source served once; review it (a release page's checksum, the hub's history),",
              "# commit this file, and pass it after the config:",
              f"#   snakemake --configfile {' '.join(configs)} {path} ...", "# Sources:"]
    header += [f"#   {key}: {e['source']}" + (f" ({e['bytes']} bytes)" if "bytes" in e else "")
               for key, e in found.items()]
    with atomic_path(path) as tmp:
        Path(tmp).write_text("\n".join(header) + "\n" + yaml.safe_dump(lock, sort_keys=True))
    return lock


def register(sub) -> None:
    p = sub.add_parser("pin", help="fetch each unpinned download once and write its sha256 / revision to a lock file "
                                   "(trust on first use; run it on the login node)")
    p.description = 'Fetch each unpinned download once (on a machine with the network, e.g. the login node) and write its sha256 or hub revision to a lock file: trust on first use. Review the lock file, then pass it as a second --configfile.'
    p.add_argument("--configfile", nargs="+", required=True, help="the run's config file(s)")
    p.add_argument("--lock", default=DEFAULT_LOCK, help=f"the lock file to write (default {DEFAULT_LOCK})")
    p.add_argument("--dry-run", action="store_true", help="list what would be fetched, fetch nothing")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from instdiff.cli import print_json

    configs = list(args.configfile)
    if Path(args.lock).exists() and str(args.lock) not in configs:
        configs.append(str(args.lock))  # a rerun adds to the lock and keeps what it holds
    config = merged_config(configs)
    todo = [d for d in downloads(config) if d.key and not d.pinned]
    if args.dry_run or not todo:
        print_json({"lock": str(args.lock), "to_pin": {d.key: d.source for d in todo}})
        return 0
    found = pin_downloads(todo, {d.key: d.pin for d in downloads(config) if d.key})
    write_lock(args.lock, found, [c for c in configs if c != str(args.lock)])
    print_json({"lock": str(args.lock), "pinned": found})
    return 0
