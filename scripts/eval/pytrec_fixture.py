#!/usr/bin/env python3
"""Golden metrics for quarry's engine/eval from pytrec_eval (trec_eval's C code).

    python scripts/eval/pytrec_fixture.py [--generate]

Reads testdata/beir/fixture/run.json (pytrec_eval's run: query -> doc -> score)
and testdata/beir/fixture/qrels.tsv (BEIR TSV with header), and writes
testdata/beir/fixture/pytrec_golden.json with, per query, pytrec_eval's
measures, for the run as given (keep_identical) and with BEIR's
ignore_identical_ids applied (ignore_identical: results whose doc id equals the
query id popped first, as beir/retrieval/evaluation.py does), plus the means
BEIR would print (sum over pytrec_eval's evaluated queries / their number).

MRR@10 is trec_eval's recip_rank on each query's run cut to its 10 best in
trec_eval's order (score descending, ties by doc id descending); recip_rank on
the uncut run is kept too, as a check on the tie order. hits@10 is success_10.

--generate first (re)writes the two input files from a fixed seed: graded
qrels (0..3 and -1), many tied scores, doc ids equal to query ids, queries
whose judgments are all <= 0, queries with an empty result dict, queries of
the run without judgments and judged queries missing from the run.

Needs pytrec_eval: the PyPI package pytrec-eval-terrier (module pytrec_eval,
prebuilt wheels; the original pytrec_eval 0.5 sdist downloads trec_eval from
GitHub while building). Tested with pytrec-eval-terrier 0.5.11.
"""
import argparse
import json
import os
import random
import sys

import pytrec_eval

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
FIX = os.path.join(ROOT, "testdata", "beir", "fixture")
MEASURES = {"ndcg_cut.1,3,5,10,100", "map_cut.10,100", "recall.5,10,100", "P.1,5,10", "recip_rank", "success.1,10"}


def generate():
    rnd = random.Random(20240607)
    docs = ["d%03d" % i for i in range(120)] + ["d9", "d10", "d100a", "D050", "doc-ü", "q07", "q11"]
    qrels, run = {}, {}
    for i in range(1, 41):
        q = "q%02d" % i
        kind = i % 10
        if kind != 9:  # q09, q19, ...: in the run only (no judgments)
            judged = rnd.sample(docs, rnd.randint(1, 14))
            rels = {}
            for d in judged:
                rels[d] = rnd.choice([0, 1, 1, 2, 3, -1]) if kind != 4 else rnd.choice([0, -1])
            if i in (7, 11):
                rels[q] = 2  # the query's own id judged relevant: dropped by ignore_identical_ids
            qrels[q] = rels
        if kind == 8:
            continue  # q08, q18, ...: judged but not in the run
        if kind == 6:
            run[q] = {}  # empty result list
            continue
        n = rnd.randint(1, 110)
        res = {}
        for d in rnd.sample(docs, min(n, len(docs))):
            res[d] = round(rnd.choice([rnd.random(), rnd.random(), 0.5, 0.25, 1.0]), 2 if i % 3 else 1)
        for d, r in sorted(qrels.get(q, {}).items()):
            if r > 0 and rnd.random() < 0.6:  # relevant documents often near the top, with ties
                res[d] = rnd.choice([1.0, 0.9, 0.9, 0.75, 0.5])
        if i in (7, 11, 13):
            res[q] = 0.99  # identical id near the top
        run[q] = res
    os.makedirs(FIX, exist_ok=True)
    with open(os.path.join(FIX, "qrels.tsv"), "w", newline="") as f:
        f.write("query-id\tcorpus-id\tscore\r\n")  # BEIR's files end lines with \r\n
        for q in sorted(qrels):
            for d in sorted(qrels[q]):
                f.write("%s\t%s\t%d\r\n" % (q, d, qrels[q][d]))
    with open(os.path.join(FIX, "run.json"), "w") as f:
        json.dump(run, f, indent=0, sort_keys=True, ensure_ascii=False)
        f.write("\n")


def read_qrels(path):
    qrels = {}
    with open(path, encoding="utf-8") as f:
        next(f)
        for line in f:
            q, d, s = line.rstrip("\r\n").split("\t")
            qrels.setdefault(q, {})[d] = int(s)
    return qrels


def trec_order(scores):
    # trec_eval form_res_rels.c comp_sim_docno: sim descending, then docno descending
    return sorted(scores.items(), key=lambda kv: (kv[1], kv[0].encode("utf-8")), reverse=True)


def evaluate(qrels, run):
    ev = pytrec_eval.RelevanceEvaluator(qrels, MEASURES)
    per = ev.evaluate(run)
    cut = {q: dict(trec_order(s)[:10]) for q, s in run.items()}
    rr10 = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(cut)
    for q in per:
        per[q]["mrr_10"] = rr10[q]["recip_rank"]
    names = {"ndcg@10": "ndcg_cut_10", "map@100": "map_cut_100", "recall@10": "recall_10", "recall@100": "recall_100",
             "mrr@10": "mrr_10", "p@10": "P_10", "hits@10": "success_10"}
    mean = {k: sum(per[q][v] for q in per) / len(per) for k, v in names.items()}
    return {"queries": len(per), "mean": mean, "per_query": per}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--generate", action="store_true")
    a = ap.parse_args()
    if a.generate:
        generate()
    qrels = read_qrels(os.path.join(FIX, "qrels.tsv"))
    with open(os.path.join(FIX, "run.json"), encoding="utf-8") as f:
        run = json.load(f)
    out = {"pytrec_eval": "pytrec-eval-terrier " + pytrec_version(), "keep_identical": evaluate(qrels, run)}
    popped = {q: {d: s for d, s in res.items() if d != q} for q, res in run.items()}
    out["ignore_identical"] = evaluate(qrels, popped)
    with open(os.path.join(FIX, "pytrec_golden.json"), "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.write("\n")
    print("wrote", os.path.join(FIX, "pytrec_golden.json"), "queries", out["ignore_identical"]["queries"], file=sys.stderr)


def pytrec_version():
    try:
        from importlib.metadata import version
        return version("pytrec-eval-terrier")
    except Exception:
        return "unknown"


if __name__ == "__main__":
    main()
