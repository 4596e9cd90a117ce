"""Bad raw inputs through the real stage chain: `python -m stages.ingest`, then `stages.validate`.

Each case runs in its own copy of a small project whose params.yaml points ingest at the
bad file, after a good run has written data/interim and data/validated. A bad input must
exit non-zero, say what is wrong and where, and leave the earlier good outputs as they were.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import ROOT, copy_project, git, project_files, run
from tests.data.corpus import CASES, Case, as_frame, good_lines, write_lines

INTERIM = Path("data/interim/adult.parquet")
VALIDATED = Path("data/validated/adult.parquet")
REPORT = Path("reports/validation.json")
FEATURES = [
    Path(f"data/features/{n}") for n in ("train.parquet", "valid.parquet", "test.parquet", "spec.json")
]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def point_ingest_at(project: Path, train: tuple[str, str], test: tuple[str, str] | None = None) -> None:
    params_file = project / "params.yaml"
    params = yaml.safe_load(params_file.read_text(encoding="utf-8"))
    params["ingest"]["train"] = {"path": train[0], "format": train[1]}
    if test is not None:
        params["ingest"]["test"] = {"path": test[0], "format": test[1]}
    params_file.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")


@pytest.fixture(scope="module")
def good_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain copy of the project (no Git needed) in which ingest and validate succeeded on
    small good sources: 200 rows of adult.data and 100 of adult.test (banner, trailing dots)."""
    base = tmp_path_factory.mktemp("good") / "project"
    for rel in project_files():
        (base / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, base / rel)
    (base / "small").mkdir()
    write_lines(base / "small", "train.data", good_lines())
    test = [ln + "." for ln in good_lines(100, "adult.test.gz")]
    write_lines(base / "small", "test.data", ["|1x3 Cross validator", *test])
    point_ingest_at(base, ("small/train.data", "uci"), ("small/test.data", "uci"))
    for stage in ("ingest", "validate"):
        proc = run(base, "python", "-m", f"stages.{stage}")
        assert proc.returncode == 0, proc.stderr
    report = json.loads((base / REPORT).read_text())
    assert report["passed"] is True and report["rows"] == 300
    return base


def assert_message(message: str, case: Case, bad: str) -> None:
    """The whole message, or (where it quotes a library) each of its fragments."""
    if isinstance(case.message, str):
        assert message == case.message.format(path=bad)
    else:
        for fragment in case.message:
            assert fragment.format(path=bad) in message, message


def stage_error(stderr: str, stage: str) -> str:
    """The one-line error of a stage: the last stderr line, with its fixed prefix."""
    last = stderr.strip().splitlines()[-1]
    prefix = f"stage {stage}: error: "
    assert last.startswith(prefix), stderr
    return last[len(prefix) :]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_rejected_and_earlier_outputs_survive(case: Case, good_project: Path, tmp_path: Path):
    project = tmp_path / "project"
    shutil.copytree(good_project, project)
    (project / "bad").mkdir()
    bad, fmt = case.build(good_lines(), project / "bad")
    bad_rel = str(bad.relative_to(project))
    point_ingest_at(project, (bad_rel, fmt))
    before = {p: digest(project / p) for p in (INTERIM, VALIDATED)}

    ingest = run(project, "python", "-m", "stages.ingest")
    if case.stage == "ingest":
        assert ingest.returncode == 1, ingest.stderr
        message = stage_error(ingest.stderr, "ingest")
        assert len(ingest.stderr.strip().splitlines()) == 1, ingest.stderr
        assert_message(message, case, bad_rel)
        assert "unexpected error" not in ingest.stderr
    else:
        assert ingest.returncode == 0, f"ingest should accept {case.id}: {ingest.stderr}"
        assert digest(project / INTERIM) != before[INTERIM]
        before[INTERIM] = digest(project / INTERIM)  # ingest passed: its new output is the input
        validate = run(project, "python", "-m", "stages.validate")
        assert validate.returncode == 1, validate.stderr
        message = stage_error(validate.stderr, "validate")
        assert message.startswith(f"{INTERIM}: ")
        assert_message(message, case, bad_rel)
        for fragment in case.summary:
            assert fragment in validate.stderr
        report = json.loads((project / REPORT).read_text(encoding="utf-8"))
        assert report["passed"] is False
        assert report["source"] == str(INTERIM)
        assert report["failed_checks"] == len(report["failures"])
        found = {(f["column"], f["check"]): f["failures"] for f in report["failures"]}
        for column, check, count in case.report:
            matches = [n for (col, chk), n in found.items() if col == column and check in chk]
            assert matches == [count], f"{column}/{check}: {report['failures']}"
        # only the expected columns are blamed (no knock-on failures)
        assert {f["column"] for f in report["failures"]} == {c for c, _, _ in case.report}

    after = {p: digest(project / p) for p in (INTERIM, VALIDATED)}
    assert after == before
    leftovers = [p.name for d in ("data/interim", "data/validated") for p in (project / d).iterdir()]
    assert not [n for n in leftovers if n.endswith(".tmp")]


