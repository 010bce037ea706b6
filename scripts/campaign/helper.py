#!/usr/bin/env python3
"""Helpers of scripts/campaign/run.sh (standard library only).

  helper.py corpus OUT FIRST N SEED   write N JSONL documents d{FIRST..}: each
                                      holds the unique token uq{NUMBER}
  helper.py queries OUT IDSFILE...    one BM25 query per id of the files
  helper.py check RESULTS INFO LIVE DELETED
                                      compare `quarry search --json` results
                                      (a query per id) and `quarry info --json`
                                      with the expected live and deleted ids;
                                      prints one JSON line and exits 1 on a
                                      mismatch
  helper.py summary DIR               write DIR/summary.json and summary.txt
"""
import json
import os
import re
import random
import sys

WORDS = "alpha beta gamma delta river stone cloud paper engine garden lamp field".split()


def num(doc_id):
    return int(doc_id[1:])


def corpus(out, first, n, seed):
    rng = random.Random(int(seed) * 1000003 + int(first))
    with open(out, "w") as f:
        for i in range(int(first), int(first) + int(n)):
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 60)))
            f.write(json.dumps({"_id": "d%06d" % i, "text": "uq%06d %s" % (i, words)}) + "\n")


def read_ids(path):
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def queries(out, *files):
    with open(out, "w") as f:
        for p in files:
            for d in read_ids(p):
                f.write(json.dumps({"_id": d, "text": "uq%06d" % num(d)}) + "\n")


def check(results, info, live, deleted):
    live_ids, deleted_ids = set(read_ids(live)), set(read_ids(deleted))
    got = {}
    with open(results) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                got[r["query_id"]] = [x["id"] for x in r["results"]]
    lost = sorted(d for d in live_ids if got.get(d, []).count(d) == 0)
    dup = sorted(d for d in live_ids | deleted_ids if got.get(d, []).count(d) > 1)
    resurrected = sorted(d for d in deleted_ids if got.get(d, []).count(d) > 0)
    with open(info) as f:
        inf = json.load(f)
    out = {
        "live": len(live_ids),
        "deleted": len(deleted_ids),
        "info_documents": inf.get("documents"),
        "lost": lost[:20],
        "duplicated": dup[:20],
        "resurrected": resurrected[:20],
        "lost_count": len(lost),
        "duplicated_count": len(dup),
        "resurrected_count": len(resurrected),
    }
    out["ok"] = not lost and not dup and not resurrected and inf.get("documents") == len(live_ids)
    print(json.dumps(out))
    return 0 if out["ok"] else 1


def summary(d):
    s = {"kind": "quarry fuzzing and kill -9 campaign"}
    with open(os.path.join(d, "params.json")) as f:
        s["params"] = json.load(f)
    tsv = os.path.join(d, "fuzz", "fuzz-summary.tsv")
    s["fuzz"] = []
    if os.path.exists(tsv):
        with open(tsv) as f:
            next(f)
            for line in f:
                pkg, name, execs, status, secs = line.rstrip("\n").split("\t")
                s["fuzz"].append({"package": pkg, "target": name, "execs": int(execs), "status": status, "seconds": int(secs)})
    rounds = []
    rt = os.path.join(d, "kill", "rounds.jsonl")
    if os.path.exists(rt):
        with open(rt) as f:
            rounds = [json.loads(line) for line in f if line.strip()]
    s["kill"] = {
        "rounds": len(rounds),
        "killed": sum(1 for r in rounds if r["killed"]),
        "finished_before_kill": sum(1 for r in rounds if not r["killed"]),
        "mismatches": sum(1 for r in rounds if not r["check"]["ok"]),
        "rerun_failures": sum(1 for r in rounds if r["rerun_rc"] != 0),
        "by_op": {},
    }
    for r in rounds:
        k = r["model"] + " " + r["op"]
        b = s["kill"]["by_op"].setdefault(k, {"rounds": 0, "killed": 0, "mismatches": 0})
        b["rounds"] += 1
        b["killed"] += int(r["killed"])
        b["mismatches"] += int(not r["check"]["ok"])
    s["crashes"] = sum(1 for t in s["fuzz"] if t["status"] == "FAIL")
    s["ok"] = s["crashes"] == 0 and s["kill"]["mismatches"] == 0 and s["kill"]["rerun_failures"] == 0
    sk = os.path.join(d, "serve-kill")
    if os.path.exists(os.path.join(sk, "rc")):
        with open(os.path.join(sk, "rc")) as f:
            rc = int(f.read().strip() or 1)
        with open(os.path.join(sk, "test.log"), errors="replace") as f:
            log = f.read()
        m = re.search(r"(\d+) kill -9 rounds: .*", log)
        s["serve_kill"] = {"rounds": int(m.group(1)) if m else 0, "ok": rc == 0 and m is not None, "result": m.group(0) if m else "",
                           "failures": [l.strip() for l in log.splitlines() if "serve_kill_test.go" in l and "kill -9 rounds:" not in l][:20]}
        s["ok"] = s["ok"] and s["serve_kill"]["ok"]
    with open(os.path.join(d, "summary.json"), "w") as f:
        json.dump(s, f, indent=2)
        f.write("\n")
    lines = ["quarry campaign: %s" % ("OK" if s["ok"] else "FAILED"),
             "params: " + ", ".join("%s=%s" % kv for kv in sorted(s["params"].items())), ""]
    if s["fuzz"]:
        lines.append("fuzz targets: %d, crashes: %d, flakes (Go deadline race): %d" % (
            len(s["fuzz"]), s["crashes"], sum(1 for t in s["fuzz"] if t["status"] == "flake")))
        for t in s["fuzz"]:
            lines.append("  %-16s %-24s %12d execs  %s" % (t["package"], t["target"], t["execs"], t["status"]))
        lines.append("")
    k = s["kill"]
    lines.append("kill -9 rounds: %d (killed mid-run %d, finished before the kill %d), mismatches: %d, failed re-runs: %d" % (
        k["rounds"], k["killed"], k["finished_before_kill"], k["mismatches"], k["rerun_failures"]))
    for op, b in sorted(k["by_op"].items()):
        lines.append("  %-16s %4d rounds  %4d killed  %d mismatches" % (op, b["rounds"], b["killed"], b["mismatches"]))
    if "serve_kill" in s:
        sk = s["serve_kill"]
        lines.append("quarry serve --writable kill -9: %s: %s" % ("ok" if sk["ok"] else "FAILED", sk["result"] or "no result line (see serve-kill/test.log)"))
        lines.extend("  " + l for l in sk["failures"])
    with open(os.path.join(d, "summary.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if s["ok"] else 1


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    fn = {"corpus": corpus, "queries": queries, "check": check, "summary": summary}[cmd]
    sys.exit(fn(*args) or 0)
