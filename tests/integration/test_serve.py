"""`graft serve` as a real uvicorn process on a loopback port: endpoints, bad input, contract, parity."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import tarfile
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.samples import RECORD

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CONTRACT = ROOT / "contracts" / "openapi.json"


def with_(**changes):
    record = dict(RECORD)
    for key, value in changes.items():
        if value is ...:
            record.pop(key)
        else:
            record[key] = value
    return record


def log_counts(db: Path) -> tuple[int, int]:
    with sqlite3.connect(db) as conn:
        return (
            conn.execute("SELECT count(*) FROM predictions").fetchone()[0],
            conn.execute("SELECT count(*) FROM feedback").fetchone()[0],
        )


def server_db(server) -> Path:
    return Path(server.log_db.removeprefix("sqlite:///"))


# --- refusing a bad package ----------------------------------------------------------------


def _serve_exit(package: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "graft"), "serve", str(package), "--port", "1", "--log-db", f"sqlite:///{tmp_path}/x.db"],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("damage", "named"),
    [("tamper", "model.txt"), ("delete", "schema.json"), ("add", "extra.txt")],
)
def test_tampered_or_incomplete_package_is_refused_naming_the_file(model_package, tmp_path, damage, named):
    with tarfile.open(model_package.archive) as tar:
        tar.extractall(tmp_path / "x", filter="data")
    folder = next((tmp_path / "x").iterdir())
    if damage == "tamper":
        with (folder / "model.txt").open("a") as handle:
            handle.write("\n")
    elif damage == "delete":
        (folder / "schema.json").unlink()
    else:
        (folder / "extra.txt").write_text("x")
    result = _serve_exit(folder, tmp_path)
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert named in lines[0] and lines[0].startswith("graft: error:")
    assert not (tmp_path / "x.db").exists()


def test_tampered_archive_is_refused(model_package, tmp_path):
    bad = tmp_path / "bad.tar.gz"
    data = bytearray(model_package.archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    result = _serve_exit(bad, tmp_path)
    assert result.returncode == 3
    assert len(result.stderr.strip().splitlines()) == 1 and "bad.tar.gz" in result.stderr


# --- endpoints -----------------------------------------------------------------------------


def test_health_and_metadata(server, model_package):
    assert httpx.get(f"{server.url}/health/live").json()["status"] == "ok"
    assert httpx.get(f"{server.url}/health/ready").json()["status"] == "ok"
    meta = httpx.get(f"{server.url}/metadata").json()
    with tarfile.open(model_package.archive) as tar:
        member = tar.extractfile(f"{model_package.archive.name.removesuffix('.tar.gz')}/manifest.json")
        manifest = json.loads(member.read())
    assert meta["version"] == manifest["version"] and meta["model"] == "adult-income"
    assert meta["lineage"]["git_commit"] == manifest["lineage"]["git_commit"]
    assert meta["metrics"]["roc_auc"] == manifest["metrics"]["roc_auc"]
    assert meta["threshold"] == 0.5 and meta["unknown_category_policy"] == "reject"


def test_predict_one_and_many_then_feedback(server):
    one = httpx.post(f"{server.url}/predict", json=RECORD)
    assert one.status_code == 200, one.text
    body = one.json()
    assert len(body["predictions"]) == 1 and body["model_version"]
    p = body["predictions"][0]
    assert 0 <= p["probability"] <= 1
    assert p["label"] == (">50K" if p["probability"] >= body["threshold"] else "<=50K")
    rich = with_(
        capital_gain=99999, education="Doctorate", education_num=16, marital_status="Married-civ-spouse"
    )
    many = httpx.post(f"{server.url}/predict", json=[RECORD, rich, with_(workclass=None, occupation=...)])
    assert many.status_code == 200, many.text
    preds = many.json()["predictions"]
    assert preds[0]["probability"] == p["probability"]
    assert preds[1]["label"] == ">50K"
    rid = many.json()["request_id"]
    assert rid != body["request_id"]

    fb = httpx.post(f"{server.url}/feedback", json={"request_id": rid, "index": 1, "outcome": ">50K"})
    assert fb.status_code == 202, fb.text
    assert fb.json()["request_id"] == rid
    fb = httpx.post(f"{server.url}/feedback", json={"request_id": rid, "action": "overridden"})
    assert fb.status_code == 202
    out = httpx.post(f"{server.url}/feedback", json={"request_id": rid, "index": 3, "outcome": ">50K"})
    assert out.status_code == 422 and "index" in out.json()["detail"]
    unknown = httpx.post(f"{server.url}/feedback", json={"request_id": "nope-123", "outcome": ">50K"})
    assert unknown.status_code == 404 and "nope-123" in unknown.json()["detail"]
    neither = httpx.post(f"{server.url}/feedback", json={"request_id": rid})
    assert neither.status_code == 422


def test_open_inference_protocol_route(server):
    inputs = [
        {"name": k, "shape": [2], "datatype": "INT64" if isinstance(v, int) else "BYTES", "data": [v, v]}
        for k, v in RECORD.items()
    ]
    r = httpx.post(f"{server.url}/v2/models/adult-income/infer", json={"inputs": inputs})
    assert r.status_code == 200, r.text
    outputs = {o["name"]: o for o in r.json()["outputs"]}
    single = httpx.post(f"{server.url}/predict", json=RECORD).json()["predictions"][0]
    assert outputs["probability"]["data"] == [single["probability"]] * 2
    assert outputs["label"]["data"] == [single["label"]] * 2
    assert httpx.post(f"{server.url}/v2/models/other/infer", json={"inputs": inputs}).status_code == 404
    bad = [dict(t, data=["x", "x"]) if t["name"] == "age" else t for t in inputs]
    r = httpx.post(f"{server.url}/v2/models/adult-income/infer", json={"inputs": bad})
    assert r.status_code == 422 and "age" in r.json()["detail"]


BAD_INPUTS = [
    # (case, raw body, status, text the message must contain)
    ("wrong type", json.dumps(with_(age="39")), 422, "body.age"),
    ("bool as int", json.dumps(with_(age=True)), 422, "body.age"),
    ("fraction", json.dumps(with_(age=39.5)), 422, "body.age"),
    ("missing field", json.dumps(with_(sex=...)), 422, "body.sex"),
    ("extra field", json.dumps(with_(salary=1)), 422, "body.salary"),
    ("unknown category", json.dumps(with_(workclass="Astronaut")), 422, "body.workclass"),
    ("null in required", json.dumps(with_(race=None)), 422, "body.race"),
    ("below minimum", json.dumps(with_(age=16)), 422, "body.age"),
    ("above maximum", json.dumps(with_(hours_per_week=100)), 422, "body.hours_per_week"),
    ("NaN literal", json.dumps(with_(fnlwgt=float("nan"))), 422, "body.fnlwgt"),
    ("Infinity literal", json.dumps(with_(capital_gain=float("inf"))), 422, "body.capital_gain"),
    ("-Infinity literal", json.dumps(with_(capital_loss=float("-inf"))), 422, "body.capital_loss"),
    ("overflowing number", json.dumps(RECORD).replace("77516", "1e400"), 422, "body.fnlwgt"),
    ("huge integer", json.dumps(with_(fnlwgt=10**30)), 422, "body.fnlwgt"),
    ("record in list", json.dumps([RECORD, with_(education="PhD")]), 422, "body[1].education"),
    ("not a record", json.dumps([RECORD, 5]), 422, "body[1]"),
    ("empty list", "[]", 422, "body"),
    ("scalar body", "42", 422, "body"),
    ("malformed JSON", '{"age": 39,', 400, "malformed JSON"),
    ("trailing garbage", json.dumps(RECORD) + "x", 400, "malformed JSON"),
    ("empty body", "", 400, "empty"),
    ("not UTF-8", b'{"age": "\xff"}', 400, "malformed JSON"),
    ("deep nesting", "[" * 100_000 + "]" * 100_000, 400, "malformed JSON"),
]


@pytest.mark.parametrize(("case", "body", "status", "needle"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_gets_a_4xx_naming_the_problem(server, case, body, status, needle):
    r = httpx.post(
        f"{server.url}/predict", content=body, headers={"content-type": "application/json"}, timeout=30
    )
    assert r.status_code == status, (case, r.text)
    detail = r.json()["detail"]
    assert needle in detail and "\n" not in detail


def test_oversized_bodies_get_413_before_parsing(server):
    big = b"[" + b",".join([json.dumps(RECORD).encode()] * 4000) + b"]"  # ~1.3 MB > 1 MiB
    r = httpx.post(f"{server.url}/predict", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "limit" in r.json()["detail"]

    def chunks():  # no Content-Length: chunked transfer, counted while streaming
        for _ in range(40):
            yield b" " * 65536

    r = httpx.post(f"{server.url}/predict", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert httpx.get(f"{server.url}/health/ready").status_code == 200


def test_bad_input_never_reaches_the_log(server):
    db = server_db(server)
    httpx.post(f"{server.url}/predict", json=RECORD)
    before = _settled_counts(server, db)
    for _case, body, _status, _needle in BAD_INPUTS:
        httpx.post(f"{server.url}/predict", content=body, timeout=30)
    httpx.post(f"{server.url}/feedback", content=b'{"request_id": NaN}')
    httpx.post(f"{server.url}/feedback", json={"request_id": "x" * 65, "outcome": ">50K"})
    assert _settled_counts(server, db) == before
    with sqlite3.connect(db) as conn:
        for inputs, outputs in conn.execute("SELECT inputs, outputs FROM predictions"):
            assert isinstance(json.loads(inputs), list) and "probability" in json.loads(outputs)


def _settled_counts(server, db: Path) -> tuple[int, int]:
    """Counts once the background writer has caught up (two equal readings 50 ms apart)."""
    import time

    last = None
    for _ in range(100):
        now = log_counts(db)
        if now == last:
            return now
        last = now
        time.sleep(0.05)
    return last


# --- the contract --------------------------------------------------------------------------


def test_served_openapi_matches_the_committed_contract(server, model_package):
    served = httpx.get(f"{server.url}/openapi.json").json()
    committed = json.loads(CONTRACT.read_text(encoding="utf-8"))
    assert served == committed, (
        "the served OpenAPI document differs from contracts/openapi.json; regenerate it with "
        "`graft serve PACKAGE --print-openapi > contracts/openapi.json` and review the diff"
    )
    printed = subprocess.run(
        [str(BIN / "graft"), "serve", str(model_package.archive), "--print-openapi"],
        capture_output=True,
        check=True,
    ).stdout
    assert printed == CONTRACT.read_bytes()


# --- training/serving parity ---------------------------------------------------------------


def test_served_probabilities_equal_the_evaluate_stage_predictions(server, model_package, raw_test_rows):
    """Exact float equality: the same model file, the same encoder, float64 all the way; the JSON
    float repr round-trips exactly."""
    row_ids, records = raw_test_rows
    expected = pd.read_parquet(model_package.project / "metrics" / "predictions.parquet").set_index("row_id")
    served = []
    with httpx.Client(timeout=60) as client:
        for start in range(0, len(records), 2000):
            r = client.post(f"{server.url}/predict", json=records[start : start + 2000])
            assert r.status_code == 200, r.text
            served += [p["probability"] for p in r.json()["predictions"]]
    assert len(served) == len(expected) == len(row_ids)
    want = expected.loc[row_ids, "proba"].to_numpy()
    got = np.array(served)
    assert np.array_equal(got, want), f"max |diff| {np.abs(got - want).max()}"
    # single-record requests take the one-thread path: same numbers
    with httpx.Client(timeout=30) as client:
        for i in range(0, len(records), len(records) // 50):
            p = client.post(f"{server.url}/predict", json=records[i]).json()["predictions"][0]
            assert p["probability"] == want[i]


def test_package_folder_serves_too(model_package, tmp_path):
    with tarfile.open(model_package.archive) as tar:
        tar.extractall(tmp_path / "x", filter="data")
    folder = next((tmp_path / "x").iterdir())
    result = subprocess.run(
        [str(BIN / "graft"), "serve", str(folder), "--print-openapi"], capture_output=True, check=True
    )
    assert json.loads(result.stdout)["info"]["title"] == "graft serve: adult-income"
    shutil.rmtree(tmp_path / "x")


@pytest.mark.slow
def test_compiled_batches_agree_with_the_evaluate_stage(start_server, model_package, raw_test_rows, tmp_path):
    """`--compile`: batches over 256 rows use the LLVM-compiled trees (lleaves). Their summation
    order differs from LightGBM's, so agreement is to ~1e-15, not bit for bit; labels are equal;
    small requests keep LightGBM's exact answer."""
    row_ids, records = raw_test_rows
    cache = tmp_path / "compiled"
    server = start_server(f"sqlite:///{tmp_path / 'c.db'}", "--compile", "--compile-cache", str(cache))
    assert len(list(cache.glob("*.so"))) == 1  # compiled once, kept by the model's SHA-256
    expected = pd.read_parquet(model_package.project / "metrics" / "predictions.parquet").set_index("row_id")
    want = expected.loc[row_ids[:4000], "proba"].to_numpy()
    with httpx.Client(timeout=60) as client:
        r = client.post(f"{server.url}/predict", json=records[:4000])
        assert r.status_code == 200, r.text
        got = np.array([p["probability"] for p in r.json()["predictions"]])
        labels = [p["label"] for p in r.json()["predictions"]]
        small = client.post(f"{server.url}/predict", json=records[:10]).json()["predictions"]
    assert np.abs(got - want).max() < 1e-12
    assert labels == [">50K" if p >= 0.5 else "<=50K" for p in want]
    assert [p["probability"] for p in small] == want[:10].tolist()
