"""Handlers that make :func:`tests.faults.servers.serve` an OpenAI-compatible chat-completions server for the LLM
fault tests, and the ``llm`` config section that points the stage at it."""

from __future__ import annotations

import json

from tests.faults.servers import reply


def read_request(h) -> dict:
    return json.loads(h.rfile.read(int(h.headers.get("Content-Length", 0))) or b"{}")


def completion(content: str) -> dict:
    return {
        "id": "chatcmpl-fault", "object": "chat.completion", "created": 1716000000, "model": "gpt-4o-2024-08-06",
        "system_fingerprint": "fp_fault",
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant", "content": content, "refusal": None}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def sampled_layout(seed: int) -> dict:
    """A valid reply that depends on the request's seed, as a sampling model's does at a temperature above 0."""
    x = seed % 300
    return {"caption": f"A dog at {x}.", "instances": [
        {"caption": "a dog", "category": "dog", "box": {"x_min": x, "y_min": 10, "x_max": x + 100, "y_max": 200}}]}


def answer_by_seed(sent: list | None = None, delay_s: float = 0.0):
    """Handler: reply with :func:`sampled_layout` of the request's seed (each request body is appended to ``sent``)."""
    def handle(h):
        body = read_request(h)
        if sent is not None:
            sent.append(body)
        reply(h, 200, completion(json.dumps(sampled_layout(int(body.get("seed", 0))))), delay_s)
    return handle


def api_section(url: str, n_layouts: int, **api) -> dict:
    return {"source": "api", "n_layouts": n_layouts, "max_failures": 0,
            "api": {"base_url": f"{url}/v1", "timeout_s": 10, "backoff_s": 0.0, "backoff_max_s": 0.05, **api}}
