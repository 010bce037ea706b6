#!/usr/bin/env python3
"""Rebuild BEIR SciFact (corpus.jsonl, queries.jsonl, qrels/test.tsv) from public copies and verify it.

    python scripts/eval/scifact_assemble.py --scifact-zip scifact.zip --queries queries.jsonl \
        --qrels test.tsv [--claims-dev claims_dev.jsonl] --out DIR

No repository we found holds BEIR's corpus.jsonl as a whole file that could be fetched (the copies
are git-lfs pointers or too large to be served); the pieces used (see scripts/eval/README.md):

  --scifact-zip  sumithra-p-v/claimverifier data/scifact.zip: corpus_train.csv (doc_id, title,
                 abstract as a numpy-printed list of sentences, structured), the allenai SciFact
                 corpus. BEIR's text is the abstract's sentences, each stripped, joined by " ";
                 each line is json.dumps({"_id", "title", "text", "metadata": {}}).
  --queries      Kirloxious/CSI4107_Assignment2 scifact/queries.jsonl (BEIR's file as is).
  --qrels        moorateeahtashil/Information-Retrieval scifact/qrels/test.tsv (BEIR's file, CRLF).
  --claims-dev   optional: allenai's claims_dev.jsonl (e.g. ZhiweiZhang97/ARSJointModel
                 data/claims_dev.jsonl) to cross-check the qrels (BEIR's test = dev claims x cited docs).

Checks: the rebuilt corpus.jsonl must have the sha256 of BEIR's file (recorded in the git-lfs
pointer of moorateeahtashil/Information-Retrieval scifact/corpus.jsonl), queries.jsonl likewise;
5,183 documents, 1,109 queries, 339 test judgments over 300 queries, every judged document in the
corpus. SciFact is CC BY-NC 2.0: keep the output out of this repository.
"""
import argparse
import ast
import csv
import hashlib
import io
import json
import os
import sys
import tokenize
import zipfile

CORPUS_SHA256 = "dec31c8182f3d744c7d2c09423756fd1d17cbef75808db13ba01cc0aab4d1ac6"  # size 8106566
QUERIES_SHA256 = "8ff84a7c903f722981cd8d595c022660140c51867b27608a6d4910db86080313"  # size 209731


def sentences(s):
    # the abstract column is numpy's print of an array of str: a run of Python string literals
    return [ast.literal_eval(t.string) for t in tokenize.generate_tokens(io.StringIO(s).readline) if t.type == tokenize.STRING]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scifact-zip", required=True)
    ap.add_argument("--queries", required=True)
    ap.add_argument("--qrels", required=True)
    ap.add_argument("--claims-dev")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    csv.field_size_limit(1 << 30)
    with zipfile.ZipFile(a.scifact_zip) as z:
        rows = list(csv.DictReader(io.TextIOWrapper(z.open("corpus_train.csv"), encoding="utf-8", newline="")))
    data = "".join(json.dumps({"_id": r["doc_id"], "title": r["title"], "text": " ".join(s.strip() for s in sentences(r["abstract"])),
                               "metadata": {}}) + "\n" for r in rows).encode()
    ok = True

    def check(what, cond):
        nonlocal ok
        print(("ok   " if cond else "FAIL ") + what)
        ok = ok and cond

    check("corpus.jsonl sha256 = BEIR's (%d documents, %d bytes)" % (len(rows), len(data)), hashlib.sha256(data).hexdigest() == CORPUS_SHA256)
    queries = open(a.queries, "rb").read()
    check("queries.jsonl sha256 = BEIR's", hashlib.sha256(queries).hexdigest() == QUERIES_SHA256)
    qrels_bytes = open(a.qrels, "rb").read()
    lines = qrels_bytes.decode().replace("\r\n", "\n").strip("\n").split("\n")
    pairs = [tuple(l.split("\t")) for l in lines[1:]]
    check("qrels: header, 339 judgments, 300 queries", lines[0] == "query-id\tcorpus-id\tscore" and len(pairs) == 339 and len({p[0] for p in pairs}) == 300)
    ids = {r["doc_id"] for r in rows}
    qids = {json.loads(l)["_id"] for l in queries.decode().splitlines() if l.strip()}
    check("every judged document in the corpus, every judged query in queries.jsonl", all(p[1] in ids and p[0] in qids for p in pairs))
    if a.claims_dev:
        cited = {(str(c["id"]), str(d), "1") for c in map(json.loads, open(a.claims_dev)) for d in c["cited_doc_ids"]}
        check("qrels = allenai claims_dev x cited_doc_ids", cited == set(pairs))
    os.makedirs(os.path.join(a.out, "qrels"), exist_ok=True)
    open(os.path.join(a.out, "corpus.jsonl"), "wb").write(data)
    open(os.path.join(a.out, "queries.jsonl"), "wb").write(queries)
    open(os.path.join(a.out, "qrels", "test.tsv"), "wb").write(qrels_bytes)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
