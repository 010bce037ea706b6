package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browser is one headless Chromium tab and the test's steps on it. Script
// errors and CSP violations the page reports fail the test; failed
// requests (the 4xx an error step provokes on purpose) do not.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	problems []string
}

func newBrowser(t *testing.T, bin string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.WindowSize(1280, 900))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: ctx}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		cancel()
		cancelA()
		t.Fatalf("starting %s: %v", bin, err)
	}
	msgs := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleException || (m.Type == "error" && !strings.Contains(m.Text, "Failed to load resource")) {
				b.mu.Lock()
				b.problems = append(b.problems, string(m.Type)+": "+m.Text)
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		cancelA()
		<-done
		b.mu.Lock()
		defer b.mu.Unlock()
		if len(b.problems) > 0 {
			t.Errorf("the page reported problems:\n%s", strings.Join(b.problems, "\n"))
		}
	})
	return b
}

// run runs steps (10 s at most).
func (b *browser) run(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	c, stop := context.WithTimeout(b.ctx, 10*time.Second)
	defer stop()
	if err := chromedp.Do(c, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates js in the page and decodes its value into v.
func (b *browser) eval(what, js string, v any) {
	b.t.Helper()
	c, stop := context.WithTimeout(b.ctx, 10*time.Second)
	defer stop()
	raw, err := chromedp.Run(c, chromedp.Evaluate[[]byte](js))
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		b.t.Fatalf("%s: %v (%s)", what, err, raw)
	}
}

// searches is how many searches the page has answered (shown or failed).
func (b *browser) searches() int {
	var n int
	b.eval("search count", `Number(document.body.dataset.searches || 0)`, &n)
	return n
}

// act runs steps that start one search and waits for its answer.
func (b *browser) act(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	n := b.searches()
	// A search answered since, and none in flight (a search still running
	// when n was read could otherwise count as this action's).
	steps = append(steps, chromedp.Poll[chromedp.Void](fmt.Sprintf(`Number(document.body.dataset.searches || 0) > %d && !document.body.classList.contains("busy")`, n), chromedp.WithPollingTimeout(8*time.Second)))
	b.run(what, steps...)
}

// open loads a URL (or reloads the page) and waits until it has settled:
// indexes loaded, the URL's search answered.
func (b *browser) open(what, u string, reload bool) {
	b.t.Helper()
	nav := chromedp.Navigate(u)
	if reload {
		nav = chromedp.Reload()
	}
	b.run(what, nav, chromedp.Poll[chromedp.Void](`document.body.dataset.ready === "1" && !document.body.classList.contains("busy")`, chromedp.WithPollingTimeout(8*time.Second)))
}

// page reads the results as rendered.
func (b *browser) page(what string) []shown {
	b.t.Helper()
	var got []shown
	b.eval(what, readResults, &got)
	return got
}

// location is the page's URL parameters.
func (b *browser) location() url.Values {
	b.t.Helper()
	var loc string
	b.eval("location", `location.search`, &loc)
	v, err := url.ParseQuery(strings.TrimPrefix(loc, "?"))
	if err != nil {
		b.t.Fatal(err)
	}
	return v
}
