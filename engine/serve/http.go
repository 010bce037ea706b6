package serve

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/quarry-search/quarry/engine/serve/web"
)

// route describes one route for the middleware.
type route struct {
	name      string // metric and log label: the pattern's path
	fam       family // error body shape
	public    bool   // no API key needed
	permit    bool   // takes a concurrency permit (429 when none is free)
	inference bool   // counted in the te_request_* metrics
	body      bool   // reads a body (payload limit)
}

// call is one request in flight: what the handler reports back to the
// middleware for the headers, the metrics and the log.
type call struct {
	route     *route
	start     time.Time
	timing    Timing
	tokens    int   // tokens computed
	chars     int   // characters of the inputs
	truncated int   // inputs truncated
	lengths   []int // tokens per input (te_request_input_length)
	encoded   bool  // the request ran the model (timing headers)
}

// handlerFunc is a route's handler: it writes the answer, or returns the
// error the middleware answers in the route's shape.
type handlerFunc func(w http.ResponseWriter, r *http.Request, c *call) error

// routes builds the mux (docs/serve.md lists every route).
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	allowed := map[string][]string{}
	add := func(method, path string, rt route, h handlerFunc) {
		rt.name = path
		rt.body = method == http.MethodPost || method == http.MethodDelete
		mux.Handle(method+" "+path, s.wrap(&rt, h))
		allowed[path] = append(allowed[path], method)
	}
	tei := route{fam: familyTEI, permit: true, inference: true}
	oai := route{fam: familyOpenAI, permit: true, inference: true}
	own := route{fam: familyTEI, permit: true}
	meta := route{fam: familyTEI}

	add("GET", "/health", route{fam: familyTEI, public: true}, s.handleHealth)
	add("GET", "/info", meta, s.handleInfo)
	add("GET", "/metrics", meta, s.handleMetrics)
	add("POST", "/embed", tei, s.handleEmbed)
	add("POST", "/embed_sparse", tei, s.handleEmbedSparse)
	add("POST", "/rerank", tei, s.handleRerankTEI)
	add("POST", "/tokenize", tei, s.handleTokenize)
	add("POST", "/decode", tei, s.handleDecode)
	add("POST", "/v1/embeddings", oai, s.handleOpenAIEmbeddings)
	add("POST", "/embeddings", oai, s.handleOpenAIEmbeddings)
	add("POST", "/v1/rerank", tei, s.handleRerankV1)
	add("POST", "/v2/rerank", tei, s.handleRerankV2)
	add("GET", "/v1/indexes", own, s.handleIndexes)
	add("GET", "/v1/indexes/{name}", own, s.handleIndex)
	add("POST", "/v1/indexes/{name}/search", own, s.handleSearch)
	add("GET", "/v1/indexes/{name}/search", own, s.handleSearchGet)
	add("POST", "/v1/indexes/{name}/documents", own, s.handleAddDocuments)
	add("DELETE", "/v1/indexes/{name}/documents", own, s.handleDeleteDocuments)
	// POST / is routed by the default model's kind, as TEI routes it.
	add("POST", "/{$}", tei, s.handleRoot)

	// Any other method on a known path: 405 with Allow, in JSON.
	for path, methods := range allowed {
		if path == "/{$}" {
			continue
		}
		allow := strings.Join(methods, ", ")
		if strings.Contains(allow, "GET") {
			allow += ", HEAD"
		}
		rt := &route{name: path, fam: familyTEI}
		if path == "/v1/embeddings" || path == "/embeddings" {
			rt.fam = familyOpenAI
		}
		mux.Handle(path, s.wrap(rt, func(w http.ResponseWriter, r *http.Request, _ *call) error {
			w.Header().Set("Allow", allow)
			return newError(http.StatusMethodNotAllowed, typeMethod, "%s %s: method not allowed (allowed: %s)", r.Method, r.URL.Path, allow)
		}))
	}
	// The search page and its assets (GET and HEAD); anything else is 404.
	page := web.Handler()
	mux.Handle("/", s.wrap(&route{name: "/", fam: familyTEI}, func(w http.ResponseWriter, r *http.Request, _ *call) error {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			page.ServeHTTP(w, r)
			return nil
		}
		if r.URL.Path == "/" {
			w.Header().Set("Allow", "GET, HEAD, POST")
			return newError(http.StatusMethodNotAllowed, typeMethod, "%s /: method not allowed (allowed: GET, HEAD, POST)", r.Method)
		}
		return newError(http.StatusNotFound, typeNotFound, "no route %s %s (see docs/serve.md)", r.Method, r.URL.Path)
	}))
	return mux
}

