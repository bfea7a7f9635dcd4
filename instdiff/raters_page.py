"""The rating page: a local web server (standard library ``http.server``, loopback only) where one rater scores
the study pictures.

* **Order** — each rater sees every picture (both variants) once, in a random order seeded by
  ``derive_seed(seed, "raters", "order", rater)``: the same rater always gets the same order, raters differ.
* **Blinding** — the page only knows a picture by its position in that order (``/image/7``): neither the file
  name, the image id nor the variant reaches the browser.
* **Saving** — every answer (one criterion of one picture) is appended to ``{out}.journal.jsonl`` and fsync'ed
  before the browser is told it was saved, then the ratings table ``out`` (schema: :mod:`instdiff.raters_table`)
  is rewritten atomically from the journal, keeping the rater's last answer per picture and criterion. A closed
  browser or a killed server loses nothing; restarting resumes at the first picture not fully rated.
* **Keyboard** — each criterion has its own row of five keys (``1``-``5``, ``q``-``t``, ``a``-``g``, ``z``-``b``
  for scores 1-5), ``Enter`` or ``→`` goes to the next picture once all criteria are scored, ``←`` goes back.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Sequence

from instdiff.errors import InputError
from instdiff.io import atomic_path
from instdiff.raters_images import StudyImage, discover_images, read_captions
from instdiff.raters_table import (COLUMNS, CRITERIA, CRITERION_LABELS, CRITERION_QUESTIONS, SCORES, read_ratings,
                                   validate_row, write_ratings)
from instdiff.seeding import rng

log = logging.getLogger(__name__)

# One row of keys per criterion, in CRITERIA order; position k in a row means score k + 1.
KEY_ROWS = ["12345", "qwert", "asdfg", "zxcvb"]
CONTENT_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}


def journal_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".journal.jsonl")


def rater_order(images: Sequence[StudyImage], rater: str, seed: int) -> list[StudyImage]:
    """The rater's presentation order: a seeded permutation of the sorted pictures."""
    perm = rng(seed, "raters", "order", rater).permutation(len(images))
    return [images[i] for i in perm]


