// Package web is quarry serve's search page for people: static files
// embedded in the binary, served at "/" by engine/serve. The page talks to
// the server's index API (/v1/indexes, /v1/indexes/{name}/search) only.
//
// The page is plain HTML, CSS and JavaScript (static/): no framework, no
// build step, nothing fetched from elsewhere. Its URL holds the search
// (q, index, mode, rerank, filter (repeatable), sort, dir, k; see
// docs/serve.md), so a search can be shared and reloaded. Document text is
// put into the page with textContent only, and the Content-Security-Policy
// below allows no inline script, so text from an index cannot run as code.
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
