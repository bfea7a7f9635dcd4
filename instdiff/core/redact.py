"""Keep secrets out of files and logs.

Servers and proxies echo request headers in error bodies (``Authorization: Bearer sk-...``), so any text that came
back from a server is scrubbed before it is logged or stored: :func:`scrub` replaces every secret registered with
:func:`register` (the API key read from the environment) and anything shaped like a credential. :class:`SecretFilter`
does the same to every log record as a second net, installed on the handlers by :mod:`instdiff.core.logging_setup`.
"""

from __future__ import annotations

import logging
import re
from typing import Any

MASK = "[REDACTED]"
_SECRETS: set[str] = set()
# Shorter registered values would mask ordinary words.
MIN_SECRET_LEN = 8
_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[^\s'\",}]+"),
    re.compile(r"(?i)((?:authorization|api[_-]?key|x-api-key|token|password|secret)[\"']?\s*[:=]\s*[\"']?)[^\s'\",}]+"),
    re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"),
]


def register(secret: str | None) -> None:
    """Mask ``secret`` wherever it appears from now on (in this process)."""
    if secret and len(secret) >= MIN_SECRET_LEN:
        _SECRETS.add(secret)


# Environment variables that hold credentials the pipeline's libraries read (OpenAI client, Hugging Face hub).
SECRET_ENV = ("OPENAI_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")


def register_from_env() -> None:
    import os

    for name in SECRET_ENV:
        register(os.environ.get(name, "").strip())


def scrub(text: Any, patterns: bool = True) -> Any:
    """``text`` with every registered secret masked, and (``patterns``) every credential-shaped token too;
    non-strings are returned as is."""
    if not isinstance(text, str):
        return text
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, MASK)
    if patterns:
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + MASK, text)
    return text


def scrub_obj(obj: Any, patterns: bool = True) -> Any:
    """:func:`scrub` applied to every string inside nested dicts and lists (a server response before storing).

    ``patterns=False`` masks only the registered secrets: for a successful reply, whose text is data (a layout
    caption saying "secret: garden" must stay as it is)."""
    if isinstance(obj, str):
        return scrub(obj, patterns)
    if isinstance(obj, dict):
        return {k: scrub_obj(v, patterns) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [scrub_obj(v, patterns) for v in obj]
    return obj


class SecretFilter(logging.Filter):
    """Scrub the formatted message and the traceback text of every record that passes the handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        return True
