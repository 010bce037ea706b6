#!/usr/bin/env python3
"""quarry's HNSW against hnswlib and FAISS HNSW on the same vectors, queries and machine, in one run.

    scripts/bench/ann/run.sh [--n 100000] [--dim 384] ...      (makes the venv, then runs this)

Method. The data is N clustered unit vectors (C Gaussian clusters around random unit centres, noise of
norm --spread: the kind of structure real embeddings have, unlike uniform random vectors on which every
graph index degrades), and Q queries drawn the same way; both are written once as .npy files that every
engine reads. Ground truth is the exact top-k by inner product (numpy). Each engine builds with M 16,
ef_construction 200 on all cores (build time reported), then answers the queries one call each on one
thread at each ef of the sweep (the fastest of --repeat passes); recall@k against the ground truth.
quarry runs as `quarry bench ann` (f32 traversal, and f16/int8 traversal as asked). The report gives,
for target recalls 0.95 / 0.99 / 0.995, each engine's QPS at the smallest ef that reaches it, and the
quarry/peer ratios; the result goes to --json.

Real embeddings: --data X.npy --query-file Q.npy (e.g. from `quarry bench ann --index IDX --export DIR`:
an index's stored vectors with 1,000 of them held out as queries). Filtered search: --allow F keeps the rows
whose splitmix64(row xor seed) falls below F (the same rows `quarry bench ann --allow` keeps); the truth is
the exact top-k of the allowed rows, FAISS searches with an IDSelectorBitmap of them, quarry with its bitmap
(hnswlib's filter is a Python callback per visited node, not comparable, so it is left out).
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np


def cpu():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def clustered(rng, centres, n, spread):
    dim = centres.shape[1]
    idx = rng.integers(0, len(centres), n)
    x = centres[idx] + rng.standard_normal((n, dim), dtype=np.float32) * np.float32(spread / np.sqrt(dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x, dtype=np.float32)


def truth(x, q, k):
    out = np.empty((len(q), k), dtype=np.int64)
    for lo in range(0, len(q), 256):
        s = q[lo:lo + 256] @ x.T
        part = np.argpartition(-s, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(s, part, 1), axis=1)
        out[lo:lo + 256] = np.take_along_axis(part, order, 1)
    return out


def allowed_rows(n, seed, frac):
    with np.errstate(over="ignore"):
        z = (np.arange(n, dtype=np.uint64) ^ np.uint64(seed)) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53) < frac


def recall(got, gt):
    k = gt.shape[1]
    return sum(len(set(g[:k]) & set(t)) for g, t in zip(got, gt)) / gt.size


def sweep(name, search, q, gt, efs, repeat, k):
    pts = []
    for ef in efs:
        best, got = None, None
        for _ in range(repeat):
            t0 = time.perf_counter()
            res = [search(v, ef) for v in q]
            d = time.perf_counter() - t0
            if best is None or d < best:
                best, got = d, res
        r = recall(np.array([np.pad(np.asarray(g[:k]), (0, max(0, k - len(g))), constant_values=-1) for g in got]), gt)
        pts.append({"ef": ef, "qps": len(q) / best, "recall_at_k": r})
        print(f"  {name:14} ef {ef:4}: recall@{k} {r:.4f} {len(q) / best:9.1f} QPS", flush=True)
    return pts


def sweep_batch(name, search, q, gt, efs, repeat, k):
    """sweep with all queries in one call (all threads)."""
    pts = []
    for ef in efs:
        best, got = None, None
        for _ in range(repeat):
            t0 = time.perf_counter()
            res = search(q, ef)
            d = time.perf_counter() - t0
            if best is None or d < best:
                best, got = d, res
        r = recall(np.asarray(got)[:, :k], gt)
        pts.append({"ef": ef, "qps": len(q) / best, "recall_at_k": r})
        print(f"  {name:14} ef {ef:4}: recall@{k} {r:.4f} {len(q) / best:9.1f} QPS (one call, all threads)", flush=True)
    return pts


def at_recall(pts, target):
    ok = [p for p in pts if p["recall_at_k"] >= target]
    return max(ok, key=lambda p: p["qps"]) if ok else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quarry", default="bin/quarry")
    ap.add_argument("--n", type=int, default=100000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--clusters", type=int, default=1000)
    ap.add_argument("--spread", type=float, default=0.6)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--ef", default="10,16,24,32,48,64,96,128,192,256")
    ap.add_argument("--dtypes", default="f32,int8", help="quarry traversal copies measured; D/int8 = the engine's method: "
                    "the graph built over D rows, traversed over their int8 copy, rescored with the D rows")
    ap.add_argument("--rescore", type=int, default=40, help="quarry f16/int8 (and D/int8): candidates rescored with f32 (the D rows)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", help="real vectors: .npy float32 (N x dim); with --query-file")
    ap.add_argument("--query-file", help="queries: .npy float32")
    ap.add_argument("--allow", type=float, default=1.0, help="filtered search: fraction of rows allowed")
    ap.add_argument("--peers", default="hnswlib,faiss")
    ap.add_argument("--batch", action="store_true", help="all threads: every engine answers all queries in one call on all cores "
                    "(hnswlib knn_query num_threads, FAISS OpenMP, quarry bench ann --batch --threads 0)")
    ap.add_argument("--out", default="build/bench/ann")
    ap.add_argument("--json", default="build/bench/ann.json")
    a = ap.parse_args()
    efs = [int(e) for e in a.ef.split(",")]
    threads = os.cpu_count()
    os.makedirs(a.out, exist_ok=True)

    t0 = time.time()
    if a.data:
        xp, qp = a.data, a.query_file
        x = np.ascontiguousarray(np.load(xp), dtype=np.float32)
        q = np.ascontiguousarray(np.load(qp)[:a.queries], dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        a.n, a.dim, a.queries = x.shape[0], x.shape[1], q.shape[0]
        what = f"{xp} ({a.n} x {a.dim}), queries {qp}"
    else:
        rng = np.random.default_rng(a.seed)
        centres = rng.standard_normal((a.clusters, a.dim), dtype=np.float32)
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
        x = clustered(rng, centres, a.n, a.spread)
        q = clustered(rng, centres, a.queries, a.spread)
        xp, qp = os.path.join(a.out, "data.npy"), os.path.join(a.out, "queries.npy")
        np.save(xp, x)
        np.save(qp, q)
        what = f"{a.n} x {a.dim} clustered ({a.clusters} centres, spread {a.spread})"
    mask = allowed_rows(a.n, a.seed, a.allow) if a.allow < 1 else None
    if mask is not None:
        ids = np.flatnonzero(mask)
        gt = ids[truth(x[ids], q, a.k)]
        what += f", filtered: {len(ids)} rows allowed ({a.allow:g})"
    else:
        gt = truth(x, q, a.k)
    print(f"ann benchmark: {what}, {a.queries} queries, "
          f"k {a.k}, M {a.m}, ef_construction {a.ef_construction}; {cpu()}, {threads} cores; data + exact truth "
          f"{time.time() - t0:.1f} s", flush=True)
    res = {"bench": "ann", "machine": {"cpu": cpu(), "cores": threads}, "data": what, "n": a.n, "dim": a.dim,
           "queries": a.queries, "k": a.k, "m": a.m, "ef_construction": a.ef_construction, "allow": a.allow,
           "batch": a.batch, "engines": {}}
    if not a.data:
        res["clusters"], res["spread"] = a.clusters, a.spread
    peers = a.peers.split(",") if a.peers else []
    if mask is not None:
        peers = [p for p in peers if p != "hnswlib"]

    if "hnswlib" in peers:
        bench_hnswlib(a, x, q, gt, efs, threads, res)
    if "faiss" in peers:
        bench_faiss(a, x, q, gt, efs, threads, res, mask)
    run_quarry(a, xp, qp, res)
    report(a, res)


def bench_hnswlib(a, x, q, gt, efs, threads, res):
    import hnswlib
    t0 = time.time()
    h = hnswlib.Index(space="ip", dim=a.dim)
    h.init_index(max_elements=a.n, M=a.m, ef_construction=a.ef_construction, random_seed=a.seed)
    h.set_num_threads(threads)
    h.add_items(x, np.arange(a.n))
    hb = time.time() - t0
    print(f"hnswlib {hnswlib.__version__ if hasattr(hnswlib, '__version__') else '0.8.0'}: built in {hb:.1f} s on {threads} threads", flush=True)
    h.set_num_threads(1)

    def hs(v, ef):
        h.set_ef(ef)
        return h.knn_query(v, k=a.k, num_threads=1)[0][0]

    def hb_all(qs, ef):
        h.set_ef(ef)
        return h.knn_query(qs, k=a.k, num_threads=threads)[0]
    pts = sweep_batch("hnswlib", hb_all, q, gt, efs, a.repeat, a.k) if a.batch else sweep("hnswlib", hs, q, gt, efs, a.repeat, a.k)
    res["engines"]["hnswlib"] = {"build_s": hb, "points": pts}
    del h


def bench_faiss(a, x, q, gt, efs, threads, res, mask):
    import faiss
    faiss.omp_set_num_threads(threads)
    t0 = time.time()
    f = faiss.IndexHNSWFlat(a.dim, a.m, faiss.METRIC_INNER_PRODUCT)
    f.hnsw.efConstruction = a.ef_construction
    f.add(x)
    fb = time.time() - t0
    print(f"faiss {faiss.__version__} IndexHNSWFlat: built in {fb:.1f} s on {threads} threads", flush=True)
    faiss.omp_set_num_threads(1)

    bits = np.packbits(mask, bitorder="little") if mask is not None else None  # kept alive: the selector points into it
    sel = faiss.IDSelectorBitmap(a.n, faiss.swig_ptr(bits)) if mask is not None else None

    def fs(v, ef):
        if sel is not None:
            return f.search(v[None, :], a.k, params=faiss.SearchParametersHNSW(sel=sel, efSearch=ef))[1][0]
        f.hnsw.efSearch = ef
        return f.search(v[None, :], a.k)[1][0]
    def fs_all(qs, ef):
        faiss.omp_set_num_threads(threads)
        if sel is not None:
            return f.search(qs, a.k, params=faiss.SearchParametersHNSW(sel=sel, efSearch=ef))[1]
        f.hnsw.efSearch = ef
        return f.search(qs, a.k)[1]
    pts = sweep_batch("faiss", fs_all, q, gt, efs, a.repeat, a.k) if a.batch else sweep("faiss", fs, q, gt, efs, a.repeat, a.k)
    res["engines"]["faiss"] = {"build_s": fb, "points": pts}
    del f


def run_quarry(a, xp, qp, res):
    for tok in a.dtypes.split(","):
        dt, _, walk = tok.partition("/")
        cmd = [a.quarry, "bench", "ann", "--data", xp, "--n", str(a.n), "--query-file", qp, "--queries", str(a.queries), "--k", str(a.k),
               "--m", str(a.m), "--ef-construction", str(a.ef_construction), "--dtype", dt, "--ef", a.ef,
               "--repeat", str(a.repeat), "--threads", "0" if a.batch else "1", "--seed", str(a.seed), "--allow", str(a.allow)]
        if a.batch:
            cmd += ["--batch"]
        if walk:
            cmd += ["--traverse", walk]
        if dt != "f32" or walk:
            cmd += ["--rescore", str(a.rescore)]
        p = subprocess.run(cmd, capture_output=True, text=True)
        sys.stdout.write(p.stderr)
        if p.returncode != 0:
            sys.exit(f"ann.py: {' '.join(cmd)} failed ({p.returncode})")
        qr = json.loads(p.stdout.strip().splitlines()[-1])
        res["engines"]["quarry-" + tok.replace("/", "-")] = {"build_s": qr["build_s"], "bytes_per_vector": qr["bytes_per_vector"],
                                         "points": qr["points"], "rss_mb": qr["rss_mb"], "exact_qps": qr["exact_qps"]}


def report(a, res):

    mode = "all queries in one call on all threads" if a.batch else "1 thread, one query per call"
    print(f"\nQPS at matched recall@{a.k} ({mode}; the best ef reaching it):")
    names = list(res["engines"])
    print(f"{'recall':>7} | " + " | ".join(f"{n:>14}" for n in names) + " | quarry/hnswlib | quarry/faiss")
    res["matched"] = []
    for target in (0.95, 0.99, 0.995):
        row = {n: at_recall(res["engines"][n]["points"], target) for n in names}
        cells = [f"{row[n]['qps']:>9.0f} ef{row[n]['ef']:<4}" if row[n] else f"{'-':>14}" for n in names]
        qbest = max((row[n]["qps"] for n in names if n.startswith("quarry") and row[n]), default=None)
        rh = qbest / row["hnswlib"]["qps"] if qbest and row.get("hnswlib") else None
        rf = qbest / row["faiss"]["qps"] if qbest and row.get("faiss") else None
        ratio = lambda r, w: f"{r:>{w}.2f}×" if r else f"{'-':>{w + 1}}"
        print(f"{target:>7} | " + " | ".join(cells) + f" | {ratio(rh, 13)} | {ratio(rf, 11)}")
        res["matched"].append({"recall": target, "qps": {n: (row[n]["qps"] if row[n] else None) for n in names},
                               "quarry_over_hnswlib": rh, "quarry_over_faiss": rf})
    print("build (all cores): " + ", ".join(f"{n} {res['engines'][n]['build_s']:.1f} s" for n in names)
          + (f"; quarry f32 / hnswlib {res['engines']['quarry-f32']['build_s'] / res['engines']['hnswlib']['build_s']:.2f}×"
             if "quarry-f32" in res["engines"] and "hnswlib" in res["engines"] else ""))
    for n in names:
        if n.startswith("quarry"):
            print(f"{n}: exact scan {res['engines'][n]['exact_qps']:.0f} QPS (1 thread), {res['engines'][n]['bytes_per_vector']:.1f} bytes/vector")
    with open(a.json, "w") as fh:
        json.dump(res, fh, indent=1)
        fh.write("\n")
    print(f"wrote {a.json}")


if __name__ == "__main__":
    main()
