"""`graft monitor`'s verb: a released package on its prediction log (:func:`monitor_package`):
open the package, choose the settings, read the window, run the checks, write the report."""

from __future__ import annotations

from pathlib import Path

from graft.core.errors import ParamsError
from graft.core.progress import SILENT, Reporter
from graft.monitoring.logreader import read_window
from graft.monitoring.params import parse_params
from graft.monitoring.released import open_released
from graft.monitoring.results import MonitorResult
from graft.monitoring.run import monitor


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

    import yaml

    from graft.core.safeload import load_yaml
    from graft.monitoring import report as reporting
    from graft.release.reference import schema_columns, text_columns

    progress.step(f"verifying the package {package_path}")
    with tempfile.TemporaryDirectory(prefix="graft-monitor-") as tmp:
        released = open_released(Path(package_path), Path(tmp))
    settings = released.settings
    if params_path is None:
        source = f"{released.version}: settings.json monitor"
        params = parse_params(settings.monitor or None, source, required=False)
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
    groups = params.fairness.group_columns
    groups = list(settings.fairness.columns) if groups is None else groups
    unknown = [c for c in groups if c not in released.schema["properties"]]
    if unknown:
        raise ParamsError(
            f"{source}: fairness group column(s) {', '.join(unknown)} are not inputs of the model "
            f"(inputs: {', '.join(released.schema['properties'])})"
        )
    numeric, categorical = schema_columns(released.schema)
    spec = {"numeric": numeric + text_columns(released.schema), "categorical": categorical, "onehot": {}}
    threshold = settings.task.threshold
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
        threshold,
        released.version,
        task=released.task,
        classes=released.classes,
        group_columns=groups,
        reference_quality=released.quality,
    )
    written: list[str] = []
    if report is not None:
        progress.step(f"writing the report {report}")
        images = reporting.make_plots(
            result, released.reference, window.predictions, released.scores, threshold, released.classes
        )
        written += [str(p) for p in reporting.write_report(Path(report), result, images)]
    if json_out is not None:  # the file lists what was written before it
        written.append(str(reporting.write_json(Path(json_out), MonitorResult.of(result, written))))
    return MonitorResult.of(result, written)
