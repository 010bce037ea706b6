package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// transport sends GET requests: redirects followed by hand (the token stays
// on the first host), transient failures retried with backoff, stalled
// transfers aborted.
type transport struct {
	hc         *http.Client
	token      string
	userAgent  string
	maxRetries int
	retryWait  time.Duration
	stall      time.Duration
	warnf      func(format string, args ...any)
}

const maxRedirects = 10

var errStalled = errors.New("no data received within the stall timeout")

func newTransport(o Options, p *progress) *transport {
	var hc http.Client
	if o.HTTPClient != nil {
		hc = *o.HTTPClient // a copy: the caller's redirect policy is left alone
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &transport{
		hc: &hc, token: o.Token, userAgent: o.UserAgent,
		maxRetries: o.MaxRetries, retryWait: o.RetryWait, stall: o.StallTimeout,
		warnf: p.warnf,
	}
}

// response is a final (non-redirect) response. Meta holds the headers of the
// last response the first host sent: the hub's metadata (X-Repo-Commit,
// X-Linked-Etag, X-Linked-Size, ETag) even when the body came from a CDN.
type response struct {
	*http.Response
	Meta   http.Header
	cancel context.CancelCauseFunc
	timer  *time.Timer
}

// Close closes the body and releases the request's context.
func (r *response) Close() {
	r.timer.Stop()
	r.Body.Close()
	r.cancel(context.Canceled)
}

func (r *response) httpError() *HTTPError {
	u := *r.Request.URL
	u.RawQuery, u.Fragment = "", ""
	return &HTTPError{
		StatusCode: r.StatusCode,
		Code:       r.Header.Get("X-Error-Code"),
		Message:    r.Header.Get("X-Error-Message"),
		URL:        u.String(),
		RequestID:  r.Header.Get("X-Request-Id"),
	}
}

// watchedBody resets the stall timer on every read and names the stall
// when the timer aborted the transfer.
type watchedBody struct {
	io.ReadCloser
	ctx, parent context.Context
	timer       *time.Timer
	stall       time.Duration
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.timer.Reset(b.stall)
	}
	if err != nil && err != io.EOF && b.parent.Err() == nil && errors.Is(context.Cause(b.ctx), errStalled) {
		err = fmt.Errorf("%w (%v): %v", errStalled, b.stall, err)
	}
	return n, err
}

func retryableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// get sends a GET with extra headers, retrying connection errors and
// transient statuses up to maxRetries times. It returns the final response
// whatever its status (the last one when retries ran out), or the error of
// the last attempt. The caller must Close the response.
func (t *transport) get(ctx context.Context, rawURL string, hdr http.Header) (*response, error) {
	wait := t.retryWait
	for attempt := 0; ; attempt++ {
		resp, err := t.do(ctx, rawURL, hdr)
		if ctx.Err() != nil {
			if resp != nil {
				resp.Close()
			}
			return nil, ctx.Err()
		}
		var pause time.Duration
		switch {
		case err != nil:
			if attempt >= t.maxRetries {
				return nil, err
			}
			t.warnf("warning: %v; retrying in %v (%d/%d)", err, wait, attempt+1, t.maxRetries)
		case retryableStatus(resp.StatusCode) && attempt < t.maxRetries:
			pause = retryAfter(resp.Header)
			t.warnf("warning: %v; retrying in %v (%d/%d)", resp.httpError(), max(pause, wait), attempt+1, t.maxRetries)
			resp.Close()
		default:
			return resp, nil
		}
		if err := sleep(ctx, max(pause, wait)); err != nil {
			return nil, err
		}
		wait = min(2*wait, 8*t.retryWait)
	}
}

// retryAfter reads a Retry-After header given in seconds, capped at a minute.
func retryAfter(h http.Header) time.Duration {
	s, err := strconv.Atoi(strings.TrimSpace(h.Get("Retry-After")))
	if err != nil || s < 0 {
		return 0
	}
	return min(time.Duration(s)*time.Second, time.Minute)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// do sends one GET and follows up to maxRedirects redirects. The
// Authorization header goes to the first URL's scheme and host (with port)
// only, and never again once a redirect has left that host, as
// huggingface_hub does for CDN downloads.
func (t *transport) do(ctx context.Context, rawURL string, hdr http.Header) (*response, error) {
	cur, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("bad URL %q: %w", rawURL, err)
	}
	first := *cur
	actx, cancel := context.WithCancelCause(ctx)
	timer := time.AfterFunc(t.stall, func() { cancel(errStalled) })
	fail := func(err error) (*response, error) {
		timer.Stop()
		var ue *url.Error
		if errors.As(err, &ue) {
			if u, perr := url.Parse(ue.URL); perr == nil {
				ue.URL = redactURL(u)
			}
		}
		if cause := context.Cause(actx); errors.Is(cause, errStalled) && ctx.Err() == nil {
			err = fmt.Errorf("%w (%v): %v", errStalled, t.stall, err)
		}
		cancel(context.Canceled)
		return nil, err
	}
	var meta http.Header
	sameHost := true
	for hops := 0; ; hops++ {
		req, err := http.NewRequestWithContext(actx, http.MethodGet, cur.String(), nil)
		if err != nil {
			return fail(fmt.Errorf("bad URL %q: %w", cur, err))
		}
		for k, v := range hdr {
			req.Header[k] = v
		}
		req.Header.Set("User-Agent", t.userAgent)
		// No transparent compression: sizes and hashes are of the raw bytes.
		req.Header.Set("Accept-Encoding", "identity")
		if t.token != "" && sameHost && cur.Scheme == first.Scheme && cur.Host == first.Host {
			req.Header.Set("Authorization", "Bearer "+t.token)
		}
		resp, err := t.hc.Do(req)
		if err != nil {
			return fail(err)
		}
		loc := resp.Header.Get("Location")
		if !isRedirect(resp.StatusCode) || loc == "" {
			if meta == nil {
				meta = resp.Header
			}
			resp.Body = &watchedBody{ReadCloser: resp.Body, ctx: actx, parent: ctx, timer: timer, stall: t.stall}
			return &response{Response: resp, Meta: meta, cancel: cancel, timer: timer}, nil
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if hops >= maxRedirects {
			return fail(fmt.Errorf("more than %d redirects from %s", maxRedirects, redactURL(&first)))
		}
		next, err := cur.Parse(loc)
		if err != nil {
			return fail(fmt.Errorf("bad redirect location %q: %w", loc, err))
		}
		if next.Scheme != "http" && next.Scheme != "https" {
			return fail(fmt.Errorf("redirect to unsupported URL %s", redactURL(next)))
		}
		if next.Host != cur.Host || next.Scheme != cur.Scheme {
			if meta == nil {
				meta = resp.Header // the hub's metadata, before the CDN
			}
			sameHost = false
		}
		cur = next
		timer.Reset(t.stall)
	}
}

func isRedirect(code int) bool {
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// redactURL drops the query (CDN URLs carry signatures).
func redactURL(u *url.URL) string {
	c := *u
	c.RawQuery, c.Fragment, c.User = "", "", nil
	return c.String()
}