class RatingSession:
    """The state of one rater's session: pictures in order, answers so far, and durable saving of new answers."""

    def __init__(self, images_dir: str | Path, rater: str, out: str | Path, seed: int,
                 captions: str | Path | None = None, criteria: Sequence[str] = CRITERIA):
        rater = rater.strip()
        if not rater or any(ch in rater for ch in ",\n\r"):
            raise InputError(None, f"rater name {rater!r} is empty or holds a comma or line break",
                             "pass a short pseudonym, e.g. --rater r01", "rater")
        unknown = [c for c in criteria if c not in CRITERIA]
        if unknown or not criteria:
            raise InputError(None, f"unknown criteria {unknown}", f"choose from {', '.join(CRITERIA)}", "criteria")
        self.rater = rater
        self.criteria = [c for c in CRITERIA if c in criteria]
        self.out = Path(out)
        self.journal = journal_path(self.out)
        self.items = rater_order(discover_images(images_dir), rater, seed)
        self.captions = read_captions(captions) if captions else {}
        self._known = {(i.image_id, i.variant) for i in self.items}
        self._lock = threading.Lock()
        self.answers: dict[tuple[str, str, str], dict] = {}  # (image_id, variant, criterion) -> row
        self._load()

    # -- persistence -------------------------------------------------------------------------------------------
    def _load(self) -> None:
        if self.journal.exists():
            self._replay_journal()
        elif self.out.exists():
            # A table without its journal (copied from elsewhere, or the journal was deleted): start the journal
            # from it so nothing already rated is asked again.
            for row in read_ratings(self.out).to_dict("records"):
                self._check_known(row, self.out)
                self._append(row)
        if self.answers:
            self._write_table()

    def _replay_journal(self) -> None:
        with self.journal.open(encoding="utf-8") as fh:
            lines = fh.read().split("\n")
        # A crash can only tear the line being written (the last, without its newline); earlier lines were fsync'ed.
        if lines and lines[-1].strip():
            log.warning("%s: dropping an incomplete last line (the server stopped while writing it)", self.journal)
        for lineno, line in enumerate(lines[:-1], 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(self.journal, f"line {lineno} is not valid JSON ({exc.msg})",
                                 "delete that line; every other answer is kept") from None
            row = validate_row({k: str(v) for k, v in raw.items()}, self.journal, lineno)
            self._check_known(row, self.journal, lineno)
            self.answers[(row["image_id"], row["variant"], row["criterion"])] = row
        if lines and lines[-1].strip():
            # Rewrite without the torn line so the next append starts on a fresh line; atomically, so a crash
            # now cannot cost the answers already saved.
            with atomic_path(self.journal) as tmp:
                with tmp.open("w", encoding="utf-8") as fh:
                    fh.write("".join(line + "\n" for line in lines[:-1] if line.strip()))
                    fh.flush()
                    os.fsync(fh.fileno())

    def _check_known(self, row: dict, path: Path, lineno: int | None = None) -> None:
        where = f"line {lineno}: " if lineno else ""
        if row["rater_id"] != self.rater:
            raise InputError(path, f"{where}holds ratings of rater {row['rater_id']!r}, not {self.rater!r}",
                             "give every rater their own --out file", "rater_id")
        if (row["image_id"], row["variant"]) not in self._known:
            raise InputError(path, f"{where}image {row['image_id']!r} ({row['variant']}) is not in the image folder",
                             "rate against the same image folder, or use a new --out file", "image_id")

    def _append(self, row: dict) -> None:
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        with self.journal.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({c: row[c] for c in COLUMNS}) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        self.answers[(row["image_id"], row["variant"], row["criterion"])] = row

    def _write_table(self) -> None:
        write_ratings(self.out, self.answers.values())

    # -- queries and answers -----------------------------------------------------------------------------------
    def item_answers(self, index: int) -> dict[str, int]:
        item = self.items[index]
        return {c: self.answers[(item.image_id, item.variant, c)]["score"]
                for c in self.criteria if (item.image_id, item.variant, c) in self.answers}

    def is_done(self, index: int) -> bool:
        return len(self.item_answers(index)) == len(self.criteria)

    def n_done(self) -> int:
        return sum(self.is_done(i) for i in range(len(self.items)))

    def resume_index(self) -> int:
        """The first picture not fully rated (== len(items) when the rater is finished)."""
        return next((i for i in range(len(self.items)) if not self.is_done(i)), len(self.items))

    def record(self, index: int, criterion: str, score: int) -> dict:
        """Save one answer durably (journal append + fsync, then the table). Returns the picture's answers."""
        if not (isinstance(index, int) and 0 <= index < len(self.items)):
            raise ValueError(f"no picture {index!r}")
        if criterion not in self.criteria:
            raise ValueError(f"unknown criterion {criterion!r}")
        if not (isinstance(score, int) and score in SCORES):
            raise ValueError(f"score {score!r} is not 1-5")
        item = self.items[index]
        row = {"image_id": item.image_id, "rater_id": self.rater, "criterion": criterion, "score": score,
               "variant": item.variant, "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        with self._lock:
            self._append(row)
            self._write_table()
        return self.item_answers(index)

    def state(self) -> dict:
        """What the page needs: criteria, keys, and per picture only its position, caption and answers."""
        return {
            "rater": self.rater,
            "criteria": [{"id": c, "label": CRITERION_LABELS[c], "question": CRITERION_QUESTIONS[c],
                          "keys": KEY_ROWS[CRITERIA.index(c)]}
                         for c in self.criteria],
            "items": [{"index": i, "caption": self.captions.get(item.image_id), "answers": self.item_answers(i)}
                      for i, item in enumerate(self.items)],
            "resume": self.resume_index(),
        }

    def summary(self) -> dict:
        return {"rater": self.rater, "out": str(self.out), "journal": str(self.journal), "n_items": len(self.items),
                "n_done": self.n_done(), "n_answers": len(self.answers),
                "complete": self.n_done() == len(self.items)}


def _handler(session: RatingSession):
    class Handler(BaseHTTPRequestHandler):
        server_version = "instdiff-rate"

        def log_message(self, fmt, *args):  # route the access log through logging, not stderr prints
            log.debug("%s %s", self.address_string(), fmt % args)

        def _send(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")  # answers must always reflect the journal
            self.end_headers()
            self.wfile.write(body)

        def _json(self, obj, status: int = HTTPStatus.OK) -> None:
            self._send(status, json.dumps(obj).encode(), "application/json")

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if path == "/":
                self._send(HTTPStatus.OK, PAGE.encode(), "text/html; charset=utf-8")
            elif path == "/api/state":
                self._json(session.state())
            elif path.startswith("/image/"):
                try:
                    item = session.items[int(path.removeprefix("/image/"))]
                except (ValueError, IndexError):
                    return self._json({"error": "no such picture"}, HTTPStatus.NOT_FOUND)
                ctype = CONTENT_TYPES.get(item.path.suffix.lower(), "application/octet-stream")
                self._send(HTTPStatus.OK, item.path.read_bytes(), ctype)
            else:
                self._json({"error": "not found"}, HTTPStatus.NOT_FOUND)

        def do_POST(self):
            if self.path != "/api/answer":
                return self._json({"error": "not found"}, HTTPStatus.NOT_FOUND)
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                answers = session.record(body["index"], body["criterion"], body["score"])
            except (ValueError, KeyError, TypeError) as exc:
                return self._json({"error": str(exc)}, HTTPStatus.BAD_REQUEST)
            self._json({"saved": True, "answers": answers, "n_done": session.n_done()})

    return Handler


def make_server(session: RatingSession, port: int = 8765) -> ThreadingHTTPServer:
    """A server bound to 127.0.0.1 (never another interface: the study data stays on this machine)."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(session))
    server.daemon_threads = True
    return server


PAGE = r"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Image rating</title>
<style>
 body{font-family:system-ui,sans-serif;margin:0;background:#f4f4f4;color:#222}
 main{display:flex;gap:24px;padding:16px;align-items:flex-start}
 #pic{max-width:min(60vw,768px);max-height:90vh;border:1px solid #ccc;background:#fff}
 .crit{margin:12px 0}.crit h3{margin:0 0 4px;font-size:15px}
 button.s{width:44px;height:36px;margin-right:4px;font-size:15px;border:1px solid #888;border-radius:4px;
          background:#fff}
 button.s.on{background:#2b6cb0;color:#fff;border-color:#2b6cb0}
 .key{font-size:10px;color:#777;display:block}.on .key{color:#dbe7f5}
 .q{font-size:12px;color:#555;margin:0 0 4px}
 #caption{font-style:italic;max-width:420px}#status{color:#2f855a}#help{font-size:12px;color:#555;max-width:420px}
 nav button{margin-right:8px;height:32px}
</style></head>
<body><main>
 <div><img id="pic" alt="picture to rate"></div>
 <div>
  <div id="progress"></div><p id="caption"></p>
  <div id="criteria"></div>
  <nav><button id="prev">&larr; back</button><button id="next">next &rarr;</button></nav>
  <p id="status"></p>
  <p id="help">Score every criterion from 1 (poor) to 5 (excellent) with the buttons or the keys shown under them.
   Enter or &rarr; moves on once all are scored; &larr; goes back. Each answer is saved at once.</p>
 </div>
</main>
<div id="done" hidden><h2>All pictures are rated. Thank you.</h2><p>You may close this page.</p></div>
<script>
let S = null, cur = 0;
const $ = id => document.getElementById(id);
async function load() {
  S = await (await fetch('/api/state', {cache: 'no-store'})).json();
  cur = S.resume; render();
}
function complete(i) { return S.criteria.every(c => S.items[i].answers[c.id] !== undefined); }
function render() {
  const n = S.items.length, done = S.items.filter((_, i) => complete(i)).length;
  if (cur >= n) { document.querySelector('main').hidden = true; $('done').hidden = false; return; }
  document.querySelector('main').hidden = false; $('done').hidden = true;
  const it = S.items[cur];
  $('progress').textContent = `Picture ${cur + 1} of ${n} \u00b7 ${done} fully rated`;
  $('progress').dataset.index = cur;
  $('pic').src = '/image/' + cur;
  $('caption').textContent = it.caption ? '\u201c' + it.caption + '\u201d' : '';
  const box = $('criteria'); box.innerHTML = '';
  S.criteria.forEach(c => {
    const d = document.createElement('div'); d.className = 'crit';
    const h = document.createElement('h3'); h.textContent = c.label; d.appendChild(h);
    const q = document.createElement('p'); q.className = 'q'; q.textContent = c.question; d.appendChild(q);
    for (let s = 1; s <= 5; s++) {
      const b = document.createElement('button'); b.className = 's' + (it.answers[c.id] === s ? ' on' : '');
      b.id = `${c.id}-${s}`; b.innerHTML = `${s}<span class="key">${c.keys[s - 1]}</span>`;
      b.onclick = () => answer(c.id, s); d.appendChild(b);
    }
    box.appendChild(d);
  });
  $('next').disabled = !complete(cur); $('prev').disabled = cur === 0;
}
async function answer(crit, score) {
  const idx = cur;
  $('status').textContent = 'saving\u2026';
  const r = await fetch('/api/answer', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                         body: JSON.stringify({index: idx, criterion: crit, score: score})});
  const j = await r.json();
  if (!r.ok) { $('status').textContent = 'NOT saved: ' + j.error; return; }
  S.items[idx].answers = j.answers;
  $('status').textContent = 'saved'; $('status').dataset.saved = (+($('status').dataset.saved || 0) + 1);
  if (idx === cur) render();
}
function go(d) {
  if (d > 0 && (cur >= S.items.length || !complete(cur))) return;  // move on only from a fully rated picture
  cur = Math.max(0, Math.min(S.items.length, cur + d)); render();
}
$('next').onclick = () => go(1); $('prev').onclick = () => go(-1);
document.addEventListener('keydown', e => {
  if (!S || e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === 'Enter' || e.key === 'ArrowRight') { go(1); e.preventDefault(); return; }
  if (e.key === 'ArrowLeft') { go(-1); e.preventDefault(); return; }
  if (cur >= S.items.length) return;
  S.criteria.forEach(c => { const k = c.keys.indexOf(e.key.toLowerCase()); if (k >= 0) answer(c.id, k + 1); });
});
load();
</script></body></html>
"""
