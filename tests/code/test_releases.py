"""Release tags in GTO's format, the version rule and `graft models`, on small synthetic repos."""

import json
import shutil
import subprocess

import pygit2
import pytest
import yaml

from graft.cli import main
from graft.core import gitrepo
from graft.core.errors import GraftError
from graft.release import versions as releases
from graft.release.versions import ReleaseError, bump_version, next_version, parse_tag, schema_breaks
from tests.conftest import BIN, ROOT, git
from tests.releasing import small_project, write_small_lock

METRICS = {
    "roc_auc": 0.91,
    "pr_auc": 0.8,
    "log_loss": 0.3,
    "accuracy": 0.85,
    "f1": 0.7,
    "fairness": {"sex": {}},
}


def commit_all(repo, message):
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path):
    """This project's dvc.yaml, graft.yaml, params.yaml and serving code, a fake dvc.lock and metrics."""
    return small_project(tmp_path / "repo", METRICS)


def tag(repo, name, message="Registering artifact"):
    sig = releases.signature(gitrepo.open_repo(repo))
    pygit2_repo = gitrepo.open_repo(repo)
    head = pygit2_repo.revparse_single("HEAD").id
    pygit2_repo.create_tag(name, head, pygit2.enums.ObjectType.COMMIT, sig, message)


def edit_params(repo, edit, path="params.yaml"):
    params = yaml.safe_load((repo / path).read_text())
    edit(params)
    (repo / path).write_text(yaml.safe_dump(params))


def test_tag_names_and_version_bumps():
    assert parse_tag("adult-income@v1.2.3") == ("adult-income", "1.2.3")
    assert parse_tag("adult-income@1.2.3") is None
    assert parse_tag("adult-income#prod#1") is None
    assert releases.tag_name("m", "2.0.0") == "m@v2.0.0"
    assert bump_version(None, "major") == "1.0.0"
    assert bump_version(None, "minor") == "0.1.0"
    assert bump_version(None, "patch") == "0.0.1"
    assert bump_version("1.2.3", "major") == "2.0.0"
    assert bump_version("1.2.3", "minor") == "1.3.0"
    assert bump_version("1.2.3", "patch") == "1.2.4"


def test_schema_breaks_names_what_got_stricter():
    old = {
        "properties": {
            "age": {"type": "integer", "minimum": 17, "maximum": 90},
            "sex": {"type": "string", "enum": ["Female", "Male"]},
            "gone": {"type": "string"},
        },
        "required": ["age"],
    }
    new = {
        "properties": {
            "age": {"type": "integer", "minimum": 18, "maximum": 80},
            "sex": {"type": "string", "enum": ["Female"]},
            "extra": {"type": ["string", "null"]},
        },
        "required": ["age", "sex"],
    }
    reasons = schema_breaks(old, new)
    assert "column 'gone' removed" in reasons
    assert "column 'sex' now required" in reasons
    assert "column 'sex' lost categories" in reasons
    assert "column 'age' minimum raised" in reasons
    assert "column 'age' maximum lowered" in reasons
    assert schema_breaks(new, {**new, "properties": {**new["properties"], "more": {"type": "string"}}}) == []


def test_first_release_is_1_0_0(repo):
    plan = next_version(repo)
    assert (plan.tag, plan.bump, plan.previous) == ("adult-income@v1.0.0", "major", None)
    assert next_version(repo, "minor").version == "0.1.0"


def test_auto_bump_patch_minor_major(repo):
    tag(repo, "adult-income@v1.0.0")
    (repo / "README.md").write_text("docs\n")
    commit_all(repo, "docs only")
    plan = next_version(repo)
    assert (plan.version, plan.bump) == ("1.0.1", "patch")
    assert plan.previous.tag == "adult-income@v1.0.0"

    write_small_lock(repo, "b" * 32)
    commit_all(repo, "retrained")
    plan = next_version(repo)
    assert (plan.version, plan.bump) == ("1.1.0", "minor")
    assert "models/model.txt" in plan.reason

    edit_params(repo, lambda p: p["validate"]["ranges"].__setitem__("age", [18, 90]))
    commit_all(repo, "stricter age")
    plan = next_version(repo)
    assert (plan.version, plan.bump) == ("2.0.0", "major")
    assert "column 'age' minimum raised" in plan.reason
    assert next_version(repo, "patch").version == "1.0.1"


