"""Atomic file writes: write to a temporary sibling, then rename, so a killed job never leaves half a file."""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

# Every temporary sibling is named ``.{stem}.{random}.tmp{suffix}`` (folders: ``.{name}.tmp{random}``), so readers
# can skip them and :func:`clean_stale_temps` can find the ones a killed job left behind.
TEMP_NAME = re.compile(r"^\..+\.tmp[^/]*$")


def is_temp(path: str | Path) -> bool:
    """True for a name made by :func:`atomic_path` / :func:`atomic_dir` (a write in progress or a killed one)."""
    return bool(TEMP_NAME.match(Path(path).name))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _normal_mode(tmp: Path, directory: bool = False) -> None:
    # mkstemp/mkdtemp create 0600/0700; a renamed file keeps that, so a lab group could not read the results.
    os.chmod(tmp, (0o777 if directory else 0o666) & ~_umask())


def clean_stale_temps(folder: str | Path, recursive: bool = False) -> list[Path]:
    """Delete the temporary files and folders a killed write left in ``folder``; returns what was removed.

    Call it only where no other job writes at the same time (e.g. at the start of the job that owns the folder).
    """
    import shutil

    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [p for p in (folder.rglob("*") if recursive else folder.iterdir()) if is_temp(p)]
    removed = []
    for p in sorted(found, key=lambda q: len(q.parts), reverse=True):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        removed.append(p)
    return removed


# mkstemp / mkdtemp put 8 characters of this alphabet where atomic_path / atomic_dir name the random part.
_RANDOM = r"[a-z0-9_]{8}"


def own_temps(path: str | Path) -> list[Path]:
    """The temporaries a killed :func:`atomic_path` / :func:`atomic_dir` write of exactly ``path`` left beside it.

    Matched by the full name pattern (stem, 8 random characters, suffix), so the temporaries of a neighbour
    (``a.b.json`` beside ``a.json``), which another job may be writing now, are never among them.
    """
    path = Path(path)
    if not path.parent.is_dir():
        return []
    file_name = re.compile(rf"^\.{re.escape(path.stem)}\.{_RANDOM}\.tmp{re.escape(path.suffix)}$")
    dir_name = re.compile(rf"^\.{re.escape(path.name)}\.tmp{_RANDOM}$")
    return sorted(p for p in path.parent.iterdir() if file_name.match(p.name) or dir_name.match(p.name))


def clean_own_temps(paths: Iterable[str | Path]) -> list[Path]:
    """Delete what killed writes of ``paths`` left (a job's own outputs: no other job writes them); returns it."""
    import shutil

    removed = []
    for path in paths:
        for tmp in own_temps(path):
            if tmp.is_dir() and not tmp.is_symlink():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds.

    The temporary name keeps the suffix of ``path`` so libraries that dispatch on it (PIL, torch) still work.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    tmp_path = Path(tmp)
    _normal_mode(tmp_path)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder next to ``path``; it replaces ``path`` (whole) only if the block succeeds."""
    import shutil

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp"))
    _normal_mode(tmp, directory=True)
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_json(path: str | Path, obj: Any, indent: int | None = 2) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=indent, sort_keys=False, default=_json_default) + "\n")


def write_jsonl(path: str | Path, rows: Iterable[Any]) -> None:
    with atomic_path(path) as tmp:
        with tmp.open("w") as fh:
            for row in rows:
                fh.write(json.dumps(row, default=_json_default) + "\n")


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


MISSING_FIX = "run the rule that produces it or correct the path"
# Binary bytes where JSON belongs: a disk or copy fault, or the wrong file passed.
REPAIR_FIX = "regenerate the file (delete it and rerun the rule that writes it) or pass the right path"


def _missing(path: Path, what: str, fix: str):
    from instdiff.core.errors import InputError

    return InputError(path, f"{what} does not exist", fix)


def read_json(path: str | Path, what: str = "file", missing_fix: str = MISSING_FIX) -> Any:
    """The one JSON reader: a missing file or bad JSON is an InputError naming the file (``what`` names the kind of
    file and ``missing_fix`` what to do, for the caller's message)."""
    from instdiff.core.errors import InputError

    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, IsADirectoryError):
        raise _missing(path, what, missing_fix) from None
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not valid JSON ({exc.msg} at line {exc.lineno})", "regenerate or repair the file") from None
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not a text file (byte {exc.start} is not UTF-8)", REPAIR_FIX) from None
    except RecursionError:
        raise InputError(path, "JSON nested too deeply to read", REPAIR_FIX) from None


def read_jsonl(path: str | Path, what: str = "file", missing_fix: str = MISSING_FIX) -> list[Any]:
    """The one JSON-lines reader (blank lines skipped); errors as :func:`read_json`, with the line number."""
    from instdiff.core.errors import InputError

    path = Path(path)
    rows = []
    try:
        fh = path.open("rb")
    except (FileNotFoundError, IsADirectoryError):
        raise _missing(path, what, missing_fix) from None
    with fh:  # binary, decoded line by line: a text stream fails a whole buffer ahead, on the wrong line number
        for lineno, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
                if line.strip():
                    rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InputError(path, f"line {lineno} is not valid JSON ({exc.msg})", "regenerate the file") from None
            except UnicodeDecodeError:
                raise InputError(path, f"line {lineno} is not text (not UTF-8)", REPAIR_FIX) from None
            except RecursionError:
                raise InputError(path, f"line {lineno} is JSON nested too deeply to read", REPAIR_FIX) from None
    return rows


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")
