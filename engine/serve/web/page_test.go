package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/encoder"
	"github.com/quarry-search/quarry/engine/encoder/fake"
	"github.com/quarry-search/quarry/engine/modelgen"
	"github.com/quarry-search/quarry/engine/serve"
	"github.com/quarry-search/quarry/engine/serve/web"
)

// chromium finds a Chromium binary: $QUARRY_CHROMIUM, else Debian's
// chromium or chromium-headless-shell on PATH.
func chromium() string {
	if p := os.Getenv("QUARRY_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-headless-shell", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	for _, p := range []string{"/usr/lib/chromium/chromium", "/usr/lib/chromium/chromium-headless-shell"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// site is a real quarry server over two indexes built with the pure-Go fake
// encoder: "hub" (the Hub model-search example plus generated models) and
// "notes" (HTML in document text), with the fake cross-encoder "ce" for
// rerank.
type site struct {
	url string
	key string // the API key the server requires ("" = none)
	// pageNeedsKey: the server's own GET / answers 401 without the key.
	pageNeedsKey bool
}

// newSite starts the server; with apiKey it requires that key on the API,
// and the page itself is served by web.Handler without one (a browser
// opening a link sends no Bearer token).
func newSite(t *testing.T, apiKey string) *site {
	t.Helper()
	vocab, err := modelgen.LoadVocab("")
	if err != nil {
		t.Fatal(err)
	}
	dense, err := fake.New(vocab, fake.Options{Kind: encoder.BiEncoder, Dim: 32, MaxTokens: 64, Seed: 5, Name: "minilm"})
	if err != nil {
		t.Fatal(err)
	}
	ce, err := fake.New(vocab, fake.Options{Kind: encoder.CrossEncoder, MaxTokens: 128, Seed: 5, Name: "ce"})
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	hub := filepath.Join(tmp, "hub")
	hubCorpus(t, hub, 36)
	notes := filepath.Join(tmp, "notes.jsonl")
	if err := os.WriteFile(notes, []byte(notesCorpus), 0o644); err != nil {
		t.Fatal(err)
	}
	build := func(name, input string) string {
		dir := filepath.Join(tmp, name+".idx")
		ix, err := engine.Create(dir, engine.CreateOptions{Encoder: dense})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ix.Add(context.Background(), engine.AddOptions{Input: input}); err != nil {
			t.Fatal(err)
		}
		if err := ix.Close(); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	srv, err := serve.New(serve.Config{
		Indexes:      []serve.IndexSpec{{Name: "hub", Dir: build("hub", hub)}, {Name: "notes", Dir: build("notes", notes)}},
		Models:       []serve.ModelSpec{{Name: "minilm", Encoder: dense}},
		RerankModels: []serve.ModelSpec{{Name: "ce", Ranker: ce}},
		APIKey:       apiKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	h := withFacets(t, srv.Handler(), map[string]string{"hub": filepath.Join(hub, "models.jsonl"), "notes": notes})
	s := &site{key: apiKey}
	if apiKey != "" {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		s.pageNeedsKey = rec.Code == http.StatusUnauthorized
		mux := http.NewServeMux()
		mux.Handle("/v1/", h)
		mux.Handle("/", web.Handler())
		h = mux
	}
	ts := httptest.NewServer(h)
	t.Cleanup(func() {
		ts.Close()
		srv.Close()
	})
	s.url = ts.URL
	return s
}

// answer is one API answer read whole.
type answer struct {
	status int
	body   []byte
}

func (s *site) api(t *testing.T, method, path string, body any) answer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if s.key != "" {
		req.Header.Set("Authorization", "Bearer "+s.key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{res.StatusCode, b}
}

// apiResult is what the test compares of one search result.
type apiResult struct {
	ID        string          `json:"id"`
	Title     string          `json:"title"`
	Passage   string          `json:"passage"`
	ScoreKind string          `json:"score_kind"`
	Metadata  json.RawMessage `json:"metadata"`
}

// search asks the API (POST) and returns its results.
func (s *site) search(t *testing.T, index string, body map[string]any) []apiResult {
	t.Helper()
	a := s.api(t, "POST", "/v1/indexes/"+index+"/search", body)
	if a.status != http.StatusOK {
		t.Fatalf("search %v: status %d: %s", body, a.status, a.body)
	}
	var out struct {
		Results []apiResult `json:"results"`
	}
	if err := json.Unmarshal(a.body, &out); err != nil {
		t.Fatal(err)
	}
	return out.Results
}

// shown is one result as the page renders it.
type shown struct {
	ID      string `json:"id"`
	Title   string `json:"title"`
	Passage string `json:"passage"`
	Kind    string `json:"kind"`
}

const readResults = `[...document.querySelectorAll("#results > li.result")].map(li => ({
	id: li.dataset.id,
	title: li.querySelector(".r-title").textContent,
	passage: (li.querySelector(".r-passage") || {textContent: ""}).textContent,
	kind: li.querySelector(".r-scores .main b").textContent,
}))`

// same checks the rendered results against the API's, in order: id, the
// title (or the id where there is none), the best passage, the score kind.
func same(t *testing.T, what string, got []shown, want []apiResult) {
	t.Helper()
	if len(want) == 0 {
		t.Fatalf("%s: the API found nothing: the check would be empty", what)
	}
	if len(got) != len(want) {
		t.Fatalf("%s: the page shows %d results, the API answers %d\npage: %v\napi: %v", what, len(got), len(want), got, want)
	}
	for i, w := range want {
		title := w.Title
		if title == "" {
			title = w.ID
		}
		g := got[i]
		if g.ID != w.ID || g.Title != title || g.Passage != strings.TrimSpace(w.Passage) || g.Kind != w.ScoreKind {
			t.Fatalf("%s: result %d: page %+v, API id %q title %q passage %q kind %q", what, i+1, g, w.ID, title, w.Passage, w.ScoreKind)
		}
	}
}

func ids(rs []apiResult) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// TestPage drives the search page in headless Chromium against the real
// server: type a query and press Enter, pick a filter, a sort and its
// direction, rerank, and check every rendered list against the API's JSON
// for the same request; the URL round trip (reload and history), the
// keyboard, errors, HTML in documents, and the phone width.
func TestPage(t *testing.T) {
	bin := chromium()
	if bin == "" {
		t.Skip("no Chromium: install Debian's chromium (make deps) or set QUARRY_CHROMIUM; the browser test of the search page is skipped")
	}
	start := time.Now()
	s := newSite(t, "")

	b := newBrowser(t, bin)
	run, eval, act, open, page, location := b.run, b.eval, b.act, b.open, b.page, b.location
	ctx := b.ctx
	// viaGET is the API's GET search with the page's own URL parameters:
	// the page's URL is a link to the same search.
	viaGET := func(t *testing.T) []apiResult {
		t.Helper()
		v := location()
		index := v.Get("index")
		v.Del("index")
		a := s.api(t, "GET", "/v1/indexes/"+url.PathEscape(index)+"/search?"+v.Encode(), nil)
		if a.status != http.StatusOK {
			t.Fatalf("GET search with the page's URL %v: %d %s", v, a.status, a.body)
		}
		var out struct {
			Results []apiResult `json:"results"`
		}
		if err := json.Unmarshal(a.body, &out); err != nil {
			t.Fatal(err)
		}
		return out.Results
	}

	// The index picker lists every index; the facets are the hub's.
	open("open the page", s.url+"/", false)
	var picker []string
	eval("index picker", `[...document.querySelectorAll("#index option")].map(o => o.value)`, &picker)
	if !slices.Equal(picker, []string{"hub", "notes"}) {
		t.Fatalf("index picker %v, want [hub notes]", picker)
	}
	var modes []string
	eval("methods", `[...document.querySelectorAll('input[name="mode"]')].map(r => r.value)`, &modes)
	if !slices.Equal(modes, []string{"bm25", "dense", "hybrid"}) {
		t.Fatalf("methods %v, want bm25 dense hybrid", modes)
	}

	// A query typed and Enter pressed: the default method is hybrid.
	const query = "transcribe french audio"
	act("type a query and press Enter", chromedp.SendKeys("#q", query+kb.Enter))
	base := map[string]any{"query": query, "k": 10, "mode": "hybrid"}
	first := s.search(t, "hub", base)
	same(t, "query", page("results"), first)
	same(t, "query (GET with the page's URL)", page("results"), viaGET(t))

	// The query's words are highlighted, and only they.
	var marks []string
	eval("marks", `[...document.querySelectorAll("#results .r-passage mark")].map(m => m.textContent.toLowerCase())`, &marks)
	if len(marks) == 0 {
		t.Fatalf("no highlighted words in the passages of %q", query)
	}
	for _, m := range marks {
		if !strings.HasPrefix(m, "transcrib") && m != "french" && m != "audio" {
			t.Fatalf("highlighted %q, which is not a word of %q", m, query)
		}
	}

	// A filter picked from the facets (library_name = transformers).
	act("pick a filter", chromedp.Click(`#facets input[data-field="library_name"][data-value="transformers"]`))
	filtered := map[string]any{"query": query, "k": 10, "mode": "hybrid", "filters": []string{"library_name=transformers"}}
	withFilter := s.search(t, "hub", filtered)
	same(t, "filter", page("results filtered"), withFilter)
	if slices.Equal(ids(withFilter), ids(first)) {
		t.Fatalf("the filter changed nothing (%v): a weak check", ids(first))
	}

	// A sort (likes, descending by default), then ascending.
	act("sort by likes", chromedp.SetValue("#sort", "likes"), chromedp.Evaluate[chromedp.Void](`document.querySelector("#sort").dispatchEvent(new Event("change", {bubbles: true}))`))
	sorted := map[string]any{"query": query, "k": 10, "mode": "hybrid", "filters": []string{"library_name=transformers"}, "sort": "likes", "direction": "desc"}
	desc := s.search(t, "hub", sorted)
	same(t, "sort desc", page("sorted desc"), desc)
	act("ascending", chromedp.Click("#dir"))
	sorted["direction"] = "asc"
	asc := s.search(t, "hub", sorted)
	same(t, "sort asc", page("sorted asc"), asc)
	if slices.Equal(ids(asc), ids(desc)) {
		t.Fatalf("ascending and descending give the same order %v", ids(asc))
	}
	same(t, "sort asc (GET with the page's URL)", page("sorted asc"), viaGET(t))

	// The URL holds the state; reloading it gives the same page.
	v := location()
	want := url.Values{"q": {query}, "index": {"hub"}, "mode": {"hybrid"}, "filter": {"library_name=transformers"}, "sort": {"likes"}, "dir": {"asc"}}
	if v.Encode() != want.Encode() {
		t.Fatalf("URL state %v, want %v", v, want)
	}
	open("reload", "", true)
	same(t, "reload", page("after reload"), asc)
	var ctl struct {
		Q       string `json:"q"`
		Checked bool   `json:"checked"`
		Sort    string `json:"sort"`
		Dir     string `json:"dir"`
	}
	eval("controls after reload", `({q: document.querySelector("#q").value,
		checked: document.querySelector('#facets input[data-field="library_name"][data-value="transformers"]').checked,
		sort: document.querySelector("#sort").value, dir: document.querySelector("#dir").dataset.dir})`, &ctl)
	if ctl.Q != query || !ctl.Checked || ctl.Sort != "likes" || ctl.Dir != "asc" {
		t.Fatalf("controls after reload: %+v", ctl)
	}
	// Back goes to the previous search (popstate), descending.
	act("history back", chromedp.NavigateBack())
	same(t, "back", page("after back"), desc)

	// "/" focuses the query box from anywhere but a text field.
	var focused string
	run("press /", chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`), typeKey("/", "Slash", 191))
	eval("focus", `document.activeElement.id + "|" + document.querySelector("#q").value`, &focused)
	if focused != "q|"+query {
		t.Fatalf(`after "/": focus and box %q, want "q|%s"`, focused, query)
	}

	// Rerank: the toggle is there because the server holds "ce".
	act("rerank", chromedp.Click("#rerank"))
	reranked := map[string]any{"query": query, "k": 10, "mode": "hybrid", "filters": []string{"library_name=transformers"}, "sort": "likes", "direction": "desc", "rerank": true}
	rr := page("reranked")
	same(t, "rerank", rr, s.search(t, "hub", reranked))
	if !slices.ContainsFunc(rr, func(r shown) bool { return r.Kind == "rerank" }) {
		t.Fatalf("reranked results show no rerank score: %+v", rr)
	}
	if v := location(); v.Get("rerank") != "1" {
		t.Fatalf("URL after rerank: %v", v)
	}

	// Another index from the picker: its own facets and sorts (the hub's
	// filters and sort are dropped, the query stays and is searched there).
	act("pick the notes index", chromedp.SetValue("#index", "notes"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#index").dispatchEvent(new Event("change", {bubbles: true}))`))
	var fields, sorts []string
	eval("notes facets", `[...document.querySelectorAll("#facets details.facet")].map(d => d.dataset.field)`, &fields)
	eval("notes sorts", `[...document.querySelectorAll("#sort option")].map(o => o.value)`, &sorts)
	if !slices.Contains(fields, "kind") || slices.Contains(fields, "library_name") || !slices.Contains(sorts, "size") || slices.Contains(sorts, "likes") {
		t.Fatalf("notes index: filters %v, sorts %v", fields, sorts)
	}
	if v := location(); v.Get("index") != "notes" || v.Get("q") != query || len(v["filter"]) != 0 || v.Get("sort") != "" {
		t.Fatalf("URL after picking notes: %v", v)
	}
	same(t, "notes, the same query", page("notes"), s.search(t, "notes", map[string]any{"query": query, "k": 10, "mode": "hybrid", "rerank": true}))
	// bm25, a new query; HTML in the documents stays text.
	act("rerank off", chromedp.Click("#rerank"))
	act("bm25", chromedp.Click(`#modes input[value="bm25"] + span`))
	act("a new query", chromedp.Evaluate[chromedp.Void](`document.querySelector("#q").value = ""`), chromedp.SendKeys("#q", "payload"+kb.Enter))
	notes := s.search(t, "notes", map[string]any{"query": "payload", "k": 10, "mode": "bm25"})
	same(t, "notes", page("notes"), notes)
	same(t, "notes (GET with the page's URL)", page("notes"), viaGET(t))
	var injected struct {
		Elements int  `json:"elements"`
		XSS      bool `json:"xss"`
	}
	eval("html in documents", `({elements: document.querySelectorAll("img, script:not([src]), #results .r-title *:not(mark), #results .r-passage *:not(mark), #facets label *:not(input, span)").length,
		xss: window.__xss !== undefined})`, &injected)
	if injected.Elements != 0 || injected.XSS {
		t.Fatalf("document text became HTML: %+v", injected)
	}
	// A facet value with a comma and quotes: the filter is quoted as the
	// engine's syntax wants, and the API agrees with the page.
	act("quoted filter value", chromedp.Click(`#facets input[data-field="kind"][data-value='a, "quoted" kind']`))
	if got := location()["filter"]; !slices.Equal(got, []string{`kind="a, \"quoted\" kind"`}) {
		t.Fatalf("filter in the URL %q", got)
	}
	quoted := s.search(t, "notes", map[string]any{"query": "payload", "k": 10, "mode": "bm25", "filters": []string{`kind="a, \"quoted\" kind"`}})
	same(t, "quoted filter", page("quoted filter"), quoted)
	if len(quoted) != 1 || quoted[0].ID != "xss-1" {
		t.Fatalf("quoted filter found %v, want [xss-1]", ids(quoted))
	}
	// Its chip removes it.
	act("remove the filter", chromedp.Click(`#active button.active-chip`))
	same(t, "filter removed", page("filter removed"), notes)
	if v := location(); len(v["filter"]) != 0 {
		t.Fatalf("URL after removing the filter: %v", v)
	}

	// An error body is shown as the server wrote it.
	open("k out of range", s.url+"/?index=hub&q=audio&k=20000", false)
	a := s.api(t, "POST", "/v1/indexes/hub/search", map[string]any{"query": "audio", "k": 20000, "mode": "hybrid"})
	var apiErr struct {
		Error     string `json:"error"`
		ErrorType string `json:"error_type"`
	}
	if err := json.Unmarshal(a.body, &apiErr); err != nil || a.status < 400 || apiErr.Error == "" {
		t.Fatalf("the API's answer to k 20000: %d %s", a.status, a.body)
	}
	var shownErr string
	eval("error box", `document.querySelector("#error").hidden ? "" : document.querySelector("#error").textContent`, &shownErr)
	if wantErr := fmt.Sprintf("%d %s: %s", a.status, apiErr.ErrorType, apiErr.Error); shownErr != wantErr {
		t.Fatalf("error shown %q, want %q", shownErr, wantErr)
	}

	// Phone width: one column, no horizontal scroll, results readable.
	run("phone width", chromedp.EmulateViewport(360, 740, chromedp.EmulateMobile))
	open("phone", s.url+"/?"+want.Encode(), false)
	same(t, "phone", page("phone"), asc)
	var phone struct {
		Scroll int     `json:"scroll"`
		Inner  int     `json:"inner"`
		Widest float64 `json:"widest"`
	}
	eval("phone layout", `({scroll: document.documentElement.scrollWidth, inner: window.innerWidth,
		widest: Math.max(...[...document.querySelectorAll("body *")].map(e => e.getBoundingClientRect().right))})`, &phone)
	if phone.Inner != 360 || phone.Scroll > phone.Inner || phone.Widest > float64(phone.Inner)+0.5 {
		t.Fatalf("at 360 px: scroll width %d, window %d, rightmost element edge %.1f", phone.Scroll, phone.Inner, phone.Widest)
	}
	if os.Getenv("QUARRY_SCREENSHOTS") == "1" {
		// docs/serve/: the hub search a person would make (two tasks, rerank).
		show := url.Values{"q": {query}, "index": {"hub"}, "mode": {"hybrid"}, "rerank": {"1"},
			"filter": {"pipeline_tag=automatic-speech-recognition,audio-classification"}}
		open("phone screenshot", s.url+"/?"+show.Encode(), false)
		shot(t, ctx, "search-phone.png")
		run("desktop width", chromedp.EmulateViewport(1280, 900))
		open("desktop screenshot", s.url+"/?"+show.Encode(), false)
		shot(t, ctx, "search.png")
	}
	t.Logf("browser test: %v", time.Since(start).Round(time.Millisecond))
}

// TestPageAPIKey: against a server that requires an API key, the page
// shows the 401 and asks for the key; the key typed in is kept in the tab's
// sessionStorage and sent as a Bearer token, and searches work.
func TestPageAPIKey(t *testing.T) {
	bin := chromium()
	if bin == "" {
		t.Skip("no Chromium: install Debian's chromium (make deps) or set QUARRY_CHROMIUM; the browser test of the search page is skipped")
	}
	const key = "sekret-key-42"
	s := newSite(t, key)
	if s.pageNeedsKey {
		t.Log("note: the server's own GET / needs the API key, so a browser cannot open the page there; this test serves the page without it")
	}
	b := newBrowser(t, bin)
	b.open("open without a key", s.url+"/?q=audio", false)
	var state struct {
		Error    string `json:"error"`
		Open     bool   `json:"open"`
		Focus    string `json:"focus"`
		Indexes  int    `json:"indexes"`
		Searches int    `json:"searches"`
	}
	const read = `({error: document.querySelector("#error").hidden ? "" : document.querySelector("#error").textContent,
		open: document.querySelector("#settings").open, focus: document.activeElement.id,
		indexes: document.querySelectorAll("#index option").length, searches: Number(document.body.dataset.searches || 0)})`
	b.eval("without a key", read, &state)
	if !strings.HasPrefix(state.Error, "401 Unauthorized: ") || !state.Open || state.Focus != "api-key" || state.Indexes != 0 {
		t.Fatalf("without a key: %+v", state)
	}
	b.run("a wrong key", chromedp.SendKeys("#api-key", "wrong"+kb.Enter),
		chromedp.Poll[chromedp.Void](`document.body.dataset.ready === "1"`, chromedp.WithPollingTimeout(8*time.Second)))
	b.eval("a wrong key", read, &state)
	if !strings.HasPrefix(state.Error, "401 Unauthorized: ") || state.Indexes != 0 {
		t.Fatalf("with a wrong key: %+v", state)
	}
	b.run("the key", chromedp.Evaluate[chromedp.Void](`document.querySelector("#api-key").value = ""`), chromedp.SendKeys("#api-key", key+kb.Enter),
		chromedp.Poll[chromedp.Void](`document.body.dataset.ready === "1" && !document.body.classList.contains("busy")`, chromedp.WithPollingTimeout(8*time.Second)))
	b.eval("with the key", read, &state)
	if state.Error != "" || state.Indexes != 2 {
		t.Fatalf("with the key: %+v", state)
	}
	same(t, "with the key", b.page("results"), s.search(t, "hub", map[string]any{"query": "audio", "k": 10, "mode": "hybrid"}))
	var stored string
	b.eval("sessionStorage", `sessionStorage.getItem("quarry.apiKey")`, &stored)
	if stored != key {
		t.Fatalf("sessionStorage holds %q", stored)
	}
	// A reload in the same tab keeps the key.
	b.open("reload", "", true)
	same(t, "reload with the key", b.page("results"), s.search(t, "hub", map[string]any{"query": "audio", "k": 10, "mode": "hybrid"}))
}

// typeKey presses a printable key as Puppeteer does (one keyDown carrying
// the text, then keyUp), so that a page's preventDefault on keydown keeps
// the character out of the field, as with a real keyboard. (chromedp's
// KeyEvent sends the character as a separate char event, which Chromium
// inserts whatever keydown did.)
func typeKey(key, code string, vk int64) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		down := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyDown, Key: key, Code: code, WindowsVirtualKeyCode: vk, Text: key, UnmodifiedText: key}
		if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, down); err != nil {
			return err
		}
		up := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyUp, Key: key, Code: code, WindowsVirtualKeyCode: vk}
		_, err := cdp.Call(ctx, t, input.DispatchKeyEvent, up)
		return err
	})
}

// shot saves a screenshot of the viewport under docs/serve/ (make
// screenshots sets QUARRY_SCREENSHOTS=1 for the test to call it).
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("..", "..", "..", "docs", "serve")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote docs/serve/%s (%d bytes)", name, len(png))
}
