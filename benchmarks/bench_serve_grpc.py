"""Benchmark `graft serve --grpc-port` (the Open Inference Protocol over gRPC) against the same
server's `POST /predict`, in one run.

One `graft serve PACKAGE --grpc-port P` process (validation and the prediction log on, the
default `--log-durability async`) on 127.0.0.1 answers both:

* /predict: JSON records over a keep-alive HTTP/1.1 connection (the baseline; the helpers of
  bench_serve.py);
* gRPC: the protocol's reference client, tritonclient.grpc, one input tensor per field in
  ``raw_input_contents`` (INT64 / BYTES), the same records.

Phases, each against both paths in turn: sequential single records, then 10,000-row batches
(the request bodies and tensors are encoded once, before timing, as a client holding its data
would). Printed: requests/s and latency percentiles, rows/s, the server's CPU milliseconds per
request (Linux), and the ratio gRPC / /predict. Target: gRPC >= 100,000 rows/s on the batch.

    python benchmarks/bench_serve_grpc.py [--package dist/adult-income-*.tar.gz] [--json out.json]
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_serve import (
    BIN,
    HOST,
    ROOT,
    TIME_LIMIT,
    batch_body,
    batch_figures,
    batches,
    cpu_per_request,
    free_port,
    newest_package,
    sequential,
    summary,
    wait_ready,
)

from tests.samples import RECORD


def grpc_inputs(records: list[dict], metadata: dict) -> list:
    """One tritonclient InferInput per field the model announces, holding every record's value."""
    import numpy as np
    import tritonclient.grpc as triton

    kinds = {"INT64": np.int64, "FP64": np.float64, "BYTES": np.object_}
    inputs = []
    for spec in metadata["inputs"]:
        values = np.array([r[spec["name"]] for r in records], dtype=kinds[spec["datatype"]])
        inputs.append(
            triton.InferInput(spec["name"], [len(records)], spec["datatype"]).set_data_from_numpy(values)
        )
    return inputs


def grpc_sequential(address: str, model: str, inputs: list, n: int) -> dict:
    import tritonclient.grpc as triton

    client = triton.InferenceServerClient(address)
    warm = min(200, n)
    for _ in range(warm):
        client.infer(model, inputs)
    latencies = []
    start = time.perf_counter()
    for _ in range(n):
        t = time.perf_counter()
        client.infer(model, inputs)
        latencies.append(time.perf_counter() - t)
        if t - start > TIME_LIMIT:
            break
    elapsed = time.perf_counter() - start
    client.close()
    return {**summary(latencies, elapsed), "warm_up": warm}


