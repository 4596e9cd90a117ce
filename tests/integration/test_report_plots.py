"""`graft report` on the plots a DVC project declares: a real DVC repository in a temp folder with
plots in every form dvc.yaml allows (a file with options, an id whose y maps several files, a
folder, dvclive's {"name": [records]} JSON, CSV/TSV/YAML, images, a stage's plots output),
committed at two branches; the specs are compared with `dvc plots diff --json` for the same
revisions, the PNG/SVG files are checked as images, the Markdown's links as paths."""

from __future__ import annotations

import json
import struct
import subprocess
import zlib

import pytest
import yaml

from graft import api
from graft.cli import main
from graft.compare import plots
from graft.project import Project
from tests.conftest import git, isolate_git_env, run
from tests.schemas import validate

pytestmark = pytest.mark.slow

DVC_YAML = {
    "metrics": ["eval/metrics.json"],
    "stages": {
        "evaluate": {
            "cmd": "python -c pass",
            "plots": [{"eval/loss.csv": {"x": "step", "y": "loss", "template": "smooth", "cache": False}}],
        }
    },
    "plots": [
        {"eval/roc.json": {"template": "simple", "x": "fpr", "y": "tpr", "title": "ROC"}},
        {
            "Precision": {
                "template": "linear",
                "x": "step",
                "y": {"eval/train.json": "precision", "eval/test.json": "precision"},
            }
        },
        {"Confusion": {"template": "confusion", "x": "actual", "y": {"eval/confusion.csv": "predicted"}}},
        {
            "Confusion normalized": {
                "template": "confusion_normalized",
                "x": "actual",
                "y": {"eval/confusion.csv": "predicted"},
            }
        },
        {"Custom": {"template": "custom", "x": "step", "y": {"eval/train.json": "precision"}}},
        {"eval/importance.tsv": {"template": "bar_horizontal_sorted", "x": "gain", "y": "feature"}},
        {"eval/bars.csv": {"template": "bar_horizontal", "x": "gain", "y": "feature"}},
        {"eval/points.yaml": {"template": "scatter", "x": "a", "y": "b"}},
        {"eval/live": {"x": "step"}},
        "eval/only_head.json",
        "eval/images/cm.png",
        "eval/images/sketch.svg",
    ],
}

CUSTOM = {  # the project's own template (.dvc/plots/custom.json), with DVC's anchors
    "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
    "data": {"values": "<DVC_METRIC_DATA>"},
    "title": "<DVC_METRIC_TITLE>",
    "mark": "point",
    "encoding": {
        "x": {"field": "<DVC_METRIC_X>", "type": "quantitative"},
        "y": {"field": "<DVC_METRIC_Y>", "type": "quantitative"},
        "color": {"field": "rev", "type": "nominal"},
    },
}

REMOTE = {
    "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
    "layer": [
        {
            "data": {"values": "<DVC_METRIC_DATA>"},
            "mark": "point",
            "encoding": {"x": {"field": "<DVC_METRIC_X>", "type": "quantitative"}},
        },
        {
            "data": {"url": "http://127.0.0.1:9/x.json"},
            "mark": "rule",
            "encoding": {"x": {"field": "a", "type": "quantitative"}},
        },
    ],
}

PAIRS = {  # (actual, predicted) -> count, per branch
    "main": {("cat", "cat"): 5, ("cat", "dog"): 2, ("dog", "cat"): 1, ("dog", "dog"): 4},
    "exp": {("cat", "cat"): 6, ("cat", "dog"): 1, ("dog", "dog"): 5, ("bird", "bird"): 2},
}


