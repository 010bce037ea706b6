package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quarry-search/quarry/engine/errs"
)

const fuzzCommit = "0123456789abcdef0123456789abcdef01234567"

func fuzzListing(siblings string) []byte {
	return []byte(`{"id":"acme/bert","sha":"` + fuzzCommit + `","private":false,"gated":false,"siblings":[` + siblings + `]}`)
}

var fuzzListings = [][]byte{
	fuzzListing(`{"rfilename":"config.json","size":20,"blobId":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},` +
		`{"rfilename":"vocab.txt","size":12},` +
		`{"rfilename":"model.safetensors","size":64,"blobId":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","lfs":{"sha256":"` + strings.Repeat("c", 64) + `","size":64}}`),
	fuzzListing(`{"rfilename":"config.json"},{"rfilename":"tokenizer.json"},{"rfilename":"pytorch_model.bin"}`),
	fuzzListing(`{"rfilename":"../escape.json","size":-4},{"rfilename":"a//b","size":1},{"rfilename":"/abs"}`),
	[]byte(`{"sha":"not a commit"}`),
	[]byte(`[]`),
}

// FuzzParseListing feeds arbitrary bytes to the parser of the hub's model
// info: it fails with a *Error or returns a commit hash and files at safe
// paths with sizes of -1 (unknown) or more and sha256s that are sha256s;
// the parsed listing encodes back to JSON that parses to the same files.
func FuzzParseListing(f *testing.F) {
	for _, b := range fuzzListings {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := parseListing(b)
		if err != nil {
			var he *Error
			if !errors.As(err, &he) {
				t.Fatalf("error %T %v, want a *hub.Error", err, err)
			}
			return
		}
		if !IsCommitHash(info.SHA) {
			t.Fatalf("accepted the commit %q", info.SHA)
		}
		files := info.files()
		for p, rf := range files {
			if p != rf.Path || !validFilePath(p) {
				t.Fatalf("file %q (%q) at an unsafe path", p, rf.Path)
			}
			if rf.Size < -1 {
				t.Fatalf("file %q has the size %d", p, rf.Size)
			}
			if rf.SHA256 != "" && !isSHA256(rf.SHA256) {
				t.Fatalf("file %q has the sha256 %q", p, rf.SHA256)
			}
		}
		again, err := json.Marshal(info)
		if err != nil {
			t.Fatalf("a parsed listing does not encode: %v", err)
		}
		back, err := parseListing(again)
		if err != nil {
			t.Fatalf("the re-encoded listing does not parse: %v\n%s", err, again)
		}
		if back.SHA != info.SHA || !reflect.DeepEqual(back.files(), files) {
			t.Fatalf("round trip changed the listing:\n%+v\n%+v", files, back.files())
		}
	})
}

