package serve

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/ingest"
)

// maxDeleteIDs bounds the ids of one DELETE.
const maxDeleteIDs = 100_000

// writesOff is the answer to a write on a read-only server.
func writesOff(r *http.Request) error {
	return newError(http.StatusMethodNotAllowed, typeMethod, "%s %s: the server is read-only: start it with --writable to add and delete documents", r.Method, r.URL.Path)
}

// addAnswer is the answer to POST /v1/indexes/{name}/documents.
type addAnswer struct {
	Committed  []string `json:"committed"`
	Generation uint64   `json:"generation"`
	Documents  int64    `json:"documents"`
}

// bodyFormat is the ingest format of a documents body: JSONL for
// application/x-ndjson (and jsonl, text/*), else a JSON array or JSONL by
// its first byte.
func bodyFormat(contentType string) string {
	mt, _, _ := mime.ParseMediaType(contentType)
	switch {
	case mt == "application/x-ndjson", mt == "application/jsonl", mt == "application/x-jsonlines", strings.HasPrefix(mt, "text/"):
		return "jsonl"
	}
	return "auto"
}

func (s *Server) handleAddDocuments(w http.ResponseWriter, r *http.Request, c *call) error {
	x, err := s.lookup(r)
	if err != nil {
		return err
	}
	if !s.cfg.Writable {
		return writesOff(r)
	}
	buf := getBuf()
	defer putBuf(buf)
	if _, err := buf.ReadFrom(r.Body); err != nil {
		return readErr(r, err)
	}
	if len(strings.TrimSpace(buf.String())) == 0 {
		return empty("the request body is empty: send JSONL or a JSON array of documents")
	}
	src, err := ingest.NewBytesReader(buf.Bytes(), "request", ingest.Options{Format: bodyFormat(r.Header.Get("Content-Type"))})
	if err != nil {
		return err
	}
	res, err := x.ix.AddDocuments(r.Context(), src, engine.DocumentsOptions{})
	if errors.Is(err, engine.ErrNoDocuments) {
		return empty("the request holds no documents")
	}
	if err != nil {
		var bad *engine.BadInputError
		if errors.As(err, &bad) {
			var msg strings.Builder
			fmt.Fprintf(&msg, "%d bad record(s); nothing was committed:", bad.Count)
			he := invalid("")
			for _, b := range bad.Records {
				fmt.Fprintf(&msg, "\n  %s", b.Error())
				line := b.Line
				if b.InArray {
					line = b.Index
				}
				he.badRecords = append(he.badRecords, badRecord{Line: line, InArray: b.InArray, Field: b.Field, Message: b.Msg})
			}
			if int64(len(bad.Records)) < bad.Count {
				fmt.Fprintf(&msg, "\n  … and %d more", bad.Count-int64(len(bad.Records)))
			}
			he.msg = msg.String()
			return he
		}
		return err
	}
	s.metrics.writeDocuments.WithLabelValues(x.name, "add").Add(float64(len(res.Committed)))
	s.metrics.indexGeneration.WithLabelValues(x.name).Set(float64(res.Generation))
	return writeJSON(w, http.StatusOK, addAnswer{Committed: res.Committed, Generation: res.Generation, Documents: res.Documents})
}

// deleteRequest is the body of DELETE /v1/indexes/{name}/documents.
type deleteRequest struct {
	IDs []string `json:"ids"`
}

type deleteAnswer struct {
	Deleted    []string `json:"deleted"`
	Missing    []string `json:"missing"`
	Generation uint64   `json:"generation"`
	Documents  int64    `json:"documents"`
}

func (s *Server) handleDeleteDocuments(w http.ResponseWriter, r *http.Request, c *call) error {
	x, err := s.lookup(r)
	if err != nil {
		return err
	}
	if !s.cfg.Writable {
		return writesOff(r)
	}
	var req deleteRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	switch {
	case req.IDs == nil:
		return invalid("ids: missing field `ids`")
	case len(req.IDs) == 0:
		return empty("`ids` cannot be empty")
	case len(req.IDs) > maxDeleteIDs:
		return newError(http.StatusRequestEntityTooLarge, typeValidation, "ids: %d ids: at most %d in one request", len(req.IDs), maxDeleteIDs)
	}
	for i, id := range req.IDs {
		if id == "" {
			return invalid("ids[%d]: empty id", i)
		}
	}
	res, err := x.ix.DeleteDocuments(r.Context(), req.IDs)
	if err != nil {
		return err
	}
	out := deleteAnswer{Deleted: orEmpty(res.Deleted), Missing: orEmpty(res.Missing), Generation: res.Generation, Documents: res.Documents}
	s.metrics.writeDocuments.WithLabelValues(x.name, "delete").Add(float64(len(res.Deleted)))
	s.metrics.indexGeneration.WithLabelValues(x.name).Set(float64(res.Generation))
	return writeJSON(w, http.StatusOK, out)
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// badRecord is one bad record of a rejected write: its line (JSONL), or
// its 0-based index in a JSON array (in_array).
type badRecord struct {
	Line    int    `json:"line"`
	InArray bool   `json:"in_array,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}
