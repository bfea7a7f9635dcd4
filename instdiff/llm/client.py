"""Layouts from an OpenAI-compatible chat-completions server, through the official ``openai`` client.

One :class:`LayoutClient` per job. For each layout it sends our prompt with a strict JSON schema
(structured output), checks the reply (:mod:`instdiff.llm.validate`), and on an invalid reply sends the problems back
for a repair, up to ``max_repairs`` times. Rate limits (429), server errors (5xx), timeouts and dropped connections
are retried with exponential backoff (honouring a sane ``Retry-After``). Every completed response is cached by request
hash, so a rerun or a resumed job sends nothing it already paid for. The API key is read from ``OPENAI_API_KEY`` only;
it is passed to the client and nowhere else (not logged, not hashed, not stored).

Each layout's request carries its own ``seed`` (:func:`request_seed`, from the run seed, ``llm.api.seed`` and the
layout id): layouts of one scene type are distinct requests, sampled independently, and each still has a fixed cache
key, so a rerun costs nothing.

Time is bounded by the wall clock, not per read: httpx's ``timeout_s`` applies to each read, so a server that drips a
byte at a time would never trip it. Every HTTP request runs under ``asyncio.wait_for`` with ``request_deadline_s``
(the cancelled request closes its connection), and the whole client shares one ``stage_deadline_s`` that also caps
every backoff sleep.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instdiff.core.errors import InputError
from instdiff.core.seeding import derive_seed
from instdiff.core.redact import register as register_secret
from instdiff.core.redact import scrub, scrub_obj
from instdiff.llm.cache import RequestCache, request_hash
from instdiff.llm.prompt import build_messages, repair_message, response_format
from instdiff.llm.validate import check_reply

log = logging.getLogger(__name__)

API_KEY_ENV = "OPENAI_API_KEY"


def api_key_from_env() -> str:
    """The API key from the environment, or a clear error before any work is done."""
    key = os.environ.get(API_KEY_ENV, "").strip()
    register_secret(key)  # servers echo it in error bodies: mask it in every text we log or store
    if not key:
        raise InputError(
            None,
            f"{API_KEY_ENV} is not set",
            f"export {API_KEY_ENV}=... before running (any non-empty value for a local server that needs no key); "
            "the key is read from the environment only, never from config",
            API_KEY_ENV,
        )
    return key


@dataclass
class LlmSettings:
    """The ``llm.api`` config section (see config/schema/llm.schema.yaml for the meaning of each key)."""

    model: str = "gpt-4o-2024-08-06"
    base_url: str | None = None
    temperature: float = 0.7
    seed: int = 2024
    max_tokens: int = 2048
    timeout_s: float = 60.0
    request_deadline_s: float = 300.0
    stage_deadline_s: float | None = 7200.0
    max_attempts: int = 6
    backoff_s: float = 2.0
    backoff_max_s: float = 60.0
    max_repairs: int = 2
    out_of_vocabulary: str = "reject"
    width: int = 512
    height: int = 512

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> "LlmSettings":
        known = {k: v for k, v in section.items() if k in cls.__dataclass_fields__}
        return cls(**known)


class LlmFailure(RuntimeError):
    """A layout that could not be obtained (refusal, replies still invalid after repairs, retries exhausted).
    ``record`` holds everything that was exchanged, for the requests log (scrubbed of secrets)."""

    def __init__(self, message: str, record: dict[str, Any]):
        super().__init__(scrub(message))
        self.record = scrub_obj(record, patterns=False)  # replies are data; the error text is the server's
        if "error" in self.record:
            self.record["error"] = scrub(self.record["error"])


class LlmAuthFailure(LlmFailure):
    """The server refused the credentials (401 / 403): every further request would fail the same way."""


class LlmStageDeadline(LlmFailure):
    """``stage_deadline_s`` has passed: no further request is sent (answers already received stay cached)."""


class RequestDeadline(TimeoutError):
    """One HTTP request took longer than ``request_deadline_s`` on the wall clock (retried like a timeout)."""


class StageDeadline(TimeoutError):
    """The stage's wall-clock budget ``stage_deadline_s`` is spent."""


# Seeds sent to the server stay below 2**31: OpenAI takes any integer, but some compatible servers keep a C int.
SEED_RANGE = 2**31


