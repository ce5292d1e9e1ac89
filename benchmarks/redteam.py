"""Repeat the red-team attacks of issue 16 against a checkout, with real processes.

    python benchmarks/redteam.py --root /path/to/checkout [--name before] [--only F2,F6]
        [--json benchmarks/results/redteam-NAME.json]

Every attack runs the checkout's own code (``PYTHONPATH=ROOT``, ``python -m bot``) against real
processes on 127.0.0.1: ``paperbot serve`` (uvicorn), ``paperbot ingest``, a real ``chroma run``
server, and a scripted model speaking the OpenAI protocol (tests/faultserver.py). Each attack
prints one JSON line of observations; ``benchmarks/results/redteam.md`` puts the runs of main
before issue 16 and of the fixed branch side by side. Nothing here needs ../shared: papers
are the seed abstracts recombined (tests/corpus.py) and hostile files are built on the fly.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))

from tests.conftest import chroma_run, free_port, stop_process, wait_http  # noqa: E402
from tests.corpus import variant_records, write_jsonl  # noqa: E402
from tests.faultserver import FaultServer  # noqa: E402
from tests.hostile_files import slow_pdf, zlib_bomb_pdf  # noqa: E402

PY = sys.executable
ROOT = HERE


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERBOT_", "OPENAI_"))}
    env.update(
        PYTHONPATH=str(ROOT),
        PAPERBOT_HOME=str(home),
        PAPERBOT_ENV_FILE=str(home / "none.env"),
        PAPERBOT_LLM_MODE="extractive",
        PAPERBOT_RATE_LIMIT_PER_MINUTE="0",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_VERBOSITY="error",
        COLUMNS="200",
    )
    env.update(extra)
    return env


def cli(env: dict[str, str], *args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PY, "-m", "bot", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def start_ingest(env: dict[str, str], path: Path) -> subprocess.Popen[str]:
    """A ``paperbot ingest PATH --json`` running in the background."""
    return subprocess.Popen(
        [PY, "-m", "bot", "ingest", str(path), "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextmanager
def serve(env: dict[str, str], *args: str) -> Iterator[str]:
    port = free_port()
    log = Path(env["PAPERBOT_HOME"]).parent / f"serve-{port}.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [PY, "-m", "bot", "serve", "--port", str(port), *args],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/healthz", timeout=300, proc=proc)
        request(url, "GET", "/api/search?q=warm+up", timeout=900)
        yield url
    finally:
        stop_process(proc, timeout=15)


def request(
    url: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 600,
) -> tuple[int, str]:
    req = urllib.request.Request(url + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def multipart(name: str, data: bytes) -> tuple[bytes, dict[str, str]]:
    boundary = "----redteam"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def seeded_home(base: Path) -> Path:
    home = base / "home"
    done = cli(env_for(home), "ingest", str(ROOT / "data" / "papers"))
    assert done.returncode == 0, done.stderr[-2000:]
    return home


_VECTORS = """
import json, sys
from bot.index.store import PaperStore
from bot.settings import load_settings
s = load_settings()
st = PaperStore(s, "all-MiniLM-L6-v2", 384)
bad_p, bad_c, n_p, n_c = [], [], 0, 0
for kind, it in (("papers", st.iter_paper_records()), ("chunks", st.iter_chunk_records())):
    ids = [i for i, _ in it]
    col = (st._papers if kind == "papers" else st._chunks)
    col = getattr(col, "raw", col)
    bad = []
    for i in ids:
        try:
            got = col.get(ids=[i], include=["embeddings"])
            if got.get("embeddings") is None or len(got["embeddings"]) == 0:
                bad.append(i)
        except Exception:
            bad.append(i)
    print(json.dumps({"kind": kind, "total": len(ids), "unreadable": len(bad)}))
