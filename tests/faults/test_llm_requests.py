"""Items 1 and 2 of issue 24, against a local OpenAI-compatible server on 127.0.0.1, through the stage's own call
(``make_layouts``, what rule llm_layouts runs) or the rule itself:

- layouts of one scene type are distinct requests (each its own seed) and distinct layouts; a rerun sends nothing;
- the stage's table counts the distinct layouts;
- a negative or absurd ``Retry-After`` is clamped, not obeyed or crashed on;
- a corrupt cache entry is moved aside and asked for once more;
- after a failed stage, the file the error names still exists (Snakemake deletes the job's outputs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import yaml

from instdiff.core.layout import Instance, Layout, write_layouts
from instdiff.llm.prompt import draw_scene_type
from instdiff.llm.stage import make_layouts

from tests.conftest import REPO
from tests.faults.checks import assert_nothing_half_written
from tests.faults.llm_server import answer_by_seed, api_section, completion, read_request, sampled_layout
from tests.faults.servers import reply, serve


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fault-test-llm-requests")


def _one_scene_seed(n: int) -> int:
    """A run seed under which desc_001 .. desc_{n} all draw the same scene type."""
    for seed in range(100_000):
        if len({draw_scene_type(seed, f"desc_{k:03d}") for k in range(1, n + 1)}) == 1:
            return seed
    raise AssertionError("no such seed")


def _run(tmp_path, section, run_seed=2024):
    out = tmp_path / "out"
    return make_layouts(section, run_seed, [out / "layouts.jsonl"], out / "requests.jsonl", tmp_path / "cache")


def _what(layout) -> str:
    return json.dumps([layout.caption, [[i.phrase, i.category, list(i.box)] for i in layout.instances]])


def test_layouts_of_one_scene_type_are_distinct_requests_and_distinct_layouts(tmp_path):
    n = 4
    run_seed = _one_scene_seed(n)
    sent: list[dict] = []
    with serve(answer_by_seed(sent)) as server:
        layouts = _run(tmp_path, api_section(server["url"], n), run_seed)
        assert server["count"] == n
        again = _run(tmp_path, api_section(server["url"], n), run_seed)
        assert server["count"] == n  # the rerun is free: every request is the same as before, from the cache
    assert len({layout.meta["scene"] for layout in layouts}) == 1
    seeds = [body["seed"] for body in sent]
    assert len(set(seeds)) == n and all(0 <= s < 2**31 for s in seeds)
    assert len({json.dumps(body, sort_keys=True) for body in sent}) == n
    assert len({_what(layout) for layout in layouts}) == n
    assert [_what(a) for a in again] == [_what(b) for b in layouts]
    records = [json.loads(line) for line in (tmp_path / "out" / "requests.jsonl").read_text().splitlines()]
    assert [r["seed"] for r in records] == [lay.meta["request_seed"] for lay in again]
    assert_nothing_half_written(tmp_path)


def test_the_table_counts_distinct_layouts(tmp_path):
    from instdiff.llm.table import llm_table

    def layout(i, x):
        return Layout(id=f"desc_{i:03d}", caption="A dog.", instances=[
            Instance(phrase="a dog", box=(x, 0.1, x + 0.2, 0.5), category="dog", category_id=18)], meta={"source": "llm"})

    layouts = tmp_path / "layouts.jsonl"
    write_layouts(layouts, [layout(1, 0.1), layout(2, 0.1), layout(3, 0.3)])  # 1 and 2 differ only by id
    rows = llm_table([], None, None, {}, tmp_path / "t.csv", tmp_path / "t.md", layouts=layouts)
    got = {row["quantity"]: (row["ours"], row["n"]) for row in rows}
    assert got["layouts"] == (3, 3) and got["distinct_layouts"] == (2, 3)
    assert "distinct_layouts" in (tmp_path / "t.md").read_text()


@pytest.mark.parametrize("retry_after", ["-5", "1e12", "nan", "Wed, 21 Oct 2150 07:28:00 GMT"])
def test_an_absurd_retry_after_is_clamped(tmp_path, retry_after):
    state = {"n": 0}

    def handle(h):
        body = read_request(h)
        state["n"] += 1
        if state["n"] == 1:
            h.send_response(429)
            h.send_header("Retry-After", retry_after)
            data = json.dumps({"error": {"message": "slow down", "type": "rate_limit"}}).encode()
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            return
        reply(h, 200, completion(json.dumps(sampled_layout(body["seed"]))))

    start = time.monotonic()
    with serve(handle) as server:
        layouts = _run(tmp_path, api_section(server["url"], 1, max_attempts=3))
    assert len(layouts) == 1 and server["count"] == 2
    assert time.monotonic() - start < 5  # clamped to backoff_max_s (0.05 s), not the server's 1e12 s or 2150


def test_a_corrupt_cache_entry_is_moved_aside_and_asked_for_once_more(tmp_path):
    sent: list[dict] = []
    with serve(answer_by_seed(sent)) as server:
        first = _run(tmp_path, api_section(server["url"], 1))
        entries = list((tmp_path / "cache").rglob("*.json"))
        assert len(entries) == 1 and server["count"] == 1
        entries[0].write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe garbage")  # binary bytes where JSON was
        second = _run(tmp_path, api_section(server["url"], 1))
        assert server["count"] == 2  # asked once more
        third = _run(tmp_path, api_section(server["url"], 1))
        assert server["count"] == 2  # and the fresh answer is cached again
    aside = entries[0].with_name(entries[0].name + ".corrupt")
    assert aside.read_bytes().startswith(b"\x89PNG") and json.loads(entries[0].read_text())["response"]
    assert [_what(lay) for lay in first] == [_what(lay) for lay in second] == [_what(lay) for lay in third]
    assert_nothing_half_written(tmp_path)


def test_after_a_failed_rule_the_error_names_a_request_log_that_still_exists(tmp_path):
    """Rule llm_layouts through Snakemake against a server that always fails: Snakemake deletes the job's outputs
    (``llm/requests.jsonl`` with them); the file the error names is a log of the rule and survives."""
    cfg = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}",
           "OPENAI_API_KEY": "sk-fault-test-llm-requests"}
    with serve(lambda h: (read_request(h), reply(h, 500, {"error": {"message": "boom"}}))) as server:
        cfg["run"] = "llmfail"
        cfg["llm"] = {**cfg["llm"], **api_section(server["url"], 2, max_attempts=1)}
        cfg["llm"]["api"] = {**cfg["llm"]["api"], "model": "gpt-4o-2024-08-06"}
        config = tmp_path / "config.yaml"
        config.write_text(yaml.safe_dump(cfg))
        proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", "--configfile", str(config),
                               "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
                               "results/llmfail/llm/layouts.jsonl"],
                              capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
        assert server["count"] == 2
    assert proc.returncode != 0
    log = (tmp_path / "results/llmfail/logs/llm/layouts.log").read_text()
    named = log.split("; see ", 1)[1].split(". Rerun", 1)[0]
    kept = tmp_path / named
    assert kept.is_file(), f"the error names {named}, which does not exist"
    assert [json.loads(line)["status"] for line in kept.read_text().splitlines()] == ["error", "error"]
    assert not (tmp_path / "results/llmfail/llm/requests.jsonl").exists()  # deleted by Snakemake, as said above