def test_widening_a_range_is_not_major(repo):
    tag(repo, "adult-income@v1.0.0")
    edit_params(repo, lambda p: p["validate"]["ranges"].__setitem__("age", [16, 99]))
    commit_all(repo, "wider age")
    assert next_version(repo).bump == "patch"


def test_versions_are_compared_numerically_and_per_model(repo):
    tag(repo, "adult-income@v1.9.0")
    (repo / "a.txt").write_text("a")
    commit_all(repo, "a")
    tag(repo, "adult-income@v1.10.0")
    tag(repo, "other-model@v7.0.0")
    (repo / "b.txt").write_text("b")
    commit_all(repo, "b")
    assert next_version(repo).version == "1.10.1"


def test_already_released_head_is_refused(repo):
    tag(repo, "adult-income@v1.0.0")
    with pytest.raises(ReleaseError, match=r"already released as 'adult-income@v1.0.0'"):
        next_version(repo)


def test_the_schema_rule_runs_each_commit_s_own_adapter(repo):
    """A category dropped in the project's schema module is a major bump; the module is read from
    the commits' Git objects, not imported from the environment."""
    tag(repo, "adult-income@v1.0.0")
    schema = repo / "stages" / "schema.py"
    schema.write_text(schema.read_text().replace('"Without-pay",\n', ""))
    commit_all(repo, "drop a workclass")
    plan = next_version(repo)
    assert (plan.version, plan.bump) == ("2.0.0", "major")
    assert plan.reason == "input schema changed incompatibly: column 'workclass' lost categories"


def test_a_previous_release_without_an_adapter_asks_for_the_bump(repo):
    edit_params(repo, lambda s: s["package"].pop("adapter"), "graft.yaml")
    commit_all(repo, "no adapter yet")
    tag(repo, "adult-income@v1.0.0")
    shutil.copy(ROOT / "graft.yaml", repo / "graft.yaml")
    commit_all(repo, "adapter")
    with pytest.raises(
        ReleaseError, match=r"adult-income@v1\.0\.0.*package\.adapter.*--bump major\|minor\|patch"
    ):
        next_version(repo)
    assert next_version(repo, "minor").version == "1.1.0"


def test_release_name_comes_from_graft_yaml_or_the_model_artifact(repo):
    edit_params(repo, lambda s: s["package"].pop("model"), "graft.yaml")
    commit_all(repo, "name from the one model artifact")
    assert next_version(repo).model == "adult-income"
    edit_params(repo, lambda s: s["package"].__setitem__("name", "income-v2"), "graft.yaml")
    commit_all(repo, "own name")
    assert next_version(repo).tag == "income-v2@v1.0.0"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda s: s["package"].__setitem__("model", "nope"),
            r"package\.model 'nope' is not an artifact in dvc\.yaml \(artifacts: adult-income\)",
        ),
        (
            lambda s: s["package"].__setitem__("name", "Adult Income"),
            r"package\.name 'Adult Income' must be a lowercase slug",
        ),
    ],
)
def test_a_bad_release_name_is_named(repo, edit, message):
    edit_params(repo, edit, "graft.yaml")
    commit_all(repo, "bad name")
    with pytest.raises(GraftError, match=message):
        next_version(repo)


