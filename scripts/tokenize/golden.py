#!/usr/bin/env python3
"""Write testdata/tokenize/golden.jsonl: what Hugging Face `tokenizers` makes of
testdata/tokenize/cases.json, for engine/tokenize's TestGolden.

Regenerate from the repository root:

    python3 -m venv .venv && .venv/bin/pip install -r scripts/tokenize/requirements.txt
    .venv/bin/python scripts/tokenize/golden.py

Tokenizers:
  * all-MiniLM-L6-v2.tokenizer.json — the real file of
    sentence-transformers/all-MiniLM-L6-v2 (uncased: lowercase, strip accents);
  * variant-*.tokenizer.json — written here from it, with other BertNormalizer
    settings (cased; lowercase keeping accents; no clean_text) and a smaller
    vocabulary that has uppercase and accented pieces and the marks the stress
    strings use, so that those settings produce more than [UNK].

Cases: every text of cases.json through every tokenizer (no truncation); the
"truncated" texts and the pairs (longest_first) through all-MiniLM-L6-v2; and
deterministic random stress strings through every tokenizer.

Each line of golden.jsonl after the header is one encoding, with special
tokens: ids, tokens, type_ids (pairs only) and offsets converted from HF's
character offsets to UTF-8 byte offsets of the string the token came from
(the second text for the second sequence of a pair).
"""

import copy
import json
import os
import random
import sys

import tokenizers
from tokenizers import Tokenizer

PIN = "0.23.3"
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DIR = os.path.join(ROOT, "testdata", "tokenize")
BASE = "all-MiniLM-L6-v2.tokenizer.json"

VARIANTS = {
    "variant-cased.tokenizer.json": dict(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=False),
    "variant-lower-keep-accents.tokenizer.json": dict(clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=True),
    "variant-noclean-strip.tokenizer.json": dict(clean_text=False, handle_chinese_chars=True, strip_accents=True, lowercase=False),
}

# Characters the stress strings are made of, by kind.
POOLS = {
    "ascii": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    "punct": "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~¡¿«»„“”‘’—–…·•§¶©®™°€£¥₹¢",
    "space": " \t\n\r\u000b\u000c\u0085\u00a0\u1680\u2000\u2002\u2009\u200a\u2028\u2029\u202f\u205f\u3000",
    "control": "\u0000\u0001\u0007\u001b\u007f\u0080\u009f\u00ad\u0600\u061c\u200b\u200c\u200d\u200e\u200f\u202a\u202e\u2060\u2066\ufeff\ufff9\ufffd\ue000\U000f0000\U000e0001\U000e0041\u0890\u08e2\U000110cd\U00013430\u180e",
    "latin": "éèêëÉÈàáâäÀÁÂÄçÇñÑöÖüÜßẞøØåÅæÆœŒıİłŁđĐðÐþÞǅǈĳﬁﬂŉǰḉḈẛ",
    "marks": "\u0300\u0301\u0302\u0303\u0308\u030a\u0316\u0323\u0327\u0328\u0334\u0345\u0344\u0340\u0341\u0343\u0f73\u0f75\u0f81",
    "reorder": "\u1df6\u1df7\u1df8\u1df9\u08d4\u08e0\u0c3c\U0001e944\U0001e94a\U0001d165\U0001d16d\u302e\u302f\u1b44\ua953\u1bf2\u0e3a\u0e48\u0e4e",
    "greek": "αβγδΣσςΟΔΌΐΰϓΪ΅ᾈᾳῼ",
    "cyrillic": "абвгдежзийЁёЇїҐґ",
    "indic": "कखगघङचछजझञटठडढणतथदधनपफबभमयरलवशषसहािीुूृेैोौंःँ़्क़",
    "hangul": "한국어가각힣ᄀ까ᅢᆨᆩㄱㅏ\u302e",
    "kana": "あいうえおアイウエオｱｲｳﾞﾟ",
    "cjk": "中文字日本東京\u3400\u4dbf\u9fff\uf900\ufa0e\U00020000\U0002a6df\U0002a700\U0002b740\U0002b81f\U0002b820\U0002b91f\U0002b920\U0002ceaf\U0002f800\U0002fa1d\U00030000",
    "arabic": "العربيةَُِّْٰ٠١٢٣",
    "thai": "ภาษาไทยสวัสดี",
    "emoji": "😀😁🚀🦙🫠✅❤\ufe0f\U0001f3fb\U0001f3fd\u200d🧑💻🇩🇪#\u20e3",
    "misc": "ΩKÅ℃㎏½²₂ⅫⅻＡＢＣａｂｃ１２３！？",
    "special": ["[CLS]", "[SEP]", "[MASK]", "[UNK]", "[PAD]", "[cls]", "[SEP", "SEP]"],
}


def load_json(name):
    with open(os.path.join(DIR, name), encoding="utf-8") as f:
        return json.load(f)