def grpc_batches(address: str, model: str, inputs: list, rows: int, n: int) -> dict:
    import tritonclient.grpc as triton

    client = triton.InferenceServerClient(address)
    result = client.infer(model, inputs)  # warm-up
    if result.as_numpy("label").shape != (rows,):
        raise SystemExit(f"gRPC batch: expected {rows} labels")
    times = []
    for _ in range(n):
        t = time.perf_counter()
        client.infer(model, inputs)
        times.append(time.perf_counter() - t)
    client.close()
    return batch_figures(times, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", type=Path)
    parser.add_argument("--sequential", type=int, default=2000)
    parser.add_argument("--batch-rows", type=int, default=10_000)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--compile", action="store_true", help="run graft serve --compile (lleaves for batches)"
    )
    args = parser.parse_args()
    package = (args.package or newest_package()).resolve()
    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-grpc-"))
    port, grpc_port = free_port(), free_port()
    command = [
        *(str(BIN / "graft"), "serve", str(package), "--host", HOST, "--port", str(port)),
        *("--grpc-port", str(grpc_port), "--log-db", f"sqlite:///{tmp / 'predictions.db'}"),
        *("--max-body-bytes", str(64 << 20)),
        *(("--compile", "--compile-cache", str(ROOT / ".graft" / "compiled")) if args.compile else ()),
    ]
    env = dict(os.environ, GRAFT_LIMIT_GRPC_MESSAGE_BYTES=str(64 << 20))
    server = subprocess.Popen(command, cwd=tmp, env=env)
    address = f"{HOST}:{grpc_port}"
    results: dict = {
        "package": package.name,
        "cpus": os.cpu_count(),
        "graft_compile": args.compile,
        "load_average_before": os.getloadavg(),
    }
    try:
        wait_ready(port, server, timeout=900 if args.compile else 60)
        import tritonclient.grpc as triton

        client = triton.InferenceServerClient(address)
        metadata = client.get_model_metadata(_model_name(port), as_json=True)
        model = metadata["name"]
        big_records = json.loads(batch_body(args.batch_rows))
        one_http, big_http = json.dumps(RECORD).encode(), json.dumps(big_records).encode()
        one_grpc, big_grpc = grpc_inputs([RECORD], metadata), grpc_inputs(big_records, metadata)
        _check_same_predictions(
            port, client, model, big_records[:100], grpc_inputs(big_records[:100], metadata)
        )
        pid = server.pid
        phases = {
            "predict": {
                "sequential": partial(sequential, port, "/predict", one_http, args.sequential),
                "batch": partial(batches, port, "/predict", big_http, args.batch_rows, args.batches),
            },
            "grpc": {
                "sequential": partial(grpc_sequential, address, model, one_grpc, args.sequential),
                "batch": partial(grpc_batches, address, model, big_grpc, args.batch_rows, args.batches),
            },
        }
        for phase in ("sequential", "batch"):
            for path, runs in phases.items():
                figures, cpu = cpu_per_request(pid, runs[phase])
                results.setdefault(path, {})[phase] = {**figures, "server_cpu_ms_per_req": cpu}
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
    results["load_average_after"] = os.getloadavg()
    report(results, args.batch_rows)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


def _model_name(port: int) -> str:
    import http.client

    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    conn.request("GET", "/metadata")
    return json.loads(conn.getresponse().read())["model"]


def _check_same_predictions(port: int, client, model: str, records: list[dict], inputs: list) -> None:
    """Both paths must answer the same probabilities before anything is timed."""
    import http.client

    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    conn.request("POST", "/predict", json.dumps(records), {"Content-Type": "application/json"})
    rest = [p["probability"] for p in json.loads(conn.getresponse().read())["predictions"]]
    if client.infer(model, inputs).as_numpy("probability").tolist() != rest:
        raise SystemExit("gRPC and /predict disagree on the same records")


def report(results: dict, batch_rows: int) -> None:
    p, g = results["predict"], results["grpc"]
    load = {
        k: " ".join(f"{x:.2f}" for x in results[k]) for k in ("load_average_before", "load_average_after")
    }
    compiled = ", --compile" if results["graft_compile"] else ""
    print(
        f"package {results['package']}, {results['cpus']} CPUs, "
        f"one graft serve{compiled} process answering both"
    )
    print(
        f"load average (1, 5, 15 min) before {load['load_average_before']}, "
        f"after {load['load_average_after']}"
    )
    print(f"{'':32}{'/predict':>12}{'gRPC':>12}{'gRPC/predict':>14}")
    rows = [(f"single record {key}", "sequential", key) for key in ("req_per_s", "p50_ms", "p99_ms")]
    rows.append((f"batch {batch_rows} rows_per_s", "batch", "rows_per_s"))
    rows.append((f"batch {batch_rows} median_s", "batch", "median_s"))
    rows += [
        (f"{phase} server CPU ms/req", phase, "server_cpu_ms_per_req") for phase in ("sequential", "batch")
    ]
    for label, phase, key in rows:
        a, b = p[phase][key], g[phase][key]
        if a and b:
            print(f"{label:32}{a:>12}{b:>12}{b / a:>14.2f}")
    results["targets"] = {"gRPC batch >= 100,000 rows/s": g["batch"]["rows_per_s"] >= 100_000}
    for target, ok in results["targets"].items():
        print(f"{'met ' if ok else 'MISSED'} {target}")


if __name__ == "__main__":
    main()
