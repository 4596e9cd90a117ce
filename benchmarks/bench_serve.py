"""Benchmark `graft serve` against a bare FastAPI app serving the same model, in one run.

* graft: `graft serve PACKAGE` as a real uvicorn process (validation + prediction log on, the
  default `--log-durability async`: answered before the log row is committed).
* graft_commit: the same with `--log-durability commit` (answered once the row is committed;
  concurrent requests share a transaction); its own SQLite log.
* bare: a FastAPI app that only validates with a pydantic model built from schema.json and
  predicts from numpy with the same Booster (no log, no request id, no size limit).

* the Open Inference Protocol (same run, against the same default graft server): single
  records and 10,000-row batches through ``/v2/models/NAME/infer`` with JSON tensors and with
  binary tensors (the binary tensor data extension, outputs as raw bytes too), beside
  ``/predict``, the bare app and, when it is installed, MLServer with its LightGBM runtime
  serving the same model file (the server a KServe user would pick; ``--mlserver PATH`` to its
  ``mlserver`` executable, e.g. in a virtualenv of its own: its pins conflict with graft's
  FastAPI). MLServer's runtime takes the model's feature matrix, so its requests carry the
  rows already encoded by the package's adapter (work graft's figures include: validation,
  encoding, logging).

All listen on 127.0.0.1 (free ports). Clients use keep-alive HTTP/1.1 connections from this
process: sequential single-record requests, then concurrent clients (``--rounds`` rounds, the
median kept), then 10,000-row batches; each phase runs against every server in turn, so a
change in the machine's load between phases touches all of them. Every loop is bounded in
count and in time. Besides wall-clock figures, the servers' CPU time per request (Linux) is
reported: it barely moves when other jobs share the machine, where throughput does. The load
average before and after the run is printed with the figures.

    python benchmarks/bench_serve.py [--package dist/adult-income-*.tar.gz] [--json out.json]
        [--mlserver /path/to/venv/bin/mlserver]
"""
# No `from __future__ import annotations`: FastAPI must see the bare app's pydantic model class.

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.samples import RECORD

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
BIN = Path(sys.executable).parent
TIME_LIMIT = 120.0  # seconds per phase, whatever the counts


# --- the bare app (runs in its own process: `bench_serve.py --bare PACKAGE PORT`) ------------


def bare_app(package: Path):
    from typing import Literal

    import lightgbm as lgb
    from fastapi import FastAPI
    from pydantic import ConfigDict, Field, create_model

    from graft.api import open_package

    pkg = open_package(package, Path(tempfile.mkdtemp(prefix="bench-bare-")))
    spec, schema = pkg.spec(), pkg.schema
    encode = pkg.adapter().encode  # the package's own feature code, as graft serve uses it
    threshold = pkg.settings.task.threshold
    negative, positive = pkg.settings.task.labels or ("0", "1")
    booster = lgb.Booster(model_file=str(pkg.model_file))
    fields = {}
    for name, prop in schema["properties"].items():
        types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
        nullable = "null" in types
        if "integer" in types:
            kind, extra = int, {"ge": prop.get("minimum"), "le": prop.get("maximum")}
        else:
            kind, extra = Literal[tuple(v for v in prop["enum"] if v is not None)], {}
        if nullable:
            fields[name] = (kind | None, Field(None, **extra))
        else:
            fields[name] = (kind, Field(..., **extra))
    record_model = create_model("Record", __config__=ConfigDict(extra="forbid"), **fields)
    names = list(schema["properties"])
    app = FastAPI()

    def predict(records: list) -> list[dict]:
        columns = {n: [getattr(r, n) for r in records] for n in names}
        proba = booster.predict(encode(columns, spec), num_threads=1 if len(records) <= 256 else 0)
        return [{"probability": p, "label": positive if p >= threshold else negative} for p in proba.tolist()]

    @app.post("/predict")
    def predict_one(record: record_model) -> dict:  # type: ignore[valid-type]
        return {"predictions": predict([record])}

    @app.post("/predict_batch")
    def predict_many(records: list[record_model]) -> dict:  # type: ignore[valid-type]
        return {"predictions": predict(records)}

    @app.get("/health/ready")
    def ready() -> dict:
        return {"status": "ok"}

    return app


def run_bare(package: str, port: int) -> None:
    import uvicorn

    uvicorn.run(bare_app(Path(package)), host=HOST, port=port, log_level="warning", access_log=False)


