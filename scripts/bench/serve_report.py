#!/usr/bin/env python3
"""Tables, ratios and target checks of scripts/bench/serve.sh (standard library only).

    python3 scripts/bench/serve_report.py DIR [OUT.json]

DIR holds serve.sh's results: encode.json (quarry bench encode), quarry.json and quarry-hold.json,
infinity.json and infinity-hold.json (quarry bench serve against each server), search-http.json and
search-inproc.json. Prints the tables and one PASS/FAIL line per target of docs/serve.md; writes every
result and the checks into OUT.json; exits 1 when a target fails or quarry's results are missing.
"""
import json
import os
import sys


def load(d, name):
    p = os.path.join(d, name)
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)


def by_clients(res):
    return {p["clients"]: p for p in res["points"]} if res else {}


def main():
    d = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else None
    enc = load(d, "encode.json")
    qz, qh = load(d, "quarry.json"), load(d, "quarry-hold.json")
    inf, ih = load(d, "infinity.json"), load(d, "infinity-hold.json")
    sh, si = load(d, "search-http.json"), load(d, "search-inproc.json")
    checks, goals = [], []

    def check(name, ok, value):
        checks.append({"target": name, "pass": bool(ok), "value": value})
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {value}")

    m = (enc or qz or {}).get("machine", {})
    print(f"\nCPU: {m.get('cpu', '?')}, {m.get('cores', '?')} cores; quarry {m.get('quarry_version', '?')}; "
          f"threads {enc['threads'] if enc else '?'}")
    steps = os.environ.get("QUARRY_SERVE_STEPS", "quarry infinity search").replace(",", " ").split()
    if "quarry" in steps and (not enc or not qz):
        print("FAIL  quarry's offline or HTTP results are missing (see the log above)")
        sys.exit(1)
    if not enc or not qz:
        print("(the quarry step was not run: no embedding results or targets)")
        enc, qz = enc or {"points": [], "model": "?", "threads": "?"}, None
    if qz:
        embeddings(enc, qz, qh, inf, ih, d, check, goals)
    search(sh, si, d, check)
    finish(out, m, enc, qz, qh, inf, ih, sh, si, checks, goals)


def embeddings(enc, qz, qh, inf, ih, d, check, goals):
    pts = enc["points"]
    best = max(pts, key=lambda p: p["sentences_per_s"])
    b1 = next((p for p in pts if p["batch"] == 1), None)
    print(f"offline (quarry bench encode {enc['model']}, words {pts[0]['words']}, {pts[0]['sentences']} sentences): "
          + ", ".join(f"batch {p['batch']} {p['sentences_per_s']:.1f}/s" for p in pts)
          + (f"; single text {b1['ms_per_call']:.2f} ms" if b1 else ""))

    q, i = by_clients(qz), by_clients(inf)
    print(f"\n/v1/embeddings, one sentence per request, {qz['duration_s']:.0f} s per point after {qz['warmup_s']:.0f} s warm-up"
          f" (sentences/s, ms){'' if inf else '; infinity-emb: not run'}")
    head = f"{'clients':>7} | {'quarry/s':>9} {'p50':>8} {'p99':>8} {'err':>4} {'RSS MB':>7}"
    if inf:
        head += f" | {'infinity/s':>10} {'p50':>8} {'p99':>8} {'err':>4} {'RSS MB':>7} | {'thr q/i':>7} {'p99 q/i':>7}"
    print(head)
    for n in sorted(q):
        a = q[n]
        line = f"{n:>7} | {a['per_s']:>9.1f} {a['p50_ms']:>8.1f} {a['p99_ms']:>8.1f} {a['errors']:>4} {(a.get('rss') or {}).get('max_mb', -1):>7}"
        if n in i:
            b = i[n]
            thr = a["per_s"] / b["per_s"] if b["per_s"] else float("inf")
            p99 = a["p99_ms"] / b["p99_ms"] if b["p99_ms"] else float("inf")
            line += (f" | {b['per_s']:>10.1f} {b['p50_ms']:>8.1f} {b['p99_ms']:>8.1f} {b['errors']:>4} "
                     f"{(b.get('rss') or {}).get('max_mb', -1):>7} | {thr:>6.2f}× {p99:>6.2f}×")
        print(line)
    for name, h in (("quarry", qh), ("infinity", ih)):
        if h:
            p = h["points"][0]
            r = p.get("rss") or {}
            print(f"{name}: {p['clients']} clients for {h['duration_s']:.0f} s: {p['per_s']:.1f}/s, p50 {p['p50_ms']:.1f} ms, "
                  f"p99 {p['p99_ms']:.1f} ms, {p['errors']} errors; RSS start {r.get('start_mb')} MB, end {r.get('end_mb')} MB, "
                  f"max {r.get('max_mb')} MB (process peak {r.get('hwm_mb')} MB)")
    if not inf:
        skipped = os.path.join(d, "infinity-skipped.txt")
        if os.path.exists(skipped):
            print(open(skipped).read().strip())

    # The targets (docs/serve.md, issue 20).
    print()
    if 64 in q:
        a = q[64]
        check("64 clients reach >= 90 % of the best offline batched rate", a["per_s"] >= 0.9 * best["sentences_per_s"],
              f"{a['per_s']:.1f} vs {best['sentences_per_s']:.1f} sentences/s at batch {best['batch']} "
              f"({100 * a['per_s'] / best['sentences_per_s']:.0f} %)")
        check("p99 < 5 x p50 at 64 clients", a["p99_ms"] < 5 * a["p50_ms"],
              f"p99 {a['p99_ms']:.1f} ms, p50 {a['p50_ms']:.1f} ms ({a['p99_ms'] / max(a['p50_ms'], 1e-9):.2f}×)")
    errs = sum(p["errors"] for r in (qz, qh) if r for p in r["points"])
    check("0 errors (every point, warm-ups and the 200-client hold included)", errs == 0, f"{errs} errors")
    if 1 in q and b1:
        a = q[1]
        check("1 client: p50 <= 1.2 x the in-process single-text latency", a["p50_ms"] <= 1.2 * b1["ms_per_call"],
              f"p50 {a['p50_ms']:.2f} ms vs {b1['ms_per_call']:.2f} ms ({a['p50_ms'] / b1['ms_per_call']:.2f}×)")
    if qh:
        r = qh["points"][0].get("rss") or {}
        if r:
            grow = r["max_mb"] - r["start_mb"]
            check(f"RSS bounded under 200 clients for {qh['duration_s']:.0f} s (max - start <= 64 MB)", grow <= 64 and r["start_mb"] >= 0,
                  f"start {r['start_mb']} MB, end {r['end_mb']} MB, max {r['max_mb']} MB (+{grow} MB)")
    if inf and 64 in i and 64 in q:
        for n in (64, 200):
            if n in i and n in q and i[n]["per_s"]:
                ratio = q[n]["per_s"] / i[n]["per_s"]
                goals.append({"goal": f"quarry/infinity throughput at {n} clients >= 1.5", "met": ratio >= 1.5, "value": ratio})
                print(f"GOAL {'MET   ' if ratio >= 1.5 else 'MISSED'} quarry/infinity throughput at {n} clients >= 1.5×: {ratio:.2f}×")



