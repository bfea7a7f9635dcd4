"""What a damaged or foreign image file raises when it is opened, wherever it is opened."""

from __future__ import annotations

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
