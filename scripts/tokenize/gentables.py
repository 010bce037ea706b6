#!/usr/bin/env python3
"""Generate engine/tokenize/tables.go from Hugging Face `tokenizers` itself.

The Go tokenizer must reproduce HF's BertNormalizer and BertPreTokenizer exactly.
Those use Unicode data from three different Rust sources, each at its own
Unicode version:

  * `unicode_categories` (is_other, is_punctuation, is_mark_nonspacing) — old
    (about Unicode 8): e.g. U+0890 (Cf since Unicode 14) is kept by clean_text,
    and U+2E43 (Po since Unicode 9) is not punctuation;
  * `unicode-normalization-alignments` (NFD, canonical combining classes);
  * Rust's standard library (char::is_whitespace, char::to_lowercase) — new.

Go's `unicode` package (and x/text) are at yet another version, so instead of
approximating, this script asks the pinned `tokenizers` wheel how it treats
every code point and writes the answers as Go tables. Run it after changing the
pin in requirements.txt:

    python3 -m venv .venv && .venv/bin/pip install -r scripts/tokenize/requirements.txt
    .venv/bin/python scripts/tokenize/gentables.py engine/tokenize/tables.go
    gofmt -l engine/tokenize   # must print nothing

It takes about a minute (several normalizer calls per code point).
"""

import sys
import unicodedata

import tokenizers
from tokenizers import normalizers as N
from tokenizers import pre_tokenizers as P

PIN = "0.23.3"

HANGUL_S_BASE, HANGUL_S_COUNT = 0xAC00, 11172


def hangul_nfd(cp):
    s = cp - HANGUL_S_BASE
    l, v, t = 0x1100 + s // 588, 0x1161 + (s % 588) // 28, 0x11A7 + s % 28
    return chr(l) + chr(v) + (chr(t) if t != 0x11A7 else "")


def code_points():
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        yield cp


def ranges(cps):
    out = []
    for cp in sorted(cps):
        if out and out[-1][1] == cp - 1:
            out[-1][1] = cp
        else:
            out.append([cp, cp])
    return out


def range_table(name, doc, cps):
    rs = ranges(cps)
    r16 = [r for r in rs if r[1] <= 0xFFFF]
    r32 = [r for r in rs if r[0] > 0xFFFF]
    split = [r for r in rs if r[0] <= 0xFFFF < r[1]]
    if split:
        r16.append([split[0][0], 0xFFFF])
        r32.insert(0, [0x10000, split[0][1]])
    latin = sum(1 for r in r16 if r[1] <= 0xFF)
    lines = ["// %s %s" % (name, doc), "var %s = &unicode.RangeTable{" % name]
    if r16:
        lines.append("\tR16: []unicode.Range16{")
        lines += ["\t\t{0x%04x, 0x%04x, 1}," % (a, b) for a, b in r16]
        lines.append("\t},")
    if r32:
        lines.append("\tR32: []unicode.Range32{")
        lines += ["\t\t{0x%x, 0x%x, 1}," % (a, b) for a, b in r32]
        lines.append("\t},")
    if latin:
        lines.append("\tLatinOffset: %d," % latin)
    lines.append("}")
    return "\n".join(lines) + "\n"


