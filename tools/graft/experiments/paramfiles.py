"""Which params file a ``--set`` key (or a search dimension) edits, at the experiment's base.

A key may name its file with the spelling ``graft diff`` uses for params files other than
params.yaml: ``other.yaml:train.lr``, ``config.json:model.depth``, ``conf.toml:fit.alpha``. The
file must be one the pipeline declares (a stage's ``params: - FILE: [keys]`` or the top-level
``params:``); params.yaml always counts. A bare key means params.yaml, unless params.yaml lacks
it and exactly one other declared file both holds it and is declared for it by a stage (the
whole file, or a key that is the key itself or one of its parents): then that file, and the
override is shown as ``file:key`` so the output says where it landed. Two such files are
refused naming both. Everything is checked against the files as committed at the base, before
anything is created; :meth:`BaseParams.contents` gives each edited file's new text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from graft.core import gitrepo
from graft.core.errors import ParamsError
from graft.experiments.overrides import (
    FORMATS,
    Assignment,
    Override,
    apply,
    parse_params,
    plan,
    resolve_key,
    split_key,
)
from graft.project.dvcfile import DEFAULT_PARAMS


def _covers(declared: str, key: str) -> bool:
    return not declared or key == declared or key.startswith(f"{declared}.")


@dataclass
class BaseParams:
    """The params files of one revision: what the pipeline declares and their committed text."""

    revision: gitrepo.Revision | None  # None: only the texts given (:meth:`of_texts`)
    label: str  # how the base is named in messages ("main")
    declared: Mapping[str, tuple[str, ...]]  # file -> keys the stages read ('' = the whole file)
    files: tuple[str, ...]  # every declared params file, params.yaml first
    _texts: dict[str, str] = field(default_factory=dict)
    _documents: dict[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def at(cls, root: Any, revision: gitrepo.Revision, label: str) -> BaseParams:
        from graft.project import Project

        pipeline = Project(root).at(revision).pipeline
        files = tuple(dict.fromkeys([DEFAULT_PARAMS, *pipeline.params_files]))
        return cls(revision, label, pipeline.params, files)

    @classmethod
    def of_texts(
        cls, texts: Mapping[str, str], declared: Mapping[str, tuple[str, ...]] | None = None, label: str = ""
    ) -> BaseParams:
        """Params files given as text (``declared``: file -> keys; default every file, whole)."""
        declared = dict(declared) if declared is not None else {f: ("",) for f in texts}
        files = tuple(dict.fromkeys([DEFAULT_PARAMS, *texts, *declared]))
        return cls(None, label, declared, files, dict(texts))

    def source(self, file: str) -> str:
        return f"{file} at {self.label}" if self.label else file

    def text(self, file: str) -> str:
        if file not in self._texts:
            data = None if self.revision is None else gitrepo.read_file(self.revision.commit, file)
            if data is None:
                at = f" at '{self.revision.name}' ({self.revision.short})" if self.revision else ""
                raise ParamsError(f"{file}: not found{at}")
            try:
                self._texts[file] = data.decode("utf-8")
            except UnicodeDecodeError:
                raise ParamsError(f"{self.source(file)}: not UTF-8 text") from None
        return self._texts[file]

    def exists(self, file: str) -> bool:
        if file in self._texts or self.revision is None:
            return file in self._texts
        return gitrepo.read_file(self.revision.commit, file) is not None

    def document(self, file: str) -> Mapping[str, Any]:
        if file not in self._documents:
            self._documents[file] = parse_params(self.text(file), self.source(file), file)
        return self._documents[file]

    def locate(self, key: str) -> tuple[str, str]:
        """The file and the key inside it for a ``--set`` key (see the module docstring)."""
        named, inner = split_key(key)
        file, sep, rest = key.partition(":")
        if sep and rest and file in self.files:  # a declared file of another format (.py, .ini)
            named, inner = file, rest
        if named is not None and not named.lower().endswith(tuple(FORMATS)):
            raise ParamsError(
                f"--set {key}: graft edits params files in YAML, JSON or TOML "
                f"({', '.join(FORMATS)}), not '{named}'"
            )
        if named is not None:
            at = f" at {self.label}" if self.label else ""
            if named not in self.files:
                raise ParamsError(
                    f"--set {key}: no stage declares the params file '{named}'{at} "
                    f"(declared: {', '.join(self.files)})"
                )
            return named, inner
        if self.exists(DEFAULT_PARAMS) and resolve_key(self.document(DEFAULT_PARAMS), key):
            return DEFAULT_PARAMS, key
        holders = [
            file
            for file, keys in self.declared.items()
            if file != DEFAULT_PARAMS
            and any(_covers(k, key) for k in keys)
            and self.exists(file)
            and resolve_key(self.document(file), key)
        ]
        if len(holders) > 1:
            raise ParamsError(
                f"--set {key}: the key is in {' and '.join(holders)} (not in {DEFAULT_PARAMS}); "
                f"name the file: {', '.join(f'{f}:{key}' for f in holders)}"
            )
        return (holders[0], key) if holders else (DEFAULT_PARAMS, key)

    def plan(self, assignments: Sequence[Assignment]) -> list[Override]:
        """Check every assignment against its file; raise on the first bad one, change nothing.

        Each file's edit is also made once here (and parsed back), so a value that cannot be
        written is refused now rather than in the experiment's worktree.
        """
        out: list[Override] = []
        seen: dict[tuple[str, str], str] = {}
        for a in assignments:
            file, inner = self.locate(a.key)
            if (file, inner) in seen:
                raise ParamsError(f"--set: '{a.key}' and '{seen[file, inner]}' are the same key of {file}")
            seen[file, inner] = a.key
            out += plan(self.document(file), [Assignment(inner, a.raw)], self.source(file), file)
        self.contents(out)
        return out

    def contents(self, overrides: Sequence[Override]) -> dict[str, str]:
        """The new text of each file the overrides edit (files in first-override order)."""
        by_file: dict[str, list[Override]] = {}
        for o in overrides:
            by_file.setdefault(o.file, []).append(o)
        return {f: apply(self.text(f), os, self.source(f), f) for f, os in by_file.items()}


def edited_files(overrides: Sequence[Override]) -> list[str]:
    """The params files ``overrides`` change, params.yaml first when it is one of them."""
    return sorted({o.file for o in overrides}, key=lambda f: (f != DEFAULT_PARAMS, f))