// FuzzResponseHeaders feeds arbitrary header values to the parsers of a
// download's response: Content-Range gives a start and a total that are
// not negative (-1: "*") and reads back the same when formatted again; the
// ETag always names a blob by a safe file name.
func FuzzResponseHeaders(f *testing.F) {
	f.Add("bytes 100-299/300", `"`+strings.Repeat("a", 64)+`"`)
	f.Add("bytes 0-0/*", `W/"abc"`)
	f.Add("bytes */300", "../../etc/passwd")
	f.Add("bytes 5-/-1", "x.incomplete")
	f.Fuzz(func(t *testing.T, cr, etag string) {
		if start, total, ok := parseContentRange(cr); ok {
			if start < 0 || total < -1 {
				t.Fatalf("%q: start %d, total %d", cr, start, total)
			}
			tot := "*"
			if total >= 0 {
				tot = strconv.FormatInt(total, 10)
			}
			s2, t2, ok2 := parseContentRange(fmt.Sprintf("bytes %d-%d/%s", start, start, tot))
			if !ok2 || s2 != start || t2 != total {
				t.Fatalf("%q: %d %d does not read back: %d %d %v", cr, start, total, s2, t2, ok2)
			}
		}
		name := blobName(normalizeEtag(etag))
		if name == "" {
			if normalizeEtag(etag) != "" {
				t.Fatalf("etag %q: no blob name", etag)
			}
			return
		}
		if filepath.Base(name) != name || name == "." || name == ".." || strings.ContainsAny(name, `/\`+"\x00") ||
			strings.HasSuffix(name, ".incomplete") || strings.HasSuffix(name, ".tmp") || len(name) > 128 {
			t.Fatalf("etag %q: unsafe blob name %q", etag, name)
		}
		if blobName(normalizeEtag(etag)) != name {
			t.Fatalf("etag %q: blob name not deterministic", etag)
		}
	})
}

// fuzzTransport answers the listing with one body and every file with the
// fuzzed response, without a network.
type fuzzTransport struct {
	listing  []byte
	status   int
	header   http.Header
	body     []byte
	noLength bool
}

func (ft *fuzzTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp := &http.Response{Request: r, Header: http.Header{}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
	if strings.Contains(r.URL.Path, "/api/models/") {
		resp.StatusCode = http.StatusOK
		resp.Body = io.NopCloser(bytes.NewReader(ft.listing))
		resp.ContentLength = int64(len(ft.listing))
		return resp, nil
	}
	resp.StatusCode = ft.status
	for k, v := range ft.header {
		resp.Header[k] = v
	}
	resp.Body = io.NopCloser(bytes.NewReader(ft.body))
	resp.ContentLength = int64(len(ft.body))
	if ft.noLength {
		resp.ContentLength = -1
	}
	return resp, nil
}

// FuzzPullResponses runs a whole pull against a hub answering a fuzzed
// listing and a fuzzed response (status, Content-Range, ETag, X-Linked-Size,
// body) for every file: it returns a *Error, never panics, never leaves a
// blob larger than its bound or than its listed size, and an ErrTooLarge is
// of kind errs.Limit.
func FuzzPullResponses(f *testing.F) {
	cfg := []byte(`{"model_type":"bert","architectures":["BertModel"]}`)
	for _, l := range fuzzListings[:2] {
		f.Add(l, uint8(0), "", `"`+strings.Repeat("c", 64)+`"`, "", cfg, false)
		f.Add(l, uint8(1), "bytes 0-9/10", `"etag"`, "10", cfg, true)
		f.Add(l, uint8(2), "bytes */10", "", "-1", []byte{}, false)
	}
	statuses := []int{200, 206, 416, 404, 401, 403, 500, 302, 400, 204}
	f.Fuzz(func(t *testing.T, listing []byte, st uint8, cr, etag, linkedSize string, body []byte, noLength bool) {
		ft := &fuzzTransport{listing: listing, status: statuses[int(st)%len(statuses)], body: body, noLength: noLength,
			header: http.Header{"Content-Range": {cr}, "Etag": {etag}, "X-Linked-Size": {linkedSize}}}
		o := Options{
			Endpoint: "http://hub.invalid", CacheDir: t.TempDir(), HTTPClient: &http.Client{Transport: ft},
			MaxRetries: -1, RetryWait: time.Microsecond, StallTimeout: 5 * time.Second,
			MaxConfigSize: 256, MaxWeightsSize: 1024,
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, err := Download(ctx, "acme/bert", "main", o)
		if ctx.Err() != nil {
			t.Fatalf("the pull hung: %v", err)
		}
		if err != nil {
			var he *Error
			if !errors.As(err, &he) {
				t.Fatalf("error %T %v, want a *hub.Error", err, err)
			}
			if errors.Is(err, ErrTooLarge) && !errs.Is(err, errs.Limit) {
				t.Fatalf("ErrTooLarge of kind %v: %v", errs.KindOf(err), err)
			}
		}
		var listed map[string]remoteFile
		if info, err := parseListing(listing); err == nil {
			listed = info.files()
		}
		blobs, _ := filepath.Glob(filepath.Join(o.CacheDir, "models--acme--bert", "blobs", "*"))
		for _, p := range blobs {
			if st, err := os.Stat(p); err == nil && st.Size() > o.MaxWeightsSize {
				t.Fatalf("%s holds %d bytes, over every bound", p, st.Size())
			}
		}
		snaps, _ := filepath.Glob(filepath.Join(o.CacheDir, "models--acme--bert", "snapshots", "*"))
		for _, dir := range snaps {
			filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
				if err != nil || fi.IsDir() {
					return nil
				}
				st, err := os.Stat(p)
				if err != nil {
					return nil
				}
				rel, _ := filepath.Rel(dir, p)
				rf, ok := listed[filepath.ToSlash(rel)]
				if st.Size() > o.maxSize(rel) || ok && rf.Size >= 0 && st.Size() != rf.Size {
					t.Fatalf("%s: %d bytes (listed %d, bound %d)", rel, st.Size(), rf.Size, o.maxSize(rel))
				}
				return nil
			})
		}
	})
}
