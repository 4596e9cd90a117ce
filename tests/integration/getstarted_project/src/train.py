"""Train a text classifier (TF-IDF + logistic regression) on data/data.csv -> model.pkl."""

import pickle
from pathlib import Path

import pandas as pd
import yaml
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline


def main() -> None:
    params = yaml.safe_load(Path("params.yaml").read_text())
    frame = pd.read_csv("data/data.csv")
    train = frame[frame["split"] == "train"]
    model = make_pipeline(
        TfidfVectorizer(
            max_features=params["featurize"]["max_features"],
            ngram_range=(1, params["featurize"]["ngram"]),
        ),
        LogisticRegression(C=params["train"]["C"], random_state=params["train"]["seed"]),
    )
    model.fit(train["text"], train["label"])
    Path("model.pkl").write_bytes(pickle.dumps(model))


if __name__ == "__main__":
    main()