def search(sh, si, d, check):
    if sh or si:
        print(f"\nsearch on the demo index ({(sh or si)['texts']} queries of testdata/beir/debian, k 10, rerank top 20 with a "
              "generated MiniLM-L6-shaped cross-encoder: random weights, real cost), queries/s and ms")
        hs = {(p["mode"], p["clients"]): p for p in (sh or {"points": []})["points"]}
        ins = {(p["mode"], p["clients"]): p for p in (si or {"points": []})["points"]}
        print(f"{'mode':>14} {'clients':>7} | {'HTTP/s':>8} {'p50':>7} {'p99':>7} {'err':>3} | {'in-proc/s':>9} {'p50':>7} {'p99':>7} | "
              f"{'HTTP/in-proc':>12} {'p50 +ms':>7}")
        order = list(dict.fromkeys(k[0] for k in list(hs) + list(ins)))  # modes in the order measured
        for key in sorted(set(hs) | set(ins), key=lambda k: (order.index(k[0]), k[1])):
            a, b = hs.get(key), ins.get(key)
            line = f"{key[0]:>14} {key[1]:>7} | "
            line += f"{a['per_s']:>8.1f} {a['p50_ms']:>7.2f} {a['p99_ms']:>7.2f} {a['errors']:>3} | " if a else f"{'-':>8} {'':>7} {'':>7} {'':>3} | "
            line += f"{b['per_s']:>9.1f} {b['p50_ms']:>7.2f} {b['p99_ms']:>7.2f} | " if b else f"{'-':>9} {'':>7} {'':>7} | "
            if a and b and b["per_s"]:
                line += f"{a['per_s'] / b['per_s']:>11.2f}× {a['p50_ms'] - b['p50_ms']:>+7.2f}"
            print(line)
        if sh:
            errs = sum(p["errors"] for p in sh["points"])
            check("search over HTTP: 0 errors", errs == 0, f"{errs} errors")
    elif os.path.exists(os.path.join(d, "search-skipped.txt")):
        print("\n" + open(os.path.join(d, "search-skipped.txt")).read().strip())



def finish(out, m, enc, qz, qh, inf, ih, sh, si, checks, goals):
    if out:
        with open(out, "w") as f:
            json.dump({"bench": "serve", "machine": m, "encode": enc, "quarry": qz, "quarry_hold": qh, "infinity": inf,
                       "infinity_hold": ih, "search_http": sh, "search_inproc": si, "checks": checks, "goals": goals}, f, indent=1)
            f.write("\n")
        print(f"\nwrote {out}")
    failed = [c["target"] for c in checks if not c["pass"]]
    if failed:
        print(f"serve.sh: {len(failed)} target(s) failed", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
