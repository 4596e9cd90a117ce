"""What hostile requests cost `graft serve`: memory and /health/live latency, against its idle self.

One real `graft serve PACKAGE` process on 127.0.0.1. Baseline (same run): /health/live latency
on the idle server and its resident memory. Then, each attack against that baseline:

* bodies: two ~8 MiB bodies like ``[":",[],[],...]`` POSTed to /predict at once (the fallback
  parser's worst case); reported: their statuses, the server's memory growth (peak VmHWM minus
  the baseline RSS) as a multiple of one body, and the slowest /health/live answer meanwhile
  as a multiple of the idle median;
* parsed bodies: the same shape at ~2.8 MiB (under the value limit, so the body is parsed,
  the fallback parser and its fault walk run, and validation answers 422); same figures;
* header: one request whose header line is streamed up to 128 MiB in 64 KiB writes; reported:
  the status line the server answered with, the bytes it had accepted by then, memory growth
  and the slowest /health/live answer meanwhile.

    python benchmarks/bench_serve_bounds.py --package dist/adult-income-*.tar.gz [--json out.json]

Run it with ``PYTHONPATH`` pointing at another checkout's ``tools`` to measure that version.
"""

import argparse
import http.client
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

HOST = "127.0.0.1"
BIN = Path(sys.executable).parent
BODY_BYTES = 8 * 1024 * 1024
PARSED_BYTES = 2_900_000  # ~970,000 values: under REQUEST_VALUES, so parsed, walked and refused (422)
HEADER_BYTES = 128 * 1024 * 1024
CHUNK = 64 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def live_latency(port: int) -> float:
    start = time.perf_counter()
    conn = http.client.HTTPConnection(HOST, port, timeout=120)
    conn.request("GET", "/health/live")
    conn.getresponse().read()
    conn.close()
    return time.perf_counter() - start


class Poller(threading.Thread):
    """/health/live answered every 50 ms while an attack runs; keeps the slowest answer."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port, self.stop, self.worst, self.count = port, threading.Event(), 0.0, 0

    def run(self) -> None:
        while not self.stop.is_set():
            self.worst = max(self.worst, live_latency(self.port))
            self.count += 1
            time.sleep(0.05)


def bomb_body(size: int) -> bytes:
    n = (size - 6) // 3
    return b'[":"' + b",[]" * n + b"]"


def post(port: int, body: bytes, out: list[int]) -> None:
    conn = http.client.HTTPConnection(HOST, port, timeout=300)
    conn.request("POST", "/predict", body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    out.append(response.status)
    conn.close()


def attack_bodies(port: int, size: int = BODY_BYTES) -> dict[str, object]:
    body = bomb_body(size)
    statuses: list[int] = []
    threads = [threading.Thread(target=post, args=(port, body, statuses)) for _ in range(2)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"statuses": sorted(statuses), "seconds": time.perf_counter() - start, "body_bytes": len(body)}


def attack_header(port: int) -> dict[str, object]:
    sock = socket.create_connection((HOST, port), timeout=300)
    sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Long: ")
    sent, answer = 0, b""
    chunk = b"a" * CHUNK
    sock.settimeout(0.0)
    start = time.perf_counter()
    try:
        while sent < HEADER_BYTES:
            try:
                answer += sock.recv(65536)
                if answer:
                    break
            except BlockingIOError:
                pass
            try:
                sent += sock.send(chunk)
            except BlockingIOError:
                time.sleep(0.001)
    except (BrokenPipeError, ConnectionResetError):
        pass
    sock.settimeout(10.0)
    if not answer:
        try:
            if sent >= HEADER_BYTES:
                sock.sendall(b"\r\n\r\n")
            answer = sock.recv(65536)
        except OSError:
            answer = b""
    sock.close()
    status = answer.split(b"\r\n", 1)[0].decode("latin-1") or "(connection closed)"
    return {"status": status, "header_bytes_sent": sent, "seconds": time.perf_counter() - start}


def measure(pid: int, port: int, attack) -> dict[str, object]:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    rss0 = status_kib(pid, "VmRSS")
    poller = Poller(port)
    poller.start()
    result = attack(port)
    time.sleep(0.3)
    poller.stop.set()
    poller.join()
    hwm = status_kib(pid, "VmHWM")
    result["memory_growth_mib"] = round(max(0, hwm - rss0) / 1024, 1)
    result["worst_live_seconds"] = round(poller.worst, 3)
    result["live_answers"] = poller.count
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--package", type=Path, required=True)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-bounds-") as tmp:
        server = subprocess.Popen(
            [str(BIN / "graft"), "serve", str(args.package), "--port", str(port), "--log-db",
             f"sqlite:///{tmp}/log.db"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=os.environ.copy(),
        )  # fmt: skip
        try:
            deadline = time.time() + 120
            while True:
                try:
                    live_latency(port)
                    break
                except OSError:
                    if server.poll() is not None or time.time() > deadline:
                        raise SystemExit(f"server did not start: {server.stderr.read().decode()}") from None
                    time.sleep(0.2)
            idle = [live_latency(port) for _ in range(30)]
            baseline = {"idle_live_median_seconds": round(statistics.median(idle), 4)}
            baseline["rss_mib"] = round(status_kib(server.pid, "VmRSS") / 1024, 1)
            bodies = measure(server.pid, port, attack_bodies)
            parsed = measure(server.pid, port, lambda p: attack_bodies(p, PARSED_BYTES))
            header = measure(server.pid, port, attack_header)
        finally:
            server.terminate()
            server.wait(timeout=60)
    median = float(baseline["idle_live_median_seconds"]) or 1e-6
    for result in (bodies, parsed, header):
        result["worst_live_vs_idle"] = round(float(result["worst_live_seconds"]) / median, 1)
    for result in (bodies, parsed):
        result["memory_growth_per_body"] = round(
            float(result["memory_growth_mib"]) * 1024 * 1024 / int(result["body_bytes"]), 1
        )
    report = {"baseline": baseline, "bodies": bodies, "parsed_bodies": parsed, "header": header}
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
