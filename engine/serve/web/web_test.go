package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine/serve/web"
)

func get(t *testing.T, h http.Handler, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

// TestHandler: the page and its assets with their types and the security
// headers; other methods 405, unknown files 404.
func TestHandler(t *testing.T) {
	h := web.Handler()
	for _, c := range []struct{ path, ctype string }{
		{"/", "text/html; charset=utf-8"},
		{"/app.js", "text/javascript; charset=utf-8"},
		{"/style.css", "text/css; charset=utf-8"},
	} {
		rec := get(t, h, "GET", c.path)
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != c.ctype || rec.Body.Len() == 0 {
			t.Fatalf("GET %s: %d %q, %d bytes", c.path, rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len())
		}
		csp := rec.Header().Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("GET %s: headers %v", c.path, rec.Header())
		}
	}
	if rec := get(t, h, "HEAD", "/"); rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Fatalf("HEAD /: %d, %d bytes", rec.Code, rec.Body.Len())
	}
	if rec := get(t, h, "POST", "/"); rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST /: %d, Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
	if rec := get(t, h, "GET", "/nope.js"); rec.Code != http.StatusNotFound {
		t.Fatalf("GET /nope.js: %d", rec.Code)
	}
}

// TestPageFiles: every file index.html names is embedded, nothing is
// fetched from elsewhere, and the script builds the DOM without parsing
// strings as HTML (document text goes in through textContent only).
func TestPageFiles(t *testing.T) {
	h := web.Handler()
	html := get(t, h, "GET", "/").Body.String()
	refs := regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(html, -1)
	if len(refs) < 3 {
		t.Fatalf("index.html names %d files", len(refs))
	}
	for _, m := range refs {
		ref := m[1]
		switch {
		case ref == "data:," || ref == "./" || ref == "v1/indexes":
			continue
		case strings.Contains(ref, "//"):
			t.Fatalf("index.html fetches %q from elsewhere", ref)
		}
		if rec := get(t, h, "GET", "/"+ref); rec.Code != http.StatusOK {
			t.Fatalf("index.html names %q: %d", ref, rec.Code)
		}
	}
	js, err := io.ReadAll(get(t, h, "GET", "/app.js").Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
		if strings.Contains(string(js), bad) {
			t.Fatalf("app.js uses %s: document text must reach the page through textContent", bad)
		}
	}
}
