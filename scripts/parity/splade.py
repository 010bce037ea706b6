#!/usr/bin/env python3
"""SPLADE parity of quarry with sentence-transformers' SparseEncoder (make parity-splade).

    scripts/parity/splade.sh      (builds bin/quarry, picks the torch venv, runs this)

No real SPLADE checkpoint can be downloaded here, so this script makes one: a random-weight
BertForMaskedLM of all-MiniLM-L6-v2's shape (hidden 384, 6 layers, 12 heads, intermediate 1536) with
the real uncased WordPiece vocabulary and tokenizer files of all-MiniLM-L6-v2
(testdata/hf/all-MiniLM-L6-v2-layout, 30522 tokens), written by transformers itself
(save_pretrained) and wrapped by sentence-transformers itself (SparseEncoder with
Transformer(transformer_task="fill-mask") + SpladePooling(max, relu), saved with .save). Nothing on
the reference side comes from quarry's own generators or reference code.

Random MLM heads score about half of the vocabulary above zero for every token, so every vector
would be dense. To get SPLADE-like sparsity the MLM output bias (cls.predictions.bias) is set to
a negative constant plus noise (--bias-mean, --bias-std); the LayerNorm gains and every other bias
are randomized too, so that no term of the computation is a no-op.

Then: `quarry convert --sparse` (f32, f16, q8_0) of the saved SparseEncoder folder, `quarry embed --sparse`
of ~200 varied texts (those of scripts/parity/parity.py), and SparseEncoder.encode of the same texts.
Compares max |weight difference|, active dimensions (same set per text), cosine of the sparse vectors,
top-10 tokens per text and top-10 retrieval rankings (every text against all others, dot product);
sparsity (SparseEncoder.sparsity and quarry's) for short texts ("queries") and long ones
("documents"); and encode throughput at equal threads, sparse and dense (mean pooling over the
same encoder) on both sides. Exits 1 if the f32 model's max |Δ| > 1e-3, min cosine < 0.9999, or
top-10 retrieval overlap < 0.99.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parity import build_texts, short  # noqa: E402

LAYOUT = os.path.join(ROOT, "testdata", "hf", "all-MiniLM-L6-v2-layout")
TOKENIZER_FILES = ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]


def pick_texts(n):
    """n texts of parity.py's set: all its edge cases, then an even spread of the rest."""
    from parity import EDGE
    texts = build_texts()
    edge = [t for t in texts if t in EDGE]
    rest = [t for t in texts if t not in EDGE]
    idx = np.linspace(0, len(rest) - 1, num=max(0, n - len(edge))).round().astype(int)
    return edge + [rest[i] for i in sorted(set(idx))]


def make_mlm_folder(path, seed, bias_mean, bias_std):
    import torch
    from transformers import BertConfig, BertForMaskedLM

    with open(os.path.join(LAYOUT, "config.json")) as f:
        conf = json.load(f)
    conf["architectures"] = ["BertForMaskedLM"]
    conf["tie_word_embeddings"] = True
    for k in ("_name_or_path", "transformers_version", "gradient_checkpointing"):
        conf.pop(k, None)
    cfg = BertConfig(**conf)
    torch.manual_seed(seed)
    model = BertForMaskedLM(cfg).eval()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "cls.predictions.bias" or name.endswith("decoder.bias"):
                continue
            if "LayerNorm.weight" in name:
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.02 * torch.randn(p.shape, generator=g))
        bias = bias_mean + bias_std * torch.randn(cfg.vocab_size, generator=g)
        model.cls.predictions.bias.copy_(bias)
        if getattr(model.cls.predictions.decoder, "bias", None) is not None:
            model.cls.predictions.decoder.bias.copy_(bias)
    assert model.cls.predictions.decoder.weight.data_ptr() == model.bert.embeddings.word_embeddings.weight.data_ptr(), \
        "decoder not tied to the word embeddings"
    if os.path.isdir(path):
        shutil.rmtree(path)
    model.save_pretrained(path)
    for name in TOKENIZER_FILES:
        shutil.copy(os.path.join(LAYOUT, name), os.path.join(path, name))