def png(width: int, height: int, grey: int) -> bytes:
    """A valid single-colour greyscale PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes([grey]) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def files_at(rev: str) -> dict[str, bytes]:
    k = 1.0 if rev == "main" else 1.5
    pairs = [f"{a},{p}" for (a, p), n in PAIRS[rev].items() for _ in range(n)]
    out = {
        "dvc.yaml": yaml.safe_dump(DVC_YAML, sort_keys=False).encode(),
        ".dvc/plots/custom.json": json.dumps(CUSTOM).encode(),
        "eval/metrics.json": json.dumps({"acc": 0.8 if rev == "main" else 0.85}).encode(),
        # dvclive's sklearn form: {"roc": [records]}
        "eval/roc.json": json.dumps(
            {
                "roc": [
                    {"fpr": i / 4, "tpr": round((i / 4) ** (1 / (1 + k)), 4), "threshold": 1 - i / 4}
                    for i in range(5)
                ]
            }
        ).encode(),
        "eval/train.json": json.dumps(
            [{"step": i, "precision": round(0.5 + 0.1 * i * k, 3)} for i in range(4)]
        ).encode(),
        "eval/test.json": json.dumps(
            [{"step": i, "precision": round(0.4 + 0.1 * i * k, 3)} for i in range(4)]
        ).encode(),
        "eval/confusion.csv": ("actual,predicted\n" + "\n".join(pairs) + "\n").encode(),
        "eval/importance.tsv": f"feature\tgain\nage\t{3 * k}\nincome\t5\nheight\t1\n".encode(),
        "eval/bars.csv": f"feature,gain\nage,{2 * k}\nincome,4\n".encode(),
        "eval/points.yaml": yaml.safe_dump([{"a": i, "b": i * i * k} for i in range(5)]).encode(),
        "eval/live/loss.tsv": "step\tloss\n" + "".join(f"{i}\t{1 / (i + k):.4f}\n" for i in range(5)),
        "eval/live/acc.tsv": "step\tacc\n" + "".join(f"{i}\t{0.5 + i / (10 * k):.4f}\n" for i in range(5)),
        "eval/loss.csv": "step,loss\n" + "".join(f"{i},{2 / (i + k):.4f}\n" for i in range(5)),
        "eval/images/cm.png": png(4 if rev == "main" else 6, 3, 40 if rev == "main" else 200),
        "eval/images/sketch.svg": f'<svg xmlns="http://www.w3.org/2000/svg"><text>{rev}</text></svg>'.encode(),
    }
    if rev == "exp":
        out["eval/only_head.json"] = json.dumps([{"step": 0, "value": 1}, {"step": 1, "value": 3}]).encode()
    return {path: data if isinstance(data, bytes) else data.encode() for path, data in out.items()}


def write(root, files):
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        isolate_git_env(mp, tmp_path_factory.mktemp("home"))
        root = tmp_path_factory.mktemp("plots") / "project"
        root.mkdir()
        git(root, "init", "-q", "-b", "main")
        run(root, "dvc", "init", "-q", check=True)
        write(root, files_at("main"))
        git(root, "add", "-A")
        git(root, "commit", "-qm", "main")
        git(root, "checkout", "-qb", "exp")
        write(root, files_at("exp"))
        git(root, "add", "-A")
        git(root, "commit", "-qm", "exp")
        # one more: a plot whose template is nowhere, and a template that asks for external data
        more = [
            {"Lost": {"template": "nope", "y": {"eval/bars.csv": "gain"}}},
            {"Remote": {"template": "remote", "x": "gain", "y": {"eval/bars.csv": "feature"}}},
        ]
        bad = {**DVC_YAML, "plots": [*DVC_YAML["plots"], *more]}
        write(root, {"dvc.yaml": yaml.safe_dump(bad, sort_keys=False).encode()})
        write(root, {".dvc/plots/remote.json": json.dumps(REMOTE).encode()})
        git(root, "add", "-A")
        git(root, "commit", "-qm", "an unknown template, a template with external data")
        git(root, "branch", "-q", "lost")
        git(root, "reset", "-q", "--hard", "HEAD~1")
        git(root, "checkout", "-q", "main")
    return root


@pytest.fixture(scope="module")
def report(repo, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "comment" / "report.md"
    result = api.report(repo, base="main", head="exp", resamples=10, output=out)
    out.write_text(result.markdown)
    return out, result


def by_name(result):
    return {p["name"]: p for p in result.context["plots"]}


def test_every_declared_plot_is_listed_with_its_template_files_and_revisions(report):
    _, result = report
    listed = {n: (p["kind"], p["template"], p["files"], p["revisions"]) for n, p in by_name(result).items()}
    both = ["main", "exp"]
    assert listed == {
        "eval/roc.json": ("vega", "simple", ["eval/roc.json"], both),
        "Precision": ("vega", "linear", ["eval/train.json", "eval/test.json"], both),
        "Custom": ("vega", "custom", ["eval/train.json"], both),
        "Confusion": ("vega", "confusion", ["eval/confusion.csv"], both),
        "Confusion normalized": ("vega", "confusion_normalized", ["eval/confusion.csv"], both),
        "eval/importance.tsv": ("vega", "bar_horizontal_sorted", ["eval/importance.tsv"], both),
        "eval/bars.csv": ("vega", "bar_horizontal", ["eval/bars.csv"], both),
        "eval/points.yaml": ("vega", "scatter", ["eval/points.yaml"], both),
        "eval/live/acc.tsv": ("vega", "linear", ["eval/live/acc.tsv"], both),
        "eval/live/loss.tsv": ("vega", "linear", ["eval/live/loss.tsv"], both),
        "eval/only_head.json": ("vega", "linear", ["eval/only_head.json"], ["exp"]),
        "eval/loss.csv": ("vega", "smooth", ["eval/loss.csv"], both),
        "eval/images/cm.png": ("image", None, ["eval/images/cm.png"], both),
        "eval/images/sketch.svg": ("image", None, ["eval/images/sketch.svg"], both),
    }
    assert by_name(result)["eval/only_head.json"]["notes"] == ["eval/only_head.json is not in main"]
    assert all(not p["notes"] for n, p in by_name(result).items() if n != "eval/only_head.json")


def test_pngs_are_written_beside_the_report_and_linked_relatively(report):
    out, result = report
    md = result.markdown
    folder = out.parent / "report_plots"
    for name, plot in by_name(result).items():
        assert plot["written"], name
        for link in plot["links"].values():
            assert link.startswith("report_plots/") and (out.parent / link).is_file()
            assert f"]({link})" in md
    roc = (folder / "eval_roc.json.png").read_bytes()
    width, height = png_size(roc)
    assert 300 <= width <= 1000 and 300 <= height <= 1000
    # images side by side, as committed at each revision
    assert png_size((folder / "main_eval_images_cm.png").read_bytes()) == (4, 3)
    assert png_size((folder / "exp_eval_images_cm.png").read_bytes()) == (6, 3)
    assert "| main | exp |" in md
    assert (
        "| ![eval/images/cm.png (main)](report_plots/main_eval_images_cm.png) "
        "| ![eval/images/cm.png (exp)](report_plots/exp_eval_images_cm.png) |"
    ) in md
    assert (folder / "exp_eval_images_sketch.svg").read_text().endswith("<text>exp</text></svg>")
    assert "* eval/only_head.json is not in main" in md


def test_confusion_counts_as_a_table(report):
    _, result = report
    confusion = by_name(result)["Confusion"]["confusion"]
    classes = ["bird", "cat", "dog"]
    assert confusion["classes"] == classes and (confusion["actual"], confusion["predicted"]) == (
        "actual",
        "predicted",
    )
    for rev, pairs in PAIRS.items():
        expected = [[pairs.get((a, p), 0) for p in classes] for a in classes]
        assert confusion["counts"][rev] == expected
    md = result.markdown
    assert "| actual \\ predicted | bird | cat | dog |" in md
    assert "| cat | 0 → 0 | 5 → 6 | 2 → 1 |" in md
    assert "| dog | 0 → 0 | 1 → 0 | 4 → 5 |" in md
    assert "| bird | 0 → 2 | 0 → 0 | 0 → 0 |" in md


def test_specs_are_dvc_plots_diffs(repo):
    """Each data plot's spec is the one `dvc plots diff main exp --json` gives."""
    done = run(repo, "dvc", "plots", "diff", "main", "exp", "--json", check=True)
    theirs = json.loads(done.stdout)
    # DVC too says the file missing at main, and nothing else
    errors = [(e["name"], e["rev"], e["source"], e["type"]) for e in theirs["errors"]]
    assert errors == [("eval/only_head.json", "main", "eval/only_head.json", "FileNotFoundError")]
    project = Project.find(repo)
    ours = {p.name: p for p in plots.collect(project.at("main"), project.at("exp"), ("main", "exp"))}
    vega = {name: items[0] for name, items in theirs["data"].items() if items and items[0]["type"] == "vega"}
    assert set(vega) == {n for n, p in ours.items() if p.kind == "vega"}
    for name, item in vega.items():
        assert ours[name].revisions == item["revisions"], name
        assert ours[name].spec == item["content"], name
    images = {name for name, items in theirs["data"].items() if items and items[0]["type"] == "image"}
    assert images == {n for n, p in ours.items() if p.kind == "image"}


