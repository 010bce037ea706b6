#!/usr/bin/env python3
"""Copy a BEIR folder with each document's text replaced by (title + " " + text).strip().

    python scripts/eval/beir_title_text.py IN_DIR OUT_DIR

quarry embeds a document's text only (its title goes to BM25), in passages; BEIR's dense
evaluation (SentenceBERT.encode_corpus) embeds (title + " " + text).strip() truncated at the
model's max_seq_length. `quarry eval beir OUT_DIR --window 100000 --modes dense` on the copy
embeds exactly that (one passage per document, truncated by the encoder), which is how a
published BEIR/MTEB dense figure is reproduced. The copy's titles are empty, so its BM25 is not
BEIR's baseline: use the original folder for bm25 and hybrid.
"""
import json
import os
import shutil
import sys


def main():
    src, dst = sys.argv[1], sys.argv[2]
    os.makedirs(dst, exist_ok=True)
    with open(os.path.join(src, "corpus.jsonl"), encoding="utf-8") as f, open(os.path.join(dst, "corpus.jsonl"), "w", encoding="utf-8") as o:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            r["text"] = (r.get("title", "") + " " + r.get("text", "")).strip()
            r["title"] = ""
            o.write(json.dumps(r, ensure_ascii=False) + "\n")
    shutil.copy(os.path.join(src, "queries.jsonl"), os.path.join(dst, "queries.jsonl"))
    shutil.copytree(os.path.join(src, "qrels"), os.path.join(dst, "qrels"), dirs_exist_ok=True)


if __name__ == "__main__":
    main()
