#!/usr/bin/env python3
"""Embed texts with an exported model in onnxruntime, the way a user would: tokenizer.json
beside the .onnx, right padding, the `sentence_embedding` output. Prints one JSON object:
{"embeddings": [[...], ...], "hidden": [batch, seq, hidden]}.

    python3 tests/onnx_check.py MODEL.onnx TEXTS.txt   (one text per line)
"""
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer


def main():
    model, texts = Path(sys.argv[1]), Path(sys.argv[2]).read_text(encoding="utf-8").splitlines()
    tok = Tokenizer.from_file(str(model.with_name("tokenizer.json")))
    rows = [tok.encode(t).ids for t in texts]
    seq = max(len(r) for r in rows)
    ids = np.zeros((len(rows), seq), dtype=np.int64)
    mask = np.zeros((len(rows), seq), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = r
        mask[i, :len(r)] = 1
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    vectors, hidden = session.run(["sentence_embedding", "last_hidden_state"], {"input_ids": ids, "attention_mask": mask})
    print(json.dumps({"embeddings": vectors.tolist(), "hidden": list(hidden.shape)}))


if __name__ == "__main__":
    main()
