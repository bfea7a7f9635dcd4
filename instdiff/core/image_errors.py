"""What a damaged or foreign image file raises when it is opened, wherever it is opened."""

from __future__ import annotations

from pathlib import Path

from PIL import UnidentifiedImageError

# PIL raises several types for a damaged file (truncated data: OSError; bad headers: SyntaxError/ValueError).
# Once ultralytics is imported in the process it patches PIL.Image.open to retry unidentified files with its optional
# HEIF plugin, and with the plugin absent (YOLO_AUTOINSTALL=0) an unreadable file raises ModuleNotFoundError('pi_heif')
# instead of UnidentifiedImageError. All of these mean "this file is not a usable image".
DECODE_ERRORS: tuple[type[BaseException], ...] = (
    UnidentifiedImageError,
    OSError,
    SyntaxError,
    ValueError,
    ModuleNotFoundError,
)


def rerun_shards_fix(done: str | Path) -> str:
    """The fix text for a generated experiment whose shards must run again (``done``: its ``done.json``)."""
    return (f"rerun the experiment's generate shards: `snakemake --cores all -R generate -- {done}` (current images "
            "are kept, only missing or stale ones are generated)")


def regenerate_fix(image: str | Path) -> str:
    """The fix text for a damaged or missing image of a results folder, naming the command that makes it again.

    Images are not Snakemake outputs (a killed shard keeps its finished images), so ``-f`` on the image itself
    does nothing: a generated experiment (its folder has ``shards/``) regenerates through its ``generate`` jobs,
    which keep every current image and make only the missing one; a copied or real image set through the job
    that writes its ``done.json``.
    """
    image = Path(image)
    folder = image.parent.parent if image.parent.name == "refined" else image.parent
    done = folder / "done.json"
    if (folder / "shards").is_dir():
        how = f"`snakemake --cores all -R generate -- {done}` (only the missing image is generated again)"
    else:
        how = f"`snakemake --cores all -f {done}`"
    return f"delete {image} and regenerate it: {how}, then rerun your target"
