// Package ingest reads corpora as a stream of documents: JSONL files, BEIR
// folders, directories of text and Markdown files, and the Hugging Face Hub
// model-search layout (models.jsonl + passages.jsonl).
//
// Open returns a Reader; Next yields one Document at a time and io.EOF at the
// end. Nothing is loaded whole: JSONL is read line by line, and the hub
// format keeps only a small index of where each model's passages are.
//
// # Records, bad records and resume
//
// A record is one non-blank line of a JSONL file (of corpus.jsonl for BEIR,
// of models.jsonl for hub), or one file of a text corpus. Records counts the
// records whose outcome Next has fully delivered, good or bad: after Next
// returns a document, Records includes it. A checkpoint stores Fingerprint
// and Records; a resumed run opens the same input, checks the fingerprint and
// calls Skip(records), and then Next yields exactly the documents (and bad
// records) that the first run would have yielded after that point. Skip does
// all the checks that carry state between records (duplicate ids) and so
// costs a parse of the skipped lines, but it does not report their bad
// records again, and for hub it does not read the skipped models' passages.
//
// A bad record is input that cannot become a document: invalid JSON or UTF-8,
// a missing, empty or mistyped field, a duplicate id. It is reported as a
// *BadRecord naming file:line and field. OnBad, when set, sees every bad
// record as Next meets it. Without SkipBad, Next also returns it as its error;
// the record is consumed, and the next call to Next goes on with the next
// one, so a caller may count and continue or stop. With SkipBad, Next goes
// on by itself. Any other error (an I/O error) is final: Next returns it
// from then on.
//
// # Formats
//
// jsonl: one JSON object per line. The id is the field IDField, by default
// "_id", or "id" where there is no "_id"; a string (not empty) or a number
// (the ID is the number as written: 42 and 42.0 are different ids). A record
// without an id is bad: ids are the key for updates, de-duplication and
// resume, and an id made up from the line number would silently change when
// the file is edited. The text (TextField, "text") must be a non-empty
// string, not only white space; the title (TitleField, "title") a string or
// null. Every other field is Metadata, with numbers as json.Number (exactly as
// written) and nested objects and arrays kept as JSON values
// (map[string]any, []any). A UTF-8 byte order mark on the first line, "\r\n"
// line ends and blank lines are accepted. Invalid UTF-8, invalid JSON, a line
// that is not an object or is longer than 64 MiB, and an id seen before (in
// an earlier good record) are bad records. JSON escapes of lone surrogates
// ("\ud800") decode to U+FFFD, as in encoding/json, and are not reported.
//
// beir: a folder with corpus.jsonl as BEIR distributes it (the folder, or
// the corpus.jsonl itself with Format "beir"): jsonl with "_id", "title",
// "text" and an optional "metadata" object whose fields become Metadata
// fields (a top-level field of the same name wins). Following BEIR, whose
// retrievers embed title + " " + text, a record with an empty text is good
// if it has a title.
//
// text: a directory of .txt, .md and .markdown files (case-insensitive),
// walked recursively in sorted order, or one such file. Names starting with
// "." (hidden files and directories) are skipped. Symbolic links are
// followed; each real directory is read once, through the first path that
// reaches it in walk order, so link loops end. The ID is the path relative to
// the directory, with "/" separators (the file name for a single file). The
// Markdown title is the "title:" of YAML front matter, else the first ATX
// ("# Title") or setext heading outside code fences; otherwise the title is
// the file name without its extension. Front matter is removed from the text
// of Markdown files. Metadata has "modified" (RFC 3339, UTC) and "size"
// (bytes). A file that cannot be read, is larger than 64 MiB, is not UTF-8 or
// has no text, and a broken link with a text extension, are bad records.
//
// hub: a directory with models.jsonl and passages.jsonl, the layout of a Hub
// crawl split into passages (see testdata/corpora/hf_data). A document is a
// model: ID and Title are its modelId, Passages its passages in
// passages.jsonl order (the file need not be sorted), Text their
// concatenation (the offsets of chunk.SplitAll refer to it), Metadata every
// field of the model but "readme". A model without passages is still a
// document, for filters and sorts; its Text is its readme without YAML front
// matter when it has one that is not blank, so that a model card that was
// never split is still searchable, and "" otherwise (a metadata-only
// document). A passage's "id" is the 0-based line of its model in
// models.jsonl, and its "modelId" must agree with that model.
//
// Model records are checked: modelId a non-empty string seen on no earlier
// model; pipeline_tag, library_name, readme and sha strings or null; likes
// and downloads numbers or null (downloads may be a float); lastModified an
// ISO 8601 date or null; tags an array of strings or null; private a boolean
// or null. A bad model takes its passages with it (the message says how
// many). A passage is bad if it is not a JSON object with an integer "id"
// naming a line of models.jsonl, a non-empty string "modelId" and a string
// "passage" that is not only white space, or if its modelId differs from its
// model's; a bad passage is not a record and does not take its model with it:
// Next reports it just before the model's document. Passages that name no
// model at all (invalid JSON, an id out of range) cannot be placed with a
// model: they are all checked when the reader is opened and reported by the
// first call to Next, before the first model (a resumed run, which skips at
// least one record, does not report them again). Passages naming a blank line
// of models.jsonl are reported when the reader passes that line.
//
// json (NewReader and NewBytesReader only): a JSON array of the objects
// jsonl holds one per line, for input that arrives in memory (the body of a
// request), under a name the caller gives ("request"). Its elements go
// through the jsonl code, with the same rules and messages; a bad element is
// named by its 0-based index ("request[2]: text: empty"). The same functions
// read jsonl from memory too, with messages that name the line as the file
// reader does. Options.MaxBytes bounds such input, Options.MaxRecords any
// input.
//
// auto: a directory with corpus.jsonl is beir; one with models.jsonl and
// passages.jsonl is hub; any other directory is text; a .jsonl or .json file
// is jsonl; a .txt, .md or .markdown file is text.
//
// # Fingerprint
//
// Fingerprint identifies the input a checkpoint was taken on. It hashes the
// format and field options, and for each file read its absolute path, size,
// modification time, and SHA-256 of its first and last 64 KiB; for a text
// directory, the sorted listing with each file's size and modification time
// (not contents, which would mean reading the whole corpus). That is enough
// because every ordinary change to a file changes its size or modification
// time: appends change both, rewrites and editor saves change the time, and
// a change at either end is caught by content even with the time restored.
// What it misses is an edit of the same size in the middle of a file >128 KiB
// whose modification time was then set back by hand. It costs two 64 KiB
// reads per file, whatever the corpus size.
package ingest
