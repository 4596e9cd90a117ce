"""`graft monitor`'s settings: graft.yaml's ``monitor`` section as typed, validated models
(every key has the default shown in :class:`MonitorParams`), from the package or a params file."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from graft.core.errors import ParamsError
from graft.monitoring import checks
from graft.monitoring.drift import (
    DriftConfig,
)

DEFAULT_MIN_WINDOW = 50  # packages released before `monitor.min_window` existed get this
REALISED = sorted({m for metrics in checks.REALISED_METRICS.values() for m in metrics})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DriftParams(_Strict):
    small_window: int = Field(default=1000, ge=1)
    p_value: float = Field(default=0.05, gt=0, lt=1)
    distance_threshold: float = Field(default=0.1, gt=0)
    dataset_share: float = Field(default=0.5, gt=0, le=1)
    feature_psi_alert: float = Field(default=0.1, gt=0)
    max_missing_rate_change: float = Field(default=0.05, ge=0)


class OutputParams(_Strict):
    max_positive_rate_change: float = Field(default=0.1, ge=0)


class FeedbackParams(BaseModel):
    """``min_rows`` and bounds on realised metrics: ``min_<metric>`` / ``max_<metric>``."""

    model_config = ConfigDict(extra="allow", frozen=True)
    min_rows: int = Field(default=DEFAULT_MIN_WINDOW, ge=1)

    @model_validator(mode="after")
    def _known_bounds(self) -> FeedbackParams:
        for key, value in (self.model_extra or {}).items():
            side, _, metric = key.partition("_")
            if side not in ("min", "max") or metric not in REALISED:
                raise ValueError(
                    f"unknown key '{key}': expected min_rows, or min_ or max_ followed by a "
                    f"realised metric ({', '.join(REALISED)})"
                )
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"'{key}' must be a number (got {value!r})")
        return self

    @property
    def bounds(self) -> dict[str, tuple[str, float]]:
        """``min_<metric>``/``max_<metric>`` key -> (metric, bound), in the order written."""
        return {k: (k.partition("_")[2], float(v)) for k, v in (self.model_extra or {}).items()}


class FairnessParams(_Strict):
    group_columns: list[str] | None = None  # None: the settings' sensitive columns (fairness.columns)
    max_demographic_parity_difference: float = 0.25
    max_equalized_odds_difference: float = 0.25
    min_group_rows: int = Field(default=30, ge=1)


class MonitorParams(_Strict):
    min_window: int = Field(default=DEFAULT_MIN_WINDOW, ge=1)
    drift: DriftParams = Field(default_factory=lambda: DriftParams())
    outputs: OutputParams = Field(default_factory=lambda: OutputParams())
    feedback: FeedbackParams = Field(default_factory=lambda: FeedbackParams())
    fairness: FairnessParams = Field(default_factory=lambda: FairnessParams())

    def check_task(self, task: str, source: str) -> None:
        """Every feedback bound names a realised metric of ``task`` (errors name the key)."""
        known = checks.REALISED_METRICS[task]
        for key, (metric, _) in self.feedback.bounds.items():
            if metric not in known:
                raise ParamsError(
                    f"{source}: 'monitor.feedback.{key}': a {task} model's realised metrics are "
                    f"{', '.join(known)}"
                )

    def drift_config(self) -> DriftConfig:
        d = self.drift
        return DriftConfig(
            small_window=d.small_window,
            p_value=d.p_value,
            distance_threshold=d.distance_threshold,
            dataset_share=d.dataset_share,
            min_window=self.min_window,
            max_missing_rate_change=d.max_missing_rate_change,
        )


def parse_params(raw: Any, source: str, required: bool = True) -> MonitorParams:
    """The ``monitor`` section, validated; absent: an error, or every default when not ``required``."""
    if raw is None:
        if not required:
            return MonitorParams()
        raise ParamsError(f"{source}: missing section 'monitor'")
    try:
        return MonitorParams.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(["monitor", *(str(p) for p in first["loc"])])
        message = str(first["ctx"]["error"]) if first["type"] == "value_error" else first["msg"]
        raise ParamsError(f"{source}: '{key}': {message}") from None