def test_svg_holds_both_revisions_series(repo, tmp_path):
    result = api.report(
        repo, base="main", head="exp", resamples=10, png_dir=tmp_path / "svg", plot_format="svg"
    )
    svg = (tmp_path / "svg" / "Precision.svg").read_text()
    assert svg.startswith("<svg")
    # the legend names each revision (colour) and each file (dash)
    for label in ("main", "exp", "train.json", "test.json"):
        assert f">{label}</text>" in svg, label
    precision = by_name(result)["Precision"]
    assert precision["written"] == [str(tmp_path / "svg" / "Precision.svg")]
    # without -o, the links are relative to the working folder
    assert not precision["links"]["spec"].startswith("/")
    # the same spec, rendered again in this process, gives the same bytes (vega's clip-path and
    # gradient counters live as long as the process)
    project = Project.find(repo)
    again = {p.name: p for p in plots.collect(project.at("main"), project.at("exp"), ("main", "exp"))}
    for name in ("Precision", "Confusion"):
        assert plots._render(again[name].spec, "svg") == (tmp_path / "svg" / f"{name}.svg").read_bytes()


def test_over_a_bound_is_a_note_not_a_failure(repo, monkeypatch):
    monkeypatch.setenv("GRAFT_LIMIT_PLOT_ROWS", "5")
    monkeypatch.setenv("GRAFT_LIMIT_PLOT_POINTS", "9")
    result = api.report(repo, base="main", head="exp", resamples=10)
    listed = by_name(result)
    assert listed["Confusion"]["notes"] == [
        "eval/confusion.csv at main: 12 data points, over the bound of 5 (GRAFT_LIMIT_PLOT_ROWS)",
        "eval/confusion.csv at exp: 14 data points, over the bound of 5 (GRAFT_LIMIT_PLOT_ROWS)",
    ]
    assert listed["eval/points.yaml"]["notes"] == [
        "not drawn: 10 data points, over the bound of 9 in one plot (GRAFT_LIMIT_PLOT_POINTS)"
    ]
    assert listed["eval/bars.csv"]["notes"] == []
    assert (
        "* not drawn: 10 data points, over the bound of 9 in one plot (GRAFT_LIMIT_PLOT_POINTS)"
        in result.markdown
    )


