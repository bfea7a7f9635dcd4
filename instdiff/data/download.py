"""Verified downloads and atomic zip extraction.

:func:`fetch` streams a URL to ``dest`` through a ``dest.part`` file, resuming an interrupted download with an HTTP
``Range`` request, retrying network failures, and verifying MD5 / SHA256 before the final rename. A finished
``dest`` whose checksums match is never downloaded again. A checksum mismatch deletes the partial file and raises
:class:`instdiff.core.errors.InputError` naming the file and both checksums.

:func:`unzip_members` extracts selected members into a staging folder beside the destination and moves them into
place only once every member is out, so a failed extraction leaves nothing half-written.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath
from typing import Iterable

from tqdm import tqdm

from instdiff.core.errors import InputError

log = logging.getLogger(__name__)

CHUNK = 1 << 20
# A server that drips bytes never trips the socket timeout: a download also fails when fewer than
# MIN_BYTES_PER_S arrive on average over any STALL_WINDOW_S, or when all attempts together exceed DEADLINE_S.
MIN_BYTES_PER_S = 10 * 1024
STALL_WINDOW_S = 60.0
DEADLINE_S = 6 * 3600.0


class Stalled(TimeoutError):
    """Too slow or past the deadline (an OSError, so it is retried like a dropped connection)."""

# Official COCO 2017 files the pipeline needs (reproduction-extension.md §4); nothing else (not train / test).
COCO_FILES = {
    "val2017.zip": {
        "url": "http://images.cocodataset.org/zips/val2017.zip",
        "md5": "442b8da7639aecaf257c1dceb8ba8c80",
        "sha256": "4f7e2ccb2866ec5041993c9cf2a952bbed69647b115d0f74da7ce8f4bef82f05",
        "size": 815585330,
    },
    "annotations_trainval2017.zip": {
        "url": "http://images.cocodataset.org/annotations/annotations_trainval2017.zip",
        "md5": "f4bbac642086de4f52a3fdda2de5fa2c",
        "sha256": "113a836d90195ee1f884e704da6304dfaaecff1f023f49b6ca93c4aaae470268",
        "size": 252907541,
    },
}


def file_digests(path: str | Path) -> dict[str, str]:
    """MD5 and SHA256 hex digests of a file, in one pass."""
    md5, sha = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            md5.update(block)
            sha.update(block)
    return {"md5": md5.hexdigest(), "sha256": sha.hexdigest()}


def _mismatch(path: Path, expected: dict[str, str | None], got: dict[str, str]) -> str | None:
    for algo in ("sha256", "md5"):
        want = expected.get(algo)
        if want and want.lower() != got[algo]:
            return f"{algo} mismatch: expected {want.lower()}, got {got[algo]}"
    return None


def _stream(url: str, part: Path, timeout: float, deadline: float = float("inf"),
            min_bytes_per_s: float = MIN_BYTES_PER_S, window_s: float = STALL_WINDOW_S) -> None:
    """Append the missing bytes of ``url`` to ``part`` (resuming with Range when ``part`` is non-empty).

    ``deadline`` is a ``time.monotonic()`` value; :class:`Stalled` when it passes or when fewer than
    ``min_bytes_per_s`` arrive over a ``window_s`` window.
    """
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": "instdiff"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # range beyond the end: the part file is already complete
            return
        raise
    with resp:
        if have and resp.status != 206:  # server ignored the Range header: start again
            have = 0
        total = resp.headers.get("Content-Length")
        total = int(total) + have if total is not None else None
        mode = "ab" if have else "wb"
        with open(part, mode) as fh, tqdm(total=total, initial=have, unit="B", unit_scale=True,
                                           desc=part.name.removesuffix(".part"), mininterval=2) as bar:
            window_start, window_bytes = time.monotonic(), 0
            while True:
                block = resp.read1(CHUNK)  # returns what has arrived: a dripping server cannot hold us in one read
                if not block:
                    break
                fh.write(block)
                bar.update(len(block))
                now = time.monotonic()
                window_bytes += len(block)
                if now > deadline:
                    raise Stalled(f"past the download deadline with {fh.tell()} bytes")
                if now - window_start >= window_s:
                    if window_bytes < min_bytes_per_s * (now - window_start):
                        raise Stalled(f"stalled: {window_bytes} bytes in {now - window_start:.1f} s "
                                      f"(minimum {min_bytes_per_s:g} B/s)")
                    window_start, window_bytes = now, 0
        if total is not None and part.stat().st_size < total:
            raise ConnectionError(f"connection closed after {part.stat().st_size} of {total} bytes")


def fetch(url: str, dest: str | Path, sha256: str | None = None, md5: str | None = None, retries: int = 3,
          timeout: float = 60.0, backoff_s: float = 2.0, deadline_s: float = DEADLINE_S,
          min_bytes_per_s: float = MIN_BYTES_PER_S, stall_window_s: float = STALL_WINDOW_S) -> Path:
    """Download ``url`` to ``dest`` and verify it; returns ``dest``.

    Resumes from ``dest.part`` (HTTP Range), retries network errors ``retries`` times with exponential backoff, and
    renames onto ``dest`` only after the checksums match. A transfer slower than ``min_bytes_per_s`` over a
    ``stall_window_s`` window is dropped and retried; all attempts together stop after ``deadline_s`` seconds. On a mismatch the partial file is deleted and an InputError
    names the file and both checksums. An existing ``dest`` with matching checksums is kept as is.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    expected = {"sha256": sha256, "md5": md5}
    if dest.exists():
        problem = _mismatch(dest, expected, file_digests(dest)) if (sha256 or md5) else None
        if problem is None:
            log.info("%s already present and verified", dest)
            return dest
        log.warning("%s exists but %s; downloading again", dest, problem)
        dest.unlink()
    part = dest.with_name(dest.name + ".part")
    deadline = time.monotonic() + deadline_s
    for attempt in range(retries + 1):
        try:
            _stream(url, part, min(timeout, max(0.1, deadline - time.monotonic())), deadline, min_bytes_per_s,
                    stall_window_s)
            break
        except (OSError, http.client.HTTPException) as exc:  # URLError, timeouts, resets, short reads
            if isinstance(exc, urllib.error.HTTPError) and 400 <= exc.code < 500 and exc.code not in (408, 429):
                raise InputError(url, f"download refused (HTTP {exc.code})", "check the URL in the config") from None
            if attempt == retries or time.monotonic() > deadline:
                kept = (f"the partial file {part} ({part.stat().st_size} bytes) is kept for resuming"
                        if part.exists() and part.stat().st_size else "nothing was downloaded")
                raise InputError(url, f"download failed after {attempt + 1} attempt(s) ({exc})",
                                 f"check the network and rerun; {kept}") from None
            wait = backoff_s * (2 ** attempt)
            log.warning("download of %s failed (%s); retry %d/%d in %.1fs", url, exc, attempt + 1, retries, wait)
            time.sleep(wait)
    problem = _mismatch(part, expected, file_digests(part)) if (sha256 or md5) else None
    if problem is not None:
        part.unlink(missing_ok=True)
        raise InputError(dest, problem, f"the download from {url} is corrupt or changed; rerun to download it again")
    os.replace(part, dest)
    log.info("downloaded %s", dest)
    return dest


