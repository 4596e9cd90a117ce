"""`graft reproduce TAG`: re-run a released pipeline from scratch and check it gives the same bytes.

The tag is checked out in a temporary Git worktree (the user's checkout is never touched), the
pipeline re-runs there with ``dvc repro --force`` on an empty DVC cache (raw data is in Git),
and the package is rebuilt with the tag's version. Expected values come from:

* the tag commit's ``dvc.lock`` (md5 of every output) and ``metrics/metrics.json`` — always;
* the release archive, when one is given or found in ``dist/`` — SHA-256 of every file in its
  manifest and of the archive itself;
* the tag annotation's ``package: ... sha256:...`` line — the archive's SHA-256.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from graft.core import gitrepo
from graft.core.errors import GraftError
from graft.core.progress import SILENT, Reporter
from graft.project.metrics import DVC_LOCK, METRICS_FILE, flatten


class ReproduceError(GraftError):
    pass


@dataclass(frozen=True)
class Check:
    """One compared item: where the expectation comes from, expected and reproduced values."""

    item: str
    source: str
    expected: str
    got: str

    @property
    def match(self) -> bool:
        return self.expected == self.got


@dataclass(frozen=True)
class ReproduceResult:
    tag: str
    commit: str
    archive: Path | None
    rebuilt_sha256: str
    checks: list[Check]
    worktree: Path | None

    @property
    def mismatches(self) -> list[Check]:
        return [c for c in self.checks if not c.match]


def _git(root: Path, *args: str) -> None:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ReproduceError(f"git {' '.join(args[:2])} failed: {done.stderr.strip() or done.returncode}")


def _run_pipeline(worktree: Path, log: Path) -> None:
    """``dvc repro --force`` in ``worktree`` with the tag's own graft and stages on the path."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join([str(worktree / "tools"), str(worktree)])
    with log.open("w", encoding="utf-8") as handle:
        done = subprocess.run(
            [sys.executable, "-m", "dvc", "repro", "--force"],
            cwd=worktree,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0:
        lines = [ln.strip() for ln in log.read_text(encoding="utf-8").splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("ERROR")]
        last = (errors or lines or [f"exit {done.returncode}"])[0 if errors else -1]
        raise ReproduceError(f"`dvc repro --force` failed in the worktree of the tag: {last} (log: {log})")


def _lock_checks(commit: Any, worktree: Path) -> list[Check]:
    from graft.release.package import lock_outputs, md5_file

    raw = gitrepo.read_file(commit, DVC_LOCK)
    if raw is None:
        raise ReproduceError(f"the tag's commit has no {DVC_LOCK}")
    checks = []
    for path, md5 in sorted(lock_outputs(yaml.safe_load(raw) or {}).items()):
        target = worktree / path
        got = md5_file(target) if target.is_file() else "missing"
        checks.append(Check(path, "dvc.lock md5", md5, got))
    return checks


def _metric_checks(commit: Any, worktree: Path) -> list[Check]:
    raw = gitrepo.read_file(commit, METRICS_FILE)
    if raw is None:
        return []
    expected = flatten(json.loads(raw))
    target = worktree / METRICS_FILE
    got = flatten(json.loads(target.read_text(encoding="utf-8"))) if target.is_file() else {}
    return [
        Check(f"{METRICS_FILE}:{key}", "tag metrics", repr(expected.get(key)), repr(got.get(key)))
        for key in sorted(set(expected) | set(got))
    ]


def _package_checks(archive: Path, rebuilt_files: dict[str, str], rebuilt_sha: str) -> list[Check]:
    from graft.release.package import MANIFEST, load_package, sha256_bytes

    with tempfile.TemporaryDirectory(prefix="graft-released-") as tmp:
        released = load_package(archive, Path(tmp))
        expected: dict[str, str] = released.manifest["files"]
        manifest_sha = sha256_bytes(released.path(MANIFEST).read_bytes())
    source = "release archive sha256"
    names = sorted((set(expected) | set(rebuilt_files)) - {MANIFEST})
    checks = [
        Check(f"package:{n}", source, expected.get(n, "missing"), rebuilt_files.get(n, "missing"))
        for n in names
    ]
    checks.append(Check(f"package:{MANIFEST}", source, manifest_sha, rebuilt_files.get(MANIFEST, "missing")))
    checks.append(Check(f"archive {archive.name}", source, sha256_bytes(archive.read_bytes()), rebuilt_sha))
    return checks


def default_archive(root: Path, model: str, version: str) -> Path | None:
    candidate = root / "dist" / f"{model}-{version}.tar.gz"
    return candidate if candidate.is_file() else None


def reproduce(
    root: Path, tag: str, archive: Path | None = None, keep: bool = False, progress: Reporter = SILENT
) -> ReproduceResult:
    """Re-run the tagged pipeline in a temporary worktree and compare everything it produced."""
    from graft.release.package import MANIFEST, package, sha256_bytes
    from graft.release.versions import find_release

    root = Path(root).resolve()
    repo = gitrepo.open_repo(root)
    release = find_release(repo, tag)
    commit = repo.get(release.commit)
    if archive is not None and not Path(archive).is_file():
        raise ReproduceError(f"{archive}: no such release archive")
    archive = Path(archive) if archive is not None else default_archive(root, release.model, release.version)

    workdir = Path(tempfile.mkdtemp(prefix=f"graft-reproduce-{release.model}-{release.version}-"))
    worktree = workdir / "worktree"
    progress.step(f"checking out {release.tag} ({release.commit[:8]}) in a temporary worktree")
    _git(root, "worktree", "add", "--detach", "--quiet", str(worktree), release.commit)
    try:
        progress.step(f"running dvc repro --force (log: {workdir / 'dvc-repro.log'})")
        _run_pipeline(worktree, workdir / "dvc-repro.log")
        progress.step("rebuilding the package")
        rebuilt = package(worktree, workdir / "dist", version=release.version, allow_dirty=True)
        manifest_bytes = _member(rebuilt.path, f"{rebuilt.name}-{rebuilt.version}/{MANIFEST}")
        rebuilt_files = dict(json.loads(manifest_bytes)["files"])
        rebuilt_files[MANIFEST] = sha256_bytes(manifest_bytes)
        progress.step("comparing the outputs")
        checks = _lock_checks(commit, worktree) + _metric_checks(commit, worktree)
        if archive is not None:
            checks += _package_checks(archive, rebuilt_files, rebuilt.sha256)
        if release.archive_sha256 is not None:
            checks.append(
                Check(
                    "archive (tag annotation)",
                    "tag annotation sha256",
                    release.archive_sha256,
                    rebuilt.sha256,
                )
            )
        return ReproduceResult(
            release.tag, release.commit, archive, rebuilt.sha256, checks, worktree if keep else None
        )
    finally:
        if not keep:
            _git(root, "worktree", "remove", "--force", str(worktree))
            shutil.rmtree(workdir, ignore_errors=True)


def _member(archive: Path, name: str) -> bytes:
    import tarfile

    with tarfile.open(archive, "r:gz") as tar:
        handle = tar.extractfile(name)
        if handle is None:
            raise ReproduceError(f"{archive}: no member '{name}'")
        return handle.read()
