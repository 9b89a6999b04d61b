"""Verification metrics: 10-fold accuracy and thresholds at a false-accept rate."""

from __future__ import annotations

import numpy as np


def best_threshold(sims: np.ndarray, same: np.ndarray) -> float:
    """The cosine threshold that maximises accuracy on (sims, same)."""
    order = np.argsort(sims)
    s, y = sims[order], same[order].astype(np.int64)
    # Threshold between s[i-1] and s[i]: pairs < it are "different".
    neg_below = np.concatenate([[0], np.cumsum(1 - y)])
    pos_above = np.concatenate([np.cumsum(y[::-1])[::-1], [0]])
    correct = neg_below + pos_above
    i = int(np.argmax(correct))
    if i == 0:
        return float(s[0] - 1e-6)
    if i == len(s):
        return float(s[-1] + 1e-6)
    return float((s[i - 1] + s[i]) / 2)


def ten_fold_accuracy(sims: np.ndarray, same: np.ndarray, folds: np.ndarray) -> tuple[float, float]:
    """LFW protocol: threshold from the other folds, accuracy on each; (mean, std)."""
    accs = []
    for k in np.unique(folds):
        train, test = folds != k, folds == k
        t = best_threshold(sims[train], same[train])
        accs.append(float(np.mean((sims[test] >= t) == same[test])))
    return float(np.mean(accs)), float(np.std(accs))


def threshold_at_far(impostor_sims: np.ndarray, far: float) -> float:
    """Smallest threshold at which at most ``far`` of impostor pairs are accepted.

    A pair is accepted when its similarity is strictly above the threshold.
    With n impostor pairs the resolution is 1/n: at n = 3000, FAR = 1e-3
    allows three false accepts.
    """
    s = np.sort(np.asarray(impostor_sims))[::-1]
    allowed = int(np.floor(far * len(s)))
    return float(s[allowed]) if allowed < len(s) else float(s[-1])
