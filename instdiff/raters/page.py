"""The rating page: a local web server (standard library ``http.server``, loopback only) where one rater scores
the study pictures.

* **Order** — each rater sees every picture (both variants) once, in a random order seeded by
  ``derive_seed(seed, "raters", "order", rater)``: the same rater always gets the same order, raters differ.
* **Blinding** — the page only knows a picture by its position in that order (``/image/7``): neither the file
  name, the image id nor the variant reaches the browser.
* **Saving** — every answer (one criterion of one picture) is appended to ``{out}.journal.jsonl`` and fsync'ed
  before the browser is told it was saved, then the ratings table ``out`` (schema: :mod:`instdiff.raters.table`)
  is rewritten atomically from the journal, keeping the rater's last answer per picture and criterion. A closed
  browser or a killed server loses nothing; restarting resumes at the first picture not fully rated.
* **Only this page** — the server answers only requests whose ``Host`` is this loopback address (no DNS
  rebinding), refuses a foreign ``Origin`` or a cross-site fetch, takes answers only as JSON (a cross-site form
  cannot send them) carrying the per-session token of the served page (``X-Instdiff-Token``), caps request bodies
  at :data:`MAX_BODY` bytes and drops a client that stalls for :data:`READ_TIMEOUT_S` seconds.
* **Keyboard** — each criterion has its own row of five keys (``1``-``5``, ``q``-``t``, ``a``-``g``, ``z``-``b``
  for scores 1-5), ``Enter`` or ``→`` goes to the next picture once all criteria are scored, ``←`` goes back.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import secrets
import threading
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Sequence

from instdiff.core.errors import InputError
from instdiff.core.io import atomic_path
from instdiff.raters.images import StudyImage, discover_images, read_captions
from instdiff.raters.table import (COLUMNS, CRITERIA, CRITERION_LABELS, CRITERION_QUESTIONS, SCORES, read_ratings,
                                   validate_row, write_ratings)
from instdiff.core.seeding import rng

log = logging.getLogger(__name__)

# One row of keys per criterion, in CRITERIA order; position k in a row means score k + 1.
KEY_ROWS = ["12345", "qwert", "asdfg", "zxcvb"]
CONTENT_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}
# A rater's name is also a file name (ratings_{rater}.csv) and a seed: letters, digits, '_' and '-' only.
RATER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_BODY = 4096  # one answer is ~60 bytes of JSON
MAX_JSON_DEPTH = 4  # an answer is one flat object; a 2,000-deep array would overflow json's recursion
MAX_PATH = 256  # the longest path the page uses is /image/<index>; anything longer is not ours
MAX_INDEX_DIGITS = 9  # int() of 5,000 digits raises (Python's digit limit) and no study has 10^9 pictures
READ_TIMEOUT_S = 10.0  # per read, and the whole request (line, headers, body) must arrive within it too
MAX_WORKERS = 16  # one rater's browser opens a handful of connections; more are refused with 503
TOKEN_HEADER = "X-Instdiff-Token"


def journal_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".journal.jsonl")


def skipped_path(out: str | Path) -> Path:
    """Where ``--skip-bad-journal-lines`` moves the journal lines it cannot read (kept for a person to look at)."""
    out = Path(out)
    return out.with_name(out.name + ".journal.skipped.jsonl")


def rater_order(images: Sequence[StudyImage], rater: str, seed: int) -> list[StudyImage]:
    """The rater's presentation order: a seeded permutation of the sorted pictures."""
    perm = rng(seed, "raters", "order", rater).permutation(len(images))
    return [images[i] for i in perm]


def check_rater_name(rater: str) -> str:
    if not isinstance(rater, str) or not RATER_NAME.fullmatch(rater):  # fullmatch: "$" would allow a final "\n"
        raise InputError(None, f"rater name {rater!r} is not 1-64 letters, digits, '_' or '-'",
                         "pass a short pseudonym, e.g. --rater r01", "rater")
    return rater