def _safe_name(name: str, zip_path: Path) -> PurePosixPath:
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts:
        raise InputError(zip_path, f"member {name!r} would be written outside the destination",
                         "use the official archive")
    return p


def unzip_members(zip_path: str | Path, dest: str | Path, members: Iterable[str] | None = None,
                  prefix: str | None = None) -> list[Path]:
    """Extract the named ``members`` (or every member under ``prefix``, or all) of ``zip_path`` into ``dest``.

    Members keep their archive paths. Extraction goes to a staging folder inside ``dest``; the files are moved into
    place (replacing older copies) only after every member was extracted, so an error leaves ``dest`` as it was.
    Returns the extracted file paths.
    """
    zip_path, dest = Path(zip_path), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, FileNotFoundError) as exc:
        raise InputError(zip_path, f"not a readable zip archive ({exc})", "delete it and download it again") from None
    with zf:
        names = [i.filename for i in zf.infolist() if not i.is_dir()]
        if members is not None:
            wanted = list(members)
            missing = sorted(set(wanted) - set(names))
            if missing:
                raise InputError(zip_path, f"archive lacks {missing[:5]}", "use the official archive")
            names = wanted
        elif prefix is not None:
            names = [n for n in names if n.startswith(prefix)]
            if not names:
                raise InputError(zip_path, f"archive has no member under {prefix!r}", "use the official archive")
        stage = Path(tempfile.mkdtemp(dir=dest, prefix=".unzip.tmp"))  # instdiff.core.io.is_temp knows the name
        try:
            for name in tqdm(names, desc=f"unzip {zip_path.name}", mininterval=2):
                rel = _safe_name(name, zip_path)
                target = stage.joinpath(*rel.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    with zf.open(name) as src, open(target, "wb") as out:
                        shutil.copyfileobj(src, out, CHUNK)
                except (zipfile.BadZipFile, OSError, EOFError) as exc:
                    raise InputError(zip_path, f"member {name!r} cannot be extracted ({exc})",
                                     "delete the archive and download it again") from None
            for name in names:  # every member is out: move them into place, file by file
                rel = PurePosixPath(name)
                final = dest.joinpath(*rel.parts)
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(stage.joinpath(*rel.parts), final)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
    return [dest.joinpath(*PurePosixPath(n).parts) for n in names]


def download_coco(name: str, dest: str | Path, retries: int = 3) -> Path:
    """Rule entry: fetch one of :data:`COCO_FILES` with both checksums verified."""
    if name not in COCO_FILES:
        raise ValueError(f"unknown COCO file {name!r}; expected one of {sorted(COCO_FILES)}")
    spec = COCO_FILES[name]
    return fetch(spec["url"], dest, sha256=spec["sha256"], md5=spec["md5"], retries=retries)


def unzip_coco(images_zip: str | Path, annotations_zip: str | Path, dest: str | Path) -> None:
    """Rule entry: ``val2017/`` from the image zip and only the two val2017 annotation files from the other."""
    unzip_members(images_zip, dest, prefix="val2017/")
    unzip_members(annotations_zip, dest,
                  members=["annotations/instances_val2017.json", "annotations/captions_val2017.json"])
