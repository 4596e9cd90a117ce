"""Shared fixtures: an isolated Git identity for every test and throwaway project copies.

Parallel runs (``pytest -n auto``, what ``make test`` runs; pytest-xdist): each test file is one
unit of work, so its module-scoped fixtures (a `dvc repro`, a server) are built once; files that
share an expensive session fixture (the Dask cluster and S3 server, the second project, the
get-started project) form one unit together, so that fixture is built once per run. The warm DVC
cache is built once per run and shared by every worker (a file lock orders them).
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from filelock import FileLock

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def isolate_git_env(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """Point HOME and Git's config at ``home`` and give commits a fixed identity."""
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    for var in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{var}_NAME", "graft tests")
        monkeypatch.setenv(f"GIT_{var}_EMAIL", "tests@graft.invalid")
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.delenv("GIT_DIR", raising=False)
    monkeypatch.delenv("GIT_WORK_TREE", raising=False)
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n[core]\n\tautocrlf = false\n")


@pytest.fixture(autouse=True)
def isolated_git(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's ~/.gitconfig or /etc/gitconfig; commits get a fixed identity."""
    isolate_git_env(monkeypatch, tmp_path_factory.mktemp("home"))


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def project_files() -> list[str]:
    """The files of this project as Git would commit them (tracked plus new, minus ignored)."""
    out = git(ROOT, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
    return sorted(p for p in out.split("\0") if p and (ROOT / p).is_file())


def copy_project(dest: Path, with_cache: bool = True) -> Path:
    """Copy the project into ``dest`` as a fresh Git repository with one commit on main.

    ``with_cache`` seeds the DVC cache from this checkout (when it has one) so that
    `dvc repro` can restore unchanged outputs instead of recomputing them.
    """
    dest.mkdir(parents=True, exist_ok=True)
    for rel in project_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "project copy")
    if with_cache:
        shutil.copytree(warm_cache(), dest / ".dvc" / "cache")
    return dest


_WARM: dict[str, Path] = {}

# Test files sharing an expensive session fixture: each group runs whole on one worker (so the
# fixture is built once per run); every other file is its own unit. The controller schedules by
# file path alone (it collects nothing), so the groups are written here and the workers check
# that every test using one of SHARED_FIXTURES sits in a file of that fixture's group.
FILE_GROUPS = {
    "tests/integration/test_cluster.py": "cluster",
    "tests/integration/test_search.py": "cluster",
    "tests/integration/test_second_project.py": "second-project",
    "tests/integration/test_release_second_project.py": "second-project",
    "tests/integration/test_serve_tasks.py": "second-project",
    "tests/integration/test_getstarted_story.py": "getstarted-project",
    "tests/integration/test_dvc_cache.py": "getstarted-project",
}
SHARED_FIXTURES = {
    "dask": "cluster",
    "s3": "cluster",
    "shared": "cluster",
    "second_template": "second-project",
    "getstarted": "getstarted-project",
}


def pytest_configure(config: pytest.Config) -> None:
    """Import DVC before any test runs: ``import dvc`` binds its log handlers to the sys.stdout and
    sys.stderr of that moment, and a test's own captured streams are closed after it, so a DVC
    first imported inside a test breaks every later in-process DVC log in that worker."""
    import dvc  # noqa: F401


def _unit(path: str) -> str:
    """The unit of work a test file belongs to: its group, else the file itself."""
    return FILE_GROUPS.get(path, path)


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """``--dist loadgroup``: xdist's scope scheduling with :func:`_unit` as the scope (xdist's own
    group marks rename node ids, which pytest 9 no longer allows)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class FileGroupScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return _unit(nodeid.split("::", 1)[0])

    return FileGroupScheduling(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Refuse a test that uses a shared session fixture outside that fixture's group (it would
    build the fixture a second time on another worker). In a parallel run the units holding slow
    tests go first, so no long unit starts last while the other worker idles (a stable sort: each
    file's tests keep their order and stay together): first the shared-fixture groups (the
    longest units: the cluster group alone is several minutes), then the other slow ones."""
    paths = {item: item.path.relative_to(ROOT).as_posix() for item in items}
    for item, path in paths.items():
        for name in getattr(item, "fixturenames", ()):
            group = SHARED_FIXTURES.get(name)
            if group is not None and FILE_GROUPS.get(path) != group:
                raise pytest.UsageError(
                    f"{path} uses the session fixture {name!r}: add it to FILE_GROUPS as {group!r} "
                    "in tests/conftest.py"
                )
    if os.environ.get("PYTEST_XDIST_WORKER"):
        units = {item: _unit(path) for item, path in paths.items()}
        slow = {units[item] for item in items if item.get_closest_marker("slow") is not None}
        groups = set(FILE_GROUPS.values())
        items.sort(key=lambda item: 0 if units[item] in groups else 1 if units[item] in slow else 2)


def _run_scratch() -> Path | None:
    """A folder shared by the workers of one parallel run (None when not run by xdist)."""
    uid = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not uid:
        return None
    return Path(tempfile.gettempdir()) / f"graft-tests-{uid}"


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The controller of a parallel run removes what the workers shared."""
    scratch = _run_scratch()
    if scratch is not None and not hasattr(session.config, "workerinput"):
        shutil.rmtree(scratch, ignore_errors=True)


def _cache_holds_lock_outputs(cache: Path) -> bool:
    """Whether ``cache`` holds every output dvc.lock records (so repro only checks out)."""
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text(encoding="utf-8"))
    dvc_yaml = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))
    in_git = {  # outputs declared `cache: false` live in Git, never in the cache
        path
        for stage in dvc_yaml["stages"].values()
        for kind in ("outs", "metrics", "plots")
        for entry in stage.get(kind) or []
        if isinstance(entry, dict)
        for path, options in entry.items()
        if (options or {}).get("cache") is False
    }
    md5s = [
        o["md5"]
        for s in lock["stages"].values()
        for o in s.get("outs", [])
        if "md5" in o and o["path"] not in in_git
    ]
    return all((cache / "files" / "md5" / m[:2] / m[2:]).is_file() for m in md5s)


def warm_cache() -> Path:
    """A DVC cache holding this checkout's pipeline outputs, built at most once per session.

    The checkout's own cache serves when it is complete (a developer who ran `make run`);
    on a fresh clone (CI) the pipeline runs once in a throwaway copy and its cache is shared
    by every later copy, so each test's `dvc repro` restores instead of retraining.
    """
    if "path" not in _WARM:
        own = ROOT / ".dvc" / "cache"
        if own.is_dir() and _cache_holds_lock_outputs(own):
            _WARM["path"] = own
        else:
            _WARM["path"] = _built_cache()
    return _WARM["path"]


def _built_cache() -> Path:
    """Run the pipeline once in a throwaway copy; its cache. In a parallel run the first worker
    builds it under the run's shared folder and the others wait for it."""
    scratch = _run_scratch()
    if scratch is None:
        base = Path(tempfile.mkdtemp(prefix="graft-warm-cache-"))
        atexit.register(shutil.rmtree, base, ignore_errors=True)
        return _repro_into(base / "project")
    scratch.mkdir(exist_ok=True)
    built, done = scratch / "warm" / "project", scratch / "warm.done"
    with FileLock(scratch / "warm.lock"):
        if not done.exists():
            shutil.rmtree(scratch / "warm", ignore_errors=True)
            _repro_into(built)
            done.touch()
    return built / ".dvc" / "cache"


def _repro_into(dest: Path) -> Path:
    built = copy_project(dest, with_cache=False)
    subprocess.run([str(BIN / "dvc"), "repro", "-q"], cwd=built, check=True, capture_output=True)
    return built / ".dvc" / "cache"


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """A throwaway Git + DVC copy of this project (DVC cache seeded when available)."""
    yield copy_project(tmp_path / "project")


# --- a model package built once per session (serving tests) --------------------------------


@dataclass(frozen=True)
class BuiltPackage:
    project: Path  # the project copy the package was built from (pipeline outputs in place)
    archive: Path


@pytest.fixture(scope="session")
def model_package(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> BuiltPackage:
    """`graft package` of the session's reproduced project (built once per session).

    With GRAFT_PACKAGE set (`make contract PACKAGE=...`, what deploy.yml runs), that package is
    the one under test and nothing is built.
    """
    from graft import api

    given = os.environ.get("GRAFT_PACKAGE")
    if given:
        return BuiltPackage(ROOT, Path(given).resolve())
    pipeline_project: Path = request.getfixturevalue("pipeline_project")
    with pytest.MonkeyPatch.context() as mp:
        isolate_git_env(mp, tmp_path_factory.mktemp("package-home"))
        result = api.package(pipeline_project, tmp_path_factory.mktemp("dist"), allow_dirty=True)
    return BuiltPackage(pipeline_project, result.path)


def run(cwd: Path, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run a command (``python`` means this interpreter) and capture its output as text."""
    argv = [sys.executable, *args[1:]] if args[0] == "python" else list(args)
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def pipeline_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One project copy with every pipeline output in place (`dvc repro`, cache seeded), shared
    read-only by the tests of the whole session; tests that modify a project make their own."""
    with pytest.MonkeyPatch.context() as mp:
        isolate_git_env(mp, tmp_path_factory.mktemp("session-home"))
        dest = copy_project(tmp_path_factory.mktemp("pipeline") / "project")
        run(dest, "dvc", "repro", check=True)
        yield dest
