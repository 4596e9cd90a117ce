"""A corpus of out-of-range options: every duration, time, count, size, rate and port option of
every command, each past its bound (or malformed), refused by the parser with exit 2 and one
exact line naming the option, before anything runs; the same options at their bounds parse."""

from __future__ import annotations

from pathlib import Path

import pytest

from graft.cli import build_parser, main

CASES = [
    # (argv, the one stderr line)
    (
        ["monitor", "--log-db", "x", "--since", "1000000d"],
        "graft monitor: error: argument --since: '1000000d': 1,000,000 days, over the limit of "
        "36,500 days (GRAFT_LIMIT_DURATION_DAYS)",
    ),
    (
        ["monitor", "--log-db", "x", "--until", "99999999999999999999d"],
        "graft monitor: error: argument --until: '99999999999999999999d': 99,999,999,999,999,999,999 "
        "days, over the limit of 36,500 days (GRAFT_LIMIT_DURATION_DAYS)",
    ),
    (
        ["monitor", "--log-db", "x", "--since", "9" * 40 + "m"],
        f"graft monitor: error: argument --since: '{'9' * 40}m': a 40-digit number, over the limit of "
        "36,500 days (GRAFT_LIMIT_DURATION_DAYS)",
    ),
    (
        ["monitor", "--log-db", "x", "--until", "0001-01-01T00:00:00+01:00"],
        "graft monitor: error: argument --until: '0001-01-01T00:00:00+01:00': expected an ISO 8601 "
        "time such as 2026-11-27T10:00:00Z or a duration back from now such as 24h",
    ),
    (
        ["monitor", "--log-db", "x", "--since", "yesterday"],
        "graft monitor: error: argument --since: 'yesterday': expected an ISO 8601 time such as "
        "2026-11-27T10:00:00Z or a duration back from now such as 24h",
    ),
    (
        ["exp", "prune", "--older-than", "5300w"],
        "graft exp prune: error: argument --older-than: '5300w': 37,100 days, over the limit of 36,500 "
        "days (GRAFT_LIMIT_DURATION_DAYS)",
    ),
    (
        ["exp", "prune", "--older-than=-3d"],
        "graft exp prune: error: argument --older-than: '-3d' is not a duration like 12h, 30d or 2w "
        "(units: s m h d w)",
    ),
    (
        ["exp", "grid", "-j", "0", "--set", "a=1"],
        "graft exp grid: error: argument -j/--jobs: '0': expected a whole number from 1 to 64 "
        "(GRAFT_LIMIT_JOBS)",
    ),
    (
        ["exp", "grid", "-j", "65", "--set", "a=1"],
        "graft exp grid: error: argument -j/--jobs: '65': expected a whole number from 1 to 64 "
        "(GRAFT_LIMIT_JOBS)",
    ),
    (
        ["exp", "search", "s", "-j", "2.5"],
        "graft exp search: error: argument -j/--jobs: '2.5': expected a whole number from 1 to 64 "
        "(GRAFT_LIMIT_JOBS)",
    ),
    (
        ["exp", "search", "s", "--trials", "10001"],
        "graft exp search: error: argument --trials: '10001': expected a whole number from 1 to "
        "10,000 (GRAFT_LIMIT_TRIALS)",
    ),
    (
        ["exp", "search", "s", "--keep", "-1"],
        "graft exp search: error: argument --keep: '-1': expected a whole number from 0 to 10,000 "
        "(GRAFT_LIMIT_TRIALS)",
    ),
    (
        ["exp", "search", "s", "--seed", "4294967296"],
        "graft exp search: error: argument --seed: '4294967296': expected a whole number from 0 to "
        "4,294,967,295",
    ),
    (
        ["report", "--resamples", "100001"],
        "graft report: error: argument --resamples: '100001': expected a whole number from 1 to "
        "100,000 (GRAFT_LIMIT_RESAMPLES)",
    ),
    (
        ["report", "--seed", "-1"],
        "graft report: error: argument --seed: '-1': expected a whole number from 0 to 4,294,967,295",
    ),
    (
        ["serve", "p.tar.gz", "--port", "65536"],
        "graft serve: error: argument --port: '65536': expected a whole number from 1 to 65,535",
    ),
    (
        ["serve", "p.tar.gz", "--grpc-port", "0"],
        "graft serve: error: argument --grpc-port: '0': expected a whole number from 1 to 65,535",
    ),
    (
        ["serve", "p.tar.gz", "--max-body-bytes", "0"],
        "graft serve: error: argument --max-body-bytes: '0': expected a whole number from 1 to "
        "1,073,741,824 (GRAFT_LIMIT_MAX_BODY_BYTES)",
    ),
    (
        ["serve", "p.tar.gz", "--max-body-bytes", "1" + "0" * 5000],
        "graft serve: error: argument --max-body-bytes: '1" + "0" * 5000 + "': expected a whole number "
        "from 1 to 1,073,741,824 (GRAFT_LIMIT_MAX_BODY_BYTES)",
    ),
    (
        ["replay", "d.csv", "--url", "u", "--limit", "0"],
        "graft replay: error: argument --limit: '0': expected a whole number of at least 1",
    ),
    (
        ["replay", "d.csv", "--url", "u", "--batch-size", "100001"],
        "graft replay: error: argument --batch-size: '100001': expected a whole number from 1 to "
        "100,000 (GRAFT_LIMIT_REPLAY_BATCH_ROWS)",
    ),
    (
        ["replay", "d.csv", "--url", "u", "--feedback-rate", "nan"],
        "graft replay: error: argument --feedback-rate: 'nan': expected a share from 0 to 1",
    ),
    (
        ["replay", "d.csv", "--url", "u", "--flip-labels", "1.01"],
        "graft replay: error: argument --flip-labels: '1.01': expected a share from 0 to 1",
    ),
    (
        ["replay", "d.csv", "--url", "u", "--feedback-delay", "inf"],
        "graft replay: error: argument --feedback-delay: 'inf': expected a number of seconds from 0 "
        "to 86,400 (GRAFT_LIMIT_FEEDBACK_DELAY_SECONDS)",
    ),
    (
        ["replay", "d.csv", "--url", "u", "--seed", "1e3"],
        "graft replay: error: argument --seed: '1e3': expected a whole number from 0 to 4,294,967,295",
    ),
    # --- paths the operating system cannot take: a usage line, not an OSError once work started ---
    *[
        (
            [*argv, "out/" + "n" * 300],
            f"graft{prog}: error: argument {flag}: 'out/{'n' * 53}...': a name of 300 bytes in the path; "
            "file names hold at most 255",
        )
        for argv, flag, prog in [
            (["report", "-o"], "-o/--output", " report"),
            (["-C"], "-C", ""),
            (["monitor", "--log-db", "x", "--json"], "--json", " monitor"),
            (["monitor", "--log-db", "x", "--params"], "--params", " monitor"),
            (["exp", "search", "s", "--space"], "--space", " exp search"),
            (["ui", "--export"], "--export", " ui"),
            (["package", "--out"], "--out", " package"),
            (["serve"], "package", " serve"),
        ]
    ],
    (
        ["fetch", "--out", "d/" * 2100],
        f"graft fetch: error: argument --out: '{'d/' * 28}d...': a path of 4,200 bytes; paths hold at "
        "most 4,095",
    ),
]


