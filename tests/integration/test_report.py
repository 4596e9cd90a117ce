import io
import json
import re
import sys

import numpy as np
import pandas as pd
import pygit2
import pytest
import yaml

from graft import api
from graft.cli import main
from graft.compare.report import MARKER
from tests.conftest import copy_project, isolate_git_env
from tests.integration.repos import branch, read_json


def better_predictions(root):
    frame = pd.read_parquet(root / "metrics/predictions.parquet")
    # a much better model: probabilities pushed towards the labels
    frame["proba"] = np.clip(0.5 * frame["proba"] + 0.5 * frame["label"] * 0.9 + 0.02, 0, 1)
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def groups_table(root):
    ids = pd.read_parquet(root / "metrics/predictions.parquet")["row_id"]
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "row_id": ids[::-1].to_numpy(),  # another row order: joined on the id, not the position
            "sex": rng.choice(["Female", "Male"], len(ids)),
            "race": rng.choice(["A", "B", "C"], len(ids)),
        }
    )
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        isolate_git_env(mp, tmp_path_factory.mktemp("home"))
        root = copy_project(tmp_path_factory.mktemp("r") / "project", with_cache=False)
    g = pygit2.Repository(str(root))
    fairness = read_json(g, "metrics/fairness.json")
    fairness["sex"]["Female"]["selection_rate"] = round(fairness["sex"]["Female"]["selection_rate"] + 0.05, 6)
    lock = yaml.safe_load(g.revparse_single("main").peel(pygit2.Commit).tree["dvc.lock"].data)
    lock["stages"]["ingest"]["deps"][0]["md5"] = "0" * 32
    branch(
        root,
        "exp/better",
        # a fairness gap beyond its gate.thresholds bound: graft's gate fails the head
        metrics={"roc_auc": 0.95, "log_loss": 0.25, "fairness.sex.demographic_parity_difference": 0.3},
        params={"train.learning_rate": 0.05, "featurize.engineered": ["capital_net"]},
        files={
            "metrics/predictions.parquet": better_predictions(root),
            "metrics/fairness.json": json.dumps(fairness).encode(),
            "dvc.lock": yaml.safe_dump(lock, sort_keys=False).encode(),
        },
    )
    branch(root, "exp/same", params={"train.seed": 1})
    settings = yaml.safe_load(g.revparse_single("main").peel(pygit2.Commit).tree["graft.yaml"].data)
    settings["predictions"]["groups"] = "metrics/groups.parquet"
    branch(
        root,
        "exp/groups",  # the sensitive columns committed beside the predictions, joined on row_id
        files={
            "metrics/predictions.parquet": better_predictions(root),
            "metrics/groups.parquet": groups_table(root),
            "graft.yaml": yaml.safe_dump(settings, sort_keys=False).encode(),
        },
    )
    branch(root, "exp/nopreds", files={"metrics/predictions.parquet": None})
    return root


@pytest.fixture(scope="module")
def better(repo):
    return api.report(repo, base="main", head="exp/better", also=["exp/same"], resamples=300)


def line_of(text, start):
    return next(ln for ln in text.splitlines() if ln.startswith(start))


def test_marker_and_verdict(better):
    md = better.markdown
    assert md.splitlines()[0] == MARKER
    verdict = md.splitlines()[3]
    assert verdict.startswith("❌ **Gate failed**")
    assert "ROC AUC +" in verdict and "**better**" in verdict
    assert re.search(r"log loss -0\.\d{4} \(95% CI \[-0\.\d{4}, -0\.\d{4}\]\): \*\*better\*\*", verdict)
    headline = {v["key"]: v for v in better.context["verdict"]}
    assert headline["roc_auc"]["verdict"] == {
        "kind": "better",
        "label": "better",
        "basis": "bootstrap",
        "adjusted": False,
    }
    assert headline["roc_auc"]["interval"]["low"] > 0


