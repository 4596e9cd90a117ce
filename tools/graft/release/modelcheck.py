"""`graft package` loads the model it packages and checks that it serves what the pipeline scored.

* :func:`resolve_flavour`: graft.yaml ``package.flavour``, else the flavour recognised from the
  model file (:func:`graft.release.flavours.detect`), else ``custom`` when the adapter defines
  ``load_model`` (the project's own format); a named flavour the file is not, or a file no
  flavour recognises and no ``load_model`` reads, is refused in one line naming the supported
  flavours.
* :func:`check_model`: load the model as the package records it, then encode the committed
  test rows' raw inputs with the adapter and predict them: every prediction must equal the
  committed one (``predictions.path``) within ``predictions.tolerance`` (absolute). The rows'
  inputs come from ``predictions.inputs``, else from the reference table when it holds every
  predicted row; without either (or without committed predictions) the model is still loaded
  (its task and feature count checked), and the manifest says the comparison was not run and why.

The manifest records ``flavour`` (name and the framework version it was packaged with) and
``prediction_check`` (rows compared, worst absolute difference, tolerance; or why not run).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from graft.core.errors import GraftError
from graft.core.limits import PACKAGE_CHECK_ROWS

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from graft.project.settings import Settings
    from graft.project.view import Predictions
    from graft.release.adapter import Adapter
    from graft.release.flavours import Flavour


class ModelCheckError(GraftError):
    """The packaged model cannot be served as it is, or does not reproduce its predictions."""


def resolve_flavour(settings: Settings, model_name: str, head: bytes, adapter_loads: bool = False) -> Flavour:
    """graft.yaml ``package.flavour``; else the flavour recognised from the file; else ``custom``
    when the adapter defines ``load_model`` (a format of the project's own)."""
    from graft.release.flavours import FLAVOURS, FlavourError, a, detect, flavour, supported

    found = detect(model_name, head)
    named = settings.package.flavour
    if named is not None:
        chosen = flavour(named, "graft.yaml package.flavour")
        if found is not None and found.name != chosen.name:
            raise FlavourError(
                f"graft.yaml package.flavour is '{chosen.name}', but {model_name} is {a(found.title)} "
                f"model ({found.name}): fix package.flavour, or remove it to use the recognised one"
            )
        return chosen
    if found is None and adapter_loads:
        return FLAVOURS["custom"]
    if found is None:
        raise FlavourError(
            f"{model_name}: unknown model flavour (supported: {supported()}): set graft.yaml "
            "package.flavour, or 'custom' with predict(model, inputs) in the serving adapter"
        )
    return found


def task_classes(settings: Settings, default_outputs: int = 2) -> list[str]:
    """The task's class labels as serving orders them (empty for regression)."""
    task = settings.task
    if task.type == "binary":
        return list(task.labels or ("0", "1"))
    if task.type == "multiclass":
        return list(task.labels or (str(i) for i in range(default_outputs)))
    return []


def records_of(frame: pd.DataFrame, schema: Mapping[str, Any]) -> dict[str, list[Any]]:
    """A table's schema columns as validated columns: Python values, None where missing."""
    out: dict[str, list[Any]] = {}
    for name, prop in schema["properties"].items():
        kinds = {prop.get("type")} if isinstance(prop.get("type"), str) else set(prop.get("type") or ())
        column = frame[name].astype(object)
        values = column.where(frame[name].notna(), None).tolist()
        if "integer" in kinds:
            values = [None if v is None else int(v) for v in values]
        elif "number" in kinds:
            values = [None if v is None else float(v) for v in values]
        out[name] = values
    return out


def _inputs_table(
    settings: Settings, schema: Mapping[str, Any], read: Callable[[str], bytes | None], where: Any
) -> tuple[pd.DataFrame | None, str, str]:
    """The table holding the predicted rows' inputs, its path, and why there is none."""
    from graft.release.reference import read_table

    config = settings.predictions
    explicit = config.inputs
    path = explicit or (settings.package.reference.path if settings.package.reference else None)
    if path is None:
        return None, "", "no predictions.inputs (or package.reference) table holds the predicted rows' inputs"
    data = read(path)
    if data is None:
        if explicit:
            raise ModelCheckError(f"{where(path)}: predictions.inputs is not in the workspace")
        return None, path, f"{path} is not in the workspace"
    columns = [config.id, *[c for c in schema["properties"] if c != config.id]]
    if explicit:
        return read_table(data, where(path), columns), path, ""
    table = read_table(data, where(path))
    lacking = [c for c in columns if c not in table.columns]
    if lacking:
        return None, path, f"{path} has no column(s) {', '.join(lacking)} (set predictions.inputs)"
    return table[columns], path, ""


def check_model(
    settings: Settings,
    model_name: str,
    model_bytes: bytes,
    adapter: Adapter,
    schema: Mapping[str, Any],
    spec: Mapping[str, Any],
    predictions: Predictions | None,
    read: Callable[[str], bytes | None],
    where: Callable[[str], str],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Load and check the model; the manifest's ``flavour`` and ``prediction_check`` entries."""
    import numpy as np

    from graft.release.flavours import check_scores, check_width, installed_version, load, predictor

    chosen = resolve_flavour(settings, model_name, model_bytes[:64], adapter.has("load_model"))
    version = installed_version(chosen)
    record = {"name": chosen.name, "framework": chosen.distribution or None, "version": version}
    classes = task_classes(settings)
    task = settings.task.type
    with tempfile.TemporaryDirectory(prefix="graft-model-") as tmp:
        path = Path(tmp) / PurePosixPath(model_name).name
        path.write_bytes(model_bytes)
        adapter_load = adapter.load_model if adapter.has("load_model") else None
        loaded = load(chosen, path, task, classes, version, model_name, adapter_load)
        predict = predictor(loaded, adapter, task, classes, model_name)
        empty = adapter.encode({name: [] for name in schema["properties"]}, spec)
        check_width(loaded, empty, model_name, f"code/{adapter.entry}")
        table, source, why = _inputs_table(settings, schema, read, where)
        if predictions is None or table is None:
            reason = "no committed test predictions (predictions.path)" if predictions is None else why
            return record, {"rows": 0, "not_run": reason}
        ids = predictions.ids
        limit = PACKAGE_CHECK_ROWS.value()
        id_column = settings.predictions.id
        indexed = table.drop_duplicates(id_column).set_index(id_column)
        present = np.isin(ids, indexed.index.to_numpy())
        if not present.all():
            missing = int((~present).sum())
            if settings.predictions.inputs:
                raise ModelCheckError(
                    f"{where(source)}: predictions.inputs lacks {missing} of the {len(ids)} predicted "
                    f"rows ({id_column} {_plain(ids[~present][0])!r}, ...)"
                )
            return record, {"rows": 0, "not_run": f"{source} does not hold the predicted rows' inputs"}
        rows = indexed.loc[ids[:limit]].reset_index()
        want = np.asarray(predictions.scores[:limit], dtype=np.float64)
        got = predict(adapter.encode(records_of(rows, schema), spec), len(rows), True)
        check_scores(got, task, model_name)
        return record, _compare(got, want, rows[id_column].to_numpy(), settings, source)


def _compare(
    got: np.ndarray, want: np.ndarray, ids: np.ndarray, settings: Settings, source: str
) -> dict[str, Any]:
    import numpy as np

    config = settings.predictions
    if settings.task.type == "binary" and want.ndim == 2:
        want = want[:, -1]
    if got.shape != want.shape:
        raise ModelCheckError(
            f"the packaged model predicts shape {got.shape} for {len(ids)} test rows of {source}, "
            f"{config.path} holds {want.shape}"
        )
    difference = np.abs(got - want)
    per_row = difference.reshape(len(ids), -1).max(axis=1) if len(ids) else difference
    worst = float(per_row.max()) if len(per_row) else 0.0
    if not np.isfinite(worst) or worst > config.tolerance:
        bad = int((~(per_row <= config.tolerance)).sum())
        at = int(np.nanargmax(np.where(np.isfinite(per_row), per_row, np.inf)))
        raise ModelCheckError(
            f"the packaged model does not reproduce {config.path}: {bad} of {len(ids)} rows differ by "
            f"more than {config.tolerance:g} (worst {worst:.6g} at {config.id} {_plain(ids[at])!r}): the "
            "serving adapter's encode() or the model file is not what scored them "
            "(predictions.tolerance sets the bound)"
        )
    return {"rows": len(ids), "max_abs_difference": worst, "tolerance": config.tolerance}


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (so messages read 17, not np.int64(17))."""
    return value.item() if hasattr(value, "item") else value
