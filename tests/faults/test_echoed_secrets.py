"""Item 8 of issue 12: a server that echoes the Authorization header (proxies do) never gets the API key into
``llm/requests.jsonl``, the cache or the log, and a 401/403 stops the stage at the first request."""

from __future__ import annotations

import logging

import pytest

from instdiff.core.errors import InputError
from instdiff.llm.stage import make_layouts
from instdiff.core.logging_setup import setup
from instdiff.core.redact import SecretFilter, register, scrub

from tests.faults.checks import assert_no_secret, assert_nothing_half_written
from tests.faults.servers import reply, serve

KEY = "sk-fault-test-9f8e7d6c5b4a39281706"


def _echo(status: int):
    def handle(h):
        if "Content-Length" in h.headers:
            h.rfile.read(int(h.headers["Content-Length"]))
        reply(h, status, {"error": {"message": f"bad request, you sent Authorization: {h.headers.get('Authorization')}",
                                    "type": "invalid_request_error", "code": status}})
    return handle


def _run(tmp_path, url: str, attempts: int = 1):
    section = {"source": "api", "n_layouts": 3, "max_failures": 0,
               "api": {"base_url": f"{url}/v1", "max_attempts": attempts, "backoff_s": 0.0, "timeout_s": 10}}
    return make_layouts(section, 2024, [tmp_path / "out" / "layouts.jsonl"], tmp_path / "out" / "requests.jsonl",
                        tmp_path / "out" / "cache")


@pytest.fixture
def restore_logging():
    """setup() replaces the root handlers: put pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def logged(tmp_path, monkeypatch, restore_logging):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    log = tmp_path / "out" / "job.log"
    log.parent.mkdir()
    setup(str(log))
    yield log


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_stop_at_the_first_request(tmp_path, logged, status):
    with serve(_echo(status)) as server, pytest.raises(InputError, match="refused the credentials") as info:
        _run(tmp_path, server["url"])
    assert server["count"] == 1  # not one request per layout
    assert "OPENAI_API_KEY" in str(info.value) and KEY not in str(info.value)
    logging.getLogger("instdiff.test").error("%s", info.value)
    assert (tmp_path / "out" / "requests.jsonl").read_text().count(str(status)) >= 1
    assert not (tmp_path / "out" / "layouts.jsonl").exists()
    assert_nothing_half_written(tmp_path)
    assert_no_secret(tmp_path, KEY)


def test_an_echoing_server_error_is_retried_and_logged_without_the_key(tmp_path, logged):
    with serve(_echo(500)) as server, pytest.raises(RuntimeError, match="3 layouts failed"):
        _run(tmp_path, server["url"], attempts=2)
    assert server["count"] == 6  # 3 layouts x 2 attempts, bounded
    assert "[REDACTED]" in (tmp_path / "out" / "requests.jsonl").read_text()
    assert "retry 1/1" in logged.read_text()
    assert_nothing_half_written(tmp_path)
    assert_no_secret(tmp_path, KEY)


def test_the_log_filter_masks_a_key_that_escaped_scrubbing(tmp_path):
    register(KEY)
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "reply was %s", (f"Bearer {KEY}",), None)
    assert SecretFilter().filter(record) and KEY not in record.getMessage()
    assert scrub('{"api_key": "abc123456789"}') == '{"api_key": "[REDACTED]"}'
    assert "xyz-unregistered-token" not in scrub("Authorization: Bearer xyz-unregistered-token")


def test_the_log_file_never_holds_an_environment_secret(tmp_path, monkeypatch, restore_logging):
    token = "hf_faulttest0123456789abcdefghij"
    monkeypatch.setenv("HF_TOKEN", token)
    log = tmp_path / "job.log"
    setup(str(log))
    logging.getLogger("instdiff.test").warning("hub said: invalid token %s", token)
    try:
        raise RuntimeError(f"401 for {token}")
    except RuntimeError:
        logging.getLogger("instdiff.test").exception("request failed")
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert "hub said" in log.read_text() and "request failed" in log.read_text()
    assert_no_secret(tmp_path, token)


def test_reply_data_keeps_credential_like_words_but_never_the_key():
    from instdiff.core.redact import scrub_obj

    register(KEY)
    reply_ = {"content": f'{{"caption": "a secret: garden", "echo": "{KEY}"}}'}
    assert scrub_obj(reply_, patterns=False) == {"content": '{"caption": "a secret: garden", "echo": "[REDACTED]"}'}
