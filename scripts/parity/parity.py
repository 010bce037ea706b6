#!/usr/bin/env python3
"""Parity of quarry's converted all-MiniLM-L6-v2 with sentence-transformers itself.

    scripts/parity/run.sh        (make parity)

Encodes a deterministic set of >= 500 varied texts (Python standard-library docstrings of every
length, Faker text in 30 locales and scripts, edge cases: emoji, code, URLs, control characters,
special tokens written in the text, words over 100 characters, texts past the 256-token limit) with
sentence-transformers on the CPU, from each of the two package copies of the checkpoint, and with
quarry from the GGUFs `quarry convert` made of each copy (f32, f16, q8_0), with both GELU forms of
quarry's graph (erf, as Hugging Face; tanh, as llama.cpp). Prints min/mean cosine and the worst text
per copy, type and GELU; exits 1 if min cosine < 0.999 (f32, f16) or < 0.99 (q8_0) with erf.

Threads are equal on both sides (--threads, default: all cores).
"""
import argparse
import inspect
import importlib
import json
import os
import re
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

MODULES = """os os.path re json collections itertools functools pathlib string textwrap datetime decimal
fractions statistics random heapq bisect csv email.message http.client urllib.parse argparse logging
unittest sqlite3 zipfile tarfile shutil subprocess threading asyncio typing dataclasses enum inspect ast
tokenize difflib html xml.etree.ElementTree uuid hashlib hmac secrets base64 struct array math cmath
calendar locale gettext codecs unicodedata io pickle copy pprint reprlib weakref types operator
contextlib abc numbers queue sched select selectors signal socket ssl mmap time timeit trace
traceback warnings zlib gzip bz2 lzma configparser fileinput glob fnmatch tempfile filecmp
""".split()

LOCALES = """en_US de_DE fr_FR es_ES it_IT pt_BR nl_NL pl_PL tr_TR vi_VN ru_RU uk_UA el_GR ar_AA he_IL
hi_IN th_TH ja_JP zh_CN zh_TW ko_KR ka_GE hy_AM cs_CZ sv_SE fi_FI da_DK hu_HU ro_RO fa_IR""".split()

EDGE = [
    "", " ", "a", "OK", "I", "?", "...", "3.14159265358979323846",
    "Hello world.", "How many people live in Berlin?",
    "Berlin had a population of 3,520,031 registered inhabitants in an area of 891.82 square kilometers.",
    "UPPERCASE TEXT SHOULD BE HANDLED LIKE LOWERCASE BY UNCASED MODELS.",
    "MiXeD CaSe WoRdS aNd CamelCaseIdentifiers like getElementById.",
    "Call +1 (555) 010-9999 or email jane.doe@example.com before 09:00.",
    "Prices rose 12.5% year-over-year, from $1,299.99 to €1.462,49.",
    "https://www.example.org/path/to/page?query=semantic+search&lang=en#section-2",
    "!!! ??? ... --- ((())) [[[]]] {{{}}} <<<>>> ~~~ ``` '''",
    "© 2024 Example Corp™ — all rights reserved ® … “quoted” ‘text’ «guillemets»",
    "Café au lait, crème brûlée et pâte à choux.",
    "Combining marks written separately: e\u0301, a\u0308, n\u0303, o\u0302.",
    "İstanbul, Türkiye'nin en kalabalık şehridir; ılık bir gün.",
    "ΟΔΟΣ and Ὀδυσσεύς: Greek capitals and polytonic accents.",
    "北京是中华人民共和国的首都。", "東京は日本の首都です。", "ひらがなとカタカナ、そして漢字。", "がぎぐげご パピプペポ ヴ",
    "서울은 대한민국의 수도이다.", "안녕하세요, 만나서 반갑습니다!", "𠀀𠀁 CJK Extension B and 〇 ideographic zero.",
    "Mixed: English, 中文, 日本語, 한국어, русский, العربية in one sentence.",
    "I love pizza 🍕🍕🍕 and coffee ☕!", "👍🏽 skin tone, 👨‍👩‍👧‍👦 family ZWJ sequence, 🇩🇪 flag.",
    "Stars ★☆✩ arrows ←↑→↓ math ∑∫√∞≠≈ box ┌─┐",
    "tabs\tand\nnewlines\r\nand  double  spaces",
    "zero\u200bwidth\u200cjoiners\u200d and soft\u00adhyphen",
    "bell\u0007 and escape\u001b and nul\u0000 characters",
    "non\u00a0breaking\u2003em space\u3000ideographic space", "\ufeffbyte order mark at the start",
    "[CLS] written in the text [SEP] and [MASK] and [PAD] and [UNK].",
    "A word longer than one hundred characters: " + "abcdefghij" * 11 + ".",
    "func main() { fmt.Println(\"hello, 世界\") }",
    "SELECT name, COUNT(*) FROM users WHERE age >= 18 GROUP BY name;",
    "def fib(n):\n    return n if n < 2 else fib(n-1) + fib(n-2)",
    "<div class=\"note\"><p>Hello &amp; welcome!</p></div>",
    "{\"key\": [1, 2.5, true, null], \"nested\": {\"a\": \"b\"}}",
    "E = mc^2, F = ma, and ∇·E = ρ/ε₀ are famous equations.",
]


def docstring_texts():
    """First sentences and paragraphs of the standard library's docstrings."""
    short, para = [], []
    seen = set()
    for name in MODULES:
        try:
            mod = importlib.import_module(name)
        except Exception:
            continue
        for attr in sorted(dir(mod)):
            if attr.startswith("_"):
                continue
            obj = getattr(mod, attr, None)
            doc = inspect.getdoc(obj) if (inspect.isfunction(obj) or inspect.isclass(obj) or inspect.isbuiltin(obj)) else None
            if not doc or doc in seen:
                continue
            seen.add(doc)
            first = doc.split("\n\n")[0].replace("\n", " ").strip()
            sentence = re.split(r"(?<=[.!?])\s", first)[0]
            if 12 <= len(sentence) <= 200:
                short.append(sentence)
            if len(first) > 200:
                para.append(first)
    return short, para


