"""Evaluate model.pkl on both splits with dvclive: eval/metrics.json (nested by split), ROC plots,
and the test predictions."""

import pickle
from pathlib import Path

import pandas as pd
from dvclive import Live
from sklearn.metrics import average_precision_score, roc_auc_score


def main() -> None:
    model = pickle.loads(Path("model.pkl").read_bytes())
    frame = pd.read_csv("data/data.csv")
    with Live("eval", dvcyaml=False) as live:
        live.summary = {"avg_prec": {}, "roc_auc": {}}
        for split in ("train", "test"):
            part = frame[frame["split"] == split]
            scores = model.predict_proba(part["text"])[:, 1]
            live.summary["avg_prec"][split] = round(float(average_precision_score(part["label"], scores)), 6)
            live.summary["roc_auc"][split] = round(float(roc_auc_score(part["label"], scores)), 6)
            live.log_sklearn_plot("roc", part["label"], scores, name=f"roc/{split}")
            if split == "test":
                out = pd.DataFrame({"id": part["id"], "label": part["label"], "score": scores.round(6)})
                out.to_csv("eval/predictions.csv", index=False)


if __name__ == "__main__":
    main()