def test_a_folder_over_the_files_bound_shows_its_first_files(repo, monkeypatch):
    monkeypatch.setenv("GRAFT_LIMIT_PLOT_FILES", "1")
    listed = by_name(api.report(repo, base="main", head="exp", resamples=10))
    assert listed["eval/live"]["notes"] == [
        f"eval/live at {rev}: 2 files, over the bound of 1 (GRAFT_LIMIT_PLOT_FILES); the first are shown"
        for rev in ("main", "exp")
    ]
    assert "eval/live/acc.tsv" in listed and "eval/live/loss.tsv" not in listed
    # one file read per revision: the first declared; the others say why they are not shown
    assert listed["eval/roc.json"]["revisions"] == ["main", "exp"]
    assert listed["eval/bars.csv"]["notes"] == [
        f"eval/bars.csv at {rev}: not read: over the bound of 1 files (GRAFT_LIMIT_PLOT_FILES)"
        for rev in ("main", "exp")
    ]


def test_json_lists_the_plots(repo, tmp_path, capsys):
    argv = ["report", "-C", str(repo), "--base", "main", "--head", "exp", "--resamples", "10"]
    out = tmp_path / "r.md"
    assert main([*argv, "-o", str(out), "--format", "json", "--plot-format", "svg", "--quiet"]) == 0
    payload = json.loads(capsys.readouterr().out)
    validate(payload, "report")
    assert payload["plots_dir"] == str(tmp_path / "r_plots")
    roc = next(p for p in payload["plots"] if p["name"] == "eval/roc.json")
    assert roc["written"] == [str(tmp_path / "r_plots/eval_roc.json.svg")]
    assert roc["links"] == {"spec": "r_plots/eval_roc.json.svg"}
    assert (tmp_path / "r_plots/eval_roc.json.svg").read_text().startswith("<svg")
    assert "![eval/roc.json](r_plots/eval_roc.json.svg)" in out.read_text()


def test_an_unknown_template_is_a_note(repo):
    result = api.report(repo, base="main", head="lost", resamples=10)
    lost = by_name(result)["Lost"]
    assert (lost["template"], lost["files"], lost["revisions"], lost["written"]) == (
        None,
        ["eval/bars.csv"],
        [],
        [],
    )
    names = "simple, linear, confusion, confusion_normalized, scatter, scatter_jitter, smooth, "
    names += "bar_horizontal_sorted, bar_horizontal"
    assert lost["notes"] == [
        f"not drawn at lost: template 'nope' is neither one of DVC's ({names}) nor a file in .dvc/plots/"
    ]
    assert f"* {lost['notes'][0]}" in result.markdown
    assert len(by_name(result)) == 16


def test_a_spec_vl_convert_cannot_draw_is_a_note(repo, tmp_path):
    result = api.report(repo, base="main", head="lost", resamples=10, output=tmp_path / "r.md")
    remote = by_name(result)["Remote"]
    assert remote["notes"] == ["not drawn: Error: External data url not allowed: http://127.0.0.1:9/x.json"]
    assert remote["written"] == [] and "![Remote]" not in result.markdown
    assert by_name(result)["eval/bars.csv"]["written"] == [str(tmp_path / "r_plots" / "eval_bars.csv.png")]


def test_a_project_without_plots_has_no_plots_section(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    subprocess.run(["dvc", "init", "-q"], cwd=root, check=True)
    write(
        root,
        {"metrics.json": b'{"acc": 0.5}', "dvc.yaml": yaml.safe_dump({"metrics": ["metrics.json"]}).encode()},
    )
    git(root, "add", "-A")
    git(root, "commit", "-qm", "main")
    result = api.report(root, base="main", head="main", resamples=10, output=tmp_path / "r.md")
    assert result.context["plots"] == [] and "### Plots declared" not in result.markdown
    assert not (tmp_path / "r_plots").exists()
