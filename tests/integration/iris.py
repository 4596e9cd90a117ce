"""Build the multiclass project (tests/integration/iris_project) as a user's fresh repository.

Its data is scikit-learn's bundled iris table with a made-up ``site`` column (A, B, C or
empty, seeded), tracked with `dvc add`; the pipeline runs once before the first commit of
results.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.integration.second import build_repository

SOURCE = Path(__file__).parent / "iris_project"
NAMES = {
    "sepal length (cm)": "sepal_length",
    "sepal width (cm)": "sepal_width",
    "petal length (cm)": "petal_length",
    "petal width (cm)": "petal_width",
}


def write_data(dest: Path) -> None:
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True)
    frame = iris.frame.rename(columns=NAMES)
    frame["species"] = [str(iris.target_names[i]) for i in frame.pop("target")]
    rng = np.random.default_rng(11)
    frame["site"] = rng.choice(["A", "B", "C", ""], len(frame), p=[0.4, 0.3, 0.2, 0.1])
    frame.insert(0, "id", range(len(frame)))
    (dest / "data").mkdir(parents=True, exist_ok=True)
    frame.to_csv(dest / "data" / "iris.csv", index=False)


def build(dest: Path) -> Path:
    """A Git + DVC repository of the multiclass project with its pipeline run and committed."""
    return build_repository(SOURCE, dest, write_data, "data/iris.csv", "iris species project")
