"""The report's declared plots, in parts: what dvc.yaml declares, how a plot file is read and
bounded, the confusion counts and where files are written."""

from __future__ import annotations

import pytest

from graft.compare import plots
from graft.project.dvcfile import PlotDefinition, parse_pipeline


def test_plot_definitions_in_every_form():
    document = {
        "vars": [{"out": "eval"}],
        "stages": {
            "train": {
                "cmd": "python train.py",
                "plots": [
                    "${out}/loss.csv",
                    {"${out}/acc.tsv": {"x": "step", "template": "smooth", "cache": False, "persist": True}},
                ],
            }
        },
        "plots": [
            "${out}/images",
            {"${out}/roc.json": {"template": "simple", "x": "fpr", "y": "tpr"}},
            {
                "PR": {
                    "x": "recall",
                    "y": {"${out}/train.json": "precision", "${out}/test.json": ["precision"]},
                }
            },
            {"Joined": {"x": {"${out}/x.csv": "step"}, "y": {"${out}/y.csv": "loss"}}},
        ],
    }
    got = parse_pipeline(document).plot_definitions
    assert got == (
        PlotDefinition("eval/images", {}, "dvc.yaml"),
        PlotDefinition("eval/roc.json", {"template": "simple", "x": "fpr", "y": "tpr"}, "dvc.yaml"),
        PlotDefinition(
            "PR",
            {"x": "recall", "y": {"eval/train.json": "precision", "eval/test.json": ["precision"]}},
            "dvc.yaml",
        ),
        PlotDefinition("Joined", {"x": {"eval/x.csv": "step"}, "y": {"eval/y.csv": "loss"}}, "dvc.yaml"),
        PlotDefinition("eval/loss.csv", {}, ""),
        # a stage's output options that are not plot properties (cache, persist) are dropped
        PlotDefinition("eval/acc.tsv", {"x": "step", "template": "smooth"}, ""),
    )
    assert plots.sources_of("PR", got[2].props) == ["eval/train.json", "eval/test.json"]
    assert plots.sources_of("Joined", got[3].props) == ["eval/y.csv", "eval/x.csv"]
    assert plots.sources_of("eval/roc.json", got[1].props) == ["eval/roc.json"]


@pytest.mark.parametrize(
    ("path", "data", "expected"),
    [
        ("a.json", b'[{"x": 1, "y": 2}]', [{"x": 1, "y": 2}]),
        ("a.json", b'{"roc": [{"fpr": 0, "tpr": 0}]}', {"roc": [{"fpr": 0, "tpr": 0}]}),  # dvclive's form
        ("a.csv", b"x,y\n1,2\n3,4\n", [{"x": "1", "y": "2"}, {"x": "3", "y": "4"}]),  # strings, as DVC reads
        ("a.tsv", b"x\ty\n1\t2\n", [{"x": "1", "y": "2"}]),
        ("a.yaml", b"- {x: 1, y: 2.5}\n", [{"x": 1, "y": 2.5}]),
        ("a.yml", b"steps:\n- {x: 1}\n", {"steps": [{"x": 1}]}),
    ],
)
def test_parse_reads_each_format_as_dvc_does(path, data, expected):
    assert plots.parse(data, path) == expected


def test_parse_without_header_names_columns_by_position():
    assert plots.parse(b"1,2\n3,4\n", "a.csv", header=False) == [{"0": "1", "1": "2"}, {"0": "3", "1": "4"}]


@pytest.mark.parametrize(
    ("path", "data", "message"),
    [
        ("a.json", b'[{"x": 1}', "cannot be parsed (JSONDecodeError)"),
        ("a.yaml", b"x: [1,\n", "cannot be parsed (ParserError)"),
        ("a.csv", b"\xff\xfe\x00", "cannot be parsed (UnicodeDecodeError)"),
        ("a.json", b"3", "holds no records (expected a list of records or a mapping of lists)"),
    ],
)
def test_unreadable_plot_files_say_why(path, data, message):
    with pytest.raises(ValueError) as raised:
        plots.parse(data, path)
    assert str(raised.value) == message


def test_size_and_rows_are_bounded(monkeypatch):
    monkeypatch.setenv("GRAFT_LIMIT_PLOT_BYTES", "10")
    with pytest.raises(ValueError) as raised:
        plots.parse(b"x,y\n1,2\n3,4\n", "a.csv")
    assert str(raised.value) == "12 bytes, over the 10-byte bound (GRAFT_LIMIT_PLOT_BYTES)"
    monkeypatch.delenv("GRAFT_LIMIT_PLOT_BYTES")
    monkeypatch.setenv("GRAFT_LIMIT_PLOT_ROWS", "2")
    assert len(plots.parse(b"x\n1\n2\n", "a.csv")) == 2
    with pytest.raises(ValueError) as raised:
        plots.parse(b'{"a": [{"x": 1}], "b": [{"x": 2}, {"x": 3}]}', "a.json")
    assert str(raised.value) == "3 data points, over the bound of 2 (GRAFT_LIMIT_PLOT_ROWS)"


def test_confusion_counts_every_revision_over_the_same_classes():
    points = [
        {"rev": "main", "actual": "a", "predicted": "a"},
        {"rev": "main", "actual": "a", "predicted": "b"},
        {"rev": "exp", "actual": "c", "predicted": "a"},
        {"rev": "exp", "actual": "c", "predicted": "a"},
    ]
    got = plots._confusion(points, "actual", "predicted", ["main", "exp"])
    assert got == {
        "actual": "actual",
        "predicted": "predicted",
        "classes": ["a", "b", "c"],
        "counts": {"main": [[1, 1, 0], [0, 0, 0], [0, 0, 0]], "exp": [[0, 0, 0], [0, 0, 0], [2, 0, 0]]},
    }


def test_too_many_classes_are_not_drawn(monkeypatch):
    monkeypatch.setenv("GRAFT_LIMIT_PLOT_CLASSES", "2")
    points = [{"rev": "r", "t": str(i), "p": "0"} for i in range(3)]
    assert plots._too_costly(points, {"x": "t", "y": "p"}, "confusion") == (
        "3 classes, over the bound of 2 (GRAFT_LIMIT_PLOT_CLASSES)"
    )
    assert plots._too_costly(points, {"x": "t", "y": "p"}, "linear") is None


def test_images_are_written_with_distinct_names_and_relative_links(tmp_path):
    image = plots.Plot("a/b.png", "image", None, ["a/b.png"])
    image.images = {"exp/x": ("a/b.png", b"one"), "main": ("a/b.png", b"two")}
    clash = plots.Plot("exp_x_a_b.png", "image", None, ["exp_x_a_b.png"])
    clash.images = {"exp": ("x_a_b.png", b"three")}
    written = plots.write(
        [image, clash], tmp_path / "out" / "plots", tmp_path / "out", taken=["main_a_b.png"]
    )
    assert [p.name for p in written] == ["exp_x_a_b.png", "main_a_b_2.png", "exp_x_a_b_2.png"]
    assert image.links == {"exp/x": "plots/exp_x_a_b.png", "main": "plots/main_a_b_2.png"}
    assert [p.read_bytes() for p in written] == [b"one", b"two", b"three"]


def test_svg_ids_are_numbered_afresh():
    svg = '<clipPath id="clip7"/><g clip-path="url(#clip7)"/><g clip-path="url(#clip9)"/>'
    assert plots._renumber_clips(svg + '<a fill="url(#gradient_3)"/>') == (
        '<clipPath id="clip1"/><g clip-path="url(#clip1)"/><g clip-path="url(#clip2)"/>'
        '<a fill="url(#gradient_0)"/>'
    )
