#!/usr/bin/env python3
"""Build the benchmark slices the app ships (static/tasks) from the *dev* splits in
../shared/data. Deterministic: same input, same files. Run from the repository root:

    python3 tools/make_slices.py [--data ../shared/data] [--out static/tasks]

Attribution travels with every task (task.json "license"/"source", and README.md).
"""
import argparse
import collections
import json
import random
import re
import shutil
from pathlib import Path

TATOEBA = ("CC BY 2.0 FR", "Sentences from Tatoeba (https://tatoeba.org), CC BY 2.0 FR; dev split of ../shared/data/tatoeba")
HSK = ("CC BY-SA 4.0", "HSK sentences (github.com/no7z/hsk-sentences-audio), CC BY-SA 4.0; dev split of ../shared/data/hsk")


def words(text):
    return set(re.findall(r"[a-z']+", text.lower()))


def write_task(out, name, kind, languages, description, licence, files):
    d = out / name
    d.mkdir(parents=True)
    meta = {"name": name, "type": kind, "languages": languages, "description": description,
            "license": licence[0], "source": licence[1]}
    (d / "task.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n")
    for fname, rows in files.items():
        if fname.endswith(".tsv"):
            (d / fname).write_text("\n".join("\t".join(map(str, r)) for r in rows) + "\n")
        else:
            (d / fname).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def tatoeba_tasks(data, out, rng):
    rows = [l.rstrip("\n").split("\t") for l in open(data / "tatoeba" / "dev.tsv", encoding="utf-8")][1:]
    zh_text, en_text = {}, {}
    links = collections.defaultdict(set)  # zh_id -> en_ids
    back = collections.defaultdict(set)   # en_id -> zh_ids
    for zh_id, zh, en_id, en in rows:
        zh_text[zh_id], en_text[en_id] = zh, en
        links[zh_id].add(en_id)
        back[en_id].add(zh_id)

    def graded(query_id, forward, backward):
        """2: a direct translation; 1: a translation of one of its translations' other sources."""
        rel = {d: 2 for d in forward[query_id]}
        for d in forward[query_id]:
            for other in backward[d]:
                for d2 in forward[other]:
                    rel.setdefault(d2, 1)
        return rel

    for direction, fwd, bwd, qtext, ctext, langs in [
        ("zh2en", links, back, zh_text, en_text, ["cmn-Hans", "eng-Latn"]),
        ("en2zh", back, links, en_text, zh_text, ["eng-Latn", "cmn-Hans"]),
    ]:
        qids = sorted(fwd, key=lambda q: (len(fwd[q]) < 2, q))  # multi-translation queries first
        qids = sorted(rng.sample(qids[:150], 150) + rng.sample(qids[150:], 50))
        corpus_ids = set()
        qrels = []
        for q in qids:
            for d, r in sorted(graded(q, fwd, bwd).items()):
                corpus_ids.add(d)
                qrels.append((q, d, r))
        distractors = sorted(set(ctext) - corpus_ids)
        corpus_ids |= set(rng.sample(distractors, min(600 - len(corpus_ids), len(distractors))))
        write_task(out, f"tatoeba-{direction}-retrieval", "retrieval", langs,
                   f"Tatoeba {direction[:2]}→{direction[3:]} retrieval: {len(qids)} queries, {len(corpus_ids)} documents; "
                   "qrels 2 = direct translation, 1 = translation of a sibling sentence.", TATOEBA,
                   {"queries.jsonl": [{"_id": q, "text": qtext[q]} for q in qids],
                    "corpus.jsonl": [{"_id": d, "text": ctext[d]} for d in sorted(corpus_ids)],
                    "qrels.tsv": [("query-id", "corpus-id", "score")] + qrels})

    # One pair per Chinese sentence, both sides unique, so top-1 mining is well defined.
    pairs, seen_en, seen_zh = [], set(), set()
    for zh_id in sorted(links):
        en_id = sorted(links[zh_id])[0]
        if en_text[en_id] in seen_en or zh_text[zh_id] in seen_zh:
            continue
        seen_en.add(en_text[en_id]); seen_zh.add(zh_text[zh_id])
        pairs.append((zh_text[zh_id], en_text[en_id]))
    rng.shuffle(pairs)
    bitext = pairs[:500]
    for name, rows_, langs in [("tatoeba-zh2en-bitext", [{"sentence1": z, "sentence2": e} for z, e in bitext], ["cmn-Hans", "eng-Latn"]),
                               ("tatoeba-en2zh-bitext", [{"sentence1": e, "sentence2": z} for z, e in bitext], ["eng-Latn", "cmn-Hans"])]:
        write_task(out, name, "bitext", langs, "Tatoeba zh–en bitext mining over 500 unique pairs.", TATOEBA, {"pairs.jsonl": rows_})

    # Pair classification: translations vs lexically close non-translations.
    english = [e for _, e in pairs]
    pair_rows = []
    for zh, en in pairs[500:700]:
        pair_rows.append({"sentence1": zh, "sentence2": en, "label": 1})
        w = words(en)
        close = max((e for e in english if e != en), key=lambda e: (len(w & words(e)) / (len(w | words(e)) or 1), e))
        pair_rows.append({"sentence1": zh, "sentence2": close, "label": 0})
    write_task(out, "tatoeba-zh-en-pairs", "pair", ["cmn-Hans", "eng-Latn"],
               "Is the English sentence a translation of the Chinese one? Negatives share the most words with the true translation.",
               TATOEBA, {"pairs.jsonl": pair_rows})

    # Reranking with hard negatives: 9 English sentences closest in words to the translation.
    rerank = []
    for zh, en in pairs[700:850]:
        w = words(en)
        negatives = sorted((e for e in english if e != en), key=lambda e: (-len(w & words(e)) / (len(w | words(e)) or 1), e))[:9]
        rerank.append({"query": zh, "positive": [en], "negative": negatives})
    write_task(out, "tatoeba-zh2en-reranking", "reranking", ["cmn-Hans", "eng-Latn"],
               "Rank the English translation of a Chinese sentence above 9 lexically similar non-translations.",
               TATOEBA, {"data.jsonl": rerank})