def test_metrics_table_numbers(better, repo):
    base_auc = json.loads((repo / "metrics/metrics.json").read_text())["roc_auc"]
    row = line_of(better.markdown, "| `roc_auc` |")
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1:4] == [f"{base_auc:.4f}", "0.9500", f"{0.95 - base_auc:+.4f}"]
    ci = better.context["bootstrap"]["metrics"]["roc_auc"]
    assert cells[4] == f"[{ci['low']:+.4f}, {ci['high']:+.4f}]" and ci["low"] > 0
    assert cells[5] == "**better**"
    assert ci["verdict"]["kind"] == ci["verdict_holm"]["kind"] == "better" and ci["verdict_holm"]["adjusted"]
    assert better.context["bootstrap"]["rows"] == 16281
    # a metric without an interval is judged against its tolerance, never better/worse
    rows = {r["key"]: r for r in better.context["metrics"]}
    gap = rows["fairness.sex.demographic_parity_difference"]
    assert (gap["interval"], gap["basis"], gap["verdict"]["kind"]) == (None, "tolerance", "beyond_tolerance")
    assert (
        "| `fairness.sex.demographic_parity_difference` | 0.1771 | 0.3000 | +0.1229 |  | beyond tolerance |"
        in (better.markdown)
    )
    # rows equal on both sides are folded into one line
    assert "| `test_rows` |" not in better.markdown
    folded = better.context["unchanged"]
    assert folded == sum(not r["changed"] for r in rows.values()) > 0
    assert f"{folded} metrics unchanged (not listed; `--all-metrics` lists them)." in better.markdown
    # how many intervals, and that the table's verdicts are Holm-adjusted
    count = better.context["bootstrap"]["intervals"]
    assert count == 8  # the binary metrics; no fairness groups joinable here (no DVC cache)
    assert f"the same resamples for all {count} intervals computed." in better.markdown
    assert "the table's better/worse are Holm-adjusted" in better.markdown


def test_params_data_fairness_sections(better):
    md = better.markdown
    assert "| `train.learning_rate` | 0.03 | 0.05 |" in md
    assert '| `featurize.engineered` | ["capital_net", "hours_x_education"] | ["capital_net"] |' in md
    assert re.search(r"\| `data/raw/adult.data.gz` \| [0-9a-f]{8} \| 00000000 \| changed \|", md)
    assert "| column | group | count | fpr | roc_auc | selection_rate | tpr |" in md
    female = [c.strip() for c in line_of(md, "| sex | Female |").strip("|").split("|")]
    assert female[2] == "5421 (+0)" and female[5].endswith(" (+0.0500)")
    assert all(c.endswith("(+0.0000)") for c in (female[3], female[4], female[6]))
    # graft's own gate (head's rules and bounds), not a file the pipeline wrote
    failed = re.findall(r"^\* `(.*)`$", md, flags=re.M)
    assert failed == [
        "fairness.sex.demographic_parity_difference: head 0.3, base 0.177117, rose by 0.122883 "
        "(lower is better, tolerance 0.02)",
        "fairness.sex.demographic_parity_difference: head 0.3, base 0.177117, above the maximum 0.25 "
        "(gate.thresholds: max 0.25)",
    ]


def test_mermaid_blocks(better):
    blocks = re.findall(r"```mermaid\n(.*?)```", better.markdown, flags=re.S)
    assert len(blocks) == 2  # ROC + the per-group rate that moved (sex); nothing moved for race
    roc = blocks[0]
    assert "\nxychart-beta\n" in roc
    labels = re.search(r'x-axis "false positive rate" \[(.*)\]', roc).group(1).split(", ")
    lines = re.findall(r"^    line \[(.*)\]$", roc, flags=re.M)
    assert len(lines) == 2 and all(len(x.split(", ")) == len(labels) == 21 for x in lines)
    sex = next(b for b in blocks if 'title "selection_rate by sex"' in b)
    assert 'x-axis ["Female (main)", "Female (exp/better)", "Male (main)", "Male (exp/better)"]' in sex
    bars = re.search(r"bar \[(.*)\]", sex).group(1).split(", ")
    assert len(bars) == 4 and float(bars[1]) == pytest.approx(float(bars[0]) + 0.05, abs=1e-4)


def test_leaderboard(better):
    board = better.context["leaderboard"]
    assert [e["name"] for e in board["entries"]] == ["exp/better", "main", "exp/same"]
    assert "| 1 | `exp/better` |" in better.markdown and "**0.9500**" in better.markdown


def test_identical_head_is_within_noise(repo):
    result = api.report(repo, base="main", head="exp/same", resamples=200)
    for m, c in result.context["bootstrap"]["metrics"].items():
        assert (c["low"], c["high"], c["delta"]) == (0.0, 0.0, 0.0), m
        assert c["verdict"]["kind"] == c["verdict_holm"]["kind"] == "within_noise", m
    for row in [*result.context["metrics"], *result.context["verdict"]]:
        assert row["verdict"]["kind"] not in ("better", "worse"), row["key"]
    assert "✅ **Gate passed**" in result.markdown
    assert result.markdown.count("**within noise**") == 2
    assert "**better**" not in result.markdown and "**worse**" not in result.markdown
    assert f"{len(result.context['metrics'])} metrics unchanged: no metric changed." in result.markdown
    assert "| `train.seed` | 42 | 1 |" in result.markdown
    assert "No data input changed" in result.markdown
    assert "### Leaderboard" not in result.markdown


