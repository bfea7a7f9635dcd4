"""Which checkout's code runs: the ``instdiff`` command after a checkout was moved or copied.

``make install`` installs the package editable, so ``.venv`` imports ``instdiff`` from the folder it was installed
from. A checkout moved or copied with its ``.venv`` (``cp -a``, ``rsync -a``) keeps pointing at the old folder: the
``instdiff`` command then runs the old checkout's code (or fails to import it once that folder is gone). Snakemake is
not affected: it puts the workflow's own folder first on the module path, in the main process and in every job.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the instdiff/ folder this code was imported from
FIX = "rm -rf .venv && make install"


def checkout_of(folder: str | Path) -> Path | None:
    """The instdiff checkout holding ``folder`` (a folder with a Snakefile and instdiff/), or None."""
    folder = Path(folder).resolve()
    for candidate in (folder, *folder.parents):
        if (candidate / "Snakefile").is_file() and (candidate / "instdiff" / "__init__.py").is_file():
            return candidate
    return None


def other_checkout_message(cwd: str | Path | None = None, package_dir: Path = PACKAGE_DIR) -> str | None:
    """A warning when the working directory is an instdiff checkout whose code is not the code running."""
    here = checkout_of(Path.cwd() if cwd is None else cwd)
    if here is None or (here / "instdiff").resolve() == Path(package_dir).resolve():
        return None
    return (f"this command runs the instdiff code in {Path(package_dir).parent}, not this checkout's ({here}): "
            f"the .venv was installed from there (the checkout was moved or copied?). "
            f"Fix: in {here}, run `{FIX}`")
