#!/usr/bin/env python3
"""Writes testdata/golden/*.json: numpy float64 outputs of the test models.

For each golden model it runs `go run ./testdata/gen` with a fixed preset,
kind, type and seed, computes embeddings or rerank logits with the
independent numpy BERT (numpy_bert.py) for a fixed set of hand-written token
id sequences, and writes one JSON file per model. engine/bert's tests
regenerate the same models, check the file's sha256, and compare the Go
reference against these numbers.

  python3 -m venv .venv && .venv/bin/pip install -r scripts/ref/requirements.txt
  .venv/bin/python scripts/ref/golden.py          # from the module root
"""

import hashlib
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from numpy_bert import Bert  # noqa: E402

CLS, SEP, PAD, UNK, MASK = 101, 102, 0, 100, 103

# (preset, kind, labels, type, seed, gelu)
MODELS = [
    ("tiny", "mean", 0, "f32", 1, "erf"),
    ("tiny", "mean", 0, "f32", 1, "tanh"),
    ("tiny", "mean", 0, "f16", 1, "erf"),
    ("tiny", "mean", 0, "q8_0", 1, "erf"),
    ("tiny", "cls", 0, "f32", 2, "erf"),
    ("tiny", "rank", 0, "f32", 3, "erf"),
    ("tiny", "rank", 0, "f16", 3, "erf"),
    ("tiny", "rank", 3, "f32", 4, "erf"),
]


def single(body):
    """[CLS] body [SEP], all type 0."""
    ids = [CLS] + body + [SEP]
    return ids, [0] * len(ids)


def pair(a, b):
    """[CLS] a [SEP] b [SEP]: type 0 through the first [SEP], then 1."""
    first = [CLS] + a + [SEP]
    second = b + [SEP]
    return first + second, [0] * len(first) + [1] * len(second)


# Hand-written word-piece ids from bert-base-uncased (e.g. 7592 "hello",
# 2088 "world", 1996 "the", 4937 "cat"), plus edge ids: 0 [PAD], 100 [UNK],
# 103 [MASK], 1 [unused0], 999 "!", 30521 (the last id, "##～").
SINGLES = [
    single([7592]),                                               # 3 tokens
    single([7592, 2088]),                                         # 4
    single([1996, 4937, 2938, 2006, 1996, 13523, 1012]),          # 9
    single([100, 2003, 1037, 103, 1012, 1, 999, 30521, 0, 2023]), # 12: specials and edge ids
    single([2054, 2003, 1996, 3007, 1997, 2605, 1029, 3000, 2003, 1996, 3007, 1012, 2009, 2038]),  # 16
    single([(1996 + 37 * i) % 30522 for i in range(29)]),         # 31
    single([(2000 + 1009 * i) % 28000 + 2000 for i in range(31)]),  # 33
    single([(1999 + 7919 * i) % 28500 + 1999 for i in range(62)]),  # 64
]
PAIRS = [
    pair([7592], [2088]),                                          # 5
    pair([2054, 2003, 1037, 4937], [1037, 4937, 2003, 2019, 4111]),  # 12
    pair([2129, 2214, 2003, 1996, 3011], [1996, 3011, 2003, 2055, 1018, 1012, 1019, 4551, 2086, 2214, 1012]),  # 19
    pair([100, 103], [1, 999, 30521, 0]),                          # 9: edge ids
    pair([(2000 + 31 * i) % 29000 + 1000 for i in range(10)],
         [(3000 + 7717 * i) % 27000 + 2500 for i in range(27)]),  # 40
    pair([(1996 + 523 * i) % 28000 + 1996 for i in range(20)],
         [(2500 + 9973 * i) % 27000 + 2500 for i in range(41)]),  # 64
]
# The cross-encoder cases also run single segments (all type 0) so that the
# effect of token types is visible between cases.
RANK_CASES = PAIRS + [single([2054, 2003, 1037, 4937, 1037, 4937, 2003, 2019, 4111])]
HIDDEN_CASES = 2  # the first cases also carry the full last hidden states


def name(preset, kind, labels, typ, gelu):
    k = f"rank{labels}" if kind == "rank" and labels > 1 else kind
    n = f"{preset}-{k}-{typ}"
    return n + ("-gelu_tanh" if gelu == "tanh" else "")


def main():
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    out_dir = os.path.join(root, "testdata", "golden")
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for preset, kind, labels, typ, seed, gelu in MODELS:
            cmd = ["go", "run", "./testdata/gen", "-out", tmp, "-preset", preset, "-kind", kind,
                   "-type", typ, "-seed", str(seed)]
            if labels:
                cmd += ["-labels", str(labels)]
            path = subprocess.run(cmd, cwd=root, check=True, capture_output=True, text=True).stdout.strip()
            with open(path, "rb") as f:
                sha = hashlib.sha256(f.read()).hexdigest()
            m = Bert(path, gelu)
            cases = []
            rank = kind == "rank"
            for i, (ids, types) in enumerate(RANK_CASES if rank else SINGLES):
                c = {"ids": ids, "types": types}
                if rank:
                    c["logits"] = m.rerank(ids, types).tolist()
                else:
                    c["embedding"] = m.embed(ids, types).tolist()
                if i < HIDDEN_CASES:
                    c["hidden"] = m.hidden(ids, types).tolist()
                cases.append(c)
            doc = {
                "comment": "numpy float64 BERT (scripts/ref/numpy_bert.py) on a model from go run ./testdata/gen; "
                           "regenerate with scripts/ref/golden.py",
                "model": {"preset": preset, "kind": kind, "labels": labels, "type": typ, "seed": seed},
                "gguf_sha256": sha,
                "gelu": gelu,
                "numpy": np.__version__,
                "cases": cases,
            }
            out = os.path.join(out_dir, name(preset, kind, labels, typ, gelu) + ".json")
            with open(out, "w") as f:
                json.dump(doc, f, indent=1)
                f.write("\n")
            print(out)


if __name__ == "__main__":
    main()
