#!/usr/bin/env python3
"""Make the real-PyTorch fixtures of engine/hf's tests (run once; the output is committed).

    ~/.cache/quarry/torch-venv/bin/python scripts/models/make_torch_fixture.py

writes testdata/hf/torch-tiny-bert/ (a BertModel, float32 pytorch_model.bin) and
testdata/hf/torch-tiny-cross/ (a 3-label BertForSequenceClassification saved in float16), each
with a 1000-piece vocab.txt cut from bert-base-uncased's, a tokenizer_config.json, a config.json
and expected.json: the token ids transformers' BertTokenizer gives for a few texts, the first
values of a few tensors, and the outputs of transformers' own forward pass (mean-pooled
last_hidden_state for the bi-encoder, logits for the cross-encoder), so the Go tests check values
produced by PyTorch and transformers, not by quarry.

The torch venv lives outside the repository: python3 -m venv ~/.cache/quarry/torch-venv &&
~/.cache/quarry/torch-venv/bin/pip install torch==2.15.0 transformers==5.23.0
"""
import json
import math
import os
import sys

import torch
import transformers
from transformers import BertConfig, BertForSequenceClassification, BertModel, BertTokenizer

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BASE_VOCAB = os.path.join(ROOT, "testdata", "vocab", "bert-base-uncased-vocab.txt")

TEXTS = [
    "Hello world.",
    "The quick brown fox jumps over the lazy dog!",
    "Café, naïve façade: 42 ÷ 7 = 6.",
    "unknownword zzzz",
    "[CLS] special tokens [SEP] in text",
]
PAIRS = [
    ["how many people live in berlin?", "berlin has a population of 3,520,031 people."],
    ["how many people live in berlin?", "berlin is known for its museums."],
    ["what is the capital of france?", "paris is the capital of france."],
]


def vocab():
    base = [l.rstrip("\n") for l in open(BASE_VOCAB, encoding="utf-8")]
    pieces = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    pieces += base[999:1095]  # ASCII punctuation, digits, letters, Latin-1 symbols
    pieces += [p for p in base if p.startswith("##") and len(p) == 3 and p[2].isascii()]
    for p in base[1996:]:
        if len(pieces) == 1000:
            break
        if p not in pieces and (p.isalpha() or p.startswith("##")):
            pieces.append(p)
    assert len(pieces) == 1000 and len(set(pieces)) == 1000
    return pieces


def randomize(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("LayerNorm.weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
            elif "embeddings" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p.shape[-1]))


def write_folder(name, model, tok_dir_pieces, expected, dtype):
    out = os.path.join(ROOT, "testdata", "hf", name)
    os.makedirs(out, exist_ok=True)
    model.config.to_json_file(os.path.join(out, "config.json"))
    with open(os.path.join(out, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(tok_dir_pieces) + "\n")
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": 64,
                   "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
                   "mask_token": "[MASK]"}, f, indent=2)
    sd = model.state_dict()
    if dtype is not None:
        sd = {k: v.to(dtype) for k, v in sd.items()}
    torch.save(sd, os.path.join(out, "pytorch_model.bin"))
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    print("wrote", out, os.path.getsize(os.path.join(out, "pytorch_model.bin")), "bytes")
    return out


def first_values(sd, names):
    return {n: [float(x) for x in sd[n].flatten()[:4].float()] for n in names}


def main():
    torch.set_num_threads(1)
    pieces = vocab()
    versions = {"torch": torch.__version__, "transformers": transformers.__version__}
    common = dict(vocab_size=1000, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=64, max_position_embeddings=64, hidden_act="gelu")

    # Bi-encoder: BertModel, float32.
    tmp = os.path.join(ROOT, "testdata", "hf", "torch-tiny-bert")
    os.makedirs(tmp, exist_ok=True)
    with open(os.path.join(tmp, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(pieces) + "\n")
    tok = BertTokenizer(vocab=os.path.join(tmp, "vocab.txt"), do_lower_case=True)
    torch.manual_seed(0)
    model = BertModel(BertConfig(**common)).eval()
    randomize(model, 1)
    enc = tok(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        h = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    mean = (h * mask).sum(1) / mask.sum(1)
    sd = model.state_dict()
    expected = {
        "generator": "scripts/models/make_torch_fixture.py", "versions": versions,
        "texts": TEXTS,
        "ids": [[int(i) for i, m in zip(row, am) if m] for row, am in zip(enc["input_ids"].tolist(), enc["attention_mask"].tolist())],
        "mean_pooled": [[float(x) for x in row] for row in mean],
        "tensors": first_values(sd, ["embeddings.word_embeddings.weight", "encoder.layer.1.output.dense.weight",
                                     "encoder.layer.0.attention.output.LayerNorm.weight", "pooler.dense.bias"]),
    }
    write_folder("torch-tiny-bert", model, pieces, expected, None)

    # Cross-encoder: BertForSequenceClassification with 3 labels, stored in float16.
    torch.manual_seed(0)
    cfg = BertConfig(**common, num_labels=3, id2label={0: "contradiction", 1: "entailment", 2: "neutral"},
                     label2id={"contradiction": 0, "entailment": 1, "neutral": 2})
    cross = BertForSequenceClassification(cfg).eval()
    randomize(cross, 2)
    cross = cross.half().float()  # the values the float16 file holds, computed in float32
    # save_pretrained records the architecture; config.to_json_file alone does not (the bi-encoder
    # fixture keeps that form: model_type bert without architectures).
    cross.config.architectures = ["BertForSequenceClassification"]
    enc = tok([p[0] for p in PAIRS], [p[1] for p in PAIRS], padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = cross(**enc).logits
    sd = cross.state_dict()
    expected = {
        "generator": "scripts/models/make_torch_fixture.py", "versions": versions,
        "pairs": PAIRS,
        "ids": [[int(i) for i, m in zip(row, am) if m] for row, am in zip(enc["input_ids"].tolist(), enc["attention_mask"].tolist())],
        "type_ids": [[int(i) for i, m in zip(row, am) if m] for row, am in zip(enc["token_type_ids"].tolist(), enc["attention_mask"].tolist())],
        "logits": [[float(x) for x in row] for row in logits],
        "tensors": first_values(sd, ["bert.embeddings.word_embeddings.weight", "classifier.weight", "bert.pooler.dense.weight"]),
    }
    write_folder("torch-tiny-cross", cross, pieces, expected, torch.float16)


if __name__ == "__main__":
    sys.exit(main())
