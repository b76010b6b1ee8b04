#!/usr/bin/env python3
"""Build the bilingual search corpus the app ships (static/corpus) from the *dev* splits in
../shared/data: Tatoeba dev pairs and HSK dev sentences, each sentence once, in both
languages, with its source and the ids of its translations. Deterministic. Run from the
repository root:

    python3 tools/make_corpus.py [--data ../shared/data] [--out static/corpus]

Attribution travels with every passage ("source") and in static/corpus/README.md.
"""
import argparse
import json
from pathlib import Path

TATOEBA = "Sentences from Tatoeba (https://tatoeba.org), CC BY 2.0 FR"
HSK = "HSK sentences (github.com/no7z/hsk-sentences-audio), CC BY-SA 4.0"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--out", default="static/corpus")
    args = ap.parse_args()
    data, out = Path(args.data), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    passages = {}  # id -> passage; insertion order is the file's order

    def add(pid, text, lang, source):
        if pid not in passages:
            passages[pid] = {"id": pid, "text": text, "lang": lang, "source": source, "translations": []}
        return passages[pid]

    def link(a, b):
        if b["id"] not in a["translations"]:
            a["translations"].append(b["id"])
        if a["id"] not in b["translations"]:
            b["translations"].append(a["id"])

    rows = [l.rstrip("\n").split("\t") for l in open(data / "tatoeba" / "dev.tsv", encoding="utf-8")][1:]
    for zh_id, zh, en_id, en in rows:
        z = add(f"tatoeba-{zh_id}", zh, "zh", f"Tatoeba #{zh_id}")
        e = add(f"tatoeba-{en_id}", en, "en", f"Tatoeba #{en_id}")
        link(z, e)
    for line in open(data / "hsk" / "dev.jsonl", encoding="utf-8"):
        r = json.loads(line)
        where = f"HSK {r['hsk_level']} · {r['topic'].replace('_', ' ')}"
        z = add(f"{r['id']}-zh", r["zh"], "zh", where)
        e = add(f"{r['id']}-en", r["en"], "en", where)
        link(z, e)

    with open(out / "corpus.jsonl", "w", encoding="utf-8") as f:
        for p in passages.values():
            f.write(json.dumps(p, ensure_ascii=False) + "\n")
    n_zh = sum(p["lang"] == "zh" for p in passages.values())
    (out / "README.md").write_text(
        "# Bundled search corpus\n\n"
        "Built by `python3 tools/make_corpus.py` from the dev splits only: every Tatoeba dev pair and\n"
        "every HSK dev sentence, each sentence once, Chinese and English, with the ids of its\n"
        f"translations. {len(passages)} passages ({n_zh} zh, {len(passages) - n_zh} en).\n\n"
        f"- Tatoeba passages: {TATOEBA}; dev split of ../shared/data/tatoeba\n"
        f"- HSK passages: {HSK}; dev split of ../shared/data/hsk\n\n"
        "Derived files keep these licences (CC BY 2.0 FR for Tatoeba, CC BY-SA 4.0 for HSK sentences).\n",
        encoding="utf-8")
    print(f"{out}/corpus.jsonl: {len(passages)} passages ({n_zh} zh)")


if __name__ == "__main__":
    main()