def request_seed(run_seed: int, api_seed: int, layout_id: str) -> int:
    """The ``seed`` of one layout's requests, derived from the run seed, ``llm.api.seed`` and the layout id.

    A fixed seed for every request made layouts of one scene type byte-identical requests: one paid answer, cached,
    copied to every such layout. A per-layout seed gives each layout its own sample (the extension made independent
    calls at temperature 0.7) while the request, and so its cache key, stays the same on every rerun.
    """
    return derive_seed(run_seed, "llm", "request", int(api_seed), layout_id) % SEED_RANGE


def _auth_refused(exc: Exception) -> bool:
    import openai

    return isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError))


@dataclass
class Attempt:
    request_hash: str
    cached: bool
    model: str | None
    system_fingerprint: str | None
    usage: dict[str, Any] | None
    finish_reason: str | None
    raw_reply: str | None
    refusal: str | None = None
    problems: list[str] = field(default_factory=list)


def _retryable(exc: Exception) -> bool:
    import openai

    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError)):
        return True
    return isinstance(exc, openai.APIStatusError) and exc.status_code >= 500


def _retry_after(exc: Exception, cap: float) -> float | None:
    """The server's ``Retry-After`` in seconds, clamped to ``[0, cap]``; None when absent or unreadable.

    Seconds or an HTTP date (RFC 9110). A negative, non-finite or huge value is the server's mistake, not an
    instruction: it is clamped, so a retry neither crashes on a negative sleep nor waits for hours.
    """
    response = getattr(exc, "response", None)
    value = None if response is None else response.headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, OverflowError):
            return None
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), cap)


