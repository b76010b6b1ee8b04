#!/usr/bin/env python3
"""Reference values for conan-eval's metrics from the libraries MTEB uses: scikit-learn,
scipy, numpy and pytrec_eval (pytrec-eval-terrier), plus MTEB's own pair-threshold and MRR
code reproduced line for line. Random cases, seeded; ties included on purpose.

    python tests/eval_parity.py --out tests/fixtures/eval-parity.json
    python tests/eval_parity.py --check tests/fixtures/eval-parity.json

The Rust test crates/conan-eval/tests/parity.rs reads the file and compares.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pytrec_eval
from scipy.stats import pearsonr, spearmanr
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score, v_measure_score

CASES = 24


def mteb_best_acc(scores, labels, high):
    rows = sorted(zip(scores, labels), key=lambda x: x[0], reverse=high)
    max_acc, best_threshold = 0, -1
    positive_so_far, remaining_negatives = 0, sum(np.array(labels) == 0)
    for i in range(len(rows) - 1):
        score, label = rows[i]
        if label == 1:
            positive_so_far += 1
        else:
            remaining_negatives -= 1
        acc = (positive_so_far + remaining_negatives) / len(labels)
        if acc > max_acc:
            max_acc, best_threshold = acc, (rows[i][0] + rows[i + 1][0]) / 2
    return float(max_acc), float(best_threshold)


def mteb_best_f1(scores, labels, high):
    rows = sorted(zip(scores, labels), key=lambda x: x[0], reverse=high)
    best_f1 = best_precision = best_recall = 0
    threshold = 0
    nextract = ncorrect = 0
    total = sum(labels)
    for i in range(len(rows) - 1):
        score, label = rows[i]
        nextract += 1
        if label == 1:
            ncorrect += 1
        if ncorrect > 0:
            precision, recall = ncorrect / nextract, ncorrect / total
            f1 = 2 * precision * recall / (precision + recall)
            if f1 > best_f1:
                best_f1, best_precision, best_recall = f1, precision, recall
                threshold = (rows[i][0] + rows[i + 1][0]) / 2
    return float(best_f1), float(best_precision), float(best_recall), float(threshold)


def mteb_mrr(run, qrel, k):
    hits = sorted(run.items(), key=lambda item: (item[1], item[0]), reverse=True)[:k]
    for rank, (doc, _) in enumerate(hits):
        if qrel.get(doc, 0) > 0:
            return 1.0 / (rank + 1)
    return 0.0


def tied(rng, n, levels):
    """Scores drawn from a few levels so ties are common."""
    return [float(v) for v in rng.integers(0, levels, n) / levels]


def build(seed=1234):
    rng = np.random.default_rng(seed)
    out = {"average_precision": [], "retrieval": [], "correlation": [], "v_measure": [], "kmeans": [],
           "logreg": [], "pair": [], "f1": [], "shuffle": [], "bitext": []}
    for c in range(CASES):
        n = int(rng.integers(5, 40))
        labels = [int(x) for x in rng.integers(0, 2, n)]
        labels[0], labels[-1] = 1, 0
        scores = tied(rng, n, 6) if c % 2 else [float(x) for x in rng.normal(size=n)]
        out["average_precision"].append({"labels": labels, "scores": scores,
                                         "expected": float(average_precision_score(labels, scores))})

        docs = [f"d{i}" for i in range(int(rng.integers(5, 30)))]
        queries = {}
        for q in range(int(rng.integers(1, 6))):
            rel_docs = rng.choice(docs, size=int(rng.integers(1, min(6, len(docs)))), replace=False)
            qrel = {str(d): int(rng.integers(0 if i else 1, 4)) for i, d in enumerate(rel_docs)}
            run = {d: s for d, s in zip(docs, tied(rng, len(docs), 5) if c % 2 else rng.normal(size=len(docs)).tolist())}
            queries[f"q{q}"] = {"qrel": qrel, "run": run}
        ks = [1, 3, 5, 10]
        measures = {f"ndcg_cut.{','.join(map(str, ks))}", f"map_cut.{','.join(map(str, ks))}",
                    f"recall.{','.join(map(str, ks))}", f"P.{','.join(map(str, ks))}"}
        ev = pytrec_eval.RelevanceEvaluator({q: v["qrel"] for q, v in queries.items()}, measures)
        res = ev.evaluate({q: v["run"] for q, v in queries.items()})
        expected = {q: {f"{m}_{k}": res[q][f"{m}_{k}"] for m in ("ndcg_cut", "map_cut", "recall", "P") for k in ks}
                    for q in queries}
        for q, v in queries.items():
            for k in ks:
                expected[q][f"mrr_{k}"] = mteb_mrr(v["run"], v["qrel"], k)
        out["retrieval"].append({"ks": ks, "queries": queries, "expected": expected})

        x = rng.normal(size=n).tolist()
        y = (np.array(x) * rng.normal() + rng.normal(size=n)).round(1).tolist()
        out["correlation"].append({"x": x, "y": y, "pearson": float(pearsonr(x, y)[0]),
                                   "spearman": float(spearmanr(x, y)[0])})

        truth = [int(v) for v in rng.integers(0, 4, n)]
        pred = [int(v) for v in rng.integers(0, 3, n)]
        out["v_measure"].append({"truth": truth, "pred": pred, "expected": float(v_measure_score(truth, pred))})

        k = int(rng.integers(2, 5))
        centers = rng.normal(size=(k, 3)) * 3
        data = np.concatenate([centers[i] + rng.normal(size=(8, 3)) for i in range(k)])
        init = data[rng.choice(len(data), size=k, replace=False)]
        km = KMeans(n_clusters=k, init=init, n_init=1, max_iter=300, tol=0, algorithm="lloyd").fit(data)
        out["kmeans"].append({"data": data.tolist(), "init": init.tolist(), "labels": km.labels_.tolist()})

        classes = int(rng.integers(2, 5))
        d = int(rng.integers(4, 12))
        means = rng.normal(size=(classes, d))
        yl = rng.integers(0, classes, 60)
        yl[:classes] = np.arange(classes)
        xl = means[yl] + rng.normal(size=(60, d)) * 1.5
        xtr, ytr, xte, yte = xl[:40], yl[:40], xl[40:], yl[40:]
        clf = LogisticRegression(max_iter=100).fit(xtr, ytr)
        out["logreg"].append({"x_train": xtr.tolist(), "y_train": ytr.tolist(), "x_test": xte.tolist(),
                              "y_test": yte.tolist(), "predicted": clf.predict(xte).tolist(),
                              "decision": np.atleast_2d(clf.decision_function(xte)).tolist(),
                              "accuracy": float((clf.predict(xte) == yte).mean())})

        high = bool(c % 2)
        acc, acc_t = mteb_best_acc(scores, labels, high)
        f1, p, r, f1_t = mteb_best_f1(scores, labels, high)
        ap = float(average_precision_score(labels, np.array(scores) * (1 if high else -1)))
        out["pair"].append({"scores": scores, "labels": labels, "high": high, "ap": ap, "accuracy": acc,
                            "accuracy_threshold": acc_t, "f1": f1, "precision": p, "recall": r, "f1_threshold": f1_t})

        t = [int(v) for v in rng.integers(0, 5, n)]
        pr = [int(v) for v in rng.integers(0, 6, n)]
        out["f1"].append({"truth": t, "pred": pr, "macro": float(f1_score(t, pr, average="macro")),
                          "weighted": float(f1_score(t, pr, average="weighted")),
                          "accuracy": float(np.mean(np.array(t) == np.array(pr)))})

        m = int(rng.integers(1, 60))
        idxs = list(range(m))
        perms = []
        for _ in range(3):
            np.random.RandomState(42).shuffle(idxs)
            perms.append(list(idxs))
        out["shuffle"].append({"n": m, "permutations": perms})

        gold = list(range(n))
        bp = [int(v) if rng.random() < 0.3 else i for i, v in enumerate(rng.integers(0, n, n))]
        out["bitext"].append({"predicted": bp,
                              "precision": float(precision_score(gold, bp, zero_division=0, average="weighted")),
                              "recall": float(recall_score(gold, bp, zero_division=0, average="weighted")),
                              "f1": float(f1_score(gold, bp, zero_division=0, average="weighted"))})
    return out


def main():
    ap = argparse.ArgumentParser()
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--out")
    g.add_argument("--check")
    args = ap.parse_args()
    cases = build()
    if args.out:
        Path(args.out).write_text(json.dumps(cases) + "\n")
        print(f"wrote {args.out}: " + ", ".join(f"{k} {len(v)}" for k, v in cases.items()))
        return
    stored = json.loads(Path(args.check).read_text())
    fresh = json.loads(json.dumps(cases))

    def close(a, b, path):
        if isinstance(a, dict):
            assert a.keys() == b.keys(), path
            return all(close(a[k], b[k], f"{path}.{k}") for k in a)
        if isinstance(a, list):
            return len(a) == len(b) and all(close(x, y, f"{path}[{i}]") for i, (x, y) in enumerate(zip(a, b)))
        if isinstance(a, float) or isinstance(b, float):
            if abs(a - b) <= 1e-7 * max(1.0, abs(a)):
                return True
            print(f"MISMATCH {path}: stored {a} vs recomputed {b}")
            return False
        return a == b

    ok = close(stored, fresh, "cases")
    print(f"{args.check}: {'ok' if ok else 'MISMATCH'} (recomputed with scikit-learn, scipy, numpy, pytrec_eval)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
