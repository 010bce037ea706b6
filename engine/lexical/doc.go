// Package lexical is quarry's BM25 index over document titles and texts:
// one immutable inverted-index file per segment, written crash-safely and
// validated on open, searched exhaustively so that filtered top-k results
// are exact.
//
// # Why not bleve's index
//
// Analysis comes from bleve (github.com/blevesearch/bleve/v2/analysis/...).
// Three analyzers, named in every segment file: "en" (English, the default)
// is bleve's "en" component for component (Unicode word tokenizer,
// possessive filter, lowercase, Snowball's English stop words, Porter);
// "english" (ElasticEnglish) is the same with Lucene's 33 English stop
// words, which makes it Elasticsearch's "english" analyzer (identical output
// to Lucene's EnglishAnalyzer on every text tested); "standard" is
// tokenizer and lowercase only. bleve's
// index (scorch) is not used, on measurements in scripts/lexical/README.md:
// it commits on its own (a Batch is durable when it returns, so a crash
// before quarry's manifest commit leaves the uncommitted segment's documents
// searchable after restart), names and merges its own files behind the
// manifest's back, keeps k1 and b in process-wide variables, takes avgdl as
// ceil(distinct terms / documents) rather than the mean document length
// (its top 10 agreed with exact BM25 on 46-47% of queries), can only filter
// by listing document IDs in the query (18-88 ms per query at 50% density,
// against 0.14-0.34 ms here), and is 2-3 times slower to build, 4-6 times
// slower to query and twice the size on disk.
//
// # Scoring
//
// Lucene's BM25, as in Elasticsearch 7+ (Lucene 8+):
//
//	score(q, d) = Σ_{t ∈ q} qtf(t) · idf(t) · tf / (tf + k1 · (1 − b + b · dl / avgdl))
//	idf(t)      = ln(1 + (N − df(t) + 0.5) / (df(t) + 0.5))
//
// with no (k1 + 1) factor in the numerator (Lucene 8 dropped it; it scales
// every score alike and does not change rankings; Params.K1Plus1 puts it
// back). qtf counts a query term's repeats. N is the number of documents
// with at least one term in the field and avgdl their mean length (Lucene's
// docCount and sumTotalTermFreq / docCount), df the number of documents
// containing the term. Defaults are Elasticsearch's: k1 = 1.2, b = 0.75.
//
// Title and text are stored as two fields and can be scored two ways
// (Params.Fields):
//
//   - Combined (default): one field, exactly as if title + " " + text had
//     been indexed: tf and dl are sums over both fields, df counts documents
//     with the term in either. This is Pyserini/Anserini's BEIR setup.
//   - BestFields: BEIR's published Elasticsearch baseline
//     (beir/retrieval/search/lexical/elastic_search.py): both fields with
//     the "english" analyzer, multi_match type best_fields, tie_breaker 0.5,
//     i.e. max(s_title, s_text) + 0.5 · min(s_title, s_text), each field with
//     its own N, avgdl and df.
//
// Lucene stores document lengths in one byte (exact below 24, then 4
// significant bits); Params.LuceneNorms scores with those rounded lengths.
// BEIRParams sets BestFields, tie 0.5 and LuceneNorms: with them and the
// ElasticEnglish analyzer, Search returns Lucene 9's (so Elasticsearch's)
// multi_match best_fields scores from raw text, to float32 precision
// (TestLuceneEndToEnd; scripts/lexical/lucene/run.sh runs the Lucene tests).
//
// # Segments and statistics
//
// BuildSegment writes the documents of one segment (consecutive ordinals)
// to a file (see FORMAT.md) through the store's publish step
// (store.WriteFileAtomic: temp file, fsync, no-clobber publish, directory
// fsync); it never writes in place nor replaces a file. The store references
// the file from its manifest (the returned store.FileRef), so a segment is
// visible exactly when the manifest commits it, and an orphan file from a
// crash is simply not opened. Open reads the files of the
// live segments, checks every CRC and every structural invariant, and sums
// the statistics (N, avgdl, df) over all of them: scores do not depend on
// how documents are split into segments. As in Lucene, tombstoned documents
// still count in the statistics until compaction rewrites their segment; the
// caller folds tombstones into the allowed bitset, so they are never
// returned. Compaction copies a segment (CopyFiltered) without re-analysing
// anything: the copy is exactly the file a fresh build of the kept
// documents would be. FileKind declares the file to the store's segment-file
// registry; errors about damaged files are *store.CorruptError.
//
// # Search
//
// Search is term-at-a-time over the postings of the query's terms into
// per-segment accumulators, with the allowed bitset applied to every posting
// before scoring, then a size-k heap: exact filtered top k, ties by ordinal
// ascending. An Index is immutable and safe for concurrent use.
package lexical