def test_fairness_gaps_get_intervals_from_groups_joined_by_id(repo):
    from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

    result = api.report(repo, base="main", head="exp/groups", resamples=200, all_metrics=True)
    boot = result.context["bootstrap"]
    assert boot["groups"] == {"columns": ["sex", "race"], "source": "metrics/groups.parquet", "reason": None}
    assert boot["intervals"] == 12  # 8 binary metrics and 2 gaps for each of the 2 columns
    predictions = pd.read_parquet(repo / "metrics/predictions.parquet")
    groups = pd.read_parquet(io.BytesIO(groups_table(repo))).set_index("row_id").loc[predictions["row_id"]]
    y, pred = predictions["label"].to_numpy(), (predictions["proba"] >= 0.5).to_numpy()
    rows = {r["key"]: r for r in result.context["metrics"]}
    for column in ("sex", "race"):
        for gap, metric in (
            ("demographic_parity_difference", demographic_parity_difference),
            ("equalized_odds_difference", equalized_odds_difference),
        ):
            c = boot["metrics"][f"fairness.{column}.{gap}"]
            assert c["base"] == pytest.approx(metric(y, pred, sensitive_features=groups[column].to_numpy()))
            assert c["low"] <= c["delta"] <= c["high"]
            row = rows[f"fairness.{column}.{gap}"]
            assert row["basis"] == "bootstrap" and row["interval"]["low"] == c["low"]
    # --all-metrics lists the unchanged rows too
    assert result.context["unchanged"] == 0 and "| `test_rows` | 16281 | 16281 |" in result.markdown
    assert "Fairness gaps: groups from `metrics/groups.parquet`." in result.markdown


def test_too_many_groups_leave_the_gaps_without_interval_naming_the_limit(repo, monkeypatch):
    monkeypatch.setenv("GRAFT_LIMIT_REPORT_GROUPS", "2")  # race has 3 groups
    result = api.report(repo, base="main", head="exp/groups", resamples=20)
    boot = result.context["bootstrap"]
    reason = "metrics/groups.parquet: column 'race': 3 groups, over the limit of 2 groups"
    reason += " (GRAFT_LIMIT_REPORT_GROUPS)"
    assert boot["groups"] == {"columns": [], "source": "metrics/groups.parquet", "reason": reason}
    assert boot["intervals"] == 8 and not any(k.startswith("fairness.") for k in boot["metrics"])


def test_missing_predictions_reported_not_crashing(repo):
    md = api.report(repo, base="main", head="exp/nopreds", resamples=50).markdown
    assert "significance not assessed: no predictions committed for exp/nopreds" in md


def test_cli_writes_file_and_unknown_revision(repo, tmp_path, capsys):
    out = tmp_path / "report.md"
    args = ["report", "-C", str(repo), "--head", "exp/same", "--all", "--resamples", "50", "-o", str(out)]
    assert main(args) == 0
    text = out.read_text()
    assert text.startswith(MARKER) and "`exp/nopreds` |" in text
    assert main(["report", "-C", str(repo), "--head", "exp/missing"]) == 3
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith("unknown revision 'exp/missing' (expected a branch, tag or commit)")
    )


def test_png_dir_without_matplotlib_is_a_clear_error(repo, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails as if not installed
    args = ["report", "-C", str(repo), "--head", "exp/same", "--resamples", "10", "--png-dir", str(tmp_path)]
    assert main(args) == 3
    err = capsys.readouterr().err  # after the progress line (stderr is not a terminal)
    assert err.strip().splitlines()[-1] == (
        "graft: error: graft report needs matplotlib, which is not installed: "
        "pip install 'graft-toolkit[plots]'"
    )


def test_png_dir_writes_charts(repo, tmp_path):
    pytest.importorskip("matplotlib")
    result = api.report(repo, head="exp/better", resamples=10, png_dir=tmp_path)
    names = {p.name for p in result.png_files}
    assert names == {"roc.png", "selection_rate_sex.png"}
    assert all((tmp_path / n).read_bytes().startswith(b"\x89PNG") for n in names)
    assert "PNG versions:" in result.markdown
    # the plots dvc.yaml declares, drawn beside them (ROC_2: roc.png is the task chart's name)
    drawn = {p.name for p in result.plot_files}
    assert drawn == {
        "ROC_2.png",
        "Precision-Recall.png",
        "Calibration.png",
        "Confusion.png",
        "Importance.png",
        *(f"metrics_plots_{n}.csv.png" for n in ("roc", "precision_recall", "calibration", "importance")),
    }
    assert all((tmp_path / n).read_bytes().startswith(b"\x89PNG") for n in drawn)
    confusion = next(p for p in result.context["plots"] if p["name"] == "metrics/plots/confusion.csv")
    assert confusion["notes"] == [
        "not drawn: 32562 data points, over the bound of 5000 in one plot (GRAFT_LIMIT_PLOT_POINTS)"
    ]