def go_string(s):
    out = []
    for ch in s:
        cp = ord(ch)
        if 0x20 <= cp < 0x7F and ch not in '"\\':
            out.append(ch)
        elif cp <= 0xFFFF:
            out.append("\\u%04x" % cp)
        else:
            out.append("\\U%08x" % cp)
    return '"' + "".join(out) + '"'


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gentables.py OUTPUT.go")
    if tokenizers.__version__ != PIN:
        sys.exit("tokenizers %s installed, %s pinned (scripts/tokenize/requirements.txt)" % (tokenizers.__version__, PIN))

    def bert(clean=False, chinese=False, strip=False, lower=False):
        return N.BertNormalizer(clean_text=clean, handle_chinese_chars=chinese, strip_accents=strip, lowercase=lower)

    clean, chinese, strip, lower = bert(clean=True), bert(chinese=True), bert(strip=True), bert(lower=True)
    nfd = N.NFD()
    pretok = P.BertPreTokenizer()

    other, white, punct, han, mn = set(), set(), set(), set(), set()
    decomp, lowercase, stripped = {}, {}, {}
    for cp in code_points():
        c = chr(cp)
        words = [w for w, _ in pretok.pre_tokenize_str("a" + c + "b")]
        if words == ["a", "b"]:
            white.add(cp)
        elif words == ["a", c, "b"]:
            punct.add(cp)
        elif words != ["a" + c + "b"]:
            sys.exit("U+%04X: unexpected pre-tokenization %r" % (cp, words))

        cl = clean.normalize_str(c)
        if cl == "":
            other.add(cp)
        elif cl != c and cl != " ":
            sys.exit("U+%04X: clean_text gives %r" % (cp, cl))
        elif (cl == " ") != (cp in white):
            sys.exit("U+%04X: clean_text whitespace %r disagrees with the pre-tokenizer" % (cp, cl))

        ch = chinese.normalize_str(c)
        if ch == " " + c + " ":
            han.add(cp)
        elif ch != c:
            sys.exit("U+%04X: handle_chinese_chars gives %r" % (cp, ch))

        d = nfd.normalize_str(c)
        if HANGUL_S_BASE <= cp < HANGUL_S_BASE + HANGUL_S_COUNT:
            if d != hangul_nfd(cp):
                sys.exit("U+%04X: Hangul NFD %r is not algorithmic" % (cp, d))
        elif d != c:
            decomp[cp] = d

        s = strip.normalize_str(c)
        if d == c:
            if s == "":
                mn.add(cp)
            elif s != c:
                sys.exit("U+%04X: strip_accents gives %r" % (cp, s))
        else:
            stripped[cp] = s

        lo = lower.normalize_str(c)
        if lo != c:
            lowercase[cp] = lo

    # chars.go looks whitespace up in the BMP cache only.
    if any(cp > 0xFFFF for cp in white):
        sys.exit("whitespace outside the BMP: update props in chars.go")

    # strip_accents must be "NFD, then drop the marks found above".
    for cp, s in stripped.items():
        want = "".join(x for x in nfd.normalize_str(chr(cp)) if ord(x) not in mn)
        if s != want:
            sys.exit("U+%04X: strip_accents gives %r, NFD+filter %r" % (cp, s, want))

    # Canonical combining classes as the NFD of tokenizers sees them: a mark
    # counts when NFD actually reorders it against a reference mark.
    ccc = {}
    for cp in code_points():
        k = unicodedata.combining(chr(cp))
        if k == 0:
            continue
        c = chr(cp)
        if k < 230:
            moved = nfd.normalize_str("a\u0301" + c) == "a" + c + "\u0301"
        else:
            moved = nfd.normalize_str("a" + c + "\u0334") == "a\u0334" + c
        if moved:
            ccc[cp] = k

    out = []
    out.append("// Code generated by scripts/tokenize/gentables.py from Hugging Face tokenizers %s; DO NOT EDIT.\n" % PIN)
    out.append("\npackage tokenize\n\nimport \"unicode\"\n\n")
    out.append(range_table("hfOther", "holds what clean_text deletes: U+0000, U+FFFD and BertNormalizer's\n// is_control (unicode_categories' Cc, Cf, Co) except \\t, \\n and \\r.", other))
    out.append("\n")
    out.append(range_table("hfWhitespace", "is Rust's char::is_whitespace (Unicode White_Space).", white))
    out.append("\n")
    out.append(range_table("hfPunct", "is BertPreTokenizer's punctuation: ASCII punctuation or\n// unicode_categories' P*.", punct))
    out.append("\n")
    out.append(range_table("hfChinese", "is BertNormalizer's is_chinese_char.", han))
    out.append("\n")
    out.append(range_table("hfNonspacingMark", "is what strip_accents deletes after NFD (unicode_categories' Mn).", mn))
    out.append("\n// hfCombiningClass is the canonical combining class NFD reorders by (non-zero entries).\n")
    out.append("var hfCombiningClass = map[rune]uint8{\n")
    out += ["\t0x%06x: %d,\n" % (cp, ccc[cp]) for cp in sorted(ccc)]
    out.append("}\n")
    out.append("\n// hfDecomposition is the full canonical decomposition (NFD) of each character that has\n// one, except the Hangul syllables, which decompose algorithmically.\n")
    out.append("var hfDecomposition = map[rune]string{\n")
    out += ["\t0x%06x: %s,\n" % (cp, go_string(decomp[cp])) for cp in sorted(decomp)]
    out.append("}\n")
    out.append("\n// hfLowercase is Rust's char::to_lowercase for each character it changes.\n")
    out.append("var hfLowercase = map[rune]string{\n")
    out += ["\t0x%06x: %s,\n" % (cp, go_string(lowercase[cp])) for cp in sorted(lowercase)]
    out.append("}\n")

    with open(sys.argv[1], "w", encoding="ascii") as f:
        f.write("".join(out))
    print("other %d, whitespace %d, punct %d, chinese %d, mn %d, ccc %d, decompositions %d, lowercase %d"
          % (len(other), len(white), len(punct), len(han), len(mn), len(ccc), len(decomp), len(lowercase)))


if __name__ == "__main__":
    main()
