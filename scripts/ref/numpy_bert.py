#!/usr/bin/env python3
"""Independent float64 BERT forward pass in numpy, reading a GGUF file.

This is the check on quarry's Go reference (engine/bert.Reference): it shares
no code with it. It parses GGUF itself (no `gguf` package), uses the GGUF
tensor names of llama.cpp directly (so the Go name mapping is checked too) and
follows Hugging Face transformers' BertModel / BertForSequenceClassification:

  embeddings = LayerNorm(word[ids] + token_type[types] + position[0..n-1])
  layer:  a = LayerNorm(x + attn_output(softmax(Q K^T / sqrt(d)) V))
          x = LayerNorm(a + ffn_down(gelu(ffn_up(a))))
  gelu    = 0.5 x (1 + erf(x / sqrt 2))          (--gelu tanh: tanh approximation)
  pooling = mean over tokens | first token | last token; L2-normalized when
            quarry.normalize is true (default true for bi-encoders)
  rerank  = cls.output(tanh(cls(h[0])))

Usage:
  numpy_bert.py MODEL.gguf --ids 101,7592,102 [--types 0,0,0] [--gelu tanh] [--hidden]

prints one JSON object: {"embedding": [...]} or {"logits": [...]}, plus
"hidden" (n rows) with --hidden.
"""

import argparse
import json
import math
import struct
import sys

import numpy as np

# ---------------------------------------------------------------- GGUF parsing

GGUF_MAGIC = b"GGUF"
# metadata value types
_SCALARS = {
    0: ("<B", 1), 1: ("<b", 1), 2: ("<H", 2), 3: ("<h", 2), 4: ("<I", 4),
    5: ("<i", 4), 6: ("<f", 4), 7: ("<?", 1), 10: ("<Q", 8), 11: ("<q", 8),
    12: ("<d", 8),
}
T_STRING, T_ARRAY = 8, 9
# tensor types: (block size, bytes per block)
F32, F16, Q8_0, BF16 = 0, 1, 8, 30
_TYPES = {F32: (1, 4), F16: (1, 2), Q8_0: (32, 34), BF16: (1, 2)}


class Reader:
    def __init__(self, buf):
        self.buf = buf
        self.off = 0

    def take(self, n):
        if self.off + n > len(self.buf):
            raise ValueError(f"truncated GGUF at byte {self.off}")
        b = self.buf[self.off:self.off + n]
        self.off += n
        return b

    def unpack(self, fmt, size):
        return struct.unpack(fmt, self.take(size))[0]

    def u32(self):
        return self.unpack("<I", 4)

    def u64(self):
        return self.unpack("<Q", 8)

    def string(self):
        return self.take(self.u64()).decode("utf-8")

    def value(self, t):
        if t in _SCALARS:
            return self.unpack(*_SCALARS[t])
        if t == T_STRING:
            return self.string()
        if t == T_ARRAY:
            et = self.u32()
            n = self.u64()
            return [self.value(et) for _ in range(n)]
        raise ValueError(f"unknown GGUF value type {t}")


def read_gguf(path):
    """Returns (metadata dict, {name: float64 ndarray in PyTorch order})."""
    with open(path, "rb") as f:
        buf = f.read()
    r = Reader(buf)
    if r.take(4) != GGUF_MAGIC:
        raise ValueError(f"{path}: not a GGUF file")
    version = r.u32()
    if version not in (2, 3):
        raise ValueError(f"{path}: GGUF version {version}")
    n_tensors, n_kv = r.u64(), r.u64()
    meta = {}
    for _ in range(n_kv):
        key = r.string()
        meta[key] = r.value(r.u32())
    infos = []
    for _ in range(n_tensors):
        name = r.string()
        nd = r.u32()
        dims = [r.u64() for _ in range(nd)]
        ttype = r.u32()
        offset = r.u64()
        infos.append((name, dims, ttype, offset))
    align = meta.get("general.alignment", 32)
    data_start = (r.off + align - 1) // align * align
    tensors = {}
    for name, dims, ttype, offset in infos:
        n = int(np.prod(dims))
        if ttype not in _TYPES:
            raise ValueError(f"tensor {name}: type {ttype} not supported")
        bs, bb = _TYPES[ttype]
        size = n // bs * bb
        raw = buf[data_start + offset:data_start + offset + size]
        if ttype == F32:
            a = np.frombuffer(raw, dtype="<f4").astype(np.float64)
        elif ttype == F16:
            a = np.frombuffer(raw, dtype="<f2").astype(np.float64)
        elif ttype == BF16:
            a = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        else:  # Q8_0: per block an f16 scale then 32 int8
            blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("q", "i1", 32)]))
            a = (blocks["d"].astype(np.float64)[:, None] * blocks["q"].astype(np.float64)).reshape(-1)
        # ggml dims are [row length, rows]: PyTorch order is the reverse.
        tensors[name] = a.reshape(list(reversed(dims)))
    return meta, tensors


