// Package tokenize is quarry's BERT WordPiece tokenizer. It reproduces, id for
// id and offset for offset, what Hugging Face `tokenizers` (the Rust "fast"
// tokenizer that sentence-transformers uses) does for a BERT model: the
// BertNormalizer, the BertPreTokenizer, the WordPiece model, special tokens
// found in the input, and the [CLS]/[SEP] post-processor with longest_first
// truncation.
//
// # Pipeline
//
// Encode runs these steps, in HF's order:
//
//  1. Added tokens. Special tokens written in the input ("[SEP]", "[MASK]", ...)
//     are cut out of the raw text before anything else, case-sensitively,
//     leftmost-longest, and become their own ids (HF's default; set
//     Options.EncodeSpecialTokens to tokenize them as plain text instead).
//  2. clean_text: U+0000, U+FFFD and "control" characters are deleted and every
//     whitespace character becomes a space. "Control" is what HF's is_control
//     says: Cc, Cf and Co (private use) except \t, \n and \r. The deletion comes
//     first, so \v, \f and U+0085 (Cc, although White_Space) are deleted, not
//     turned into spaces: "a\vb" is one word, "ab".
//  3. handle_chinese_chars: spaces around every CJK ideograph, using HF's
//     ranges, which skip U+2B820..U+2B91F (Python's BasicTokenizer includes them).
//  4. strip_accents (by default on iff lowercase is): NFD, then delete what
//     HF's unicode_categories crate calls Mn. Hangul syllables decompose into
//     conjoining jamo, which are kept ("한" becomes "ᄒ", "##ᅡ", "##ᆫ"); kana
//     lose their (han)dakuten ("が" becomes "か"); marks that Unicode made Mn
//     after version 8 are kept. When NFD reorders combining marks, HF hands
//     the input spans out in their original order, and so does this package.
//  5. lowercase: Rust's char::to_lowercase, one character at a time: no final
//     sigma rule ("ΟΔΟΣ" becomes "οδοσ"), and "İ" becomes "i" + U+0307 when
//     accents are not stripped.
//  6. Pre-tokenization: split on whitespace (Unicode White_Space) and isolate
//     every punctuation character (ASCII punctuation, or category P* in HF's
//     old Unicode tables: "$", "+", "<", "=", ">", "^", "`", "|", "~" count,
//     "€" and "©" do not).
//  7. WordPiece: greedy longest-match-first with "##" continuation pieces. A
//     word of more than MaxInputCharsPerWord characters (after normalization)
//     or with any part not in the vocabulary becomes a single [UNK].
//  8. Post-processing: truncation, then [CLS] A [SEP] (B [SEP]) with token
//     types 0 for the first part and 1 for the second. A pair is truncated
//     longest_first exactly as HF does it: the shorter sequence is kept whole
//     if it fits in half the budget, else each gets half and the longer one
//     (the second on a tie) the odd token.
//
// Every Unicode property above comes from the pinned HF release itself:
// scripts/tokenize/gentables.py probes each code point through `tokenizers`
// and writes tables.go. HF mixes Unicode versions (an old unicode_categories
// crate for control/punctuation/mark, Rust's standard library for whitespace
// and lowercasing), so neither Go's unicode package nor x/text could match it.
//
// # Offsets
//
// Token offsets are byte offsets into the original Go string (HF reports
// character offsets). Every normalized character comes from exactly one input
// character, and a token covers the input from its first character's start to
// its last character's end, as in HF: a continuation piece "##x" covers only
// its own characters, the jamo pieces of one Hangul syllable all cover the
// whole syllable, [UNK] covers its whole word, and special tokens added by
// Encode have [0, 0]. In EncodePair, the offsets of the second sequence's
// tokens are offsets into the second string.
//
// # Invalid UTF-8
//
// Input is decoded as Go's range loop does: every byte that is not part of a
// valid UTF-8 sequence is one U+FFFD, which clean_text deletes, so the result
// is that of the text with those bytes removed. Without clean_text, U+FFFD
// stays in its word and its offsets cover the invalid byte.
//
// # Differences from llama.cpp
//
// llama.cpp's WordPiece (llm_tokenizer_wpm) only approximates this: it always
// lowercases; instead of NFD and dropping Mn it maps each code point to the
// first code point of its decomposition, so combining marks written as
// separate characters stay in their word (which then usually becomes [UNK]),
// and Hangul syllables are not decomposed; it has no limit on word length; it
// classifies characters with its own Unicode tables; and special tokens in the
// text are only recognized when the caller asks. Its GGUF form of the
// vocabulary ("▁" before word-start pieces, continuation pieces without "##")
// is converted back to HF form by FromGGUF.
package tokenize