class RatingSession:
    """The state of one rater's session: pictures in order, answers so far, and durable saving of new answers."""

    def __init__(self, images_dir: str | Path, rater: str, out: str | Path, seed: int,
                 captions: str | Path | None = None, criteria: Sequence[str] = CRITERIA, skip_bad_lines: bool = False):
        check_rater_name(rater)
        unknown = [c for c in criteria if c not in CRITERIA]
        if unknown or not criteria:
            raise InputError(None, f"unknown criteria {unknown}", f"choose from {', '.join(CRITERIA)}", "criteria")
        self.rater = rater
        self.criteria = [c for c in CRITERIA if c in criteria]
        self.out = Path(out)
        self.journal = journal_path(self.out)
        self.skip_bad_lines = skip_bad_lines
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
        keep, bad = [], []
        for lineno, line in enumerate(lines[:-1], 1):
            if not line.strip():
                continue
            try:
                row = self._parse_journal_line(line, lineno)
            except InputError as exc:
                if not self.skip_bad_lines:
                    raise InputError(self.journal, exc.problem,
                                     f"delete that line (every other answer is kept), or rerun `instdiff rate` with "
                                     f"--skip-bad-journal-lines to move it to {skipped_path(self.out).name}",
                                     exc.field) from None
                log.warning("%s: skipping %s", self.journal, exc.problem)
                bad.append(line)
                continue
            self._check_known(row, self.journal, lineno)
            self.answers[(row["image_id"], row["variant"], row["criterion"])] = row
            keep.append(line)
        if bad:
            skipped = skipped_path(self.out)
            before = skipped.read_text(encoding="utf-8") if skipped.exists() else ""
            self._rewrite(skipped, before + "".join(line + "\n" for line in bad))
        if bad or (lines and lines[-1].strip()):
            # Rewrite without the torn or skipped lines so the next append starts on a fresh line; atomically, so
            # a crash now cannot cost the answers already saved.
            self._rewrite(self.journal, "".join(line + "\n" for line in keep))

    @staticmethod
    def _rewrite(path: Path, text: str) -> None:
        with atomic_path(path) as tmp:
            with tmp.open("w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())

    def _parse_journal_line(self, line: str, lineno: int) -> dict:
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(self.journal, f"line {lineno} is not valid JSON ({exc.msg})") from None
        if not isinstance(raw, dict):
            raise InputError(self.journal, f"line {lineno} is not a JSON object")
        score = raw.get("score")
        if isinstance(score, bool) or not isinstance(score, int):  # the server writes ints only
            raise InputError(self.journal, f"line {lineno}: score {score!r} is not an integer 1-5", field="score")
        return validate_row({k: str(v) for k, v in raw.items()}, self.journal, lineno)

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
        # bool is an int in Python: ``true`` would be saved as a score the journal cannot read back.
        if isinstance(index, bool) or not (isinstance(index, int) and 0 <= index < len(self.items)):
            raise ValueError(f"no picture {index!r}")
        if not isinstance(criterion, str) or criterion not in self.criteria:
            raise ValueError(f"unknown criterion {criterion!r}")
        if isinstance(score, bool) or not (isinstance(score, int) and score in SCORES):
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


def _decimal(text: str) -> bool:
    return text.isascii() and text.isdigit()  # str.isdigit alone accepts "²", which int() refuses


def _json_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in ``data`` (brackets inside strings do not count)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in data.decode("utf-8", errors="replace"):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


class _DeadlineReader:
    """The request stream, with one deadline for the whole request: the socket's timeout bounds each read only,
    so a client sending one header byte every few seconds (slow-loris) would otherwise hold its thread forever."""

    def __init__(self, raw, sock, seconds: float):
        self._raw, self._sock, self._seconds = raw, sock, seconds
        self.restart()

    def restart(self) -> None:
        import time

        self._deadline = time.monotonic() + self._seconds

    def _arm(self) -> None:
        import time

        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("request not complete within its deadline")
        self._sock.settimeout(left)

    def readline(self, *args):
        self._arm()
        return self._raw.readline(*args)

    def read(self, *args):
        self._arm()
        return self._raw.read(*args)

    def __getattr__(self, name):
        return getattr(self._raw, name)


class Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _handler(session: RatingSession, token: str):
    page = PAGE.replace("__TOKEN__", token).encode()

    class Handler(BaseHTTPRequestHandler):
        server_version = "instdiff-rate"
        timeout = READ_TIMEOUT_S  # socket timeout: a client that stops sending is dropped, not waited for

        def setup(self):
            super().setup()
            self.rfile = _DeadlineReader(self.rfile, self.connection, READ_TIMEOUT_S)

        def handle_one_request(self):
            self.rfile.restart()  # each request of a kept-alive connection gets the whole deadline
            super().handle_one_request()

        def _origins(self) -> set[str]:
            port = self.server.server_address[1]
            return {f"127.0.0.1:{port}", f"localhost:{port}"}

        def _check_request(self, api: bool) -> None:
            """Host, Origin, fetch site and (for the API) the session token; raises Refused."""
            if self.headers.get("Host", "") not in self._origins():
                raise Refused(HTTPStatus.MISDIRECTED_REQUEST, "unknown Host: open the page at the address logged")
            origin = self.headers.get("Origin")
            if origin is not None and origin.removeprefix("http://") not in self._origins():
                raise Refused(HTTPStatus.FORBIDDEN, "cross-origin request refused")
            if self.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
                raise Refused(HTTPStatus.FORBIDDEN, "cross-site request refused")
            sent = self.headers.get(TOKEN_HEADER, "").encode("latin-1")  # headers arrive as latin-1 text
            if api and not secrets.compare_digest(sent, token.encode()):
                raise Refused(HTTPStatus.FORBIDDEN, "missing or wrong session token: reload the page")

        def _read_json(self) -> object:
            ctype = self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
            if ctype != "application/json":
                raise Refused(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send answers as application/json")
            length = self.headers.get("Content-Length", "")
            if not _decimal(length):  # also refuses "-1"
                raise Refused(HTTPStatus.LENGTH_REQUIRED, "a valid Content-Length is required")
            if int(length) > MAX_BODY:
                raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body over {MAX_BODY} bytes")
            try:
                data = self.rfile.read(int(length))
            except TimeoutError:
                raise Refused(HTTPStatus.REQUEST_TIMEOUT, f"body not sent within {READ_TIMEOUT_S:g} s") from None
            if _json_depth(data) > MAX_JSON_DEPTH:
                raise Refused(HTTPStatus.BAD_REQUEST, f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
            try:
                return json.loads(data)
            except (ValueError, UnicodeDecodeError, RecursionError) as exc:
                raise Refused(HTTPStatus.BAD_REQUEST, f"not JSON ({exc})"[:200]) from None

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

        def _refuse(self, exc: Refused) -> None:
            self.close_connection = True  # an unread body must not be parsed as the next request
            self._json({"error": str(exc)}, exc.status)

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if len(path) > MAX_PATH:
                return self._json({"error": "not found"}, HTTPStatus.NOT_FOUND)
            try:
                self._check_request(api=path.startswith("/api/"))
            except Refused as exc:
                return self._refuse(exc)
            if path == "/":
                self._send(HTTPStatus.OK, page, "text/html; charset=utf-8")
            elif path == "/api/state":
                self._json(session.state())
            elif path.startswith("/image/"):
                index = path.removeprefix("/image/")
                try:
                    ok = _decimal(index) and len(index) <= MAX_INDEX_DIGITS
                    item = session.items[int(index) if ok else len(session.items)]
                except IndexError:
                    return self._json({"error": "no such picture"}, HTTPStatus.NOT_FOUND)
                ctype = CONTENT_TYPES.get(item.path.suffix.lower(), "application/octet-stream")
                self._send(HTTPStatus.OK, item.path.read_bytes(), ctype)
            else:
                self._json({"error": "not found"}, HTTPStatus.NOT_FOUND)

        def do_POST(self):
            if self.path != "/api/answer":
                return self._json({"error": "not found"}, HTTPStatus.NOT_FOUND)
            try:
                self._check_request(api=True)
                body = self._read_json()
            except Refused as exc:
                return self._refuse(exc)
            try:
                answers = session.record(body["index"], body["criterion"], body["score"])
            except (ValueError, KeyError, TypeError) as exc:
                return self._json({"error": str(exc)}, HTTPStatus.BAD_REQUEST)
            self._json({"saved": True, "answers": answers, "n_done": session.n_done()})

    return Handler


class BoundedHTTPServer(ThreadingHTTPServer):
    """A thread per connection, at most :data:`MAX_WORKERS` at once: a further connection is answered 503 and
    closed (``ThreadingHTTPServer`` alone starts a thread for every connection, without limit)."""

    daemon_threads = True
    BUSY_BODY = b'{"error": "server busy: too many connections"}'
    BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
            b"Content-Length: " + str(len(BUSY_BODY)).encode() + b"\r\n\r\n" + BUSY_BODY)

    def __init__(self, *args, **kwargs):
        self._slots = threading.BoundedSemaphore(MAX_WORKERS)
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address):
        if not self._slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                request.settimeout(1.0)
                request.sendall(self.BUSY)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def make_server(session: RatingSession, port: int = 8765) -> ThreadingHTTPServer:
    """A server bound to 127.0.0.1 (never another interface: the study data stays on this machine).

    A fresh random token is embedded in the page it serves; the API answers only requests that carry it.
    """
    try:
        server = BoundedHTTPServer(("127.0.0.1", port), _handler(session, secrets.token_urlsafe(32)))
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            raise InputError(None, f"cannot listen on 127.0.0.1:{port} ({exc.strerror})",
                             "pass another --port (0 picks a free one) or stop the program using it", "--port") from None
        raise
    return server


@contextlib.contextmanager
def out_lock(out: str | Path):
    """Hold ``{out}.lock`` for the life of a server: two servers on one ratings file would overwrite each
    other's table. The lock is released when the process ends, even by kill -9."""
    import fcntl

    path = Path(out).with_name(Path(out).name + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(out, "another rating server is already writing this ratings table",
                             "stop the other `instdiff rate` for this --out, or pass a different --out", "--out") from None
        yield path
    finally:
        fh.close()


PAGE = r"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Image rating</title>
<meta name="instdiff-token" content="__TOKEN__">
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
const TOKEN = document.querySelector('meta[name="instdiff-token"]').content;
const $ = id => document.getElementById(id);
async function load() {
  S = await (await fetch('/api/state', {cache: 'no-store', headers: {'X-Instdiff-Token': TOKEN}})).json();
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
  const r = await fetch('/api/answer', {method: 'POST', headers: {'Content-Type': 'application/json', 'X-Instdiff-Token': TOKEN},
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
