#!/usr/bin/env python3
"""Exact top-k search: quarry (f32, f16, int8 + rescoring, binary + rescoring) vs numpy (q @ X.T +
argpartition) and faiss-cpu (IndexFlatIP) on the same random unit vectors and queries, in one run,
printing `quarry X | peer Y | ratio` for every line.

    ~/.cache/quarry/torch-venv/bin/python scripts/bench/search.py          # or: make bench
    scripts/bench/search.py --sizes 10000,100000 --rounds 2                 # quicker

Method: the data (N x dim float32, normalized Gaussian rows, seed 1) and the queries (independent random
unit vectors) are written once as .npy under build/bench/data; every engine searches those very vectors
(quarry reads the .npy). Each quarry dtype runs as one `quarry bench search --serve` process that keeps
its vectors loaded, so the passes of all engines alternate round by round (other load on the machine
hits all of them alike) and the best pass of each is kept. Two regimes: 1 query per call (latency;
memory-bound: every call reads the whole corpus) and --batch queries per call (throughput; compute-bound).
quarry's int8/binary searches rescore their best --rescore candidates with f16 rows (as an index keeps
them); recall@k is against the exact f32 top-k. A rescoring sweep gives recall vs QPS per dtype.

quarry has no approximate-nearest-neighbour index (HNSW, IVF): hnswlib / USearch / faiss-HNSW are not
compared, since an ANN peer answers a different (approximate) question.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import ROOT, machine, quarry_bin  # noqa: E402

DTYPES = ["f32", "f16", "int8", "binary"]
ANN_NOTE = ("hnswlib / USearch / faiss-HNSW: not compared: quarry has no approximate (ANN) index; every search "
            "here is exact (int8/binary: exact scan of the quantized vectors, then full-precision rescoring)")


def make_data(path_x, path_q, n, dim, nq, seed):
    """Normalized Gaussian rows, generated in chunks (bounded memory), cached on disk."""
    if os.path.exists(path_x) and os.path.exists(path_q):
        x = np.load(path_x, mmap_mode="r")
        q = np.load(path_q, mmap_mode="r")
        if x.shape == (n, dim) and q.shape[0] >= nq and q.shape[1] == dim:
            return
    os.makedirs(os.path.dirname(path_x), exist_ok=True)
    rng = np.random.default_rng(seed)
    x = np.lib.format.open_memmap(path_x + ".tmp", mode="w+", dtype=np.float32, shape=(n, dim))
    for lo in range(0, n, 65536):
        hi = min(n, lo + 65536)
        b = rng.standard_normal((hi - lo, dim), dtype=np.float32)
        b /= np.linalg.norm(b, axis=1, keepdims=True)
        x[lo:hi] = b
    x.flush()
    del x
    os.replace(path_x + ".tmp", path_x)
    q = np.random.default_rng(seed + 1).standard_normal((nq, dim), dtype=np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    np.save(path_q, q)


class Quarry:
    """A `quarry bench search --serve` process holding one dtype's vectors."""

    def __init__(self, qbin, dtype, xpath, qpath, n, k, threads, rescore, log):
        args = [qbin, "bench", "search", "--serve", "--data", xpath, "--query-file", qpath, "--n", str(n),
                "--dtype", dtype, "--k", str(k), "--threads", str(threads)]
        if rescore:
            args += ["--rescore", str(rescore)]
        self.dtype = dtype
        self.p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
                                  cwd=ROOT)
        line = self.p.stdout.readline()
        if not line.startswith('{"ready"'):
            raise RuntimeError(f"quarry bench search --dtype {dtype} did not start (see {log.name})")

    def run(self, batch, queries, rescore=0):
        req = {"batch": batch, "queries": queries, "repeat": 1}
        if rescore:
            req["rescore"] = rescore
        self.p.stdin.write(json.dumps(req) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError(f"quarry bench search --dtype {self.dtype} exited")
        return json.loads(line)

    def close(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        self.p.wait()


def timed_pass(fn, q, batch):
    """Runs fn over q in calls of `batch` queries: (queries/s, per-call latencies in ms, results)."""
    lat, out = [], []
    t_all = 0.0
    for lo in range(0, len(q), batch):
        qb = q[lo:lo + batch]
        t0 = time.perf_counter()
        out.append(fn(qb))
        d = time.perf_counter() - t0
        t_all += d
        lat.append(1000 * d)
    return len(q) / t_all, lat, np.concatenate(out)


def pct(v, p):
    v = sorted(v)
    return v[max(0, min(len(v) - 1, int(np.ceil(p / 100 * len(v))) - 1))]


def fmt_n(n):
    return f"{n:,}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default=os.environ.get("QUARRY_BENCH_SIZES", "10000,100000,1000000"),
                    help="corpus sizes (env QUARRY_BENCH_SIZES)")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--batch", type=int, default=100, help="queries per call of the throughput regime")
    ap.add_argument("--queries-single", type=int, default=int(os.environ.get("QUARRY_BENCH_Q1", 50)),
                    help="queries timed per pass at 1 query/call")
    ap.add_argument("--queries-batch", type=int, default=int(os.environ.get("QUARRY_BENCH_QB", 200)),
                    help="queries timed per pass at --batch queries/call")
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("QUARRY_BENCH_ROUNDS", 3)),
                    help="alternating rounds (best pass kept)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--rescore", type=int, default=0, help="quarry int8/binary rescoring candidates (0 = 100)")
    ap.add_argument("--sweep", default="10,20,50,100,200,500,1000,2000",
                    help="rescoring candidates for the recall-vs-QPS sweep at the largest size ('' = none)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-faiss", action="store_true")
    ap.add_argument("--data-dir", default=os.path.join(ROOT, "build", "bench", "data"))
    ap.add_argument("--json", default=os.path.join(ROOT, "build", "bench", "search.json"))
    args = ap.parse_args()

    from threadpoolctl import threadpool_limits, threadpool_info
    threadpool_limits(args.threads)
    faiss = None
    if not args.no_faiss:
        try:
            import faiss as _faiss
            faiss = _faiss
            faiss.omp_set_num_threads(args.threads)
            # faiss-cpu 1.15 sends a batch of queries to BLAS (sgemm) only from
            # distance_compute_blas_threshold queries on, and its default (128,000
            # here) keeps every batched search of this benchmark on the slow
            # per-query path (165 vs 1,831 QPS at 100k x 100 queries). Users of
            # IndexFlat batch searches run with BLAS: so does the benchmark.
            faiss.cvar.distance_compute_blas_threshold = 20
        except ImportError:
            print("faiss-cpu is not installed (pip install faiss-cpu==1.15.1): faiss is skipped", file=sys.stderr)

    sizes = sorted(int(s) for s in args.sizes.split(",") if s.strip())
    nmax, dim, k, B = sizes[-1], args.dim, args.k, args.batch
    nq = max(args.queries_single, args.queries_batch)
    xpath = os.path.join(args.data_dir, f"x-{nmax}x{dim}-seed{args.seed}.npy")
    qpath = os.path.join(args.data_dir, f"q-{nq}x{dim}-seed{args.seed}.npy")
    t0 = time.time()
    make_data(xpath, qpath, nmax, dim, nq, args.seed)
    X = np.load(xpath)  # in RAM, as every engine holds it
    Q = np.load(qpath)
    print(f"data: {fmt_n(nmax)} x {dim} float32 ({X.nbytes / 1e9:.2f} GB), {nq} queries, {time.time() - t0:.1f}s",
          file=sys.stderr)

    qbin = quarry_bin()
    mi = machine()
    mi["threads"] = args.threads
    blas = [f"{i.get('internal_api')} {i.get('version')}" for i in threadpool_info() if i.get("user_api") == "blas"]
    versions = {"numpy": np.__version__, "blas": ", ".join(blas), "faiss": getattr(faiss, "__version__", None),
                "faiss_blas_threshold": faiss.cvar.distance_compute_blas_threshold if faiss is not None else None,
                "python": sys.version.split()[0],
                "quarry": subprocess.run([qbin, "--version"], capture_output=True, text=True).stdout.strip()}
    print(f"machine: {mi['cpu']}, {mi['cores']} cores, {args.threads} threads; numpy {versions['numpy']} "
          f"({versions['blas']}), faiss-cpu {versions['faiss']}, {versions['quarry']}")
    print(f"method: same vectors for all engines, {args.rounds} alternating rounds, best pass kept; "
          f"k={k}; 1 query/call: {args.queries_single} queries per pass; {B} queries/call: "
          f"{args.queries_batch} queries per pass")
    print(ANN_NOTE)

    log = open(os.path.join(os.path.dirname(args.json), "search-quarry.log"), "w")
    results, sweep = [], []
    modes = [(1, args.queries_single), (B, args.queries_batch)]
    for n in sizes:
        Xn = X[:n]
        peers = {"numpy": lambda qb, Xn=Xn: np.argpartition(qb @ Xn.T, -k, axis=1)[:, -k:]}
        if faiss is not None:
            index = faiss.IndexFlatIP(dim)
            index.add(Xn)
            peers["faiss"] = lambda qb, index=index: index.search(qb, k)[1]
        quarry = {}
        for dt in DTYPES:
            quarry[dt] = Quarry(qbin, dt, xpath, qpath, n, k, args.threads, args.rescore, log)
        best = {}  # (engine, batch) -> result
        engines = list(peers) + [f"quarry-{dt}" for dt in DTYPES]
        for r in range(args.rounds):
            for batch, qn in modes:
                order = engines[r % len(engines):] + engines[:r % len(engines)]  # rotate: no fixed position
                for e in order:
                    if e in peers:
                        qps, lat, _ = timed_pass(peers[e], Q[:qn], batch)
                        res = {"engine": e, "qps": qps, "latency_ms": {"p50": pct(lat, 50), "p99": pct(lat, 99)},
                               "recall_at_k": 1.0, "scan_bytes_per_vector": 4 * dim}
                    else:
                        res = quarry[e[7:]].run(batch, qn)
                        res["engine"] = e
                    cur = best.get((e, batch))
                    if cur is None or res["qps"] > cur["qps"]:
                        best[(e, batch)] = res
        # recall vs QPS sweep (largest size, 1 query per call)
        if n == nmax and args.sweep:
            for dt in ["int8", "binary"]:
                for rs in [int(s) for s in args.sweep.split(",")]:
                    if rs < k:
                        continue
                    res = quarry[dt].run(1, args.queries_single, rescore=rs)
                    sweep.append({"n": n, "dtype": dt, "rescore": rs, "qps": res["qps"], "recall_at_k": res["recall_at_k"],
                                  "batch": 1})
        for dt in DTYPES:
            quarry[dt].close()
        peer_names = list(peers)
        del peers
        if faiss is not None:
            del index

        for batch, qn in modes:
            print(f"\n== {fmt_n(n)} x {dim}, k={k}, {batch} quer{'y' if batch == 1 else 'ies'}/call "
                  f"({qn} queries per pass, best of {args.rounds})")
            peer_best = max((best[(p, batch)] for p in peer_names), key=lambda r: r["qps"])
            for p in peer_names:
                b = best[(p, batch)]
                print(f"  {p:<22} {b['qps']:9.1f} QPS   p50 {b['latency_ms']['p50']:8.2f} ms  p99 "
                      f"{b['latency_ms']['p99']:8.2f} ms   exact")
                results.append({"n": n, "dim": dim, "k": k, "batch": batch, "queries": qn, **b})
            for dt in DTYPES:
                b = best[(f"quarry-{dt}", batch)]
                name = dt + ("+rescore" if dt in ("int8", "binary") else "")
                ratio = b["qps"] / peer_best["qps"]
                print(f"  quarry {name:<15} quarry {b['qps']:9.1f} QPS | {peer_best['engine']} {peer_best['qps']:9.1f} QPS"
                      f" | ratio {ratio:5.2f}x   recall@{k} {b['recall_at_k']:.4f}   p50 {b['latency_ms']['p50']:7.2f} ms"
                      f"   {b['scan_bytes_per_vector']} B/vector scanned, {b['resident_bytes_per_vector']} resident,"
                      f" RSS {b['rss_mb']} MB")
                results.append({"n": n, "dim": dim, "k": k, "batch": batch, "queries": qn, "ratio_to_best_peer": ratio,
                                "best_peer": peer_best["engine"], **b})
    log.close()

    # bars (from the issue), at the largest size
    bars = []
    for batch, _ in modes:
        rs = [r for r in results if r["n"] == nmax and r["batch"] == batch]
        peer = max((r for r in rs if not r["engine"].startswith("quarry")), key=lambda r: r["qps"])
        q32 = next(r for r in rs if r["engine"] == "quarry-f32")
        q8 = next(r for r in rs if r["engine"] == "quarry-int8")
        bars.append({"n": nmax, "batch": batch, "bar": "quarry f32 >= 1.0x best peer", "ratio": q32["qps"] / peer["qps"],
                     "pass": q32["qps"] >= peer["qps"]})
        bars.append({"n": nmax, "batch": batch, "bar": "quarry int8+rescore >= 2x best f32 peer at recall@10 >= 0.99",
                     "ratio": q8["qps"] / peer["qps"], "recall": q8["recall_at_k"],
                     "pass": q8["qps"] >= 2 * peer["qps"] and q8["recall_at_k"] >= 0.99})
    print(f"\n== bars at {fmt_n(nmax)} x {dim}")
    for b in bars:
        print(f"  {b['batch']:>3} q/call: {b['bar']}: {b['ratio']:.2f}x"
              + (f", recall {b['recall']:.4f}" if "recall" in b else "") + f"  {'PASS' if b['pass'] else 'MISS'}")
    if sweep:
        print(f"\n== recall@{k} vs QPS, {fmt_n(nmax)} x {dim}, 1 query/call, rescoring candidates swept (f16 rows)")
        for s in sweep:
            print(f"  quarry {s['dtype']:<6} rescore {s['rescore']:5d}: {s['qps']:8.1f} QPS  recall@{k} {s['recall_at_k']:.4f}")

    out = {"bench": "search", "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": mi,
           "versions": versions, "dim": dim, "k": k, "batch": B, "rounds": args.rounds, "sizes": sizes,
           "data": "normalized Gaussian rows (numpy default_rng seed %d), independent random unit queries" % args.seed,
           "results": results, "sweep": sweep, "bars": bars, "ann": ANN_NOTE}
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(out, f, indent=1)
    print(f"\nwrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
