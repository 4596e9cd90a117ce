"""A package's layout and digests: the names of the files a graft package holds (the one list;
the manifest itself is :mod:`graft.release.archive`'s), how their SHA-256 and the package's
contents digest are computed, and how a packaged JSON/YAML file is parsed."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from graft.core.fsio import dumps_json
from graft.core.safeload import describe, load
from graft.release.archive import (
    MANIFEST,
    PackageError,
)

if TYPE_CHECKING:
    from graft.project.settings import Settings


CODE_DIR = "code"
SCHEMA = "schema.json"
SETTINGS = "settings.json"
PARAMS = "params.yaml"
METRICS = "metrics.json"
FAIRNESS = "fairness.json"
PREDICTIONS = "test_predictions"
REFERENCE_ROWS = "reference.parquet"
REFERENCE_STATS = "reference.json"
CARD = "MODEL_CARD.md"
GENERATED = frozenset({MANIFEST, SCHEMA, SETTINGS, REFERENCE_ROWS, REFERENCE_STATS, CARD})


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def contents_sha256(files: Mapping[str, str]) -> str:
    """The digest of what a package holds apart from its name: the SHA-256 of every file (as the
    manifest lists them) but the model card, which names the version and commit. Two packages
    with equal digests serve and monitor alike (the input schema is one of the files)."""
    kept = {name: digest for name, digest in files.items() if name != CARD}
    return sha256_bytes(dumps_json(kept).encode())


def md5_bytes(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def parse_file(name: str, data: bytes) -> Any:
    """A package data file as the adapter's ``spec`` holds it: JSON/YAML parsed, else bytes."""
    import yaml

    try:
        if name.endswith((".json", ".yaml", ".yml")):
            return load(data, name)
    except (ValueError, yaml.YAMLError) as exc:  # ValueError covers JSON and UTF-8 errors
        raise PackageError(f"{name}: cannot be parsed ({describe(exc)})") from None
    return data


def spec_of(settings: Settings, files: Mapping[str, bytes]) -> dict[str, Any]:
    """The adapter's ``spec``: each ``package.files`` entry and params.yaml, parsed."""
    names = [*settings.package.files, PARAMS]
    out: dict[str, Any] = {}
    for name in names:
        if name in files:
            out[name] = parse_file(name, files[name])
    return out