def make_st_folders(mlm_dir, splade_dir, dense_dir, max_len):
    from sentence_transformers import SentenceTransformer, SparseEncoder
    from sentence_transformers.sparse_encoder.modules import SpladePooling, Transformer

    mlm = Transformer(mlm_dir, transformer_task="fill-mask", max_seq_length=max_len)
    splade = SparseEncoder(modules=[mlm, SpladePooling(pooling_strategy="max", activation_function="relu")], device="cpu")
    for p in (splade_dir, dense_dir):
        if os.path.isdir(p):
            shutil.rmtree(p)
    splade.save(splade_dir)
    # Dense twin for throughput: the same encoder weights, mean pooling.
    from sentence_transformers.sentence_transformer.modules import Pooling as STPooling, Transformer as STTransformer
    enc = STTransformer(mlm_dir, max_seq_length=max_len)
    dense = SentenceTransformer(modules=[enc, STPooling(enc.get_word_embedding_dimension(), "mean")], device="cpu")
    dense.save(dense_dir)


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.stderr.write(r.stdout + r.stderr)
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return r


def quarry_sparse(quarry, gguf, jsonl, out, threads, n, vocab):
    """Runs quarry embed --sparse; returns the dense [n, vocab] weights, texts/s and the sparsity line."""
    r = run([quarry, "embed", "--sparse", "-m", gguf, "--threads", str(threads), "--input-format", "jsonl",
             "-i", jsonl, "-o", out])
    tps = parse_rate(r.stderr)
    sp_line = [l for l in r.stderr.splitlines() if l.startswith("sparsity:")]
    m = np.zeros((n, vocab), dtype=np.float32)
    got = 0
    with open(out) as f:
        for line in f:
            rec = json.loads(line)
            i = int(rec["id"])
            for k, w in rec["sparse"].items():
                m[i, int(k)] = w
            got += 1
    return m, tps, (sp_line[0] if sp_line else ""), got


def quarry_dense(quarry, gguf, jsonl, threads):
    r = run([quarry, "embed", "-m", gguf, "--threads", str(threads), "--input-format", "jsonl", "-i", jsonl,
             "-f", "npy", "-o", os.devnull])
    return parse_rate(r.stderr)


def parse_rate(stderr):
    # "... in 1.234s: 162.1 texts/s, ..."
    for tok in stderr.replace(",", " ").split("texts/s")[0].split()[::-1]:
        try:
            return float(tok)
        except ValueError:
            continue
    raise SystemExit(f"no texts/s in: {stderr}")


def timed(fn, reps):
    best = None
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return best


def topk_sets(m, k):
    out = []
    for row in m:
        nz = np.flatnonzero(row)
        order = nz[np.lexsort((nz, -row[nz]))][:k]
        out.append(set(order.tolist()))
    return out


def retrieval(m, k):
    s = m.astype(np.float64) @ m.astype(np.float64).T
    np.fill_diagonal(s, -np.inf)
    res = []
    for row in s:
        order = np.lexsort((np.arange(len(row)), -row))
        res.append([j for j in order[:k] if row[j] > 0])
    return res


