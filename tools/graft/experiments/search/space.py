"""A search's space: one :class:`Dimension` per params key, parsed and checked before anything runs.

Dimensions come from ``--param KEY=SPEC`` (:func:`parse_params`) or a YAML file
(:func:`parse_space_file`: ``KEY: SPEC`` or ``KEY: {type, low, high, log, choices}``). ``SPEC`` is

* ``int:LOW..HIGH[:log]`` (integers, log scale optional),
* ``float:LOW..HIGH[:log]``,
* ``cat:A,B,C`` (YAML values, each checked like ``--set``).

A malformed spec is a :class:`UsageError` naming the option or the file and key. Every key,
bound and choice is checked against the params files at the base (:func:`check_space`, a
:class:`ParamsError` naming the dimension) before any trial runs. A study stores each
dimension as ``KEY=`` :meth:`Dimension.text`; :func:`stored_dimensions` reads them back.
Nothing here touches the study, Git or the executors.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from graft.core.errors import DataError, ParamsError, UsageError
from graft.core.safeload import load_yaml
from graft.experiments.overrides import Assignment
from graft.experiments.paramfiles import BaseParams

_RANGE = re.compile(r"^(int|float):([^:]+?)\.\.([^:]+?)(?::(log))?$")
Kind = Literal["int", "float", "cat"]


@dataclass(frozen=True)
class Dimension:
    """One searched key: an int or float range (log scale optional) or categorical choices."""

    key: str
    kind: Kind
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    choices: tuple[str, ...] = ()

    def text(self) -> str:
        """The canonical spec (``int:15..255:log``), as stored in the study."""
        if self.kind == "cat":
            return "cat:" + ",".join(self.choices)
        low, high = (int(self.low), int(self.high)) if self.kind == "int" else (self.low, self.high)
        return f"{self.kind}:{low}..{high}" + (":log" if self.log else "")

    def distribution(self) -> Any:
        import optuna.distributions as d

        if self.kind == "int":
            return d.IntDistribution(int(self.low), int(self.high), log=self.log)
        if self.kind == "float":
            return d.FloatDistribution(self.low, self.high, log=self.log)
        return d.CategoricalDistribution(list(self.choices))

    def raw(self, value: Any) -> str:
        """A sampled value as the YAML text of a ``--set``."""
        if self.kind == "int":
            return str(int(value))
        if self.kind == "float":
            return repr(float(value))
        return str(value)


def _number(text: str, kind: str, where: str) -> float:
    try:
        value = load_yaml(text, where)
    except (yaml.YAMLError, DataError):
        value = None
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value)  # PyYAML reads 1e-3 as a string
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not numeric or (kind == "int" and value != int(value)):
        raise UsageError(f"{where}: '{text}' is not a{'n int' if kind == 'int' else ' number'}")
    return float(value)


def parse_dimension(key: str, spec: Any, where: str) -> Dimension:
    """``spec`` as a string (``int:1..9:log``) or a mapping (``{type, low, high, log, choices}``)."""
    if not key or any(not part for part in key.split(".")):
        raise UsageError(f"{where}: '{key}' is not a dotted params key")
    if isinstance(spec, Mapping):
        spec = _spec_of_mapping(spec, where)
    if not isinstance(spec, str):
        raise UsageError(f"{where}: expected int:LOW..HIGH[:log], float:LOW..HIGH[:log] or cat:A,B,...")
    text = spec.strip()
    if text.startswith("cat:"):
        from graft.experiments.overrides import split_values

        choices = tuple(split_values(text[4:]))
        if not choices or any(c == "" for c in choices):
            raise UsageError(f"{where}: cat: needs comma-separated choices (got '{text}')")
        if len(set(choices)) != len(choices):
            raise UsageError(f"{where}: a choice is listed twice in '{text}'")
        return Dimension(key, "cat", choices=choices)
    match = _RANGE.match(text)
    if not match:
        raise UsageError(
            f"{where}: '{text}' is not int:LOW..HIGH[:log], float:LOW..HIGH[:log] or cat:A,B,..."
        )
    kind, low_text, high_text, log = match.groups()
    low, high = _number(low_text, kind, where), _number(high_text, kind, where)
    if not low < high:
        raise UsageError(f"{where}: LOW must be below HIGH (got {low_text}..{high_text})")
    if log and low <= 0:
        raise UsageError(f"{where}: a log scale needs LOW > 0 (got {low_text})")
    return Dimension(key, kind, low, high, bool(log))  # type: ignore[arg-type]


def _spec_of_mapping(spec: Mapping[str, Any], where: str) -> str:
    """A ``{type, low, high, log, choices}`` mapping as the equivalent string spec."""
    kind = str(spec.get("type", ""))
    kind = {"categorical": "cat", "integer": "int"}.get(kind, kind)
    if kind == "cat":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise UsageError(f"{where}: a categorical dimension needs a non-empty 'choices' list")
        return "cat:" + ",".join(_choice_text(c) for c in choices)
    if kind in ("int", "float"):
        if "low" not in spec or "high" not in spec:
            raise UsageError(f"{where}: an {kind} dimension needs 'low' and 'high'")
        return f"{kind}:{spec['low']}..{spec['high']}" + (":log" if spec.get("log") else "")
    raise UsageError(f"{where}: type must be int, float or cat (got '{kind}')")


def _choice_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


def parse_params(texts: Sequence[str]) -> list[Dimension]:
    """``--param KEY=SPEC`` options."""
    out = []
    for text in texts:
        key, sep, spec = text.partition("=")
        if not sep:
            raise UsageError(f"--param '{text}': expected section.key=int:LOW..HIGH, float:... or cat:...")
        out.append(parse_dimension(key.strip(), spec, f"--param {text}"))
    return out


def parse_space_file(path: Path) -> list[Dimension]:
    """A YAML mapping ``KEY: SPEC`` (string or mapping) read from ``path``."""
    try:
        document = load_yaml(path.read_bytes(), f"--space {path}")
    except OSError as exc:
        raise UsageError(f"--space {path}: cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"--space {path}: not valid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(document, Mapping) or not document:
        raise UsageError(f"--space {path}: expected a mapping of params keys to dimensions")
    return [parse_dimension(str(k), v, f"{path}: {k}") for k, v in document.items()]


def stored_dimensions(space: Sequence[str]) -> list[Dimension]:
    """The dimensions of a study's stored space (``KEY=SPEC`` each)."""
    out = []
    for item in space:
        key, _, spec = item.partition("=")
        out.append(parse_dimension(key, spec, "stored search space"))
    return out


def check_space(dimensions: Sequence[Dimension], params: BaseParams) -> None:
    """Every key exists in its params file (resolved as ``--set`` resolves it) with a type the
    dimension can hold; bounds and choices valid."""
    seen: set[str] = set()
    for dim in dimensions:
        if dim.key in seen:
            raise UsageError(f"search space: key '{dim.key}' given twice")
        seen.add(dim.key)
        samples = list(dim.choices) if dim.kind == "cat" else [dim.raw(dim.low), dim.raw(dim.high)]
        try:
            for raw in samples:
                params.plan([Assignment(dim.key, raw)])
        except ParamsError as exc:
            raise ParamsError(f"search space {dim.key}={dim.text()}: {exc}".replace("--set ", "")) from None