# ---------------------------------------------------------------- the model

_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu_erf(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def layer_norm(x, w, b, eps):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


class Bert:
    def __init__(self, path, gelu="erf"):
        self.meta, self.t = read_gguf(path)
        m = self.meta
        if m.get("general.architecture") != "bert":
            raise ValueError("not a bert model")
        self.n_layer = m["bert.block_count"]
        self.n_head = m["bert.attention.head_count"]
        self.eps = float(m["bert.attention.layer_norm_epsilon"])
        self.pooling = m.get("bert.pooling_type", 0)
        self.normalize = m.get("quarry.normalize", self.pooling in (1, 2, 3))
        self.gelu = gelu_tanh if gelu == "tanh" else gelu_erf

    def linear(self, name, x):
        # PyTorch Linear: weight [out, in]
        return x @ self.t[name + ".weight"].T + self.t[name + ".bias"]

    def hidden(self, ids, types=None):
        t = self.t
        ids = np.asarray(ids, dtype=np.int64)
        n = len(ids)
        types = np.zeros(n, dtype=np.int64) if types is None else np.asarray(types, dtype=np.int64)
        x = t["token_embd.weight"][ids]
        if "token_types.weight" in t:
            x = x + t["token_types.weight"][types]
        x = x + t["position_embd.weight"][:n]
        x = layer_norm(x, t["token_embd_norm.weight"], t["token_embd_norm.bias"], self.eps)
        H = x.shape[1]
        d = H // self.n_head
        for i in range(self.n_layer):
            p = f"blk.{i}."
            q = self.linear(p + "attn_q", x).reshape(n, self.n_head, d).transpose(1, 0, 2)
            k = self.linear(p + "attn_k", x).reshape(n, self.n_head, d).transpose(1, 0, 2)
            v = self.linear(p + "attn_v", x).reshape(n, self.n_head, d).transpose(1, 0, 2)
            s = q @ k.transpose(0, 2, 1) / math.sqrt(d)
            s = s - s.max(axis=-1, keepdims=True)
            pr = np.exp(s)
            pr = pr / pr.sum(axis=-1, keepdims=True)
            ctx = (pr @ v).transpose(1, 0, 2).reshape(n, H)
            a = self.linear(p + "attn_output", ctx)
            x = layer_norm(x + a, t[p + "attn_output_norm.weight"], t[p + "attn_output_norm.bias"], self.eps)
            f = self.linear(p + "ffn_down", self.gelu(self.linear(p + "ffn_up", x)))
            x = layer_norm(x + f, t[p + "layer_output_norm.weight"], t[p + "layer_output_norm.bias"], self.eps)
        return x

    def embed(self, ids, types=None):
        h = self.hidden(ids, types)
        if self.pooling == 1:
            e = h.mean(axis=0)
        elif self.pooling == 2:
            e = h[0]
        elif self.pooling == 3:
            e = h[-1]
        else:
            raise ValueError(f"pooling {self.pooling} has no embedding")
        if self.normalize:
            e = e / max(np.sqrt((e * e).sum()), 1e-12)
        return e

    def rerank(self, ids, types=None):
        if self.pooling != 4:
            raise ValueError("not a cross-encoder (pooling rank)")
        h = self.hidden(ids, types)
        pooled = np.tanh(self.linear("cls", h[0]))
        return self.linear("cls.output", pooled)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--ids", required=True, help="comma-separated token ids incl. [CLS]/[SEP]")
    ap.add_argument("--types", help="comma-separated token type ids (default all 0)")
    ap.add_argument("--gelu", choices=["erf", "tanh"], default="erf")
    ap.add_argument("--hidden", action="store_true", help="also print the last hidden states")
    a = ap.parse_args()
    m = Bert(a.model, a.gelu)
    ids = [int(x) for x in a.ids.split(",")]
    types = [int(x) for x in a.types.split(",")] if a.types else None
    out = {}
    if m.pooling == 4:
        out["logits"] = m.rerank(ids, types).tolist()
    else:
        out["embedding"] = m.embed(ids, types).tolist()
    if a.hidden:
        out["hidden"] = m.hidden(ids, types).tolist()
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