class LayoutClient:
    """Ask the server for layouts; see the module docstring."""

    def __init__(self, settings: LlmSettings, cache_dir: str | Path, client: Any = None, sleep=time.sleep,
                 clock=time.monotonic):
        self.settings = settings
        self.cache = RequestCache(cache_dir)
        self._sleep = sleep
        self._clock = clock
        self._stage_end = None if settings.stage_deadline_s is None else clock() + float(settings.stage_deadline_s)
        if client is None:
            from openai import AsyncOpenAI

            # max_retries=0: retries are ours (logged, counted, same policy for every error class). The async client
            # lets a wall-clock deadline cancel a request mid-read (see the module docstring).
            client = AsyncOpenAI(api_key=api_key_from_env(), base_url=settings.base_url, timeout=settings.timeout_s,
                                 max_retries=0)
        self._client = client
        self._loop = asyncio.new_event_loop()

    def close(self) -> None:
        """Close the HTTP connections and the event loop the requests ran on."""
        if self._loop.is_closed():
            return
        try:
            self._loop.run_until_complete(self._client.close())
        finally:
            self._loop.close()

    def __enter__(self) -> "LayoutClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ time
    def stage_seconds_left(self) -> float:
        return math.inf if self._stage_end is None else self._stage_end - self._clock()

    def _stage_deadline_error(self) -> StageDeadline:
        return StageDeadline(f"the stage's deadline of {self.settings.stage_deadline_s:g}s "
                             "(llm.api.stage_deadline_s) has passed; nothing more is sent")

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        """One HTTP request, bounded on the wall clock by the request and the stage deadlines."""
        left = self.stage_seconds_left()
        if left <= 0:
            raise self._stage_deadline_error()
        limit = min(float(self.settings.request_deadline_s), left)
        try:
            response = self._loop.run_until_complete(
                asyncio.wait_for(self._client.chat.completions.create(**body), timeout=limit))
        except TimeoutError:
            if limit < self.settings.request_deadline_s:
                raise self._stage_deadline_error() from None
            raise RequestDeadline(f"no complete response within {limit:g}s (llm.api.request_deadline_s; "
                                  f"timeout_s = {self.settings.timeout_s:g}s bounds each read only)") from None
        return response.model_dump(mode="json")

    # ------------------------------------------------------------------ one request
    def _request(self, messages: list[dict[str, str]], seed: int) -> dict[str, Any]:
        s = self.settings
        return {
            "base_url": str(self._client.base_url),
            "model": s.model,
            "messages": messages,
            "temperature": s.temperature,
            "seed": int(seed),
            "max_tokens": s.max_tokens,
            "response_format": response_format(),
        }

    def _send(self, request: dict[str, Any]) -> dict[str, Any]:
        body = {k: v for k, v in request.items() if k != "base_url"}
        s = self.settings
        for attempt in range(1, s.max_attempts + 1):
            try:
                return self._create(body)
            except StageDeadline:
                raise
            except Exception as exc:  # noqa: BLE001 - filtered by _retryable
                if not (_retryable(exc) or isinstance(exc, RequestDeadline)) or attempt == s.max_attempts:
                    raise
                backoff = min(s.backoff_max_s, s.backoff_s * 2 ** (attempt - 1))
                after = _retry_after(exc, s.backoff_max_s)
                wait = backoff if after is None else after
                if wait >= self.stage_seconds_left():
                    raise self._stage_deadline_error() from None
                log.warning("request failed (%s: %s); retry %d/%d in %.2fs", type(exc).__name__, scrub(str(exc)), attempt,
                            s.max_attempts - 1, wait)
                self._sleep(wait)
        raise AssertionError("unreachable")

    def complete(self, messages: list[dict[str, str]], seed: int | None = None) -> tuple[dict[str, Any], str, bool]:
        """(response as a dict, request hash, whether it came from the cache). ``seed``: default ``llm.api.seed``."""
        request = self._request(messages, self.settings.seed if seed is None else seed)
        key = request_hash(request)
        cached = self.cache.get(key)
        if cached is not None:
            return cached, key, True
        response = scrub_obj(self._send(request), patterns=False)  # the key never reaches the cache
        self.cache.put(key, request, response)
        return response, key, False

    # ------------------------------------------------------------------ one layout
    def layout(self, layout_id: str, scene: str, meta: dict[str, Any] | None = None, seed: int | None = None):
        """Ask for one layout of ``scene``; returns ``(Layout, record)`` or raises :class:`LlmFailure`.

        ``seed``: sent with every request of this layout (the stage passes :func:`request_seed`); default
        ``llm.api.seed``.
        """
        s = self.settings
        seed = s.seed if seed is None else int(seed)
        messages = build_messages(scene, s.width, s.height)
        record: dict[str, Any] = {"id": layout_id, "scene": scene, "model_requested": s.model, "seed": seed,
                                  "attempts": []}
        for round_ in range(s.max_repairs + 1):
            try:
                response, key, cached = self.complete(messages, seed)
            except Exception as exc:
                record["status"] = "deadline" if isinstance(exc, StageDeadline) else "error"
                record["error"] = scrub(f"{type(exc).__name__}: {exc}")
                failure = (LlmAuthFailure if _auth_refused(exc)
                           else LlmStageDeadline if isinstance(exc, StageDeadline) else LlmFailure)
                raise failure(f"layout {layout_id}: request failed ({record['error']})", record) from None
            choice = (response.get("choices") or [{}])[0]
            message = choice.get("message") or {}
            attempt = Attempt(
                request_hash=key,
                cached=cached,
                model=response.get("model"),
                system_fingerprint=response.get("system_fingerprint"),
                usage=response.get("usage"),
                finish_reason=choice.get("finish_reason"),
                raw_reply=message.get("content"),
                refusal=message.get("refusal"),
            )
            record["attempts"].append(attempt.__dict__)
            if attempt.refusal:
                record["status"] = "refused"
                raise LlmFailure(f"layout {layout_id}: the model refused ({attempt.refusal!r})", record)
            checked = check_reply(
                attempt.raw_reply,
                layout_id,
                s.width,
                s.height,
                s.out_of_vocabulary,
                meta={**(meta or {}), "scene": scene, "request_seed": seed, "model": attempt.model,
                      "system_fingerprint": attempt.system_fingerprint},
            )
            attempt.problems = checked.problems
            record["attempts"][-1] = attempt.__dict__
            record["out_of_vocabulary"] = checked.out_of_vocabulary
            if checked.ok:
                record["status"] = "ok"
                return checked.layout, record
            log.info("layout %s: reply %d invalid (%s)", layout_id, round_ + 1, "; ".join(checked.problems))
            messages = messages + [{"role": "assistant", "content": attempt.raw_reply or ""}, repair_message(checked.problems)]
        record["status"] = "invalid"
        raise LlmFailure(f"layout {layout_id}: reply still invalid after {s.max_repairs} repairs", record)