def sparsity(m):
    a = (m != 0).sum(1)
    return {"active_dims": float(a.mean()), "min": int(a.min()), "max": int(a.max()),
            "sparsity_ratio": float(1 - a.mean() / m.shape[1])}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quarry", default=os.path.join(ROOT, "bin", "quarry"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--texts", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bias-mean", type=float, default=-2.3)
    ap.add_argument("--bias-std", type=float, default=0.5)
    ap.add_argument("--reps", type=int, default=3, help="throughput: best of this many runs per side")
    ap.add_argument("--out", default=os.path.join(ROOT, "out", "parity-splade"))
    args = ap.parse_args()

    import torch
    import sentence_transformers
    import transformers
    from sentence_transformers import SentenceTransformer, SparseEncoder

    import warnings
    warnings.filterwarnings("ignore")
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    mlm_dir = os.path.join(args.out, "hf-bert-mlm")
    splade_dir = os.path.join(args.out, "st-splade")
    dense_dir = os.path.join(args.out, "st-dense")
    make_mlm_folder(mlm_dir, args.seed, args.bias_mean, args.bias_std)
    make_st_folders(mlm_dir, splade_dir, dense_dir, 256)

    texts = pick_texts(args.texts)
    n = len(texts)
    jsonl = os.path.join(args.out, "texts.jsonl")
    with open(jsonl, "w") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"id": str(i), "text": t}, ensure_ascii=False) + "\n")
    print(f"parity-splade: {n} texts; torch {torch.__version__}, transformers {transformers.__version__}, "
          f"sentence-transformers {sentence_transformers.__version__}; {args.threads} threads on both sides; "
          f"random MiniLM-L6-shaped BertForMaskedLM (seed {args.seed}, MLM bias N({args.bias_mean}, {args.bias_std}^2))")

    ggufs = {}
    for dtype in ("f32", "f16", "q8_0"):
        g = os.path.join(args.out, f"splade-{dtype}.gguf")
        if os.path.exists(g):
            os.remove(g)
        t0 = time.time()
        run([args.quarry, "convert", "--sparse", "-t", dtype, "-q", "--threads", str(args.threads), "-o", g, splade_dir])
        print(f"   quarry convert --sparse -t {dtype}: {time.time() - t0:.1f}s (self-verification passed)")
        ggufs[dtype] = g
    dense_gguf = os.path.join(args.out, "dense-f32.gguf")
    if os.path.exists(dense_gguf):
        os.remove(dense_gguf)
    run([args.quarry, "convert", "-t", "f32", "-q", "--no-verify", "-o", dense_gguf, dense_dir])

    model = SparseEncoder(splade_dir, device="cpu")
    vocab = model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension") else 30522
    tok_lens = [len(ids) for ids in model.tokenizer(texts)["input_ids"]]
    trunc = sum(l > model.max_seq_length for l in tok_lens)
    emb = model.encode(texts, batch_size=32, convert_to_tensor=True)
    st_stats = model.sparsity(emb)
    st = emb.to_dense().cpu().numpy().astype(np.float32)
    vocab = st.shape[1]
    np.save(os.path.join(args.out, "st.npy"), st)
    print(f"   {sum(min(l, model.max_seq_length) for l in tok_lens)} tokens, {trunc} texts truncated at {model.max_seq_length}; "
          f"vocabulary {vocab}")

    is_query = np.array([len(t) <= 120 for t in texts])
    results = {"texts": n, "threads": args.threads, "bias_mean": args.bias_mean, "bias_std": args.bias_std,
               "seed": args.seed, "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                                               "sentence_transformers": sentence_transformers.__version__}}
    failed = False
    qmats = {}
    for dtype, g in ggufs.items():
        q, tps, sp_line, got = quarry_sparse(args.quarry, g, jsonl, os.path.join(args.out, f"quarry-{dtype}.jsonl"),
                                             args.threads, n, vocab)
        qmats[dtype] = q
        if got != n:
            print(f"   quarry {dtype}: {got} vectors for {n} texts")
            failed = True
        diff = np.abs(q.astype(np.float64) - st.astype(np.float64))
        qa, sa = q != 0, st != 0
        only = qa ^ sa
        texts_differ = int(only.any(1).sum())
        only_max = float(np.maximum(np.where(only, q, 0), np.where(only, st, 0)).max()) if only.any() else 0.0
        dots = (q.astype(np.float64) * st).sum(1)
        nq, ns = np.linalg.norm(q.astype(np.float64), axis=1), np.linalg.norm(st.astype(np.float64), axis=1)
        cos = np.where((nq > 0) & (ns > 0), dots / np.maximum(nq * ns, 1e-300), np.where((nq == 0) & (ns == 0), 1.0, 0.0))
        w = int(cos.argmin())
        tq, ts = topk_sets(q, 10), topk_sets(st, 10)
        tok_overlap = float(np.mean([len(a & b) / max(1, len(b)) for a, b in zip(tq, ts)]))
        rq, rs = retrieval(q, 10), retrieval(st, 10)
        ret_overlap = float(np.mean([len(set(a) & set(b)) / max(1, len(b)) for a, b in zip(rq, rs)]))
        ret_exact = float(np.mean([a == b for a, b in zip(rq, rs)]))
        top1 = float(np.mean([(a[:1] == b[:1]) for a, b in zip(rq, rs)]))
        r = {"max_abs": float(diff.max()), "max_rel_of_max": float(diff.max() / max(st.max(), 1e-30)),
             "active_quarry": int(qa.sum()), "active_st": int(sa.sum()), "active_only_one_side": int(only.sum()),
             "texts_with_different_active_sets": texts_differ, "max_weight_active_only_one_side": only_max,
             "min_cos": float(cos.min()), "mean_cos": float(cos.mean()), "worst_text": texts[w],
             "top10_tokens_overlap": tok_overlap, "top10_retrieval_overlap": ret_overlap,
             "top10_retrieval_identical": ret_exact, "top1_retrieval_agreement": top1,
             "quarry_sparsity_line": sp_line}
        results[dtype] = r
        bad = dtype == "f32" and (r["max_abs"] > 1e-3 or r["min_cos"] < 0.9999 or ret_overlap < 0.99)
        failed |= bad
        print(f"\n== quarry {dtype} vs SparseEncoder{'  FAIL' if bad else ''}")
        print(f"   max |Δweight| {r['max_abs']:.2e} (largest weight {st.max():.3f})")
        print(f"   active dims: quarry {r['active_quarry']}, SparseEncoder {r['active_st']}; {r['active_only_one_side']} "
              f"active on one side only (in {texts_differ} texts, weights <= {only_max:.2e})")
        print(f"   cosine: min {r['min_cos']:.9f} (1-mean {1 - r['mean_cos']:.1e}), worst {short(texts[w], 50)}")
        print(f"   top-10 tokens overlap {tok_overlap:.4f}; top-10 retrieval overlap {ret_overlap:.4f} "
              f"(identical lists {ret_exact:.3f}, same top-1 {top1:.3f})")

    print("\n== sparsity (active dims per vector)")
    groups = {"queries (<= 120 chars)": is_query, "documents (> 120 chars)": ~is_query, "all": np.ones(n, bool)}
    results["sparsity"] = {}
    for gname, sel in groups.items():
        s_st = sparsity(st[sel])
        s_q = sparsity(qmats["f32"][sel])
        sts = model.sparsity(torch.from_numpy(st[sel])) if sel.any() else {}
        results["sparsity"][gname] = {"n": int(sel.sum()), "quarry": s_q, "sentence_transformers": s_st,
                                      "SparseEncoder.sparsity": sts}
        print(f"   {gname:26s} n={int(sel.sum()):3d}  quarry mean {s_q['active_dims']:7.1f} (min {s_q['min']}, max {s_q['max']}), "
              f"ratio {s_q['sparsity_ratio']:.5f}  |  SparseEncoder.sparsity {sts['active_dims']:7.1f}, ratio {sts['sparsity_ratio']:.5f}")
    print(f"   SparseEncoder.sparsity(all, as encoded): {st_stats}")
    print(f"   quarry: {results['f32']['quarry_sparsity_line']}")

    print(f"\n== throughput, {n} texts, {args.threads} threads, best of {args.reps}")
    dense = SentenceTransformer(dense_dir, device="cpu")
    model.encode(texts[:16], batch_size=32)
    dense.encode(texts[:16], batch_size=32)
    st_sparse = n / timed(lambda: model.encode(texts, batch_size=32, convert_to_tensor=True), args.reps)
    st_dense = n / timed(lambda: dense.encode(texts, batch_size=32), args.reps)
    q_sparse = max(parse_rate(run([args.quarry, "embed", "--sparse", "-m", ggufs["f32"], "--threads", str(args.threads),
                                   "--input-format", "jsonl", "-i", jsonl, "-o", os.devnull]).stderr)
                   for _ in range(args.reps))
    q_dense = max(quarry_dense(args.quarry, dense_gguf, jsonl, args.threads) for _ in range(args.reps))
    results["throughput"] = {"quarry_sparse": q_sparse, "st_sparse": st_sparse, "quarry_dense": q_dense,
                             "st_dense": st_dense}
    print(f"   sparse: quarry {q_sparse:7.1f} texts/s, SparseEncoder       {st_sparse:7.1f} texts/s, ratio {q_sparse / st_sparse:.2f}x")
    print(f"   dense:  quarry {q_dense:7.1f} texts/s, SentenceTransformer {st_dense:7.1f} texts/s, ratio {q_dense / st_dense:.2f}x")
    print(f"   sparse / dense: quarry {q_sparse / q_dense:.2f}, sentence-transformers {st_sparse / st_dense:.2f}")

    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1, ensure_ascii=False)
    print("\nparity-splade:", "FAILED" if failed else "passed", f"(results in {args.out}/results.json)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
