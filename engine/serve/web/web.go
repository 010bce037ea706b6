// Package web is quarry serve's search page for people: static files
// embedded in the binary, served at "/" by engine/serve. The page talks to
// the server's index API (/v1/indexes, /v1/indexes/{name}/search) only.
//
// The page is plain HTML, CSS and JavaScript (static/): no framework, no
// build step, nothing fetched from elsewhere. Document text is put into the
// page with textContent only, and the Content-Security-Policy below allows
// no inline script, so text from an index cannot run as code.
//
// The URL holds the search, so it can be shared and reloaded (and the same
// parameters, less index, make GET /v1/indexes/{index}/search the same
// search):
//
//	q       the query
//	index   the index (default: the first the server lists)
//	mode    bm25 | dense | hybrid | sparse (default: hybrid where the index has it)
//	rerank  1 (the server's default cross-encoder) or a rerank model's name
//	filter  a filter in the engine's syntax, repeatable (all must hold):
//	        FIELD=V1,V2 (any of the values, quoted where needed), FIELD>=N, FIELD<=N
//	sort    a sortable field (default: relevance); dir asc | desc (default desc)
//	k       results (default 10)
//
// The page keeps an API key, when the server needs one, in the tab's
// sessionStorage and sends it as "Authorization: Bearer KEY".
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// csp allows the page's own files and its API calls, nothing else.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// Handler serves the page and its assets (GET and HEAD only).
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree always has it
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		// Embedded files have no modification time: revalidate, so a new
		// binary's page is never mixed with an old cached script.
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