"""


def unreadable_vectors(env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run([PY, "-c", _VECTORS], env=env, capture_output=True, text=True)
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return {r["kind"]: f"{r['unreadable']}/{r['total']}" for r in rows} or {
        "error": done.stderr[-300:]
    }


# --- the attacks -----------------------------------------------------------------------------
def f1_server_journals(base: Path) -> dict[str, Any]:
    """Two small ingests during a big one, one PAPERBOT_HOME, one chroma run server."""
    with chroma_run(base / "chroma") as port:
        env = env_for(
            base / "home",
            CHROMA_HOST="127.0.0.1",
            CHROMA_PORT=str(port),
            PAPERBOT_INGEST_BATCH_PAPERS="8",
        )
        big = write_jsonl(base / "big.jsonl", variant_records(200, "big"))
        tiny = [write_jsonl(base / f"t{i}.jsonl", variant_records(4, f"t{i}")) for i in (0, 1)]
        proc = start_ingest(env, big)
        journal = base / "home" / "journal"
        from tests.test_store_writers import _pause_mid_batch

        _pause_mid_batch(proc, journal)  # stopped inside a batch write (SIGSTOP)
        try:
            small = [cli(env, "ingest", str(t), "--json") for t in tiny]
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        overlapped = True
        proc.communicate()
        doctor = cli(env, "doctor", "--json")
        report = json.loads(doctor.stdout)
        checks = {c["name"]: (c["status"], c["count"]) for c in report["checks"]}
        return {
            "overlapped": overlapped,
            "exit codes": [proc.returncode, *(s.returncode for s in small)],
            "recoveries logged": sum("recovered an interrupted write" in s.stderr for s in small),
            "doctor ok": report["ok"],
            "incomplete papers": checks.get("incomplete papers"),
            "papers": report["papers"],
        }


def f2_embedded_serve_and_cli(base: Path) -> dict[str, Any]:
    """A CLI ingest while serve reads and accepts uploads on the same embedded store."""
    home = seeded_home(base)
    env = env_for(home)
    big = write_jsonl(base / "big.jsonl", variant_records(400, "cli"))
    statuses: list[int] = []
    with serve(env) as url:
        proc = start_ingest(env, big)
        n = 0
        while proc.poll() is None:
            request(url, "GET", "/api/search?q=diffusion+models&k=5")
            body, headers = multipart(
                f"u{n}.jsonl", json.dumps(variant_records(1, "up", n)[0]).encode()
            )
            statuses.append(request(url, "POST", "/api/ingest", body, headers)[0])
            n += 1
            time.sleep(1)
        proc.communicate()
        for i in range(3):
            body, headers = multipart(
                f"a{i}.jsonl", json.dumps(variant_records(1, "after", i)[0]).encode()
            )
            statuses.append(request(url, "POST", "/api/ingest", body, headers)[0])
    doctor = cli(env, "doctor", "--json")
    return {
        "upload statuses": sorted(set(statuses)),
        "unreadable vectors": unreadable_vectors(env),
        "doctor ok": json.loads(doctor.stdout)["ok"]
        if doctor.stdout.startswith("{")
        else doctor.stderr[-200:],
    }


def f3_injection(base: Path) -> dict[str, Any]:
    """The hostile corpus: sentences with a canary the filter lets through, and canaries in
    extractive answers and summaries (run with the checkout's code)."""
    corpus = HERE / "tests" / "fixtures" / "injection" / "hostile.jsonl"
    code = f"""
import json
from pathlib import Path
from bot.api import PaperBot
from bot.text.sanitize import is_injection
from bot.text.sentences import split_sentences
from bot.settings import load_settings
recs = [json.loads(l) for l in Path({str(corpus)!r}).read_text().splitlines()]
missed = [r["id"] for r in recs if r["canary"] and any(
    r["canary"] in s.text and not is_injection(s.text) for s in split_sentences(r["abstract"]))]
bot = PaperBot(load_settings())
bot.ingest([Path({str(corpus)!r})])
shown = 0
fake = False
for r in recs:
    a = bot.ask(r["question"], k=3)
    texts = [a.answer] + [c.quote for c in a.citations]
    s = bot.summarize(r["id"], use_cache=False)
    texts += [s.summary] + [c.quote for c in s.citations]
    shown += sum(1 for t in texts for x in recs if x["canary"] and x["canary"] in t)
    if r["id"] == "hx-fake-markers":
        fake = "[1] [2]" in a.answer
digest = bot.newsletter(ids=[r["id"] for r in recs[:12]], use_cache=False)
from bot.render import render_digest
page = render_digest(digest, "md")
shown += sum(1 for x in recs if x["canary"] and x["canary"] in page)
print(json.dumps({{"canary sentences missed by the filter": f"{{len(missed)}}/33",
    "missed": missed, "canaries shown (extractive ask+summarize+newsletter)": shown,
    "fake [1] [2] left as markers in the answer": fake}}))
"""
    done = subprocess.run(
        [PY, "-c", code], env=env_for(base / "home"), capture_output=True, text=True
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {"error": done.stderr[-500:]}


def f4_hostile_pdfs(base: Path) -> dict[str, Any]:
    home = seeded_home(base)
    env = env_for(home, PAPERBOT_PARSE_TIMEOUT="10")
    bomb = zlib_bomb_pdf(base / "bomb.pdf")
    slow = slow_pdf(base / "slow.pdf", ops=3_000_000)
    folder = base / "folder"
    folder.mkdir()
    shutil.copy(bomb, folder / "a_bomb.pdf")
    shutil.copy(HERE / "tests" / "fixtures" / "pdf" / "adapters_2406.04321.pdf", folder)
    write_jsonl(folder / "b.jsonl", variant_records(2, "fold"))
    done = cli(env, "ingest", str(folder), "--json")
    result: dict[str, Any] = {
        "folder ingest exit": done.returncode,
        "folder ingest added": json.loads(done.stdout)["added"]
        if done.stdout.startswith("{")
        else 0,
        "traceback lines": done.stderr.count("\n") if "Traceback" in done.stderr else 0,
    }
    with serve(env) as url:
        body, headers = multipart("bomb.pdf", bomb.read_bytes())
        result["bomb upload status"] = request(url, "POST", "/api/ingest", body, headers)[0]
        body, headers = multipart("slow.pdf", slow.read_bytes())
        import threading

        outcome: dict[str, Any] = {}

        def upload() -> None:
            t0 = time.monotonic()
            outcome["status"] = request(url, "POST", "/api/ingest", body, headers)[0]
            outcome["seconds"] = round(time.monotonic() - t0, 1)

        thread = threading.Thread(target=upload)
        thread.start()
        time.sleep(1.0)
        t0 = time.monotonic()
        request(url, "GET", "/api/stats")
        result["stats latency during the slow upload (s)"] = round(time.monotonic() - t0, 1)
        thread.join()
        result["slow upload"] = outcome
        result["files left in uploads/"] = len(list((home / "uploads").glob("*")))
    return result


def _slow_model_env(home: Path, model: FaultServer, **extra: str) -> dict[str, str]:
    return env_for(
        home,
        PAPERBOT_LLM_MODE="openai",
        OPENAI_BASE_URL=model.url,
        OPENAI_API_KEY="sk-test",
        PAPERBOT_LLM_MAX_RETRIES="0",
        **extra,
    )


def f5_abandoned_requests(base: Path) -> dict[str, Any]:
    home = seeded_home(base)
    question = b'{"question": "How does grokking relate to lazy and rich training dynamics?"}'
    reply = " ".join(["Grokking arises when training moves from lazy to rich dynamics [1]."] * 8)
    with FaultServer("ok", reply=reply, token_delay=0.3) as model:
        with serve(_slow_model_env(home, model)) as url:
            host, port = url.removeprefix("http://").split(":")
            socks = []
            for _ in range(2):
                s = socket.create_connection((host, int(port)))
                s.sendall(
                    f"POST /api/ask HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: "
                    f"application/json\r\nContent-Length: {len(question)}\r\n\r\n".encode()
                    + question
                )
                socks.append(s)
            while model.tokens_sent == 0:
                time.sleep(0.05)
            for s in socks:
                s.close()  # both clients give up
            t0 = time.monotonic()
            status = request(url, "GET", "/api/papers?limit=1")[0]
            waited = round(time.monotonic() - t0, 1)
            time.sleep(3)
            return {
                "next request waited (s)": waited,
                "status": status,
                "model requests made": model.attempts,
                "words streamed of " + str(len(reply.split())): model.tokens_sent,
            }


def f6_browser_origin(base: Path) -> dict[str, Any]:
    home = seeded_home(base)
    with serve(env_for(home)) as url:
        rebind = request(url, "GET", "/api/stats", headers={"Host": "rebind.evil.example"})[0]
        record = json.dumps(variant_records(1, "csrf")[0]).encode()
        body, headers = multipart("x.jsonl", record)
        csrf = request(
            url, "POST", "/api/ingest", body, {**headers, "Origin": "http://evil.example"}
        )
        papers = json.loads(request(url, "GET", "/api/stats")[1])["papers"]
    proc = subprocess.Popen(
        [PY, "-m", "bot", "serve", "--host", "0.0.0.0", "--port", str(free_port())],
        env=env_for(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        proc.wait(timeout=90)
        exposed = f"refused (exit {proc.returncode})"
    except subprocess.TimeoutExpired:
        exposed = "started without a key"
        stop_process(proc)  # type: ignore[arg-type]
    return {
        "Host: rebind.evil.example": rebind,
        "cross-site upload": csrf[0],
        "papers after (54 before)": papers,
        "serve --host 0.0.0.0 without a key": exposed,
    }


def f7_empty_store(base: Path) -> dict[str, Any]:
    home = seeded_home(base)
    out = {}
    for how in ("truncated", "deleted"):
        shutil.copytree(home, base / f"h-{how}")
        store = base / f"h-{how}" / "chroma" / "chroma.sqlite3"
        if how == "truncated":
            store.write_bytes(b"")
        else:
            store.unlink()
        doctor = cli(env_for(base / f"h-{how}"), "doctor", "--json")
        report = json.loads(doctor.stdout) if doctor.stdout.startswith("{") else {}
        out[f"doctor ok ({how})"] = report.get("ok", doctor.stderr[-200:])
    return out


def f8_small(base: Path) -> dict[str, Any]:
    home = base / "home"
    esc = base / "esc.jsonl"
    esc.write_text(
        json.dumps(
            {
                "id": "esc",
                "title": "T \x1b[2J\x1b[31mred\x1b[0m",
                "abstract": "We study things. \x1b]0;pwned\x07Results hold.",
            }
        )
        + "\n",
        encoding="utf-8",
    )
    env = env_for(home)
    cli(env, "ingest", str(ROOT / "data" / "papers"), str(esc))
    out: dict[str, Any] = {
        "escape codes printed by `papers`": "\x1b" in cli(env, "papers").stdout,
        "escape codes printed by `ask`": "\x1b" in cli(env, "ask", "What do they study?").stdout,
    }
    with serve(env) as url:
        out["lone surrogate question"] = request(
            url,
            "POST",
            "/api/ask",
            b'{"question": "a \\ud800 b"}',
            {"Content-Type": "application/json"},
        )[0]
        body, headers = multipart("名前.jsonl", json.dumps(variant_records(1, "jp")[0]).encode())
        out["upload named 名前.jsonl"] = request(url, "POST", "/api/ingest", body, headers)[0]
        body, headers = multipart("bad.jsonl", b"{not json\n")
        request(url, "POST", "/api/ingest", body, headers)
        out["rejected uploads left"] = len(list((home / "uploads").glob("*bad*")))
        stats = json.loads(request(url, "GET", "/api/stats")[1])
        out["server path in /api/stats"] = str(home) in json.dumps(stats)
        paper = json.loads(request(url, "GET", "/api/papers/esc")[1])
        out["server path in paper source"] = str(base) in str(paper.get("source"))
    keyed = env_for(home, PAPERBOT_API_KEY="k3y", PAPERBOT_RATE_LIMIT_PER_MINUTE="5")
    with serve(keyed) as url:
        wrong = [
            request(url, "GET", "/api/stats", headers={"Authorization": "Bearer x"})[0]
            for _ in range(8)
        ]
        out["8 wrong keys"] = wrong
        spoof = [
            request(
                url,
                "GET",
                "/api/stats",
                headers={"Authorization": "Bearer k3y", "X-Forwarded-For": f"10.0.0.{i}"},
            )[0]
            for i in range(8)
        ]
        out["8 good keys, each with another X-Forwarded-For"] = spoof
    nonascii = env_for(home, PAPERBOT_API_KEY="clé")
    try:
        with serve(nonascii) as url:
            out["non-ASCII key, right key sent"] = request(
                url,
                "GET",
                "/api/stats",
                headers={"Authorization": "Bearer clé".encode().decode("latin-1")},
            )[0]
    except RuntimeError as exc:
        out["non-ASCII key, right key sent"] = f"serve refused to start ({str(exc)[:60]})"
    down = env_for(base / "down", CHROMA_HOST="127.0.0.1", CHROMA_PORT=str(free_port()))
    with serve(down) as url:
        out["/api/stats with the Chroma server down"] = request(url, "GET", "/api/stats")[0]
    garbled = base / "garbled"
    (garbled / "chroma").mkdir(parents=True)
    (garbled / "chroma" / "chroma.sqlite3").write_bytes(b"not a database" * 100)
    done = cli(env_for(garbled), "stats")
    out["garbled store: traceback"] = "Traceback" in done.stderr
    out["garbled store: stderr lines"] = len([x for x in done.stderr.splitlines() if x.strip()])
    return out


ATTACKS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "F1": f1_server_journals,
    "F2": f2_embedded_serve_and_cli,
    "F3": f3_injection,
    "F4": f4_hostile_pdfs,
    "F5": f5_abandoned_requests,
    "F6": f6_browser_origin,
    "F7": f7_empty_store,
    "F8": f8_small,
}


def main() -> None:
    global ROOT
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=HERE)
    parser.add_argument("--name", default="run")
    parser.add_argument("--only", default=",".join(ATTACKS))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    ROOT = args.root.resolve()
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    results: dict[str, Any] = {"root": str(ROOT), "commit": commit, "name": args.name}
    for key in args.only.split(","):
        base = Path(tempfile.mkdtemp(prefix=f"redteam-{key}-"))
        t0 = time.monotonic()
        try:
            results[key] = ATTACKS[key](base)
        except Exception as exc:  # an attack that crashed the checkout is an outcome too
            results[key] = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
        results[key]["seconds"] = round(time.monotonic() - t0)
        print(json.dumps({key: results[key]}, ensure_ascii=False), flush=True)
        shutil.rmtree(base, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
