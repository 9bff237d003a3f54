#!/usr/bin/env python3
"""scikit-learn's values for the cases tests/metrics/test_sklearn_equality.cpp generates.

Usage: sklearn_reference.py cases.json answers.json

Each case holds num_classes, targets, predictions and optionally scores (row-major
[n, num_classes]) and top_k. The answer for each case is what scikit-learn computes with
labels=<all classes> and zero_division=0: classification_report (per class and averages),
accuracy_score, balanced_accuracy_score, top_k_accuracy_score and confusion_matrix.
"""
import json
import sys
import warnings

import numpy as np
import sklearn
from sklearn.metrics import (accuracy_score, balanced_accuracy_score, classification_report, confusion_matrix,
                             top_k_accuracy_score)


def answer(case):
    k = case["num_classes"]
    labels = list(range(k))
    y_true = np.asarray(case["targets"], dtype=np.int64)
    y_pred = np.asarray(case["predictions"], dtype=np.int64)
    rep = classification_report(y_true, y_pred, labels=labels, zero_division=0, output_dict=True)
    out = {
        "classes": [[float(rep[str(i)][m]) for m in ("precision", "recall", "f1-score")] +
                    [int(rep[str(i)]["support"])] for i in labels],
        # The report prints "micro avg" instead of "accuracy" when some label occurs in neither
        # y_true nor y_pred; accuracy_score is the same number either way.
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro": [float(rep["macro avg"][m]) for m in ("precision", "recall", "f1-score")],
        "weighted": [float(rep["weighted avg"][m]) for m in ("precision", "recall", "f1-score")],
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "top_k": {},
    }
    if case.get("scores") is not None:
        scores = np.asarray(case["scores"], dtype=np.float64).reshape(len(y_true), k)
        for kk in case["top_k"]:
            out["top_k"][str(kk)] = float(top_k_accuracy_score(y_true, scores, k=kk, labels=labels))
    return out


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true" and the like
        answers = [answer(c) for c in cases]
    with open(sys.argv[2], "w") as f:
        json.dump({"sklearn_version": sklearn.__version__, "answers": answers}, f)


if __name__ == "__main__":
    main()