def files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


@pytest.mark.parametrize(("argv", "line"), CASES, ids=[" ".join(c[0])[:60] for c in CASES])
def test_out_of_range_option_is_one_usage_line(tmp_path, monkeypatch, capsys, argv, line):
    monkeypatch.chdir(tmp_path)
    before = files(tmp_path)
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", line + "\n")
    assert files(tmp_path) == before


def test_cluster_workers_are_bounded_too():
    from graft.core.errors import UsageError
    from graft.experiments.executors import parse_cluster

    assert parse_cluster("local:64") == ("local", 64)
    with pytest.raises(UsageError) as refused:
        parse_cluster("local:65")
    expected = "--cluster local:65: 65 workers, over the limit of 64 jobs (GRAFT_LIMIT_JOBS)"
    assert str(refused.value) == expected


def test_a_bad_limit_variable_is_a_usage_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GRAFT_LIMIT_JOBS", "lots")
    assert main(["exp", "grid", "-j", "2", "--set", "a=1"]) == 2
    assert capsys.readouterr().err == (
        "graft exp grid: error: argument -j/--jobs: GRAFT_LIMIT_JOBS='lots': expected a positive "
        "whole number of jobs\n"
    )


AT_BOUNDS = [
    (["monitor", "--log-db", "x", "--since", "36500d", "--until", "5256000m"], "since", "36500d"),
    (["exp", "prune", "--older-than", "5214w"], "older_than", "5214w"),
    (["exp", "grid", "-j", "64", "--set", "a=1"], "jobs", 64),
    (["exp", "search", "s", "--trials", "10000", "--keep", "0"], "trials", 10_000),
    (["exp", "search", "s", "--seed", "4294967295"], "seed", 4_294_967_295),
    (["report", "--resamples", "100000"], "resamples", 100_000),
    (["serve", "p", "--port", "65535", "--max-body-bytes", "1073741824"], "max_body_bytes", 1 << 30),
    (["serve", "p", "--grpc-port", "65535"], "grpc_port", 65_535),
    (["replay", "d", "--url", "u", "--batch-size", "100000"], "batch_size", 100_000),
    (["replay", "d", "--url", "u", "--feedback-rate", "0", "--flip-labels", "1"], "flip_labels", 1.0),
    (["replay", "d", "--url", "u", "--feedback-delay", "86400"], "feedback_delay", 86_400.0),
]


@pytest.mark.parametrize(("argv", "dest", "value"), AT_BOUNDS, ids=[a[0][0] + ":" + a[1] for a in AT_BOUNDS])
def test_options_at_their_bounds_parse(argv, dest, value):
    assert getattr(build_parser().parse_args(argv), dest) == value


def test_paths_at_the_operating_systems_bounds_parse():
    from graft.cli.common import path_arg

    assert path_arg("n" * 255) == Path("n" * 255)
    assert path_arg("é" * 127) == Path("é" * 127)  # 254 bytes
    assert path_arg("d/" * 2047) == Path("d/" * 2047)  # 4,094 bytes