def hsk_tasks(data, out, rng):
    rows = [json.loads(l) for l in open(data / "hsk" / "dev.jsonl", encoding="utf-8")]
    by_topic = collections.defaultdict(list)
    for r in rows:
        by_topic[r["topic"]].append(r)
    train, test = [], []
    for topic in sorted(by_topic):
        items = sorted(by_topic[topic], key=lambda r: r["id"])
        rng.shuffle(items)
        half = len(items) // 2
        train += items[:half]
        test += items[half:]
    for lang, field, code in [("zh", "zh", "cmn-Hans"), ("en", "en", "eng-Latn")]:
        write_task(out, f"hsk-topic-classification-{lang}", "classification", [code],
                   f"HSK sentence topic ({len(by_topic)} topics), {lang}; logistic regression on 8 examples per topic, 10 runs.",
                   HSK, {"train.jsonl": [{"text": r[field], "label": r["topic"]} for r in train],
                         "test.jsonl": [{"text": r[field], "label": r["topic"]} for r in test]})
        write_task(out, f"hsk-topic-clustering-{lang}", "clustering", [code],
                   f"Cluster HSK sentences ({lang}) by topic; k = number of topics.", HSK,
                   {"data.jsonl": [{"text": r[field], "label": r["topic"]} for r in rows]})
    mixed = [{"text": r["zh"] if i % 2 else r["en"], "label": r["topic"]} for i, r in enumerate(sorted(rows, key=lambda r: r["id"]))]
    write_task(out, "hsk-topic-clustering-mixed", "clustering", ["cmn-Hans", "eng-Latn"],
               "Cluster HSK sentences by topic when half are Chinese and half English: language must not decide the clusters.",
               HSK, {"data.jsonl": mixed})
    # Bitext mining over every dev pair whose Chinese and English are both unique (no
    # sampling: the rng above stays untouched, so the other HSK files do not change).
    pairs, seen_zh, seen_en = [], set(), set()
    for r in sorted(rows, key=lambda r: r["id"]):
        if r["zh"] in seen_zh or r["en"] in seen_en:
            continue
        seen_zh.add(r["zh"]); seen_en.add(r["en"])
        pairs.append((r["zh"], r["en"]))
    for name, rows_, langs in [("hsk-zh2en-bitext", [{"sentence1": z, "sentence2": e} for z, e in pairs], ["cmn-Hans", "eng-Latn"]),
                               ("hsk-en2zh-bitext", [{"sentence1": e, "sentence2": z} for z, e in pairs], ["eng-Latn", "cmn-Hans"])]:
        write_task(out, name, "bitext", langs, f"HSK zh–en bitext mining over {len(pairs)} unique dev pairs.", HSK, {"pairs.jsonl": rows_})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--out", default="static/tasks")
    args = ap.parse_args()
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    tatoeba_tasks(Path(args.data), out, random.Random(20260912))
    hsk_tasks(Path(args.data), out, random.Random(20260913))
    tasks = sorted(p.name for p in out.iterdir() if p.is_dir())
    (out / "index.json").write_text(json.dumps(tasks, indent=1) + "\n")
    (out / "README.md").write_text(
        "# Bundled benchmark slices\n\nBuilt by `python3 tools/make_slices.py` from the dev splits only.\n\n"
        f"- Tatoeba tasks: {TATOEBA[1]}\n- HSK tasks: {HSK[1]}\n\n"
        "Derived files keep these licences (CC BY 2.0 FR for Tatoeba, CC BY-SA 4.0 for HSK sentences).\n")
    print(f"wrote {len(tasks)} tasks to {out}: {', '.join(tasks)}")


if __name__ == "__main__":
    main()
