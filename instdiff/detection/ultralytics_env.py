"""Make ultralytics run with no network and no self-installation; import it only through :func:`setup`.

ultralytics looks up DNS on import unless ``YOLO_OFFLINE=1``, may ``pip install`` extras unless
``YOLO_AUTOINSTALL=0``, unpickles checkpoints with arbitrary code unless ``ULTRALYTICS_SAFE_LOAD=1``, and fetches ``Arial.ttf`` from GitHub when it plots unless the font already sits in its
config folder (``$YOLO_CONFIG_DIR/Ultralytics``); we put matplotlib's DejaVuSans there under that name.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

DEFAULT_CONFIG_DIR = ".yolo"  # git-ignored, beside the workflow


def setup(config_dir: str | Path | None = None):
    """Set the offline environment (before the first import), place the font, and return ``ultralytics``."""
    config_dir = Path(config_dir or os.environ.get("YOLO_CONFIG_DIR") or DEFAULT_CONFIG_DIR).resolve()
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "0"
    # Checkpoints load with torch's weights_only unpickler and ultralytics' allow-list of model classes: a crafted
    # .pt cannot run code. Read once, when ultralytics is first imported.
    os.environ["ULTRALYTICS_SAFE_LOAD"] = "1"
    os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    font = config_dir / "Ultralytics" / "Arial.ttf"
    if not font.exists():
        import matplotlib

        font.parent.mkdir(parents=True, exist_ok=True)
        src = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        tmp = font.with_suffix(".tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, font)
    import ultralytics

    return ultralytics
