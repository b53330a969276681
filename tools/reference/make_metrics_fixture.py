"""Writes tests/fixtures/metrics_sklearn.bin: labels, probabilities and what
scikit-learn computes from them, for tests/test_metrics.cpp.

Reference: scikit-learn 1.3.2 (PyPI) with numpy 1.26.4 and scipy 1.17.1 that
it pulled in, under Python 3.11.2 (Debian's /usr/bin/python3).

Three cases, each with fixed-seed random data:
  binary  240 examples; P(class 1) on a 0.05 grid, so scores tie within and
          across the classes.
  multi4  300 examples, 4 classes; each row is a permutation of one of a few
          fixed distributions, so every column is full of ties.
  absent  5 classes: class 2 is true but never predicted, class 3 predicted
          but never true, class 4 neither (it drops out of the macro average).
Entries per case (prefix "<case>."): K, truth, pred, probs [N, K], confusion
[K, K] (labels=range(K)), precision / recall / f1 / support [K] (labels=range(K),
zero_division=0), macro / micro / weighted [3] (precision, recall, f1 with the
default labels=None), accuracy, and for binary and multi4: auc (roc_auc_score;
multi_class="ovr", average="macro" for multi4) and auc_ovr [K] (class k against
the rest). binary also holds report, classification_report(digits=4) with the
names in report_names (comma-separated).

Run once, from anywhere (the C++ test reads the committed output, no Python):
    /usr/bin/python3 -m venv --system-site-packages /tmp/sklearn-venv
    /tmp/sklearn-venv/bin/pip install scikit-learn==1.3.2
    /tmp/sklearn-venv/bin/python tools/reference/make_metrics_fixture.py
"""
import os
import sys

import numpy as np
import sklearn
from sklearn.metrics import (accuracy_score, classification_report, confusion_matrix,
                             precision_recall_fscore_support, roc_auc_score)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture  # noqa: E402


def mann_whitney(positive, score):
    """The independent oracle: P(score of a positive > score of a negative), ties 1/2."""
    pos, neg = score[positive], score[~positive]
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return (greater + 0.5 * ties) / (len(pos) * len(neg))


def case(name, K, truth, pred, probs):
    truth = np.asarray(truth, dtype="<i4")
    pred = np.asarray(pred, dtype="<i4")
    labels = list(range(K))
    p, r, f, s = precision_recall_fscore_support(truth, pred, labels=labels, average=None, zero_division=0)
    entries = [("K", K), ("truth", truth), ("pred", pred),
               ("confusion", confusion_matrix(truth, pred, labels=labels).astype("<i4")),
               ("precision", p.astype("<f4")), ("recall", r.astype("<f4")), ("f1", f.astype("<f4")),
               ("support", s.astype("<i4")), ("accuracy", float(accuracy_score(truth, pred)))]
    for average in ("macro", "micro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(truth, pred, average=average, zero_division=0)
        entries.append((average, np.array([p, r, f], dtype="<f4")))
    if probs is not None:
        probs = np.asarray(probs, dtype="<f4")
        entries.append(("probs", probs))
        scores = probs.astype(np.float64)
        if K == 2:
            auc = roc_auc_score(truth, scores[:, 1])
        else:
            auc = roc_auc_score(truth, scores, multi_class="ovr", average="macro")
        ovr = [roc_auc_score(truth == k, scores[:, k]) for k in range(K)]
        for k in range(K):
            positive = truth == k
            tied_pairs = (scores[positive, k][:, None] == scores[~positive, k][None, :]).sum()
            assert tied_pairs > 0, f"{name}: no tie between a positive and a negative in column {k}"
            assert abs(ovr[k] - mann_whitney(positive, scores[:, k])) < 1e-12
        entries += [("auc", float(auc)), ("auc_ovr", np.array(ovr, dtype="<f4"))]
    return [(f"{name}.{key}", value) for key, value in entries]


def main():
    rng = np.random.default_rng(20240601)
    entries = [("sklearn_version", sklearn.__version__)]

    N = 240
    truth = (rng.random(N) < 0.4).astype(int)
    signal = 0.5 + 0.15 * (2 * truth - 1) + 0.25 * rng.standard_normal(N)
    p1 = (np.round(np.clip(signal, 0, 1) * 20) / 20).astype(np.float32)
    probs = np.stack([1 - p1, p1], axis=1)
    pred = (p1 > 0.5).astype(int)
    entries += case("binary", 2, truth, pred, probs)
    names = ["negative", "positive"]
    entries += [("binary.report", classification_report(truth, pred, target_names=names, digits=4,
                                                         zero_division=0)),
                ("binary.report_names", ",".join(names))]

    N, K = 300, 4
    pool = np.array([[0.7, 0.1, 0.1, 0.1], [0.4, 0.3, 0.2, 0.1], [0.25, 0.25, 0.25, 0.25],
                     [0.5, 0.5, 0.0, 0.0], [0.6, 0.2, 0.2, 0.0]])
    truth = rng.integers(0, K, N)
    probs = np.empty((N, K))
    for n in range(N):
        row = pool[rng.integers(0, len(pool))][rng.permutation(K)]
        if rng.random() < 0.6:  # put the largest probability on the true class
            top = np.argmax(row)
            row[[top, truth[n]]] = row[[truth[n], top]]
        probs[n] = row
    pred = np.argmax(probs, axis=1)
    entries += case("multi4", K, truth, pred, probs)

    N, K = 60, 5
    truth = rng.integers(0, 3, N)
    pred = np.where(rng.random(N) < 0.6, truth, rng.integers(0, 4, N))
    pred[pred == 2] = 3
    entries += case("absent", K, truth, pred, None)

    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures",
                       "metrics_sklearn.bin")
    fixture.write(os.path.normpath(out), entries)
    print("wrote", os.path.normpath(out))


if __name__ == "__main__":
    main()