def test_corpus_covers_the_required_kinds():
    assert len(CASES) >= 13
    assert len({c.id for c in CASES}) == len(CASES)
    kinds = {c.id for c in CASES}
    assert {"empty-file", "header-only", "banner-only", "non-utf8", "duplicates"} <= kinds
    # issue 12: decompression faults, byte-order marks, numbers too large, repeated headers, overlap
    assert {"corrupt-gzip", "gzip-damaged", "gzip-error-page", "bz2-truncated", "xz-damaged"} <= kinds
    assert {"utf-16-le-bom", "utf-16-be-bom", "utf-32-le-bom", "utf-32-be-bom", "bom-inside"} <= kinds
    assert {"huge-integer", "csv-huge-integer", "parquet-uint64"} <= kinds
    assert {"repeated-header", "csv-repeated-header", "train-holds-test"} <= kinds


@pytest.mark.slow
def test_dvc_repro_stops_at_a_validate_failure(tmp_path: Path):
    project = copy_project(tmp_path / "project")
    run(project, "dvc", "repro", check=True)
    features_before = {p: digest(project / p) for p in FEATURES}
    lines = good_lines()
    lines[10] = lines[10].replace(lines[10].split(", ")[0], "150", 1)
    write_lines(project / "data" / "raw", "bad.data", lines)
    point_ingest_at(project, ("data/raw/bad.data", "uci"))

    proc = run(project, "dvc", "repro")
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "stage validate: error: data/interim/adult.parquet: 1 validation check(s) failed (age)" in output
    assert "Running stage 'featurize'" not in output
    assert {p: digest(project / p) for p in FEATURES} == features_before
    report = json.loads((project / REPORT).read_text(encoding="utf-8"))
    assert [(f["column"], f["check"], f["failures"]) for f in report["failures"]] == [
        ("age", "in_range(17, 90)", 1)
    ]
    # DVC recorded nothing for the stages that did not complete
    assert "validate" in run(project, "dvc", "status", "validate").stdout
    assert git(project, "diff", "--name-only", "--", "data/features") == ""


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_header_named_sources_ingest_like_the_uci_file(fmt: str, good_project: Path, tmp_path: Path):
    """The same 200 records as a CSV (``?`` markers) or a Parquet file (real nulls, any column
    order) give the same interim table as the UCI text."""
    project = tmp_path / "project"
    shutil.copytree(good_project, project)
    frame = as_frame(good_lines(), nulls=fmt == "parquet")
    path = project / "small" / f"train.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    else:
        frame[list(reversed(frame.columns))].to_parquet(path, index=False)
    point_ingest_at(project, (str(path.relative_to(project)), fmt))
    assert run(project, "python", "-m", "stages.ingest").returncode == 0
    expected = pd.read_parquet(good_project / INTERIM)
    pd.testing.assert_frame_equal(pd.read_parquet(project / INTERIM), expected)
    train = expected[expected["split"] == "train"]
    assert len(train) == 200 and train["workclass"].isna().sum() == 10  # the rows with '?'


UTF8_BOM = "\ufeff"


@pytest.mark.parametrize("fmt", ["uci", "csv"])
def test_a_utf8_byte_order_mark_is_read_as_text(fmt: str, good_project: Path, tmp_path: Path):
    """Both files re-saved by a spreadsheet or editor with a UTF-8 byte-order mark: the train
    file (UCI text or a CSV export) and the test file, whose banner must still be found. The
    interim table is the one the plain files give, and validate passes."""
    project = tmp_path / "project"
    shutil.copytree(good_project, project)
    train = project / "small" / f"bom-train.{fmt}"
    if fmt == "csv":
        as_frame(good_lines()).to_csv(train, index=False, encoding="utf-8-sig")
    else:
        train.write_text(
            UTF8_BOM + (project / "small/train.data").read_text(encoding="utf-8"), encoding="utf-8"
        )
    test = project / "small" / "bom-test.data"
    test.write_text(UTF8_BOM + (project / "small/test.data").read_text(encoding="utf-8"), encoding="utf-8")
    assert train.read_bytes().startswith(b"\xef\xbb\xbf") and test.read_bytes().startswith(
        b"\xef\xbb\xbf|1x3"
    )
    point_ingest_at(project, (f"small/bom-train.{fmt}", fmt), ("small/bom-test.data", "uci"))

    assert run(project, "python", "-m", "stages.ingest").returncode == 0
    assert digest(project / INTERIM) == digest(good_project / INTERIM)
    validate = run(project, "python", "-m", "stages.validate")
    assert validate.returncode == 0, validate.stderr


@pytest.mark.parametrize("suffix", ["gz", "bz2", "xz", "gz-multi-member"])
def test_compressed_sources_ingest_like_plain_ones(suffix: str, good_project: Path, tmp_path: Path):
    """The train file compressed with gzip (also as two concatenated members, as `cat a.gz b.gz`
    makes), bz2 or xz gives the interim table of the plain file."""
    import bz2
    import gzip
    import lzma

    project = tmp_path / "project"
    shutil.copytree(good_project, project)
    plain = (project / "small/train.data").read_bytes()
    half = plain.index(b"\n", len(plain) // 2) + 1
    packed = {
        "gz": gzip.compress(plain),
        "bz2": bz2.compress(plain),
        "xz": lzma.compress(plain),
        "gz-multi-member": gzip.compress(plain[:half]) + gzip.compress(plain[half:]),
    }[suffix]
    name = f"train.data.{suffix.split('-')[0]}"
    (project / "small" / name).write_bytes(packed)
    point_ingest_at(project, (f"small/{name}", "uci"))

    proc = run(project, "python", "-m", "stages.ingest")
    assert proc.returncode == 0, proc.stderr
    assert digest(project / INTERIM) == digest(good_project / INTERIM)
