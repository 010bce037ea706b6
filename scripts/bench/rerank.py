#!/usr/bin/env python3
"""Rerank throughput: quarry (`quarry bench rerank`) vs sentence-transformers' CrossEncoder (PyTorch, CPU) on the
same weights, the same (query, document) pairs, the same batch size and the same number of threads, in one run,
printing `quarry X | peer Y | ratio` and how far the two sides' scores (raw logits) are apart.

    ~/.cache/quarry/torch-venv/bin/python scripts/bench/rerank.py            # or: make bench
    scripts/bench/rerank.py -n 128 --rounds 2                                # quicker

Model: no real cross-encoder checkpoint is needed. scripts/bench/crossenc writes a MiniLM-L6-shaped
BertForSequenceClassification folder (6 layers, hidden 384, 12 heads, the all-MiniLM-L6-v2 tokenizer) with
deterministic random weights (speed does not depend on their values); CrossEncoder loads that folder and
`quarry convert` turns it into the GGUF quarry runs. --hf-dir takes any local BertForSequenceClassification
folder instead (e.g. a real cross-encoder/ms-marco-MiniLM-L6-v2 download).

Method: documents are the deterministic benchmark sentences (scripts/bench/texts, --words words each), all
paired with one query. Rounds alternate the two sides (and which goes first); within a round each side scores
all pairs once in calls of --batch pairs, after a warm-up; the best round of each is kept. quarry's time is the
scoring pass only (`quarry bench rerank` loads the model and warms up before timing it), like the peer's.
"""
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import ROOT, machine, quarry_bin  # noqa: E402

QUERY = "how do i make a program run faster on many cores"


