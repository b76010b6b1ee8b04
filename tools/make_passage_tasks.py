#!/usr/bin/env python3
"""Passage retrieval tasks from the Tatoeba *dev* split, for sentence-window search: K
consecutive sentences in one language form a passage; the query is the translation of
one of them. Deterministic. Run from the repository root:

    python3 tools/make_passage_tasks.py [--data ../shared/data] [--out tests/fixtures/passage-tasks]

Writes tatoeba-{zh2en,en2zh}-passages-k{3,6,12}/ (MTEB retrieval layout) with attribution.
"""
import argparse
import collections
import json
import random
import shutil
from pathlib import Path

LICENSE = ("CC BY 2.0 FR", "Sentences from Tatoeba (https://tatoeba.org), CC BY 2.0 FR; dev split of ../shared/data/tatoeba")


def unique_pairs(data):
    rows = [l.rstrip("\n").split("\t") for l in open(data / "tatoeba" / "dev.tsv", encoding="utf-8")][1:]
    links = collections.defaultdict(set)
    zh_text, en_text = {}, {}
    for zh_id, zh, en_id, en in rows:
        zh_text[zh_id], en_text[en_id] = zh, en
        links[zh_id].add(en_id)
    pairs, seen_zh, seen_en = [], set(), set()
    for zh_id in sorted(links):
        en_id = sorted(links[zh_id])[0]
        zh, en = zh_text[zh_id], en_text[en_id]
        if zh in seen_zh or en in seen_en:
            continue
        seen_zh.add(zh)
        seen_en.add(en)
        pairs.append((zh, en))
    return pairs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--out", default="tests/fixtures/passage-tasks")
    args = ap.parse_args()
    data, out = Path(args.data), Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    pairs = unique_pairs(data)
    for k in (3, 6, 12):
        rng = random.Random(1000 + k)
        order = pairs[:]
        rng.shuffle(order)
        groups = [order[i:i + k] for i in range(0, len(order) - k + 1, k)]
        for direction, q_side, joiner, langs in [("zh2en", 0, " ", ["cmn-Hans", "eng-Latn"]),
                                                 ("en2zh", 1, "", ["eng-Latn", "cmn-Hans"])]:
            d_side = 1 - q_side
            corpus, queries, qrels = [], [], []
            for g, group in enumerate(groups):
                doc_id = f"p{g}"
                corpus.append({"_id": doc_id, "text": joiner.join(p[d_side] for p in group)})
                pick = rng.randrange(k)
                queries.append({"_id": f"q{g}", "text": group[pick][q_side]})
                qrels.append((f"q{g}", doc_id, 1))
            queries, qrels = queries[:300], qrels[:300]
            name = f"tatoeba-{direction}-passages-k{k}"
            d = out / name
            d.mkdir()
            meta = {"name": name, "type": "retrieval", "languages": langs,
                    "description": f"Tatoeba {direction[:2]}→{direction[3:]} passage retrieval: {len(corpus)} passages of {k} "
                                   f"consecutive sentences; each of {len(queries)} queries translates one sentence of its passage.",
                    "license": LICENSE[0], "source": LICENSE[1]}
            (d / "task.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n")
            (d / "corpus.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in corpus))
            (d / "queries.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in queries))
            (d / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{c}\t{s}\n" for q, c, s in qrels))
            print(f"{name}: {len(corpus)} passages, {len(queries)} queries")
    (out / "README.md").write_text(
        "Passage retrieval tasks built by `tools/make_passage_tasks.py` from the Tatoeba dev split "
        "(K consecutive sentences per passage; the query translates one of them).\n\n"
        f"{LICENSE[1]}.\n")


if __name__ == "__main__":
    main()
