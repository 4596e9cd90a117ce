"""Build the XGBoost project (tests/integration/xgb_project) as a user's fresh repository.

Its data is five columns of scikit-learn's bundled breast cancer table (and the diagnosis),
tracked with `dvc add`; the pipeline runs once before the first commit of results.
"""

from __future__ import annotations

from pathlib import Path

from tests.integration.second import build_repository

SOURCE = Path(__file__).parent / "xgb_project"
NAMES = {
    "mean radius": "mean_radius",
    "mean texture": "mean_texture",
    "mean smoothness": "mean_smoothness",
    "worst concavity": "worst_concavity",
    "worst area": "worst_area",
}


def write_data(dest: Path) -> None:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    frame = data.frame[list(NAMES)].rename(columns=NAMES)
    frame["diagnosis"] = [str(data.target_names[i]) for i in data.frame["target"]]
    frame.insert(0, "id", range(len(frame)))
    (dest / "data").mkdir(parents=True, exist_ok=True)
    frame.to_csv(dest / "data" / "tumours.csv", index=False)


def build(dest: Path) -> Path:
    """A Git + DVC repository of the XGBoost project with its pipeline run and committed."""
    return build_repository(SOURCE, dest, write_data, "data/tumours.csv", "breast tumour project")