def docs(n, lo, hi, seed):
    out = subprocess.run(["go", "run", "./scripts/bench/texts", "-n", str(n), "-min", str(lo), "-max", str(hi),
                          "-seed", str(seed)], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return out.rstrip("\n").split("\n")


def run_quarry(qbin, model, dpath, n, batch, threads, query, scores=None):
    args = [qbin, "bench", "rerank", "-m", model, "--input", dpath, "--pairs", str(n), "--batch", str(batch),
            "--threads", str(threads), "--repeat", "1", "--query", query]
    if scores:
        args += ["--scores", scores]
    p = subprocess.run(args, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("quarry bench rerank failed:\n" + p.stderr)
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=int(os.environ.get("QUARRY_BENCH_RERANK_N", 512)),
                    help="(query, document) pairs per round (env QUARRY_BENCH_RERANK_N)")
    ap.add_argument("--batch", type=int, default=32, help="pairs per call, both sides")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("QUARRY_BENCH_ROUNDS", 3)),
                    help="alternating rounds, best kept (env QUARRY_BENCH_ROUNDS)")
    ap.add_argument("--words", default="10-60", help="words per document LO-HI")
    ap.add_argument("--query", default=QUERY)
    ap.add_argument("--seed", type=int, default=7, help="seed of the generated weights")
    ap.add_argument("--type", default="f32", help="quarry's weight type (quarry convert --type): f32, f16, q8_0")
    ap.add_argument("--hf-dir", help="an existing BertForSequenceClassification folder instead of the generated one")
    ap.add_argument("--verify", action="store_true", help="also run quarry convert's own verification (~15 s)")
    ap.add_argument("--json", default=os.path.join(ROOT, "build", "bench", "rerank.json"))
    args = ap.parse_args()
    lo, hi = (int(x) for x in args.words.split("-"))

    import torch
    import sentence_transformers
    import transformers
    from sentence_transformers import CrossEncoder

    torch.set_num_threads(args.threads)
    qbin = quarry_bin()
    work = tempfile.mkdtemp(prefix="quarry-bench-rerank-")
    try:
        hf = args.hf_dir
        if not hf:
            hf = os.path.join(work, "hf")
            subprocess.run(["go", "run", "./scripts/bench/crossenc", "-out", hf, "-seed", str(args.seed)],
                           cwd=ROOT, check=True, capture_output=True)
        model = os.path.join(work, f"rerank-{args.type}.gguf")
        conv = [qbin, "convert", hf, "-o", model, "--type", args.type, "--quiet", "--threads", str(args.threads)]
        if not args.verify:
            conv.append("--no-verify")
        p = subprocess.run(conv, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError("quarry convert failed:\n" + p.stderr)

        ce = CrossEncoder(hf, device="cpu")
        ident = torch.nn.Identity()
        texts = docs(args.n, lo, hi, 1)
        dpath = os.path.join(work, "docs.txt")
        with open(dpath, "w") as f:
            f.write("\n".join(texts) + "\n")
        pairs = [(args.query, d) for d in texts]
        tok = ce.tokenizer([p[0] for p in pairs], [p[1] for p in pairs], truncation=True)
        ntok = sum(len(x) for x in tok["input_ids"])

        ce.predict(pairs[:args.batch], batch_size=args.batch, activation_fn=ident)  # warm-up
        st_times, q_runs = [], []
        st_scores = None
        qscores = os.path.join(work, "scores.json")
        for r in range(args.rounds):
            for side in (["st", "quarry"] if r % 2 == 0 else ["quarry", "st"]):
                if side == "st":
                    t0 = time.perf_counter()
                    st_scores = ce.predict(pairs, batch_size=args.batch, activation_fn=ident, convert_to_numpy=True)
                    st_times.append(time.perf_counter() - t0)
                else:
                    q_runs.append(run_quarry(qbin, model, dpath, args.n, args.batch, args.threads, args.query,
                                             scores=qscores))
        st_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        with open(qscores) as f:
            q_scores = np.asarray(json.load(f), dtype=np.float64)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    st_scores = np.asarray(st_scores, dtype=np.float64).reshape(-1)
    diff = np.abs(q_scores - st_scores)
    qbest = min(q_runs, key=lambda r: r["seconds"])
    best_st = min(st_times)
    q_tok = qbest["tokens"]
    mi = machine()
    mi["threads"] = args.threads
    versions = {"torch": torch.__version__, "sentence_transformers": sentence_transformers.__version__,
                "transformers": transformers.__version__, "python": sys.version.split()[0],
                "quarry": subprocess.run([qbin, "--version"], capture_output=True, text=True).stdout.strip()}
    res = {
        "bench": "rerank", "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": mi,
        "versions": versions,
        "model": {"hf_dir": args.hf_dir or "generated: scripts/bench/crossenc (MiniLM-L6 shape, random weights)",
                  "seed": None if args.hf_dir else args.seed, "quarry_type": args.type},
        "pairs": args.n, "batch": args.batch, "words": args.words, "rounds": args.rounds, "query": args.query,
        "tokens": ntok, "quarry_tokens": q_tok,
        "quarry": {"seconds": qbest["seconds"], "pairs_per_s": args.n / qbest["seconds"],
                   "tokens_per_s": ntok / qbest["seconds"], "peak_rss_mb": qbest["peak_rss_mb"]},
        "sentence_transformers": {"seconds": best_st, "pairs_per_s": args.n / best_st, "tokens_per_s": ntok / best_st,
                                  "peak_rss_mb": st_rss},
        "ratio": best_st / qbest["seconds"],
        "agreement": {"max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()),
                      "max_abs_logit": float(np.abs(st_scores).max()), "logit_std": float(st_scores.std()),
                      "same_order_top10": bool(list(np.argsort(-q_scores)[:10]) == list(np.argsort(-st_scores)[:10]))},
        "runs": {"quarry": [r["seconds"] for r in q_runs], "st": st_times},
    }
    a = res["agreement"]
    print(f"machine: {mi['cpu']}, {mi['cores']} cores, {args.threads} threads; torch {torch.__version__}, "
          f"sentence-transformers {sentence_transformers.__version__}, {versions['quarry']}")
    print(f"model: {res['model']['hf_dir']}; quarry weights {args.type}; {args.n} pairs ({ntok} tokens), "
          f"batch {args.batch}, best of {args.rounds} alternating rounds")
    print(f"rerank  quarry {res['quarry']['pairs_per_s']:8.1f} pairs/s ({res['quarry']['tokens_per_s']:7.0f} tok/s)"
          f" | sentence-transformers CrossEncoder {res['sentence_transformers']['pairs_per_s']:8.1f} pairs/s"
          f" | ratio {res['ratio']:.2f}x")
    print(f"peak RSS quarry {qbest['peak_rss_mb']} MB | sentence-transformers process {st_rss} MB")
    print(f"agreement: max |logit diff| {a['max_abs_diff']:.2e}, mean {a['mean_abs_diff']:.2e} "
          f"(logits: max |x| {a['max_abs_logit']:.3f}, std {a['logit_std']:.3f}); same top-10 order: "
          f"{a['same_order_top10']}")
    if q_tok != ntok:
        print(f"note: token counts differ: quarry {q_tok}, sentence-transformers tokenizer {ntok}", file=sys.stderr)
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(res, f, indent=1)
    print(f"wrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