// keyDigest is the sha256 of an Authorization value: comparing digests in
// constant time leaks neither the key nor its length.
func keyDigest(v string) []byte {
	d := sha256.Sum256([]byte(v))
	return d[:]
}

// recorder remembers the status and size of an answer.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// wrap is the middleware of every route: shutdown, API key, concurrency
// permit, payload limit, deadline, errors in the route's shape, timing
// headers, metrics and the request log.
func (s *Server) wrap(rt *route, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{route: rt, start: time.Now()}
		rec := &recorder{ResponseWriter: w}
		var reason string // why the request was rejected before running
		err := func() (err error) {
			defer func() {
				if p := recover(); p != nil {
					if p == http.ErrAbortHandler {
						panic(p)
					}
					s.log.Error("panic in handler", "route", rt.name, "panic", fmt.Sprint(p))
					err = fmt.Errorf("internal error: %v", p)
				}
			}()
			if s.closing.Load() && rt.name != "/health" {
				reason = "shutdown"
				return &httpError{status: http.StatusServiceUnavailable, typ: typeUnhealthy, msg: "the server is shutting down", retryAfter: 1}
			}
			if s.apiKey != nil && !rt.public {
				got := keyDigest(r.Header.Get("Authorization"))
				if subtle.ConstantTimeCompare(got, s.apiKey) != 1 {
					reason = "auth"
					w.Header().Set("WWW-Authenticate", `Bearer realm="quarry"`)
					return newError(http.StatusUnauthorized, typeUnauthorized, "missing or wrong API key: send Authorization: Bearer KEY")
				}
			}
			if rt.permit {
				select {
				case s.sem <- struct{}{}:
					s.metrics.inflight.Inc()
					defer func() { <-s.sem; s.metrics.inflight.Dec() }()
				default:
					reason = "overloaded"
					return &httpError{status: http.StatusTooManyRequests, typ: typeOverloaded,
						msg: fmt.Sprintf("the server is serving its limit of %d requests (--max-concurrent-requests): retry later", s.cfg.MaxConcurrentRequests), retryAfter: 1}
				}
			}
			if rt.body {
				if r.ContentLength > s.cfg.PayloadLimit {
					reason = "payload"
					return newError(http.StatusRequestEntityTooLarge, typeTooLarge, "the request body of %d bytes is larger than the payload limit of %d bytes (--payload-limit)", r.ContentLength, s.cfg.PayloadLimit)
				}
				r.Body = http.MaxBytesReader(rec, r.Body, s.cfg.PayloadLimit)
			}
			ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
			defer cancel()
			return h(rec, r.WithContext(ctx), c)
		}()
		if err != nil {
			if ctxErr := r.Context().Err(); ctxErr != nil && errors.Is(err, ctxErr) {
				err = fmt.Errorf("%w", context.Canceled) // the client went away
			}
			var he *httpError
			if errors.As(err, &he) && he.status == http.StatusRequestEntityTooLarge {
				reason = orStr(reason, "batch")
			}
			if reason != "" {
				s.metrics.rejected.WithLabelValues(reason).Inc()
			}
			if rec.status == 0 {
				writeError(rec, rt.fam, err)
			}
		}
		d := time.Since(c.start)
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		errType := ""
		if err != nil {
			errType = strings.ToLower(statusOf(err).typ)
		}
		s.metrics.observe(rt.name, status, rt.inference, d, errType)
		if c.encoded && status < 300 {
			s.metrics.observeTiming(rt.name, c.timing, c.lengths)
		}
		if c.truncated > 0 {
			s.metrics.truncated.WithLabelValues(rt.name).Add(float64(c.truncated))
		}
		level := slog.LevelInfo
		if status >= 500 && status != statusClientClosed {
			level = slog.LevelError
		}
		if s.log.Enabled(r.Context(), level) {
			attrs := []slog.Attr{
				slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("route", rt.name),
				slog.Int("status", status), slog.Float64("ms", float64(d.Microseconds())/1000),
				slog.Int64("bytes", rec.bytes), slog.String("remote", r.RemoteAddr),
			}
			if c.encoded {
				attrs = append(attrs, slog.Int("tokens", c.tokens), slog.Float64("queue_ms", ms(c.timing.Queue)), slog.Float64("inference_ms", ms(c.timing.Inference)))
			}
			if err != nil && status != statusClientClosed {
				attrs = append(attrs, slog.String("error", statusOf(err).msg))
			}
			s.log.LogAttrs(context.Background(), level, "request", attrs...)
		}
	})
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// setComputeHeaders writes TEI's x-compute-* and x-*-time headers (and
// x-quarry-truncated) of an inference request; call before the body.
func (c *call) setComputeHeaders(w http.ResponseWriter) {
	h := w.Header()
	total := time.Since(c.start)
	h.Set("x-compute-type", "cpu")
	h.Set("x-compute-time", strconv.FormatInt(total.Milliseconds(), 10))
	h.Set("x-compute-characters", strconv.Itoa(c.chars))
	h.Set("x-compute-tokens", strconv.Itoa(c.tokens))
	h.Set("x-total-time", strconv.FormatInt(total.Milliseconds(), 10))
	h.Set("x-tokenization-time", strconv.FormatInt(c.timing.Tokenize.Milliseconds(), 10))
	h.Set("x-queue-time", strconv.FormatInt(c.timing.Queue.Milliseconds(), 10))
	h.Set("x-inference-time", strconv.FormatInt(c.timing.Inference.Milliseconds(), 10))
	h.Set("x-quarry-truncated", strconv.Itoa(c.truncated))
}

