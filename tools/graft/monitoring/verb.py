"""`graft monitor`'s verb: a released package on its prediction log (:func:`monitor_package`):
open the package, choose the settings (:func:`chosen_params`, :func:`group_columns`), read the
window, run the checks, write the report (:func:`write_outputs`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from graft.core.errors import ParamsError
from graft.core.progress import SILENT, Reporter
from graft.monitoring.logreader import read_window
from graft.monitoring.params import MonitorParams, parse_params
from graft.monitoring.released import Released, open_released
from graft.monitoring.results import MonitorResult
from graft.monitoring.run import monitor
from graft.monitoring.window import Window


def monitor_package(
    package_path: Path,
    log_db: str,
    since: str | None = None,
    until: str | None = None,
    report: Path | None = None,
    json_out: Path | None = None,
    params_path: Path | None = None,
    progress: Reporter = SILENT,
) -> MonitorResult:
    """Monitor the logged traffic of a released package (see :func:`graft.api.monitor`)."""
    import tempfile

    from graft.release.reference import schema_columns, text_columns

    progress.step(f"verifying the package {package_path}")
    with tempfile.TemporaryDirectory(prefix="graft-monitor-") as tmp:
        released = open_released(Path(package_path), Path(tmp))
    params, source = chosen_params(released, params_path)
    groups = group_columns(released, params, source)
    numeric, categorical = schema_columns(released.schema)
    spec = {"numeric": numeric + text_columns(released.schema), "categorical": categorical, "onehot": {}}
    progress.step("reading the prediction log")
    window = read_window(log_db, since, until, released.layout())
    progress.step(f"checking {len(window.predictions)} predictions: inputs, outputs, feedback, fairness")
    result = monitor(
        window,
        released.reference,
        released.scores,
        released.schema,
        spec,
        params,
        released.settings.task.threshold,
        released.version,
        task=released.task,
        classes=released.classes,
        group_columns=groups,
        reference_quality=released.quality,
    )
    written = write_outputs(result, released, window, report, json_out, progress)
    return MonitorResult.of(result, written)


def chosen_params(released: Released, params_path: Path | None) -> tuple[MonitorParams, str]:
    """The thresholds in force and where they come from: the ``monitor`` section of
    ``params_path`` when given, else the package's own settings (defaults where absent);
    checked against the package's task."""
    import yaml

    from graft.core.safeload import load_yaml

    if params_path is None:
        source = f"{released.version}: settings.json monitor"
        params = parse_params(released.settings.monitor or None, source, required=False)
    else:
        source = str(params_path)
        try:
            chosen = load_yaml(Path(params_path).read_bytes(), source) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ParamsError(f"{source}: cannot be read ({exc.__class__.__name__})") from None
        if not isinstance(chosen, dict):
            raise ParamsError(f"{source}: expected a mapping at the top level")
        params = parse_params(chosen.get("monitor"), source)
    params.check_task(released.task, source)
    return params, source


def group_columns(released: Released, params: MonitorParams, source: str) -> list[str]:
    """The fairness group columns: the thresholds' own, else the settings' sensitive columns;
    each must be an input of the model."""
    groups = params.fairness.group_columns
    groups = list(released.settings.fairness.columns) if groups is None else groups
    unknown = [c for c in groups if c not in released.schema["properties"]]
    if unknown:
        raise ParamsError(
            f"{source}: fairness group column(s) {', '.join(unknown)} are not inputs of the model "
            f"(inputs: {', '.join(released.schema['properties'])})"
        )
    return groups


def write_outputs(
    result: dict[str, Any],
    released: Released,
    window: Window,
    report: Path | None,
    json_out: Path | None,
    progress: Reporter,
) -> list[str]:
    """Write the HTML ``report`` and the ``json_out`` result asked for; the files written, in
    order (the JSON file lists the report's files written before it)."""
    from graft.monitoring import report as reporting

    written: list[str] = []
    if report is not None:
        progress.step(f"writing the report {report}")
        threshold = released.settings.task.threshold
        images = reporting.make_plots(
            result, released.reference, window.predictions, released.scores, threshold, released.classes
        )
        written += [str(p) for p in reporting.write_report(Path(report), result, images)]
    if json_out is not None:  # the file lists what was written before it
        written.append(str(reporting.write_json(Path(json_out), MonitorResult.of(result, written))))
    return written