def faker_texts():
    from faker import Faker
    out = []
    for i, loc in enumerate(LOCALES):
        try:
            f = Faker(loc)
        except Exception:
            continue
        f.seed_instance(1000 + i)
        for n in (60, 200, 400):
            out.append(f.text(max_nb_chars=n).replace("\n", " "))
        out.append(f.sentence())
        out.append(f.address().replace("\n", ", "))
        out.append(f"{f.name()}, {f.job()} at {f.company()}")
        out.append(f"{f.date()} {f.city()} {f.phone_number()} {f.email()}")
    return out


def build_texts():
    short, para = docstring_texts()
    fk = faker_texts()
    rng = np.random.default_rng(7)
    short = [short[i] for i in sorted(rng.choice(len(short), size=min(220, len(short)), replace=False))]
    para = [para[i] for i in sorted(rng.choice(len(para), size=min(90, len(para)), replace=False))]
    # Long texts: several paragraphs, most past the 256-token limit.
    longs = [" ".join(para[i:i + 4]) for i in range(0, 60, 4)]
    texts = EDGE + short + para + fk + longs
    out, seen = [], set()
    for t in texts:
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


def read_npy(path):
    return np.load(path).astype(np.float64)


def cosines(a, b):
    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    return (a * b).sum(1) / np.maximum(na * nb, 1e-30)


def short(t, n=70):
    r = repr(t)
    return r if len(r) <= n else r[: n - 1] + "…"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", nargs="+", required=True, help="NAME=HF_DIR:GGUF_PREFIX (GGUF_PREFIX-{f32,f16,q8_0}.gguf)")
    ap.add_argument("--embed", default=os.path.join(ROOT, "build", "parity-embed"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--out", default=os.path.join(ROOT, "out", "parity"))
    args = ap.parse_args()

    import torch
    import sentence_transformers
    import transformers
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    texts = build_texts()
    tpath = os.path.join(args.out, "texts.json")
    with open(tpath, "w") as f:
        json.dump(texts, f, ensure_ascii=False)
    print(f"parity: {len(texts)} texts; torch {torch.__version__}, transformers {transformers.__version__}, "
          f"sentence-transformers {sentence_transformers.__version__}; {args.threads} threads on both sides")

    results, failed = [], False
    st_ref = None
    for spec in args.copies:
        name, rest = spec.split("=", 1)
        hf_dir, prefix = rest.rsplit(":", 1)
        model = SentenceTransformer(hf_dir, device="cpu")
        tok_lens = [len(ids) for ids in model.tokenizer(texts)["input_ids"]]
        t0 = time.time()
        st = model.encode(texts, batch_size=32, convert_to_numpy=True).astype(np.float64)
        st_time = time.time() - t0
        np.save(os.path.join(args.out, f"st-{name}.npy"), st)
        trunc = sum(l > model.max_seq_length for l in tok_lens)
        print(f"\n== {name}: {hf_dir}\n   sentence-transformers: {st_time:.1f}s, {sum(min(l, model.max_seq_length) for l in tok_lens)} tokens, "
              f"{trunc} texts truncated at {model.max_seq_length}")
        if st_ref is None:
            st_ref = st
        else:
            c = cosines(st, st_ref)
            print(f"   sentence-transformers on this copy vs the first: min cosine {c.min():.9f}")
        quarry = {}
        for dtype in ("f32", "f16", "q8_0"):
            gguf = f"{prefix}-{dtype}.gguf"
            for gelu in ("erf", "tanh"):
                npy = os.path.join(args.out, f"quarry-{name}-{dtype}-{gelu}.npy")
                t0 = time.time()
                subprocess.run([args.embed, "-m", gguf, "-in", tpath, "-out", npy, "-gelu", gelu,
                                "-threads", str(args.threads)], check=True, stderr=subprocess.DEVNULL)
                q = read_npy(npy)
                quarry[dtype, gelu] = q
                c = cosines(q, st)
                w = int(c.argmin())
                bound = 0.99 if dtype == "q8_0" else 0.999
                ok = c.min() >= bound
                if gelu == "erf" and not ok:
                    failed = True
                r = {"copy": name, "type": dtype, "gelu": gelu, "min_cos": float(c.min()), "mean_cos": float(c.mean()),
                     "worst_text": texts[w], "seconds": time.time() - t0, "bytes": os.path.getsize(gguf)}
                results.append(r)
                flag = "" if gelu == "tanh" else ("  ok" if ok else f"  FAIL (< {bound})")
                print(f"   quarry {dtype:5s} gelu {gelu:4s}: min cos {c.min():.9f} (1-min {1 - c.min():.1e}, 1-mean {1 - c.mean():.1e})  "
                      f"worst {short(texts[w], 50)}{flag}")
        for dtype in ("f32", "f16", "q8_0"):
            c = cosines(quarry[dtype, "erf"], quarry[dtype, "tanh"])
            d = np.abs(quarry[dtype, "erf"] - quarry[dtype, "tanh"]).max()
            print(f"   quarry {dtype:5s} erf vs tanh: min cos {c.min():.9f}, max |Δ| {d:.2e}")
            results.append({"copy": name, "type": dtype, "erf_vs_tanh_min_cos": float(c.min()), "erf_vs_tanh_max_abs": float(d)})

    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1, ensure_ascii=False)
    print("\nparity:", "FAILED" if failed else "passed", f"(results in {args.out}/results.json)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
