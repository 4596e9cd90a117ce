"""graft.experiments.names: the clash rule, the length limit's override, short file names."""

from __future__ import annotations

import pytest

from graft.core.errors import GitError, UsageError
from graft.experiments import names


@pytest.mark.parametrize(
    ("branch", "existing", "clashing"),
    [
        ("exp/a", ["exp/a"], "exp/a"),
        ("exp/a/b", ["exp/a"], "exp/a"),
        ("exp/a", ["exp/a/b"], "exp/a/b"),
        ("exp/a/b/c", ["exp/a"], "exp/a"),
        ("exp/a", ["exp"], "exp"),
        ("exp/ab", ["exp/a"], None),  # a name that merely starts alike is no folder
        ("exp/a", ["exp/ab/c", "exp/a-b", "main"], None),
    ],
)
def test_a_branch_clashes_with_itself_and_with_folders_both_ways(branch, existing, clashing):
    assert names.clash(branch, existing) == clashing


def test_one_batch_may_not_hold_a_branch_and_one_under_it():
    with pytest.raises(UsageError, match=r"^branches 'exp/g' and 'exp/g/x' of one batch cannot both exist"):
        names.check_batch(["exp/g", "exp/g/x"])
    with pytest.raises(UsageError, match=r"^experiment name 'g' is used twice$"):
        names.check_batch(["exp/g", "exp/h", "exp/g"])
    names.check_batch(["exp/g-1", "exp/g-2"])


def test_the_length_limit_counts_utf8_bytes_and_follows_its_override(monkeypatch):
    names.check_syntax("é" * 100)  # 200 bytes: at the limit
    with pytest.raises(UsageError, match=r"is 202 bytes long; the limit is 200 bytes"):
        names.check_syntax("é" * 101)
    monkeypatch.setenv("GRAFT_LIMIT_EXP_NAME_BYTES", "10")
    with pytest.raises(UsageError, match=r"^experiment name 'abcdefghijk' is 11 bytes long; the limit is 10"):
        names.check_syntax("abcdefghijk")
    names.check_syntax("abcdefghij")


def test_existing_and_folder_messages_name_both_branches():
    with pytest.raises(GitError, match=r"^branch 'exp/a' already exists \(pick another name or delete it\)$"):
        names.check_free("exp/a", ["exp/a"])
    with pytest.raises(GitError, match=r"^branch 'exp/a/b' cannot be created: branch 'exp/a' exists on X,"):
        names.check_free("exp/a/b", ["exp/a"], " on X")


@pytest.mark.parametrize(
    "name",
    ["x" * 200, "a/b", "a__b", "a b", "é" * 100, "/".join(["d" * 49] * 4), "x" * 64, "x" * 65],
)
def test_file_stems_are_short_safe_and_distinct(name):
    stem = names.file_stem(name)
    assert len(stem) <= names.STEM_CHARS and stem.isascii()
    assert all(c.isalnum() or c in "._-" for c in stem)
    assert "/" not in stem and stem not in (".", "..")


def test_a_short_plain_name_is_its_own_stem_and_lookalikes_differ():
    assert names.file_stem("leaves63") == "leaves63"
    assert names.file_stem("x" * 64) == "x" * 64
    assert names.file_stem("a/b") != names.file_stem("a__b") != names.file_stem("a_b")
    assert names.file_stem("x" * 65) != names.file_stem("x" * 66)
    assert names.file_stem("a/b").startswith("a__b-")