def test_tag_is_annotated_in_gto_format_and_gto_lists_it(repo):
    plan = next_version(repo)
    message = releases.tag_message(plan, "adult-income-1.0.0.tar.gz", "f" * 64, "e" * 64)
    releases.create_tag(repo, plan, message)
    assert git(repo, "cat-file", "-t", "adult-income@v1.0.0") == "tag"
    message = git(repo, "tag", "-l", "--format=%(contents)", "adult-income@v1.0.0")
    assert message.splitlines()[0] == "Registering artifact adult-income version v1.0.0"
    assert releases.find_release(gitrepo.open_repo(repo), plan.tag).archive_sha256 == "f" * 64
    shown = subprocess.run(
        [str(BIN / "gto"), "show", "--json"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout
    state = json.loads(shown)
    assert "adult-income" in json.dumps(state)
    assert "v1.0.0" in json.dumps(state)
    history = subprocess.run(
        [str(BIN / "gto"), "show", "adult-income@latest", "--ref"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert history.strip() == "adult-income@v1.0.0"
    with pytest.raises(ReleaseError, match="already"):
        releases.create_tag(repo, plan, "again")


def test_models_lists_versions_with_metrics_from_git(repo, capsys):
    tag(repo, "adult-income@v1.0.0")
    METRICS_2 = {**METRICS, "roc_auc": 0.93}
    (repo / "metrics" / "metrics.json").write_text(json.dumps(METRICS_2))
    commit_all(repo, "better")
    tag(repo, "adult-income@v1.1.0")
    (repo / "metrics" / "metrics.json").write_text(json.dumps({"roc_auc": 0.1}))  # uncommitted: ignored
    assert main(["models", "-C", str(repo), "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [m["tag"] for m in listed] == ["adult-income@v1.1.0", "adult-income@v1.0.0"]
    assert listed[0]["metrics"]["roc_auc"] == 0.93
    assert listed[1]["metrics"]["roc_auc"] == 0.91
    assert list(listed[0]["metrics"]) == ["roc_auc", "log_loss"]  # graft.yaml metrics.headline
    assert main(["models", "-C", str(repo)]) == 0
    table = capsys.readouterr().out
    assert "adult-income@v1.1.0" in table and "0.9300" in table and "roc_auc" in table


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "../x"], "--model '../x' is not a model name GTO can write in a tag"),
        (["--model", "adult income"], "--model 'adult income' is not a model name GTO can write in a tag"),
        (["--stage", "../prod"], "--stage '../prod' is not a stage name GTO can write in a tag"),
        (["--stage", "prod#1"], "--stage 'prod#1' is not a stage name GTO can write in a tag"),
    ],
)
def test_models_refuses_a_filter_no_tag_can_match(repo, capsys, args, message):
    tag(repo, "adult-income@v1.0.0")
    assert main(["models", "-C", str(repo), *args]) == 2  # was 0, listing nothing
    captured = capsys.readouterr()
    assert captured.out == "" and f"{message}: letters, digits" in captured.err
    assert main(["models", "-C", str(repo), "--model", "adult-income", "--format", "json"]) == 0
    assert [m["tag"] for m in json.loads(capsys.readouterr().out)] == ["adult-income@v1.0.0"]


def test_release_dry_run_prints_the_plan(repo, capsys):
    assert main(["release", "--dry-run", "-C", str(repo)]) == 0
    assert "adult-income@v1.0.0" in capsys.readouterr().out
    assert git(repo, "tag", "-l") == ""


def test_the_version_rule_skips_deregistered_versions(repo):
    """`gto deprecate MODEL v1.1.0` (a deregistration tag) takes v1.1.0 out of the rule: it is not
    the base of the next version, and its number is not given again."""
    tag(repo, "adult-income@v1.0.0")
    write_small_lock(repo, "b" * 32)
    commit_all(repo, "retrained")
    tag(repo, "adult-income@v1.1.0")
    tag(repo, "adult-income@v1.1.0!", "Deregistering artifact adult-income version v1.1.0")
    assert [r.version for r in releases.list_releases(gitrepo.open_repo(repo))] == ["1.0.0"]

    # HEAD is the deregistered version's commit: not released again
    with pytest.raises(
        ReleaseError, match=r"released as 'adult-income@v1\.1\.0' and that version is deregistered"
    ):
        next_version(repo)
    result = releases.release(repo, repo / "dist")
    assert (result.status, result.tag) == ("withdrawn", "adult-income@v1.1.0")
    assert not (repo / "dist").exists()

    write_small_lock(repo, "c" * 32)
    commit_all(repo, "retrained again")
    plan = next_version(repo)
    assert (plan.previous.tag, plan.bump, plan.version) == ("adult-income@v1.0.0", "minor", "1.2.0")
    assert plan.reason.endswith("; deregistered: adult-income@v1.1.0")
    assert next_version(repo, "patch").version == "1.0.1"


def test_next_free_version_skips_every_taken_number():
    assert releases.next_free_version("1.0.0", "minor", {"1.1.0", "1.2.0"}) == "1.3.0"
    assert releases.next_free_version("1.0.0", "patch", {"1.0.1"}) == "1.0.2"
    assert releases.next_free_version(None, "major", {"1.0.0"}) == "2.0.0"
    assert releases.next_free_version("1.0.0-rc.1", "patch", set()) == "1.0.1"


def test_a_model_whose_versions_are_all_deregistered_starts_again_above_them(repo):
    tag(repo, "adult-income@v1.0.0")
    tag(repo, "adult-income@v1.0.0!", "Deregistering artifact adult-income version v1.0.0")
    write_small_lock(repo, "b" * 32)
    commit_all(repo, "retrained")
    plan = next_version(repo)
    assert (plan.version, plan.previous) == ("2.0.0", None)
    assert plan.reason == "first active release; deregistered: adult-income@v1.0.0"