# --- harness ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 60, path: str = "/health/ready") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server on port {port} exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"server on port {port} not ready after {timeout}s")


JSON_HEADERS = {"Content-Type": "application/json"}


def post(conn: http.client.HTTPConnection, path: str, body: bytes, headers: dict | None = None) -> bytes:
    conn.request("POST", path, body, headers or JSON_HEADERS)
    response = conn.getresponse()
    data = response.read()
    if response.status != 200:
        raise SystemExit(f"POST {path}: {response.status} {data[:200]!r}")
    return data


def _stat(pid: int | str) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time so far of a process and of its live descendants (MLServer scores
    in worker processes), Linux /proc; None elsewhere."""
    fields = _stat(pid)
    if fields is None:
        return None
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(entry.name)
            if stat is not None:
                children.setdefault(int(stat[1]), []).append(int(entry.name))
    ticks = 0
    todo = [pid]
    while todo:
        current = todo.pop()
        stat = _stat(current)
        if stat is not None:
            ticks += int(stat[11]) + int(stat[12])
        todo.extend(children.get(current, []))
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_per_request(pid: int, run) -> tuple[dict, float | None]:
    """``run()``'s summary and the server's CPU milliseconds per request it served.

    Unlike wall-clock throughput, CPU time per request hardly moves when other jobs load the
    machine, so it compares two servers fairly on a shared box.
    """
    before = cpu_seconds(pid)
    result = run()
    time.sleep(0.5)  # the prediction log's writer finishes the rows of this phase
    after = cpu_seconds(pid)
    if before is None or after is None:
        return result, None
    served = result["requests"] + result["warm_up"]
    return result, round((after - before) * 1000 / served, 3)


def disk_commit_ms(folder: Path, n: int = 100) -> float:
    """Median milliseconds of a one-row SQLite commit with synchronous=FULL (WAL) in ``folder``:
    the disk's sync latency, what an fsync per transaction would add to --log-durability commit
    (the log itself keeps synchronous=NORMAL; see graft.serving.predlog)."""
    import sqlite3

    conn = sqlite3.connect(folder / "probe.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v TEXT)")
    times = []
    for i in range(n):
        t = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT OR REPLACE INTO t VALUES (?, ?)", (i, "x" * 600))
        conn.execute("COMMIT")
        times.append(time.perf_counter() - t)
    conn.close()
    return round(percentile(times, 50) * 1000, 3)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def sequential(port: int, path: str, body: bytes, n: int, headers: dict | None = None) -> dict:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    for _ in range(min(200, n)):  # warm-up
        post(conn, path, body, headers)
    latencies = []
    start = time.perf_counter()
    for _ in range(n):
        t = time.perf_counter()
        post(conn, path, body, headers)
        latencies.append(time.perf_counter() - t)
        if t - start > TIME_LIMIT:
            break
    elapsed = time.perf_counter() - start
    conn.close()
    return {**summary(latencies, elapsed), "warm_up": min(200, n)}


def concurrent(port: int, path: str, body: bytes, clients: int, per_client: int) -> dict:
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def client() -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        post(conn, path, body)
        mine = []
        barrier.wait()
        begin = time.perf_counter()
        for _ in range(per_client):
            t = time.perf_counter()
            post(conn, path, body)
            mine.append(time.perf_counter() - t)
            if t - begin > TIME_LIMIT:
                break
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return {**summary(latencies, time.perf_counter() - start), "warm_up": clients}


def batches(port: int, path: str, body: bytes, rows: int, n: int, headers: dict | None = None) -> dict:
    conn = http.client.HTTPConnection(HOST, port, timeout=120)
    post(conn, path, body, headers)  # warm-up
    times = []
    for _ in range(n):
        t = time.perf_counter()
        post(conn, path, body, headers)
        times.append(time.perf_counter() - t)
    conn.close()
    return batch_figures(times, rows)


def batch_figures(times: list[float], rows: int) -> dict:
    """What a batch phase reports: ``len(times)`` timed requests of ``rows`` rows after one warm-up."""
    return {
        "rows": rows,
        "requests": len(times),
        "warm_up": 1,
        "median_s": round(percentile(times, 50), 4),
        "rows_per_s": round(rows / percentile(times, 50)),
    }


def summary(latencies: list[float], elapsed: float) -> dict:
    return {
        "requests": len(latencies),
        "p50_ms": round(percentile(latencies, 50) * 1000, 3),
        "p99_ms": round(percentile(latencies, 99) * 1000, 3),
        "req_per_s": round(len(latencies) / elapsed, 1),
    }


def batch_body(rows: int) -> bytes:
    records = []
    for i in range(rows):
        r = dict(RECORD)
        r["age"] = 17 + i % 74
        r["hours_per_week"] = 1 + i % 99
        r["capital_gain"] = (i * 37) % 10000
        records.append(r)
    return json.dumps(records).encode()


def batch_records(rows: int) -> list[dict]:
    return json.loads(batch_body(rows))


def v2_json_body(records: list[dict]) -> bytes:
    """An Open Inference Protocol request with JSON tensors, one per field."""
    inputs = [
        {
            "name": name,
            "shape": [len(records)],
            "datatype": "INT64" if isinstance(value, int) else "BYTES",
            "data": [r[name] for r in records],
        }
        for name, value in records[0].items()
    ]
    return json.dumps({"inputs": inputs}).encode()


def v2_binary_body(records: list[dict]) -> tuple[bytes, dict]:
    """The same as binary tensors (outputs asked as raw bytes too): (body, headers)."""
    from graft.serving.tensors import encode

    inputs, chunks = [], []
    for name, value in records[0].items():
        datatype = "INT64" if isinstance(value, int) else "BYTES"
        raw = encode([r[name] for r in records], datatype)
        chunks.append(raw)
        tensor = {"name": name, "shape": [len(records)], "datatype": datatype}
        inputs.append({**tensor, "parameters": {"binary_data_size": len(raw)}})
    head = json.dumps({"inputs": inputs, "parameters": {"binary_data_output": True}}).encode()
    headers = {
        "Content-Type": "application/octet-stream",
        "Inference-Header-Content-Length": str(len(head)),
    }
    return head + b"".join(chunks), headers


def mlserver_body(package: Path, records: list[dict]) -> bytes:
    """An MLServer (LightGBM runtime) request: the records encoded by the package's adapter to
    the model's feature matrix, one FP64 tensor."""
    from graft.api import open_package

    pkg = open_package(package, Path(tempfile.mkdtemp(prefix="bench-mls-")))
    names = list(records[0])
    matrix = pkg.adapter().encode({n: [r[n] for r in records] for n in names}, pkg.spec())
    tensor = {
        "name": "input-0",
        "shape": list(matrix.shape),
        "datatype": "FP64",
        "data": matrix.ravel().tolist(),
    }
    return json.dumps({"inputs": [tensor]}).encode()


