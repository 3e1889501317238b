"""Load benchmark of `datapilot serve`: 1, 8 and 32 concurrent clients on loopback, each sending DataPilot's real
request (a holdout table's `build_messages`, the insights contract as `response_format`, no `max_tokens`: the
server's default bound) back to back for a bounded time, against the continuously batching server and the same
server answering one request at a time (`--max-batch-size 1`), side by side.

    .venv/bin/python -m bench.bench_serve [--model DIR] [--duration 30] [--clients 1 8 32] [--batch-size 16]

A client stops sending at the end of `--duration` and every request it sent is counted: requests/s and tokens/s
are over the time until the last reply. Latency is per request, queueing included. Errors are any non-200 reply or
transport failure; "valid" counts replies that parse and validate as the contract (`LLMOutput`). Both servers run
at once and their cells alternate, so a change in the machine's load hits both; "tok/CPU-s" divides the tokens by
the CPU seconds the server's processes spent (Linux /proc), a figure that other load on the machine does not
move. The model defaults to the shipped demo base. Results: bench/results/serve.json.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

RESULTS_DIR = Path(__file__).parent / "results"
KEY = "bench-key"
START_TIMEOUT_S = 900


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def requests_bodies(shots: int, n: int = 8) -> list[dict]:
    """DataPilot's request for `n` holdout tables."""
    from datapilot_pipeline.lib.generation.decoding import output_schema, response_format
    from datapilot_pipeline.lib.paths import packaged_data
    from datapilot_pipeline.lib.prompts import build_messages

    rows = [json.loads(line) for line in packaged_data("holdout_test.jsonl").read_text().splitlines() if line.strip()]
    seeds = [json.loads(line) for line in packaged_data("seed_examples.jsonl").read_text().splitlines()
             if line.strip()][:shots]
    fmt = response_format(output_schema())
    return [{"model": "datapilot", "messages": build_messages(row["compact_eda"], seeds), "response_format": fmt,
             "metadata": {"job_id": f"bench_{i}"}} for i, row in enumerate(rows[:n])]


def start_server(model: str, home: Path, batch_size: int) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "DATAPILOT_HOME": str(home), "DATAPILOT_BENCH_KEYS": KEY, "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.Popen([sys.executable, "-m", "datapilot_pipeline", "serve", "--model", model, "--port", str(port),
                             "--api-key-env", "DATAPILOT_BENCH_KEYS", "--max-batch-size", str(batch_size),
                             "--log-level", "warning"], cwd=home, env=env, stdout=subprocess.DEVNULL,
                            stderr=open(home / f"serve_{batch_size}.log", "w"), start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"datapilot serve exited: {(home / f'serve_{batch_size}.log').read_text()[-2000:]}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError("datapilot serve did not become healthy")


def server_cpu_seconds(session: int) -> float:
    """CPU seconds (user + system) of every process in the server's session (its API process, worker, manager)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[3]) == session:  # fields after "(comm)": state, ppid, pgrp, session, ..., utime at 11, stime 12
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def _valid(text: str) -> bool:
    from pydantic import ValidationError

    from datapilot_pipeline.lib.contracts import LLMOutput
    from datapilot_pipeline.lib.normalize import normalize_output, parse_output_text

    try:
        LLMOutput.model_validate(normalize_output(parse_output_text(text)))
        return True
    except (ValueError, ValidationError):
        return False


def run_cell(url: str, bodies: list[dict], clients: int, duration_s: float, session: int | None = None) -> dict:
    """`clients` threads sending back to back until `duration_s`; every reply they waited for is counted."""
    cpu_before = server_cpu_seconds(session) if session else None
    results: list[dict] = []
    lock = threading.Lock()
    began = time.perf_counter()
    stop_at = began + duration_s

    def client(index: int) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=1800) as http:
            sent = 0
            while time.perf_counter() < stop_at:
                body = bodies[(index + sent * clients) % len(bodies)]
                sent += 1
                start = time.perf_counter()
                try:
                    response = http.post("/v1/chat/completions", json=body)
                    reply = response.json() if response.status_code == 200 else None
                    row = {"status": response.status_code}
                except httpx.HTTPError as exc:
                    reply, row = None, {"status": type(exc).__name__}
                row["latency_s"] = time.perf_counter() - start
                if reply is not None:
                    row.update(tokens=reply["usage"]["completion_tokens"], finish=reply["choices"][0]["finish_reason"],
                               valid=_valid(reply["choices"][0]["message"]["content"]))
                with lock:
                    results.append(row)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    cpu = server_cpu_seconds(session) - cpu_before if session else None
    ok = [r for r in results if r["status"] == 200]
    latencies = sorted(r["latency_s"] for r in results)
    return {"clients": clients, "requests": len(results), "seconds": round(elapsed, 1),
            "requests_per_s": round(len(results) / elapsed, 3),
            "p50_s": round(statistics.median(latencies), 2) if latencies else None,
            "p95_s": round(latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))], 2) if latencies else None,
            "completion_tokens_per_s": round(sum(r["tokens"] for r in ok) / elapsed, 1),
            "server_cpu_s": round(cpu, 1) if cpu is not None else None,
            "tokens_per_cpu_s": round(sum(r["tokens"] for r in ok) / cpu, 1) if cpu else None,
            "errors": len(results) - len(ok), "cut": sum(r["finish"] == "length" for r in ok),
            "valid": sum(r["valid"] for r in ok)}


def table(rows: list[dict]) -> str:
    head = ("| server | clients | requests | req/s | p50 s | p95 s | completion tok/s | tok/CPU-s | errors | cut | "
            "contract-valid |")
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        lines.append(f"| {r['server']} | {r['clients']} | {r['requests']} | {r['requests_per_s']} | {r['p50_s']} | "
                     f"{r['p95_s']} | {r['completion_tokens_per_s']} | {r['tokens_per_cpu_s']} | {r['errors']} | "
                     f"{r['cut']} | {r['valid']}/{r['requests'] - r['errors']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from bench.harness import machine
    from datapilot_pipeline.lib.generation.modeling import DEMO_BASE_DIR

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(DEMO_BASE_DIR), help="model directory or models:/ URI")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds each client keeps sending")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--batch-size", type=int, default=16, help="the batched server's --max-batch-size")
    parser.add_argument("--shots", type=int, default=0, help="worked examples per request")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "serve.json")
    args = parser.parse_args(argv)

    bodies = requests_bodies(args.shots)
    rows = []
    servers = {f"batched ({args.batch_size})": args.batch_size, "one at a time": 1}
    procs: dict[str, tuple[subprocess.Popen, str]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_serve_") as tmp:
        try:
            for label, batch in servers.items():
                home = Path(tmp) / f"home_{batch}"
                home.mkdir()
                procs[label] = start_server(args.model, home, batch)
                run_cell(procs[label][1], bodies[:1], 1, 0)  # warm-up: the first request compiles the grammar
            for clients in args.clients:
                for label, (proc, url) in procs.items():
                    row = {"server": label, **run_cell(url, bodies, clients, args.duration, session=proc.pid)}
                    print(json.dumps(row), file=sys.stderr, flush=True)
                    rows.append(row)
        finally:
            for proc, _ in procs.values():
                os.killpg(proc.pid, 15)
            for proc, _ in procs.values():
                proc.wait(timeout=180)
    rows.sort(key=lambda r: (r["server"] != next(iter(servers)), r["clients"]))
    print(table(rows))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"machine": machine(), "model": args.model, "duration_s": args.duration,
                                       "shots": args.shots, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
