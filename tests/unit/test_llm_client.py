"""The LLM client against a real OpenAI-compatible HTTP server on loopback, driven by the real ``openai`` client.

The server is a stand-in that plays a script of replies (the only fake here); everything on our side is the shipped
code path: LayoutClient -> openai.OpenAI -> HTTP.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from instdiff.core.errors import InputError
from instdiff.llm.client import LayoutClient, LlmFailure, LlmSettings
from instdiff.llm.stage import make_layouts

KEY = "sk-test-secret-do-not-store-1234"

VALID = {
    "caption": "A dog and a person in a park.",
    "instances": [
        {"caption": "a brown dog", "category": "Dog", "box": {"x_min": 10, "y_min": 20, "x_max": 110, "y_max": 220}},
        {"caption": "a person", "category": "person", "box": {"x_min": 200, "y_min": 100, "x_max": 300, "y_max": 500}},
    ],
}
INVALID = {  # a box off the canvas and a non-COCO category
    "caption": "A farm.",
    "instances": [
        {"caption": "a tractor", "category": "Tractor", "box": {"x_min": 10, "y_min": 20, "x_max": 110, "y_max": 220}},
        {"caption": "a cow", "category": "Cow", "box": {"x_min": 400, "y_min": 100, "x_max": 600, "y_max": 300}},
    ],
}


def completion(content=None, refusal=None):
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1716000000,
        "model": "gpt-4o-2024-08-06",
        "system_fingerprint": "fp_test123",
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant", "content": content, "refusal": refusal}}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 22, "total_tokens": 33},
    }


class ScriptedServer:
    """Answers POST /v1/chat/completions with the next scripted step: (status, body, headers, delay_s)."""

    def __init__(self, script):
        self.script = list(script)
        self.requests = []
        self.auth = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                outer.auth.append(self.headers.get("Authorization"))
                status, payload, headers, delay = outer.script.pop(0)
                time.sleep(delay)
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def ok(content, delay=0.0):
    return (200, completion(json.dumps(content)), {}, delay)


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


def make_client(server, tmp_path, **kw):
    settings = LlmSettings(base_url=server.base_url, timeout_s=kw.pop("timeout_s", 5.0), backoff_s=0.01, backoff_max_s=0.05, **kw)
    return LayoutClient(settings, tmp_path / "cache")


def test_valid_reply_becomes_layout_with_provenance(key, tmp_path):
    with ScriptedServer([ok(VALID)]) as server:
        layout, record = make_client(server, tmp_path).layout("desc_001", "outdoor scene")
    assert [i.category for i in layout.instances] == ["dog", "person"]
    assert layout.instances[0].box == pytest.approx((10 / 512, 20 / 512, 110 / 512, 220 / 512))
    assert layout.instances[0].phrase == "a brown dog" and layout.instances[0].category_id == 18
    attempt = record["attempts"][0]
    assert record["status"] == "ok" and attempt["system_fingerprint"] == "fp_test123"
    assert attempt["usage"]["total_tokens"] == 33 and json.loads(attempt["raw_reply"]) == VALID
    sent = server.requests[0]
    assert sent["model"] == "gpt-4o-2024-08-06" and sent["seed"] == 2024 and sent["temperature"] == 0.7
    assert sent["response_format"]["type"] == "json_schema" and sent["response_format"]["json_schema"]["strict"] is True
    assert server.auth[0] == f"Bearer {KEY}"


def test_invalid_reply_is_repaired(key, tmp_path):
    with ScriptedServer([ok(INVALID), ok(VALID)]) as server:
        layout, record = make_client(server, tmp_path).layout("desc_002", "agricultural scene")
    assert record["status"] == "ok" and len(record["attempts"]) == 2
    problems = record["attempts"][0]["problems"]
    assert any("leaves the 512x512 canvas" in p for p in problems) and any("'Tractor'" in p for p in problems)
    repair = server.requests[1]["messages"]
    assert repair[-2]["role"] == "assistant" and "cannot be used" in repair[-1]["content"]
    assert len(layout.instances) == 2


def test_invalid_until_repairs_run_out(key, tmp_path):
    with ScriptedServer([ok(INVALID)] * 2) as server, pytest.raises(LlmFailure) as info:
        make_client(server, tmp_path, max_repairs=1).layout("desc_003", "indoor scene")
    assert info.value.record["status"] == "invalid" and len(server.requests) == 2


def test_rate_limit_then_success(key, tmp_path):
    limited = (429, {"error": {"message": "slow down", "type": "rate_limit"}}, {"Retry-After": "0.01"}, 0.0)
    with ScriptedServer([limited, limited, ok(VALID)]) as server:
        layout, record = make_client(server, tmp_path).layout("desc_004", "indoor scene")
    assert record["status"] == "ok" and len(server.requests) == 3


def test_server_error_and_timeout_are_retried(key, tmp_path):
    broken = (500, {"error": {"message": "boom"}}, {}, 0.0)
    with ScriptedServer([ok(VALID, delay=1.5), broken, ok(VALID)]) as server:
        layout, record = make_client(server, tmp_path, timeout_s=0.3).layout("desc_005", "indoor scene")
    assert record["status"] == "ok" and len(server.requests) == 3


def test_retries_exhausted_is_a_failure(key, tmp_path):
    limited = (429, {"error": {"message": "slow down"}}, {}, 0.0)
    with ScriptedServer([limited] * 2) as server, pytest.raises(LlmFailure, match="request failed"):
        make_client(server, tmp_path, max_attempts=2).layout("desc_006", "indoor scene")


def test_refusal_is_recorded_not_retried(key, tmp_path):
    refused = (200, completion(None, refusal="I can't help with that."), {}, 0.0)
    with ScriptedServer([refused]) as server, pytest.raises(LlmFailure, match="refused") as info:
        make_client(server, tmp_path).layout("desc_007", "indoor scene")
    assert info.value.record["status"] == "refused" and len(server.requests) == 1


def test_cache_prevents_second_request(key, tmp_path):
    with ScriptedServer([ok(VALID)]) as server:
        first, _ = make_client(server, tmp_path).layout("desc_008", "nature scene")
        second, record = make_client(server, tmp_path).layout("desc_008", "nature scene")
    assert len(server.requests) == 1 and record["attempts"][0]["cached"] is True
    assert first.to_dict() == second.to_dict()


def test_missing_key_fails_before_any_request(monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with ScriptedServer([ok(VALID)]) as server:
        section = {"source": "api", "n_layouts": 1, "api": {"base_url": server.base_url}}
        with pytest.raises(InputError, match="OPENAI_API_KEY is not set"):
            make_layouts(section, 2024, [tmp_path / "l.jsonl"], tmp_path / "r.jsonl", tmp_path / "cache")
    assert server.requests == [] and not (tmp_path / "r.jsonl").exists()


def test_stage_over_api_writes_layouts_and_never_the_key(key, tmp_path):
    with ScriptedServer([ok(VALID), ok(INVALID), ok(VALID)]) as server:
        section = {"source": "api", "n_layouts": 2, "legacy_box_format": False,
                   "api": {"base_url": server.base_url, "backoff_s": 0.01}}
        layouts = make_layouts(section, 2024, [tmp_path / "a.jsonl", tmp_path / "b.jsonl"], tmp_path / "r.jsonl", tmp_path / "cache")
    assert [lay.id for lay in layouts] == ["desc_001", "desc_002"]
    assert (tmp_path / "a.jsonl").read_text() == (tmp_path / "b.jsonl").read_text()
    records = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert [r["status"] for r in records] == ["ok", "ok"] and records[0]["scene"] == layouts[0].meta["scene"]
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY not in path.read_text()
