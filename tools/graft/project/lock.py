"""``dvc.lock``: the one reader of what a pipeline run recorded (hashes of deps and outs, params).

* ``outputs``: every output path -> its md5 (directories keep DVC's ``.dir`` hash);
* ``data_inputs``: the data a run started from: dependencies no stage produces and that are not
  source code (by suffix), e.g. a raw file added with ``dvc add`` or vendored in Git;
* ``entries``: a flat ``stage: kind path -> md5`` view (plus cmd and params) for naming what
  differs between two locks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graft.core.errors import DataError

LOCK_FILE = "dvc.lock"
LOCK_SCHEMAS = ("2.0",)
"""The dvc.lock schemas graft reads (DVC 2 and 3 write '2.0'); another is refused naming it."""
# Dependencies with these suffixes are code, not data (a change to them is a code change).
CODE_SUFFIXES = (
    ".py", ".pyx", ".ipynb", ".r", ".R", ".jl", ".sh", ".bash", ".sql", ".scala", ".java", ".js",
    ".ts", ".go", ".rs", ".c", ".cc", ".cpp", ".h", ".hpp", ".m", ".toml", ".cfg", ".ini",
)  # fmt: skip


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists stay values."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{dotted}."))
        else:
            out[dotted] = value
    return out


def is_code(path: str) -> bool:
    return path.endswith(CODE_SUFFIXES) or path in ("dvc.yaml", "Makefile", "Dockerfile")


@dataclass(frozen=True)
class LockEntry:
    stage: str
    kind: str  # dep | out
    path: str
    md5: str | None


@dataclass(frozen=True)
class Lock:
    stages: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @staticmethod
    def _load(data: bytes, where: str) -> Any:
        import yaml

        from graft.core.safeload import load_yaml

        try:
            return load_yaml(data, where)
        except yaml.YAMLError as exc:
            raise DataError(f"{where}: not valid YAML ({exc.__class__.__name__})") from None

    @staticmethod
    def parse_document(data: bytes, where: str = LOCK_FILE) -> Mapping[str, Any]:
        """A dvc.lock (or .dvc file) parsed: its top-level mapping ({} when empty or not one)."""
        document = Lock._load(data, where) or {}
        return document if isinstance(document, Mapping) else {}

    @classmethod
    def parse(cls, data: bytes | None, where: str = LOCK_FILE) -> Lock:
        """A dvc.lock; refused naming ``where`` when its top level is not a mapping, its schema is
        not one of :data:`LOCK_SCHEMAS`, or its ``stages`` is not a mapping."""
        if data is None:
            return cls()
        document = cls._load(data, where)
        if document is None:
            return cls()
        if not isinstance(document, Mapping):
            kind = type(document).__name__
            raise DataError(f"{where}: expected a mapping (schema, stages) at the top level, got a {kind}")
        schema = document.get("schema")
        if schema is not None and str(schema) not in LOCK_SCHEMAS:
            raise DataError(
                f"{where}: schema {schema!r} is not one graft reads ({', '.join(map(repr, LOCK_SCHEMAS))}: "
                "DVC 2 and 3)"
            )
        stages = document.get("stages")
        if stages is not None and not isinstance(stages, Mapping):
            raise DataError(f"{where}: 'stages' must be a mapping")
        return cls(stages or {})

    def items(self) -> list[LockEntry]:
        out: list[LockEntry] = []
        for stage, body in self.stages.items():
            for kind in ("deps", "outs"):
                for item in (body or {}).get(kind) or []:
                    md5 = item.get("md5") or item.get("hash") or item.get("etag")
                    out.append(LockEntry(str(stage), kind[:-1], str(item.get("path")), md5 and str(md5)))
        return out

    @property
    def outputs(self) -> dict[str, str]:
        return {e.path: e.md5 for e in self.items() if e.kind == "out" and e.md5}

    def md5(self, path: str) -> str | None:
        return self.outputs.get(path)

    @property
    def data_inputs(self) -> dict[str, str]:
        produced = set(self.outputs)
        found = {
            e.path: e.md5
            for e in self.items()
            if e.kind == "dep" and e.md5 and e.path not in produced and not is_code(e.path)
        }
        return dict(sorted(found.items()))

    @property
    def code_deps(self) -> dict[str, str]:
        return {e.path: e.md5 for e in self.items() if e.kind == "dep" and e.md5 and is_code(e.path)}

    def entries(self) -> dict[str, Any]:
        """Flat ``stage: kind path -> md5`` (plus cmd and params) for naming what differs."""
        flat: dict[str, Any] = {}
        for stage, body in self.stages.items():
            flat[f"{stage}: cmd"] = (body or {}).get("cmd")
        for e in self.items():
            flat[f"{e.stage}: {e.kind} {e.path}"] = e.md5
        for stage, body in self.stages.items():
            for source, values in ((body or {}).get("params") or {}).items():
                for key, value in flatten(values or {}).items():
                    flat[f"{stage}: param {source}:{key}"] = value
        return flat
