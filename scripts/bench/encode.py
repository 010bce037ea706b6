#!/usr/bin/env python3
"""Encode throughput: quarry vs sentence-transformers (PyTorch, CPU) on the same weights, the same
texts and the same number of threads, in one run, printing the ratio.

    ~/.cache/quarry/torch-venv/bin/python scripts/bench/encode.py     # or: make bench (all of scripts/bench)

By default the model is the generated MiniLM-L6 shape twin (random weights: speed does not depend on
their values), exported to a sentence-transformers folder so both sides run identical weights.
--model takes any BERT GGUF (e.g. models/all-MiniLM-L6-v2-f32.gguf from `make models`).
"""
import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import ROOT, gguf_to_hf, machine, quarry_bin  # noqa: E402


def texts(n, seed=1):
    out = subprocess.run(["go", "run", "./scripts/bench/texts", "-n", str(n), "-seed", str(seed)],
                         cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return out.rstrip("\n").split("\n")


def run_quarry(qbin, model, path, threads, batch, impl="graph"):
    out = path + ".npy"
    p = subprocess.run([qbin, "embed", "-m", model, "--threads", str(threads), "--batch", str(batch),
                        "--impl", impl, "--format", "npy", "-o", out, path],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(p.stderr)
    m = re.search(r"in ([0-9.]+)s: .* peak RSS (\d+) MB", p.stderr)
    return float(m.group(1)), int(m.group(2)), np.load(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", help="BERT bi-encoder GGUF (default: generated MiniLM-L6 shape twin)")
    ap.add_argument("--type", default="f32", help="type of the generated twin: f32, f16, q8_0")
    ap.add_argument("-n", type=int, default=2000, help="sentences")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--batch", type=int, default=32, help="sentence-transformers batch size")
    ap.add_argument("--repeat", type=int, default=2, help="runs per side (best is kept), alternating")
    ap.add_argument("--latency", type=int, default=50, help="sentences for the batch-1 latency")
    ap.add_argument("--llama", action="store_true", help="also time quarry's llama.cpp implementation")
    ap.add_argument("--json", default=os.path.join(ROOT, "build", "bench", "encode.json"))
    args = ap.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(args.threads)
    qbin = quarry_bin()
    work = tempfile.mkdtemp(prefix="quarry-bench-")
    model = args.model
    if not model:
        subprocess.run(["go", "run", "./testdata/gen", "-out", work, "-preset", "minilm", "-kind", "mean",
                        "-type", args.type, "-seed", "7"], cwd=ROOT, check=True, capture_output=True)
        model = os.path.join(work, f"minilm-mean-{args.type}.gguf")
    hf = os.path.join(work, "hf")
    gguf_to_hf(model, hf, os.path.join(ROOT, "testdata", "vocab", "bert-base-uncased-vocab.txt"))
    st = SentenceTransformer(hf, device="cpu")

    sents = texts(args.n)
    tpath = os.path.join(work, "texts.txt")
    with open(tpath, "w") as f:
        f.write("\n".join(sents) + "\n")
    ntok = sum(len(x) for x in st.tokenizer(sents, truncation=True, max_length=st.max_seq_length)["input_ids"])

    st.encode(sents[:64], batch_size=args.batch)  # warm-up
    st_times, q_times, l_times = [], [], []
    q_rss, q_vecs, st_vecs = 0, None, None
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        st_vecs = st.encode(sents, batch_size=args.batch, convert_to_numpy=True)
        st_times.append(time.perf_counter() - t0)
        sec, q_rss, q_vecs = run_quarry(qbin, model, tpath, args.threads, 256)
        q_times.append(sec)
        if args.llama:
            l_times.append(run_quarry(qbin, model, tpath, args.threads, 256, impl="llama")[0])
    st_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024

    # batch-1 latency
    lat_st = []
    for s in sents[:args.latency]:
        t0 = time.perf_counter()
        st.encode([s], batch_size=1)
        lat_st.append(time.perf_counter() - t0)
    lpath = os.path.join(work, "lat.txt")
    with open(lpath, "w") as f:
        f.write("\n".join(sents[:args.latency]) + "\n")
    lat_q = run_quarry(qbin, model, lpath, args.threads, 1)[0] / args.latency

    cos = np.sum(q_vecs * st_vecs, axis=1) / (np.linalg.norm(q_vecs, axis=1) * np.linalg.norm(st_vecs, axis=1))
    best_st, best_q = min(st_times), min(q_times)
    res = {
        "machine": machine(), "threads": args.threads, "model": os.path.basename(model), "sentences": args.n,
        "tokens": ntok, "st_batch": args.batch,
        "sentence_transformers": {"seconds": best_st, "sentences_per_s": args.n / best_st, "tokens_per_s": ntok / best_st,
                                  "latency_ms": 1000 * statistics.median(lat_st), "peak_rss_mb": st_rss,
                                  "versions": {"torch": torch.__version__}},
        "quarry": {"seconds": best_q, "sentences_per_s": args.n / best_q, "tokens_per_s": ntok / best_q,
                   "latency_ms": 1000 * lat_q, "peak_rss_mb": q_rss},
        "ratio": best_st / best_q,
        "cosine_min": float(cos.min()), "cosine_mean": float(cos.mean()),
        "runs": {"st": st_times, "quarry": q_times, "llama": l_times},
    }
    if l_times:
        res["quarry_llama"] = {"seconds": min(l_times), "sentences_per_s": args.n / min(l_times)}
    m = res["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores, {args.threads} threads; model {res['model']}; "
          f"{args.n} sentences, {ntok} tokens")
    print(f"encode  quarry {res['quarry']['sentences_per_s']:8.1f} sent/s ({res['quarry']['tokens_per_s']:7.0f} tok/s)"
          f" | sentence-transformers {res['sentence_transformers']['sentences_per_s']:8.1f} sent/s"
          f" (batch {args.batch}) | ratio {res['ratio']:.2f}x")
    if l_times:
        print(f"encode  quarry llama.cpp path {res['quarry_llama']['sentences_per_s']:8.1f} sent/s"
              f" | ratio to ST {best_st / min(l_times):.2f}x")
    print(f"latency quarry {res['quarry']['latency_ms']:6.1f} ms | sentence-transformers "
          f"{res['sentence_transformers']['latency_ms']:6.1f} ms (batch 1)")
    print(f"peak RSS quarry {q_rss} MB | sentence-transformers process {st_rss} MB")
    print(f"agreement: min cosine {res['cosine_min']:.6f}, mean {res['cosine_mean']:.7f}")
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