// bufPool holds request and response buffers (no big buffer allocated
// per request).
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooled is the largest buffer put back in the pool.
const maxPooled = 4 << 20

func getBuf() *bytes.Buffer { b := bufPool.Get().(*bytes.Buffer); b.Reset(); return b }

func putBuf(b *bytes.Buffer) {
	if b.Cap() <= maxPooled {
		bufPool.Put(b)
	}
}

// readJSON decodes the request body into v. An empty body or malformed
// JSON is 400; a value of the wrong type is 422 naming its field; a body
// over the payload limit is 413.
func readJSON(r *http.Request, v any) error {
	buf := getBuf()
	defer putBuf(buf)
	if _, err := buf.ReadFrom(r.Body); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		if ctxErr := r.Context().Err(); ctxErr != nil {
			return ctxErr
		}
		return newError(http.StatusBadRequest, typeValidation, "reading the request body: %v", err)
	}
	return decodeJSON(buf.Bytes(), v)
}

// decodeJSON is readJSON's decoding (also the fuzz targets').
func decodeJSON(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return newError(http.StatusBadRequest, typeEmpty, "the request body is empty: send a JSON object")
	}
	if err := json.Unmarshal(data, v); err != nil {
		return jsonError(err)
	}
	return nil
}

// jsonError maps a decoding error to its answer.
func jsonError(err error) error {
	var he *httpError
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &he):
		return he
	case errors.As(err, &se):
		return newError(http.StatusBadRequest, typeValidation, "the request body is not valid JSON: %v (at byte %d)", se, se.Offset)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			return newError(http.StatusBadRequest, typeValidation, "the request body must be a JSON object, not a %s", te.Value)
		}
		return invalid("%s: want %s, got a %s", field, jsonType(te.Type.String()), te.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return newError(http.StatusBadRequest, typeValidation, "the request body is not valid JSON: it ends early")
	}
	return newError(http.StatusBadRequest, typeValidation, "the request body is not valid JSON: %v", err)
}

// jsonType names a Go type as a JSON type.
func jsonType(t string) string {
	t = strings.TrimPrefix(t, "*")
	switch {
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "an integer"
	case strings.HasPrefix(t, "float"):
		return "a number"
	case t == "string":
		return "a string"
	case t == "bool":
		return "true or false"
	case strings.HasPrefix(t, "[]"):
		return "a list"
	}
	return "an object"
}

// writeJSON answers v as JSON (HTML characters not escaped, as the CLI
// writes JSON).
func writeJSON(w http.ResponseWriter, status int, v any) error {
	buf := getBuf()
	defer putBuf(buf)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encode the answer: %w", err)
	}
	return writeBody(w, status, buf.Bytes())
}

// writeBody answers a JSON body.
func writeBody(w http.ResponseWriter, status int, b []byte) error {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, err := w.Write(b)
	if err != nil {
		// The client is gone; the status is already written.
		return nil
	}
	return nil
}
