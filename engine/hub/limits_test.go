package hub_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quarry-search/quarry/engine/errs"
	"github.com/quarry-search/quarry/engine/hub"
	"github.com/quarry-search/quarry/engine/hub/hubtest"
)

// watchPartial records the largest size the partial download of f reaches
// until the returned stop is called.
func watchPartial(o hub.Options, f hubtest.File) (stop func() int64) {
	var (
		mu      sync.Mutex
		largest int64
		done    = make(chan struct{})
		exited  = make(chan struct{})
	)
	go func() {
		defer close(exited)
		for {
			if st, err := os.Stat(filepath.Join(storage(o), "blobs", f.ETag()+".incomplete")); err == nil {
				mu.Lock()
				largest = max(largest, st.Size())
				mu.Unlock()
			}
			select {
			case <-done:
				return
			case <-time.After(200 * time.Microsecond):
			}
		}
	}()
	return func() int64 {
		close(done)
		<-exited
		mu.Lock()
		defer mu.Unlock()
		return largest
	}
}

// noBlobsLeft fails when the cache keeps the blob or the partial download of
// f, or a snapshot pointer to it.
func noBlobsLeft(t *testing.T, o hub.Options, f hubtest.File) {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(storage(o), "blobs", "*"))
	for _, p := range m {
		if strings.HasPrefix(filepath.Base(p), f.ETag()) || strings.HasSuffix(p, ".incomplete") {
			t.Errorf("%s kept after the failure", p)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(storage(o), "snapshots", "*", f.Path)); len(m) > 0 {
		t.Errorf("snapshot has %v", m)
	}
}

func wantTooLarge(t *testing.T, err error, name string, sizes ...int64) {
	t.Helper()
	if !errors.Is(err, hub.ErrTooLarge) || !errs.Is(err, errs.Limit) {
		t.Fatalf("err = %v (kind %v), want ErrTooLarge of kind limit", err, errs.KindOf(err))
	}
	msg := err.Error()
	if !strings.Contains(msg, name) {
		t.Errorf("error %q does not name %s", msg, name)
	}
	for _, n := range sizes {
		if !strings.Contains(msg, strconv.FormatInt(n, 10)) {
			t.Errorf("error %q does not give the size %d", msg, n)
		}
	}
}

// A file listed with its size but served far larger: the download stops at
// the listed size, whether the response declares its length (rejected before
// the body is read) or not (stopped one byte past the size), and nothing of
// it is kept. Before the bound, all 300 MB were written before the size
// check.
func TestOversizeBodyIsBounded(t *testing.T) {
	const extra = 300 << 20
	for _, tc := range []struct {
		name     string
		file     string
		noLength bool
	}{
		{"declared/weights", "model.safetensors", false},
		{"chunked/weights", "model.safetensors", true},
		{"declared/config", "config.json", false},
		{"chunked/config", "config.json", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := hubtest.New(t)
			files := stFiles()
			s.AddRepo(repoID, files...)
			f := fileByPath(files, tc.file)
			o := options(t, s)
			s.AddFault(&hubtest.Fault{On: "body", File: tc.file, Extra: extra, NoLength: tc.noLength})
			stop := watchPartial(o, f)
			_, err := hub.Download(context.Background(), repoID, "main", o)
			largest := stop()
			want := []int64{int64(len(f.Data))}
			if !tc.noLength {
				want = append(want, int64(len(f.Data))+extra)
			}
			wantTooLarge(t, err, tc.file, want...)
			if largest > int64(len(f.Data)) {
				t.Errorf("a partial file reached %d bytes, more than the listed %d", largest, len(f.Data))
			}
			for _, r := range s.Requests() {
				if r.Sent > 32<<20 {
					t.Errorf("%s %s: the server got to send %d bytes", r.Server, r.Path, r.Sent)
				}
			}
			noBlobsLeft(t, o, f)
		})
	}
}

// A file served smaller than its listed size, as a complete response: an
// integrity error at once (no retries), nothing kept.
func TestUndersizeBodyFails(t *testing.T) {
	s := hubtest.New(t)
	files := stFiles()
	s.AddRepo(repoID, files...)
	f := fileByPath(files, "model.safetensors")
	o := options(t, s)
	s.AddFault(&hubtest.Fault{On: "body", File: f.Path, Truncate: 1000})
	_, err := hub.Download(context.Background(), repoID, "main", o)
	if !errors.Is(err, hub.ErrIntegrity) || !errs.Is(err, errs.Corrupt) {
		t.Fatalf("err = %v (kind %v), want ErrIntegrity of kind corrupt", err, errs.KindOf(err))
	}
	for _, want := range []string{f.Path, "300000", "1000"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %s", err, want)
		}
	}
	if n := len(cdnRequests(s, f.Path)); n != 1 {
		t.Errorf("%d requests for the weights, want 1 (no retries of a lying response)", n)
	}
	noBlobsLeft(t, o, f)
}

// Files without a listed size (a mirror ignoring ?blobs=true) sent without
// Content-Length are bounded by the bound of their kind.
func TestUnsizedBodyIsCapped(t *testing.T) {
	s := hubtest.New(t)
	s.NoBlobs = true
	files := stFiles()
	s.AddRepo(repoID, files...)
	f := fileByPath(files, "config.json")
	o := options(t, s)
	o.MaxConfigSize = 1 << 20
	s.AddFault(&hubtest.Fault{On: "body", File: f.Path, Extra: 10 << 20, NoLength: true})
	stop := watchPartial(o, f)
	_, err := hub.Download(context.Background(), repoID, "main", o)
	largest := stop()
	wantTooLarge(t, err, f.Path, o.MaxConfigSize)
	if largest > o.MaxConfigSize {
		t.Errorf("a partial file reached %d bytes, more than the bound %d", largest, o.MaxConfigSize)
	}
	noBlobsLeft(t, o, f)

	// Under the bound, unsized files download as before.
	s.ClearFaults()
	for _, f := range files {
		s.AddFault(&hubtest.Fault{On: "body", File: f.Path, NoLength: true})
	}
	snap, err := hub.Download(context.Background(), repoID, "main", o)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range snap.Files {
		got, err := os.ReadFile(snap.Path(name))
		if err != nil || string(got) != string(fileByPath(files, name).Data) {
			t.Errorf("%s: %d bytes, %v; want the served file", name, len(got), err)
		}
	}
}

// A listed size over the bound is refused before the file is requested.
func TestListedSizeOverBound(t *testing.T) {
	s := hubtest.New(t)
	files := stFiles()
	s.AddRepo(repoID, files...)
	o := options(t, s)
	o.MaxWeightsSize = 1000
	_, err := hub.Download(context.Background(), repoID, "main", o)
	wantTooLarge(t, err, "model.safetensors", weightsSize, 1000)
	for _, r := range s.Requests() {
		if strings.HasSuffix(r.Path, "model.safetensors") {
			t.Errorf("the weights were requested: %+v", r)
		}
	}
}
