"""What every stage shares: its params section loaded into a typed, strict object."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from stages import paths
from stages.errors import ParamsError

PARAMS_FILE = paths.PARAMS

M = TypeVar("M", bound=BaseModel)


class Section(BaseModel):
    """Base of every params section: unknown keys are errors, values are never coerced silently."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _describe(error: dict[str, Any], section: str) -> str:
    where = ".".join([section, *(str(p) for p in error["loc"])])
    if error["type"] == "missing":
        return f"missing key '{where}'"
    if error["type"] == "extra_forbidden":
        return f"unknown key '{where}'"
    return f"'{where}': {error['msg']} (got {error.get('input')!r})"


def parse_section(raw: Any, section: str, model: type[M], source: str = str(PARAMS_FILE)) -> M:
    """Validate one params section; errors name the file and the dotted key."""
    if raw is None:
        raise ParamsError(f"{source}: missing section '{section}'")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(_describe(e, section) for e in exc.errors())
        raise ParamsError(f"{source}: {problems}") from None


def load_params(section: str, model: type[M], path: Path = PARAMS_FILE) -> M:
    """Load only ``section`` of the params file into ``model``."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParamsError(f"{path}: file not found (run from the project root)") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(document, dict):
        raise ParamsError(f"{path}: expected a mapping of sections at the top level")
    return parse_section(document.get(section), section, model, str(path))