def variant_vocab(base_vocab):
    """A smaller vocabulary (base ids kept) with cased and accented pieces."""
    by_id = sorted(base_vocab.items(), key=lambda kv: kv[1])
    pieces = [p for p, i in by_id if i < 4000 or len(p) <= 3]
    seen = set(pieces)

    def add(p):
        if p not in seen:
            seen.add(p)
            pieces.append(p)

    for p, i in by_id:
        if 1996 <= i < 4000 and p.isalpha() and p.isascii():
            add(p.capitalize())
            add(p.upper())
            add("##" + p.upper())
    for kind, pool in POOLS.items():
        if kind == "special":
            continue
        for ch in pool:
            for variant in dict.fromkeys([ch, ch.lower(), ch.upper()]):
                if variant.strip():
                    add(variant)
                    add("##" + variant)
    for word in ["Hokkaido", "Hokkaidō", "Müller", "Muller", "schön", "Schön", "Straße", "İstanbul", "Istanbul", "ΟΔΟΣ", "café", "Café", "naïve"]:
        add(word)
    # keep the special ids of the base file
    assert [p for p in pieces[:104]] == [p for p, i in by_id[:104]]
    return {p: i for i, p in enumerate(pieces)}


def write_variants(base):
    for name, norm in VARIANTS.items():
        v = copy.deepcopy(base)
        v["truncation"] = None
        v["padding"] = None
        v["normalizer"] = dict(type="BertNormalizer", **norm)
        v["model"]["vocab"] = variant_vocab(base["model"]["vocab"])
        with open(os.path.join(DIR, name), "w", encoding="utf-8") as f:
            json.dump(v, f, ensure_ascii=False, separators=(",", ":"))
            f.write("\n")


def stress_strings(n, seed=20240607):
    rng = random.Random(seed)
    words = [p for p in load_json(BASE)["model"]["vocab"] if p.isalpha() and not p.startswith("##")]
    kinds = list(POOLS)
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 24)):
            r = rng.random()
            if r < 0.25:
                w = rng.choice(words)
                parts.append(rng.choice([w, w.capitalize(), w.upper()]))
            else:
                pool = POOLS[rng.choice(kinds)]
                parts.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 3))) if isinstance(pool, str) else rng.choice(pool))
            if rng.random() < 0.4:
                parts.append(rng.choice([" ", "", "\u3000", "\t"]))
        out.append("".join(parts))
    return out


def byte_offsets(text):
    """pos[i] is the UTF-8 byte offset of character i (pos[len] the end)."""
    pos = [0]
    for ch in text:
        pos.append(pos[-1] + len(ch.encode("utf-8")))
    return pos


def record(name, enc, text, pair=None, max_length=0):
    pa = byte_offsets(text)
    pb = byte_offsets(pair) if pair is not None else None
    offsets = []
    for seq, (s, e) in zip(enc.sequence_ids, enc.offsets):
        if seq is None:
            offsets.append([0, 0])
        else:
            p = pa if seq == 0 else pb
            offsets.append([p[s], p[e]])
    rec = {"tokenizer": name, "text": text}
    if pair is not None:
        rec["pair"] = pair
    if max_length:
        rec["max_length"] = max_length
    rec["ids"] = enc.ids
    rec["tokens"] = enc.tokens
    if pair is not None:
        rec["type_ids"] = enc.type_ids
    rec["offsets"] = offsets
    return rec


def main():
    if tokenizers.__version__ != PIN:
        sys.exit("tokenizers %s installed, %s pinned (scripts/tokenize/requirements.txt)" % (tokenizers.__version__, PIN))
    base = load_json(BASE)
    write_variants(base)
    cases = load_json("cases.json")
    stress = stress_strings(200)

    names = [BASE] + list(VARIANTS)
    toks = {}
    for name in names:
        t = Tokenizer.from_file(os.path.join(DIR, name))
        t.no_padding()
        t.no_truncation()
        toks[name] = t

    recs = []
    for name in names:
        for text in cases["texts"] + stress:
            recs.append(record(name, toks[name].encode(text), text))
    t = toks[BASE]
    for c in cases["truncated"]:
        t.enable_truncation(max_length=c["max_length"], strategy="longest_first")
        recs.append(record(BASE, t.encode(c["text"]), c["text"], max_length=c["max_length"]))
    for c in cases["pairs"]:
        t.enable_truncation(max_length=c["max_length"], strategy="longest_first")
        recs.append(record(BASE, t.encode(c["a"], c["b"]), c["a"], pair=c["b"], max_length=c["max_length"]))
    t.no_truncation()

    header = {
        "golden": "engine/tokenize TestGolden: Hugging Face tokenizers output for testdata/tokenize/cases.json",
        "tokenizers": tokenizers.__version__,
        "regenerate": ".venv/bin/pip install -r scripts/tokenize/requirements.txt && .venv/bin/python scripts/tokenize/golden.py",
        "offsets": "UTF-8 byte offsets into the text (pair: into the pair text for type 1 tokens); [0,0] for added special tokens",
        "cases": len(recs),
    }
    with open(os.path.join(DIR, "golden.jsonl"), "w", encoding="utf-8") as f:
        f.write(json.dumps(header, ensure_ascii=False) + "\n")
        for r in recs:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print("%d cases (%d texts, %d stress strings, %d tokenizers, %d truncated, %d pairs)"
          % (len(recs), len(cases["texts"]), len(stress), len(names), len(cases["truncated"]), len(cases["pairs"])))


if __name__ == "__main__":
    main()