def start_mlserver(executable: Path, package: Path, folder: Path) -> tuple[subprocess.Popen, int, str]:
    """MLServer serving the package's model file with mlserver-lightgbm, default settings but
    ports (and no metrics server). Returns (process, HTTP port, model name)."""
    from graft.api import open_package

    pkg = open_package(package, folder / "package")
    name = pkg.name
    model_dir = folder / "model"
    model_dir.mkdir()
    (model_dir / "model.txt").write_bytes(pkg.model_file.read_bytes())
    settings = {
        "name": name,
        "implementation": "mlserver_lightgbm.LightGBMModel",
        "parameters": {"uri": "./model.txt"},
    }
    (model_dir / "model-settings.json").write_text(json.dumps(settings))
    port = free_port()
    server_settings = {"http_port": port, "grpc_port": free_port(), "metrics_endpoint": None}
    (model_dir / "settings.json").write_text(json.dumps(server_settings))
    proc = subprocess.Popen(
        [str(executable), "start", str(model_dir)],
        cwd=model_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, port, name


def find_mlserver(given: Path | None) -> tuple[Path | None, str]:
    """The mlserver executable and, when there is none, why."""
    if given is not None:
        return (given, "") if given.exists() else (None, f"--mlserver {given}: no such file")
    local = BIN / "mlserver"
    if local.exists():
        return local, ""
    return (
        None,
        "MLServer not installed (pip install mlserver mlserver-lightgbm, best in a virtualenv of its "
        "own; --mlserver PATH)",
    )


def newest_package() -> Path:
    found = sorted((ROOT / "dist").glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise SystemExit("no package in dist/: run `dvc repro` and `graft package --allow-dirty` first")
    return found[-1]


def graft_command(package: Path, port: int, log_db: str, args: argparse.Namespace, *extra: str) -> list[str]:
    return [
        *(str(BIN / "graft"), "serve", str(package), "--host", HOST, "--port", str(port)),
        *("--log-db", log_db, "--max-body-bytes", str(64 << 20), *extra),
        *(("--compile", "--compile-cache", str(ROOT / ".graft" / "compiled")) if args.compile else ()),
    ]


def print_pair(
    left: tuple[str, dict[str, Any]],
    right: tuple[str, dict[str, Any]],
    batch_rows: int,
    ratio_width: int,
) -> None:
    """One server's figures beside another's, per phase, with their ratio (left / right)."""
    (ln, lv), (rn, rv) = left, right
    print(f"{'':28}{ln:>14}{rn:>14}{f'{ln}/{rn}':>{ratio_width}}")
    rows = [
        (f"{phase} {key}", phase, key)
        for phase in ("sequential", "concurrent")
        for key in ("req_per_s", "p50_ms", "p99_ms")
    ]
    rows.append((f"batch {batch_rows} rows_per_s", "batch", "rows_per_s"))
    rows += [
        (f"{phase} server CPU ms/req", phase, "server_cpu_ms_per_req")
        for phase in ("sequential", "concurrent", "batch")
    ]
    for label, phase, key in rows:
        a, b = lv[phase][key], rv[phase][key]
        if key != "server_cpu_ms_per_req" or (a and b):
            print(f"{label:28}{a:>14}{b:>14}{a / b:>{ratio_width}.2f}")


def oip_phases(args: argparse.Namespace, package: Path, tmp: Path, apps: dict, servers: list) -> dict:
    """Single records and batches through each path (table in :func:`print_oip`)."""
    graft_pid, graft_port = apps["graft"][0], apps["graft"][1]
    bare_pid, bare_port = apps["bare"][0], apps["bare"][1]
    conn = http.client.HTTPConnection(HOST, graft_port, timeout=30)
    conn.request("GET", "/metadata")
    name = json.loads(conn.getresponse().read())["model"]
    conn.close()
    infer = f"/v2/models/{name}/infer"
    big = batch_records(args.batch_rows)
    one_binary, one_binary_headers = v2_binary_body([RECORD])
    big_binary, big_binary_headers = v2_binary_body(big)
    one, big_json = json.dumps(RECORD).encode(), json.dumps(big).encode()
    # name -> (pid, port, single path, body, headers, batch path, body, headers)
    paths: dict[str, tuple] = {
        "graft /predict": (graft_pid, graft_port, "/predict", one, None, "/predict", big_json, None),
        "graft V2 JSON": (
            graft_pid, graft_port, infer, v2_json_body([RECORD]), None, infer, v2_json_body(big), None,
        ),
        "graft V2 binary": (
            graft_pid, graft_port, infer, one_binary, one_binary_headers,
            infer, big_binary, big_binary_headers,
        ),
        "bare /predict": (bare_pid, bare_port, "/predict", one, None, "/predict_batch", big_json, None),
    }  # fmt: skip
    out: dict = {}
    executable, why = find_mlserver(args.mlserver)
    if executable is not None:
        folder = tmp / "mlserver"
        folder.mkdir()
        mls, mls_port, mls_name = start_mlserver(executable, package, folder)
        servers.append(mls)
        wait_ready(mls_port, mls, 180, f"/v2/models/{mls_name}/ready")
        mls_infer = f"/v2/models/{mls_name}/infer"
        paths["MLServer V2 JSON"] = (
            mls.pid, mls_port, mls_infer, mlserver_body(package, [RECORD]), None,
            mls_infer, mlserver_body(package, big), None,
        )  # fmt: skip
    else:
        out["mlserver_missing"] = why
    for label, (pid, port, path, body, headers, *_) in paths.items():
        run = partial(sequential, port, path, body, args.sequential, headers)
        single, cpu = cpu_per_request(pid, run)
        out[label] = {"single": {**single, "server_cpu_ms_per_req": cpu}}
    for label, (pid, port, *_, path, body, headers) in paths.items():
        run = partial(batches, port, path, body, args.batch_rows, args.batches, headers)
        batch, cpu = cpu_per_request(pid, run)
        out[label]["batch"] = {**batch, "server_cpu_ms_per_req": cpu}
    return out


def print_oip(oip: dict, batch_rows: int) -> dict[str, bool]:
    """The Open Inference Protocol table and its targets."""
    print(f"\nOpen Inference Protocol, same run: sequential single records, {batch_rows:,}-row batches")
    if "mlserver_missing" in oip:
        print(f"MLServer: not measured: {oip['mlserver_missing']}")
    labels = [k for k in oip if k != "mlserver_missing"]
    head = f"{'path':20}{'single req/s':>14}{'p50 ms':>9}{'p99 ms':>9}{'CPU ms/req':>12}{'batch rows/s':>14}"
    print(head + f"{'vs /predict':>13}{'vs MLServer':>13}")
    base = oip["graft /predict"]
    mls = oip.get("MLServer V2 JSON")
    for label in labels:
        single, batch = oip[label]["single"], oip[label]["batch"]
        ratios = []
        for other in (base, mls):
            if other is None:
                ratios.append("-")
                continue
            a = single["req_per_s"] / other["single"]["req_per_s"]
            b = batch["rows_per_s"] / other["batch"]["rows_per_s"]
            ratios.append(f"{a:.2f}/{b:.2f}")
        cpu = single["server_cpu_ms_per_req"]
        print(
            f"{label:20}{single['req_per_s']:>14}{single['p50_ms']:>9}{single['p99_ms']:>9}"
            f"{cpu if cpu is not None else '-':>12}{batch['rows_per_s']:>14,}{ratios[0]:>13}{ratios[1]:>13}"
        )
    print("(ratios: single req/s / batch rows/s)")
    targets = {"V2 binary batch >= 100,000 rows/s": oip["graft V2 binary"]["batch"]["rows_per_s"] >= 100_000}
    if mls is not None:
        for label in ("graft V2 JSON", "graft V2 binary"):
            ahead = all(
                oip[label][phase][key] > mls[phase][key]
                for phase, key in (("single", "req_per_s"), ("batch", "rows_per_s"))
            )
            targets[f"{label} ahead of MLServer (single and batch)"] = ahead
    return targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", type=Path)
    parser.add_argument("--sequential", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--per-client", type=int, default=500)
    parser.add_argument(
        "--rounds", type=int, default=3, help="concurrent phase: rounds per server (the median is kept)"
    )
    parser.add_argument("--batch-rows", type=int, default=10_000)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--log-db", help="graft's prediction log (default: SQLite in a temp dir)")
    parser.add_argument(
        "--commit-log-db", help="graft_commit's prediction log (default: another SQLite in the temp dir)"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--compile", action="store_true", help="run graft serve --compile (lleaves for batches)"
    )
    parser.add_argument(
        "--mlserver", type=Path, help="the mlserver executable (default: next to this Python, if installed)"
    )
    parser.add_argument("--no-oip", action="store_true", help="skip the Open Inference Protocol phases")
    parser.add_argument("--bare", nargs=2, metavar=("PACKAGE", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        run_bare(args.bare[0], int(args.bare[1]))
        return
    package = (args.package or newest_package()).resolve()
    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    log_db = args.log_db or f"sqlite:///{tmp / 'predictions.db'}"
    commit_db = args.commit_log_db or f"sqlite:///{tmp / 'predictions-commit.db'}"
    graft_port, commit_port, bare_port = free_port(), free_port(), free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tools")]))
    graft = subprocess.Popen(graft_command(package, graft_port, log_db, args), cwd=tmp)
    graft_commit = subprocess.Popen(
        graft_command(package, commit_port, commit_db, args, "--log-durability", "commit"), cwd=tmp
    )
    bare = subprocess.Popen(
        [sys.executable, __file__, "--bare", str(package), str(bare_port)], cwd=ROOT, env=env
    )
    servers = [graft, graft_commit, bare]
    results: dict = {
        "package": package.name,
        "cpus": os.cpu_count(),
        "graft_compile": args.compile,
        "load_average_before": os.getloadavg(),
        "disk_commit_ms_before": disk_commit_ms(tmp),
    }
    try:
        wait_ready(graft_port, graft)
        wait_ready(commit_port, graft_commit)
        wait_ready(bare_port, bare)
        one = json.dumps(RECORD).encode()
        big = batch_body(args.batch_rows)
        apps = {
            "graft": (graft.pid, graft_port, "/predict", "/predict"),
            "graft_commit": (graft_commit.pid, commit_port, "/predict", "/predict"),
            "bare": (bare.pid, bare_port, "/predict", "/predict_batch"),
        }
        for name in apps:
            results[name] = {}
        for name, (pid, port, path, _) in apps.items():
            seq, seq_cpu = cpu_per_request(pid, partial(sequential, port, path, one, args.sequential))
            results[name]["sequential"] = {**seq, "server_cpu_ms_per_req": seq_cpu}
        rounds: dict[str, list[dict]] = {name: [] for name in apps}
        for _ in range(args.rounds):  # interleaved: the servers see the same changes in load
            for name, (pid, port, path, _) in apps.items():
                run = partial(concurrent, port, path, one, args.clients, args.per_client)
                together, cpu = cpu_per_request(pid, run)
                rounds[name].append({**together, "server_cpu_ms_per_req": cpu})
        for name, runs in rounds.items():
            median = sorted(runs, key=lambda r: r["req_per_s"])[len(runs) // 2]
            results[name]["concurrent"] = {**median, "rounds_req_per_s": [r["req_per_s"] for r in runs]}
        for name, (pid, port, _, batch_path) in apps.items():
            run_batches = partial(batches, port, batch_path, big, args.batch_rows, args.batches)
            batch, batch_cpu = cpu_per_request(pid, run_batches)
            results[name]["batch"] = {**batch, "server_cpu_ms_per_req": batch_cpu}
        if not args.no_oip:
            results["oip"] = oip_phases(args, package, tmp, apps, servers)
    finally:
        for proc in servers:
            proc.send_signal(signal.SIGTERM)
        for proc in servers:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
    results["load_average_after"] = os.getloadavg()
    results["disk_commit_ms_after"] = disk_commit_ms(tmp)
    g, c, b = results["graft"], results["graft_commit"], results["bare"]
    results["ratio"] = {
        "sequential_throughput": round(g["sequential"]["req_per_s"] / b["sequential"]["req_per_s"], 3),
        "concurrent_throughput": round(g["concurrent"]["req_per_s"] / b["concurrent"]["req_per_s"], 3),
        "batch_rows_per_s": round(g["batch"]["rows_per_s"] / b["batch"]["rows_per_s"], 3),
    }
    for phase in ("sequential", "concurrent", "batch"):
        gv, bv = g[phase]["server_cpu_ms_per_req"], b[phase]["server_cpu_ms_per_req"]
        if gv and bv:
            results["ratio"][f"{phase}_server_cpu"] = round(gv / bv, 3)
    results["commit_ratio"] = {
        "sequential_throughput": round(c["sequential"]["req_per_s"] / g["sequential"]["req_per_s"], 3),
        "concurrent_throughput": round(c["concurrent"]["req_per_s"] / g["concurrent"]["req_per_s"], 3),
        "batch_rows_per_s": round(c["batch"]["rows_per_s"] / g["batch"]["rows_per_s"], 3),
    }
    load_before = " ".join(f"{x:.2f}" for x in results["load_average_before"])
    load_after = " ".join(f"{x:.2f}" for x in results["load_average_after"])
    print(f"package {package.name}, {os.cpu_count()} CPUs, graft log {log_db}")
    print(f"load average (1, 5, 15 min) before {load_before}, after {load_after}")
    print_pair(("graft", g), ("bare", b), args.batch_rows, 12)
    targets = {
        "sequential throughput >= 70% of bare": results["ratio"]["sequential_throughput"] >= 0.7,
        "sequential p99 <= 3 ms": g["sequential"]["p99_ms"] <= 3.0,
        "batch >= 100,000 rows/s": g["batch"]["rows_per_s"] >= 100_000,
    }
    print(f"\n--log-durability commit (log {commit_db}) beside the default async, same run:")
    print(
        f"the disk: a one-row SQLite commit with an fsync (synchronous=FULL, not used by the log) "
        f"takes {results['disk_commit_ms_before']} ms before, {results['disk_commit_ms_after']} ms after"
    )
    print_pair(("commit", c), ("async", g), args.batch_rows, 14)
    rounds_of = {name: results[name]["concurrent"]["rounds_req_per_s"] for name in ("graft_commit", "graft")}
    print(f"concurrent req/s per round: commit {rounds_of['graft_commit']}, async {rounds_of['graft']}")
    targets[f"commit concurrent throughput >= 80% of async ({args.clients} clients)"] = (
        results["commit_ratio"]["concurrent_throughput"] >= 0.8
    )
    if "oip" in results:
        targets.update(print_oip(results["oip"], args.batch_rows))
    for target, ok in targets.items():
        print(f"{'met ' if ok else 'MISSED'} {target}")
    results["targets"] = targets
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
