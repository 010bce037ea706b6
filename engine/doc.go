// Package engine is quarry's search engine as a Go library: models
// (bi-encoders and cross-encoders from GGUF files, run by the native core),
// and indexes (chunked, encoded, compressed, crash-safe directories searched
// densely, lexically or both, with metadata filters, sort and reranking).
//
// Models:
//
//	m, err := engine.LoadModel("all-MiniLM-L6-v2-f16.gguf", engine.ModelOptions{})
//	defer m.Close()
//	vecs, err := m.Embed(ctx, []string{"a text"})              // Embedder
//	scores, err := ce.Rerank(ctx, "query", []string{"a", "b"}) // Reranker (raw logits)
//
// Indexes:
//
//	ix, err := engine.Create(dir, engine.CreateOptions{Model: "model.gguf"})
//	st, err := ix.Add(ctx, engine.AddOptions{Input: "corpus.jsonl"})
//	res, err := ix.Search(ctx, engine.Request{Text: "query", K: 10, Mode: engine.ModeHybrid,
//	    Filters: []string{"section=python"}, Sort: "likes:desc"})
//	ix.Close()
//
// An index records its model's identity (GGUF sha256, dimension, pooling,
// normalization, prompts, max tokens); searching or appending with another
// model is an error. Add commits a segment every AddOptions.SegmentPassages
// passages; a process killed at any moment loses at most the segment in
// progress, and Add with the same input resumes after the last commit.
//
// A server adds and deletes documents that arrive in memory, and describes
// an index's fields for a search page:
//
//	r, err := ingest.NewReader(req.Body, "request", ingest.Options{MaxBytes: limit})
//	res, err := ix.AddDocuments(ctx, r, engine.DocumentsOptions{}) // all or nothing; res.Committed, res.Generation
//	del, err := ix.DeleteDocuments(ctx, ids)                        // del.Deleted, del.Missing
//	f, err := ix.Facets(0)                                          // per field: type, counts, top values, range
//	sum := ix.Summary()                                             // generation, documents, dim, dtype, modes
//
// Concurrency: every search reads one immutable, reference-counted snapshot
// of a committed generation (segments, BM25, tombstones, live bitmap,
// metadata) and never waits for a writer; Add, AddDocuments, Delete,
// DeleteDocuments and Compact are serialized and publish the next snapshot
// at each commit, so a search running while documents are added sees either
// the old or the new generation, never a mix. Files of a replaced generation stay open until
// its last search finishes.
//
// Encoders: the engine indexes and searches through the Encoder interface
// (engine/encoder). LoadModel returns the native implementation (GGUF
// models run by the native core, engine/native); CreateOptions.Encoder and
// OpenOptions.Encoder inject any other (engine/encoder/fake is a pure-Go
// one for tests).
//
// Errors carry a kind (engine/errs: bad input, not found, conflict,
// corrupt, limit, unavailable, canceled, internal) that front ends map to
// exit codes and HTTP statuses with errs.KindOf.
//
// Models and indexes are safe for concurrent use; Close is idempotent. Built
// with CGO_ENABLED=0 the package compiles and native model calls return
// ErrNoNative (kind unavailable).
package engine
