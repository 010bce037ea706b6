package hub_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quarry-search/quarry/engine/hub"
	"github.com/quarry-search/quarry/engine/hub/hubtest"
)

const repoID = "acme/mini-bert"

const weightsSize = 300_000

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func bertConfig(modelType, arch string) []byte {
	return fmt.Appendf(nil, `{"model_type": %q, "architectures": [%q], "hidden_size": 32}`, modelType, arch)
}

// stFiles is a sentence-transformers BERT repository with files quarry must
// skip (ONNX, OpenVINO, PyTorch weights next to safetensors, README).
func stFiles() []hubtest.File {
	return []hubtest.File{
		{Path: "config.json", Data: bertConfig("bert", "BertModel")},
		{Path: "modules.json", Data: []byte(`[
 {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
 {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
 {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]`)},
		{Path: "1_Pooling/config.json", Data: []byte(`{"word_embedding_dimension": 32, "pooling_mode_mean_tokens": true}`)},
		{Path: "sentence_bert_config.json", Data: []byte(`{"max_seq_length": 128, "do_lower_case": false}`)},
		{Path: "config_sentence_transformers.json", Data: []byte(`{"similarity_fn_name": "cosine"}`)},
		{Path: "tokenizer_config.json", Data: []byte(`{"do_lower_case": true}`)},
		{Path: "special_tokens_map.json", Data: []byte(`{"cls_token": "[CLS]"}`)},
		{Path: "vocab.txt", Data: []byte("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n")},
		{Path: "tokenizer.json", Data: []byte(`{"version": "1.0", "model": {"type": "WordPiece"}}`), LFS: true},
		{Path: "model.safetensors", Data: randomBytes(weightsSize, 1), LFS: true},
		{Path: "pytorch_model.bin", Data: randomBytes(1000, 2), LFS: true},
		{Path: "onnx/model.onnx", Data: randomBytes(1000, 3), LFS: true},
		{Path: "openvino/openvino_model.xml", Data: []byte("<xml/>")},
		{Path: "README.md", Data: []byte("# mini-bert\n")},
		{Path: ".gitattributes", Data: []byte("*.safetensors filter=lfs\n")},
	}
}

var stWanted = []string{
	"1_Pooling/config.json", "config.json", "config_sentence_transformers.json", "model.safetensors",
	"modules.json", "sentence_bert_config.json", "special_tokens_map.json", "tokenizer.json",
	"tokenizer_config.json", "vocab.txt",
}

func fileByPath(files []hubtest.File, p string) hubtest.File {
	for _, f := range files {
		if f.Path == p {
			return f
		}
	}
	panic("no file " + p)
}

func options(t *testing.T, s *hubtest.Server) hub.Options {
	return hub.Options{
		Endpoint:     s.URL(),
		CacheDir:     t.TempDir(),
		RetryWait:    time.Millisecond,
		StallTimeout: 10 * time.Second,
	}
}

func storage(o hub.Options) string { return filepath.Join(o.CacheDir, "models--acme--mini-bert") }

// checkSnapshot verifies the huggingface_hub layout of a snapshot.
func checkSnapshot(t *testing.T, o hub.Options, snap *hub.Snapshot, files []hubtest.File) {
	t.Helper()
	want := filepath.Join(storage(o), "snapshots", snap.Commit)
	if snap.Dir != want {
		t.Fatalf("Dir = %s, want %s", snap.Dir, want)
	}
	for _, name := range snap.Files {
		f := fileByPath(files, name)
		pointer := filepath.Join(snap.Dir, filepath.FromSlash(name))
		target, err := os.Readlink(pointer)
		if err != nil {
			t.Fatalf("%s is not a symlink: %v", name, err)
		}
		wantTarget := strings.Repeat("../", strings.Count(name, "/")+2) + "blobs/" + f.ETag()
		if target != filepath.FromSlash(wantTarget) {
			t.Errorf("%s -> %s, want %s", name, target, wantTarget)
		}
		got, err := os.ReadFile(pointer)
		if err != nil || !bytes.Equal(got, f.Data) {
			t.Errorf("%s: contents differ (%v)", name, err)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(storage(o), "blobs", "*.incomplete")); len(m) > 0 {
		t.Errorf("leftover partial downloads: %v", m)
	}
}

func cdnRequests(s *hubtest.Server, name string) []hubtest.Request {
	var out []hubtest.Request
	for _, r := range s.Requests() {
		if r.Server == "cdn" && strings.Contains(r.Query, "filename="+name+"&") {
			out = append(out, r)
		}
	}
	return out
}

func TestDownload(t *testing.T) {
	s := hubtest.New(t)
	files := stFiles()
	commit := s.AddRepo(repoID, files...)
	o := options(t, s)
	var progress bytes.Buffer
	o.Progress = &progress
	snap, err := hub.Download(context.Background(), repoID, "", o)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Commit != commit || snap.Revision != "main" || snap.Repo != repoID || snap.FromCache {
		t.Fatalf("snapshot %+v", snap)
	}
	if !slices.Equal(snap.Files, stWanted) {
		t.Fatalf("Files = %v\nwant %v", snap.Files, stWanted)
	}
	checkSnapshot(t, o, snap, files)
	ref, err := os.ReadFile(filepath.Join(storage(o), "refs", "main"))
	if err != nil || string(ref) != commit {
		t.Fatalf("refs/main = %q, %v; want %s", ref, err, commit)
	}
	var total int64
	for _, r := range s.Requests() {
		for _, skip := range []string{"onnx", "openvino", "pytorch_model.bin", "README.md", ".gitattributes"} {
			if strings.Contains(r.Path+"?"+r.Query, skip) {
				t.Errorf("requested a file quarry does not need: %s %s", r.Path, r.Query)
			}
		}
		if r.Auth != "" {
			t.Errorf("anonymous download sent Authorization to %s", r.Path)
		}
		if r.Server == "cdn" || r.Status == 200 && strings.Contains(r.Path, "/resolve/") {
			total += r.Sent
		}
	}
	if snap.Downloaded != total {
		t.Errorf("Downloaded = %d, the servers sent %d body bytes", snap.Downloaded, total)
	}
	if !strings.Contains(progress.String(), "model.safetensors  300.0 kB") || !strings.Contains(progress.String(), "/s") {
		t.Errorf("progress output:\n%s", progress.String())
	}
	// The snapshot's pointers to LFS files go to blobs named by sha256.
	if _, err := os.Stat(filepath.Join(storage(o), "blobs", fileByPath(files, "model.safetensors").SHA256())); err != nil {
		t.Error(err)
	}
}

func TestSecondDownloadHitsCache(t *testing.T) {
	for _, noBlobs := range []bool{false, true} {
		t.Run(fmt.Sprintf("noBlobs=%v", noBlobs), func(t *testing.T) {
			s := hubtest.New(t)
			s.NoBlobs = noBlobs
			files := stFiles()
			s.AddRepo(repoID, files...)
			o := options(t, s)
			if _, err := hub.Download(context.Background(), repoID, "main", o); err != nil {
				t.Fatal(err)
			}
			s.ResetLog()
			snap, err := hub.Download(context.Background(), repoID, "main", o)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range s.Requests() {
				if !strings.HasPrefix(r.Path, "/api/") {
					t.Errorf("cached download requested %s %s", r.Server, r.Path)
				}
			}
			if snap.Downloaded != 0 || len(s.Requests()) != 1 {
				t.Errorf("Downloaded %d bytes in %d requests", snap.Downloaded, len(s.Requests()))
			}
			checkSnapshot(t, o, snap, files)
		})
	}
}

// A blob already in the cache (here: the same weights in another commit)
// is linked, not downloaded.
func TestBlobReusedAcrossCommits(t *testing.T) {
	s := hubtest.New(t)
	files := stFiles()
	s.AddRepo(repoID, files...)
	o := options(t, s)
	if _, err := hub.Download(context.Background(), repoID, "main", o); err != nil {
		t.Fatal(err)
	}
	changed := slices.Clone(files)
	changed[0] = hubtest.File{Path: "config.json", Data: bertConfig("bert", "BertModel")[:len(bertConfig("bert", "BertModel"))-1]}
	changed[0].Data = append(changed[0].Data, []byte(`, "x": 1}`)...)
	commit2 := s.Commit(repoID, "main", changed...)
	s.ResetLog()
	snap, err := hub.Download(context.Background(), repoID, "main", o)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Commit != commit2 {
		t.Fatalf("commit %s, want %s", snap.Commit, commit2)
	}
	var fetched []string
	for _, r := range s.Requests() {
		if strings.Contains(r.Path, "/resolve/") {
			fetched = append(fetched, r.Path[strings.LastIndex(r.Path, "/")+1:])
		}
	}
	if !slices.Equal(fetched, []string{"config.json"}) {
		t.Errorf("fetched %v, want only the changed config.json", fetched)
	}
	checkSnapshot(t, o, snap, changed)
}

func TestResumeAfterInterruption(t *testing.T) {
	s := hubtest.New(t)
	files := stFiles()
	s.AddRepo(repoID, files...)
	weights := fileByPath(files, "model.safetensors")
	o := options(t, s)
	o.MaxRetries = -1
	const cut = 100_000
	s.AddFault(&hubtest.Fault{On: "body", File: "model.safetensors", CutAfter: cut, Times: 1})
	_, err := hub.Download(context.Background(), repoID, "main", o)
	if !errors.Is(err, hub.ErrNetwork) {
		t.Fatalf("err = %v, want ErrNetwork", err)
	}
	partial := filepath.Join(storage(o), "blobs", weights.SHA256()+".incomplete")
	st, err := os.Stat(partial)
	if err != nil || st.Size() != cut {
		t.Fatalf("partial download: %v, %v; want %d bytes", st, err, cut)
	}
	if _, err := os.Stat(filepath.Join(storage(o), "blobs", weights.SHA256())); !os.IsNotExist(err) {
		t.Fatalf("blob exists after an interrupted download: %v", err)
	}

	s.ResetLog()
	snap, err := hub.Download(context.Background(), repoID, "main", o)
	if err != nil {
		t.Fatal(err)
	}
	reqs := cdnRequests(s, "model.safetensors")
	if len(reqs) != 1 {
		t.Fatalf("%d CDN requests for the weights, want 1: %+v", len(reqs), reqs)
	}
	if r := reqs[0]; r.Range != fmt.Sprintf("bytes=%d-", cut) || r.Status != 206 || r.Sent != weightsSize-cut {
		t.Errorf("resume request: range %q, status %d, %d bytes sent; want bytes=%d-, 206, %d", r.Range, r.Status, r.Sent, cut, weightsSize-cut)
	}
	checkSnapshot(t, o, snap, files)
}

// Interruptions during one call are resumed with Range, no byte sent twice.
func TestResumeWithinOneCall(t *testing.T) {
	s := hubtest.New(t)
	files := stFiles()
	s.AddRepo(repoID, files...)
	o := options(t, s)
	var progress bytes.Buffer
	o.Progress = &progress
	s.AddFault(&hubtest.Fault{On: "body", File: "model.safetensors", CutAfter: 50_000, Times: 2})
	snap, err := hub.Download(context.Background(), repoID, "main", o)
	if err != nil {
		t.Fatal(err)
	}
	var ranges []string
	var sent int64
	for _, r := range cdnRequests(s, "model.safetensors") {
		ranges = append(ranges, r.Range)
		sent += r.Sent
	}
	if !slices.Equal(ranges, []string{"", "bytes=50000-", "bytes=100000-"}) || sent != weightsSize {
		t.Errorf("ranges %q, %d bytes sent; want [\"\" bytes=50000- bytes=100000-], %d", ranges, sent, weightsSize)
	}
	if !strings.Contains(progress.String(), "resuming at byte 50000") || !strings.Contains(progress.String(), "resumed at") {
		t.Errorf("progress output:\n%s", progress.String())
	}
	checkSnapshot(t, o, snap, files)
}

// A server that ignores Range (200) makes the download start over.
func TestResumeServerIgnoresRange(t *testing.T) {
	s := hubtest.New(t)
	files := stFiles()
	s.AddRepo(repoID, files...)
	weights := fileByPath(files, "model.safetensors")
	o := options(t, s)
	blobs := filepath.Join(storage(o), "blobs")
	os.MkdirAll(blobs, 0o755)
	os.WriteFile(filepath.Join(blobs, weights.SHA256()+".incomplete"), weights.Data[:1000], 0o644)
	s.NoRange = true
	snap, err := hub.Download(context.Background(), repoID, "main", o)
	if err != nil {
		t.Fatal(err)
	}
	reqs := cdnRequests(s, "model.safetensors")
	if len(reqs) != 1 || reqs[0].Range != "bytes=1000-" || reqs[0].Status != 200 {
		t.Fatalf("requests %+v", reqs)
	}
	checkSnapshot(t, o, snap, files)
}

// A partial download with bad bytes fails verification once, then the file
// is downloaded again from the start.
func TestCorruptPartialRestarts(t *testing.T) {
	s := hubtest.New(t)
	files := stFiles()
	s.AddRepo(repoID, files...)
	weights := fileByPath(files, "model.safetensors")
	o := options(t, s)
	blobs := filepath.Join(storage(o), "blobs")
	os.MkdirAll(blobs, 0o755)
	os.WriteFile(filepath.Join(blobs, weights.SHA256()+".incomplete"), make([]byte, 1000), 0o644)
	snap, err := hub.Download(context.Background(), repoID, "main", o)
	if err != nil {
		t.Fatal(err)
	}
	var ranges []string
	for _, r := range cdnRequests(s, "model.safetensors") {
		ranges = append(ranges, r.Range)
	}
	if !slices.Equal(ranges, []string{"bytes=1000-", ""}) {
		t.Errorf("ranges %q", ranges)
	}
	checkSnapshot(t, o, snap, files)
}

func TestHashMismatch(t *testing.T) {
	for _, name := range []string{"model.safetensors" /* sha256 */, "config.json" /* git blob id */} {
		t.Run(name, func(t *testing.T) {
			s := hubtest.New(t)
			files := stFiles()
			s.AddRepo(repoID, files...)
			o := options(t, s)
			s.AddFault(&hubtest.Fault{On: "body", File: name, Corrupt: true})
			_, err := hub.Download(context.Background(), repoID, "main", o)
			if !errors.Is(err, hub.ErrIntegrity) || !strings.Contains(err.Error(), "mismatch") {
				t.Fatalf("err = %v, want an integrity error", err)
			}
			etag := fileByPath(files, name).ETag()
			for _, p := range []string{etag, etag + ".incomplete"} {
				if _, err := os.Stat(filepath.Join(storage(o), "blobs", p)); !os.IsNotExist(err) {
					t.Errorf("blobs/%s exists after a mismatch (%v)", p, err)
				}
			}
			if m, _ := filepath.Glob(filepath.Join(storage(o), "snapshots", "*", name)); len(m) > 0 {
				t.Errorf("snapshot has %v", m)
			}
		})
	}
}

// Errors the hub answers: kind, and a message that says what to do.
func TestHubErrors(t *testing.T) {
	s := hubtest.New(t)
	s.Token = "hf_secret"
	s.AddRepo(repoID, stFiles()...)
	s.AddRepo("acme/private", stFiles()...)
	s.Repo("acme/private").Private = true
	s.AddRepo("acme/gated", stFiles()...)
	s.Repo("acme/gated").Gated = true
	s.AddRepo("acme/gated-ok", stFiles()...)
	s.Repo("acme/gated-ok").Gated = true
	s.Repo("acme/gated-ok").GatedOK = true
	for _, c := range []struct {
		name, repo, rev, token string
		kind                   error
		msg                    []string
	}{
		{"missing repo with token", "acme/nope", "main", "hf_secret", hub.ErrRepoNotFound, []string{"acme/nope not found", "check the name"}},
		{"missing repo anonymous", "acme/nope", "main", "", hub.ErrUnauthorized, []string{"not found, or it is private or gated", "HF_TOKEN"}},
		{"missing revision", repoID, "v9", "", hub.ErrRevisionNotFound, []string{`no revision "v9"`, "--revision"}},
		{"private anonymous", "acme/private", "main", "", hub.ErrUnauthorized, []string{"HF_TOKEN"}},
		{"bad token", "acme/private", "main", "hf_wrong", hub.ErrUnauthorized, []string{"rejected the token", "invalid or expired"}},
		{"gated anonymous", "acme/gated", "main", "", hub.ErrUnauthorized, []string{"gated", "accept its conditions", "HF_TOKEN"}},
		{"gated not granted", "acme/gated", "main", "hf_secret", hub.ErrForbidden, []string{"gated", "request access"}},
		{"private with token", "acme/private", "main", "hf_secret", nil, nil},
		{"gated granted", "acme/gated-ok", "main", "hf_secret", nil, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := options(t, s)
			o.Token = c.token
			_, err := hub.Download(context.Background(), c.repo, c.rev, o)
			if c.kind == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, c.kind) {
				t.Fatalf("err = %v, want %v", err, c.kind)
			}
			var he *hub.HTTPError
			if !errors.As(err, &he) {
				t.Errorf("no HTTPError in %v", err)
			}
			for _, m := range c.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("message %q lacks %q", err, m)
				}
			}
		})
	}
}

// Without X-Error-Code (some mirrors) a 404 is told apart by asking for the
// repository itself.
func TestNotFoundWithoutErrorCodes(t *testing.T) {
	s := hubtest.New(t)
	s.Token = "tok"
	s.NoErrorCodes = true
	s.AddRepo(repoID, stFiles()...)
	o := options(t, s)
	o.Token = "tok"
	if _, err := hub.Download(context.Background(), repoID, "v9", o); !errors.Is(err, hub.ErrRevisionNotFound) {
		t.Errorf("missing revision: %v", err)
	}
	if _, err := hub.Download(context.Background(), "acme/nope", "main", o); !errors.Is(err, hub.ErrRepoNotFound) {
		t.Errorf("missing repo: %v", err)
	}
}

// The token goes to the hub, never to the CDN the LFS files redirect to.
func TestTokenStaysOnHub(t *testing.T) {
	s := hubtest.New(t)
	s.Token = "hf_secret"
	files := stFiles()
	s.AddRepo("acme/private", files...)
	s.Repo("acme/private").Private = true
	o := options(t, s)
	o.Token = "hf_secret"
	if _, err := hub.Download(context.Background(), "acme/private", "main", o); err != nil {
		t.Fatal(err)
	}
	var hubN, cdnN int
	for _, r := range s.Requests() {
		switch r.Server {
		case "hub":
			hubN++
			if r.Auth != "Bearer hf_secret" {
				t.Errorf("hub request %s without the token", r.Path)
			}
		case "cdn":
			cdnN++
			if r.Auth != "" {
				t.Errorf("the token leaked to the CDN: %s %q", r.Path, r.Auth)
			}
		}
	}
	if hubN == 0 || cdnN == 0 {
		t.Fatalf("%d hub and %d CDN requests", hubN, cdnN)
	}
}

// A renamed repository answers with a relative redirect: followed, token kept.
func TestRenamedRepo(t *testing.T) {
	s := hubtest.New(t)
	s.Token = "tok"
	files := stFiles()
	s.AddRepo("acme/old-name", files...)
	s.Repo("acme/old-name").Private = true
	s.Rename("acme/old-name", "acme/new-name")
	o := options(t, s)
	o.Token = "tok"
	snap, err := hub.Download(context.Background(), "acme/old-name", "main", o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(snap.Dir, "models--acme--old-name") {
		t.Errorf("cached under %s, want the name asked for (as huggingface_hub)", snap.Dir)
	}
	redirected := 0
	for _, r := range s.Requests() {
		if r.Server == "hub" && r.Auth != "Bearer tok" {
			t.Errorf("%s without the token", r.Path)
		}
		if r.Status == 307 {
			redirected++
		}
	}
	if redirected == 0 {
		t.Error("no redirect served")
	}
}

func TestRetryTransientErrors(t *testing.T) {
	s := hubtest.New(t)
	files := stFiles()
	s.AddRepo(repoID, files...)
	o := options(t, s)
	var progress bytes.Buffer
	o.Progress = &progress
	s.AddFault(&hubtest.Fault{On: "api", Status: 503, Times: 2})
	s.AddFault(&hubtest.Fault{On: "resolve", File: "config.json", Status: 502, Times: 1})
	s.AddFault(&hubtest.Fault{On: "body", File: "model.safetensors", Status: 429, RetryAfter: "0", Times: 1})
	snap, err := hub.Download(context.Background(), repoID, "main", o)
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, o, snap, files)
	var statuses []int
	for _, r := range s.Requests() {
		if strings.HasPrefix(r.Path, "/api/") {
			statuses = append(statuses, r.Status)
		}
	}
	if !slices.Equal(statuses, []int{503, 503, 200}) {
		t.Errorf("API statuses %v", statuses)
	}
	if n := strings.Count(progress.String(), "retrying"); n != 4 {
		t.Errorf("%d retry warnings:\n%s", n, progress.String())
	}

	// Retries are bounded.
	s.AddFault(&hubtest.Fault{On: "api", Status: 503})
	o.MaxRetries = 2
	s.ResetLog()
	_, err = hub.Download(context.Background(), repoID, "dev", o)
	if !errors.Is(err, hub.ErrNetwork) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("err = %v, want ErrNetwork with the status", err)
	}
	if n := len(s.Requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
}

func TestCancelMidDownload(t *testing.T) {
	s := hubtest.New(t)
	files := stFiles()
	s.AddRepo(repoID, files...)
	weights := fileByPath(files, "model.safetensors")
	o := options(t, s)
	const half = weightsSize / 2
	partial := filepath.Join(storage(o), "blobs", weights.SHA256()+".incomplete")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.AddFault(&hubtest.Fault{On: "body", File: "model.safetensors", StallAfter: half, Times: 1, Fired: func() {
		go func() { // cancel once the client has written what it received
			for {
				if st, err := os.Stat(partial); err == nil && st.Size() == half {
					cancel()
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}})
	start := time.Now()
	_, err := hub.Download(ctx, repoID, "main", o)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("cancellation took %v", time.Since(start))
	}
	if st, err := os.Stat(partial); err != nil || st.Size() != half {
		t.Fatalf("partial: %v %v", st, err)
	}
	// The stalled handler is logged once it notices the client left.
	for deadline := time.Now().Add(5 * time.Second); len(cdnRequests(s, "model.safetensors")) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the stalled request never ended")
		}
	}
	s.ResetLog()
	snap, err := hub.Download(context.Background(), repoID, "main", o)
	if err != nil {
		t.Fatal(err)
	}
	if reqs := cdnRequests(s, "model.safetensors"); len(reqs) != 1 || reqs[0].Range != fmt.Sprintf("bytes=%d-", half) {
		t.Errorf("requests after cancel: %+v", reqs)
	}
	checkSnapshot(t, o, snap, files)
}

// A transfer that stalls is aborted and resumed.
func TestStallResumes(t *testing.T) {
	s := hubtest.New(t)
	files := stFiles()
	s.AddRepo(repoID, files...)
	o := options(t, s)
	o.StallTimeout = 200 * time.Millisecond
	s.AddFault(&hubtest.Fault{On: "body", File: "model.safetensors", StallAfter: 70_000, Times: 1})
	snap, err := hub.Download(context.Background(), repoID, "main", o)
	if err != nil {
		t.Fatal(err)
	}
	// The stalled handler is logged once it notices the client left.
	for deadline := time.Now().Add(5 * time.Second); len(cdnRequests(s, "model.safetensors")) < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the stalled request never ended")
		}
	}
	var ranges []string
	for _, r := range cdnRequests(s, "model.safetensors") {
		ranges = append(ranges, r.Range)
	}
	slices.Sort(ranges)
	if !slices.Equal(ranges, []string{"", "bytes=70000-"}) {
		t.Errorf("ranges %q", ranges)
	}
	checkSnapshot(t, o, snap, files)
}

func TestOffline(t *testing.T) {
	s := hubtest.New(t)
	files := stFiles()
	commit := s.AddRepo(repoID, files...)
	o := options(t, s)
	off := o
	off.Offline = true
	off.Endpoint = "http://127.0.0.1:1" // never contacted

	if _, err := hub.Download(context.Background(), repoID, "main", off); !errors.Is(err, hub.ErrNotCached) || !strings.Contains(err.Error(), "HF_HUB_OFFLINE") {
		t.Fatalf("empty cache: %v", err)
	}
	if _, err := hub.Download(context.Background(), repoID, "main", o); err != nil {
		t.Fatal(err)
	}
	s.ResetLog()
	for _, rev := range []string{"main", commit} {
		snap, err := hub.Download(context.Background(), repoID, rev, off)
		if err != nil {
			t.Fatalf("%s: %v", rev, err)
		}
		if !snap.FromCache || snap.Commit != commit || !slices.Equal(snap.Files, stWanted) {
			t.Errorf("%s: %+v", rev, snap)
		}
	}
	if n := len(s.Requests()); n != 0 {
		t.Errorf("offline mode sent %d requests", n)
	}
	if _, err := hub.Download(context.Background(), repoID, "dev", off); !errors.Is(err, hub.ErrNotCached) {
		t.Errorf("uncached branch: %v", err)
	}
	// An incomplete snapshot is reported as such.
	os.Remove(filepath.Join(storage(o), "snapshots", commit, "model.safetensors"))
	if _, err := hub.Download(context.Background(), repoID, "main", off); !errors.Is(err, hub.ErrNotCached) || !strings.Contains(err.Error(), "incomplete") {
		t.Errorf("incomplete snapshot: %v", err)
	}
}

// When the hub cannot be reached, a cached revision is used (as
// huggingface_hub does); without one the error says the hub is unreachable.
func TestUnreachableFallsBackToCache(t *testing.T) {
	s := hubtest.New(t)
	files := stFiles()
	commit := s.AddRepo(repoID, files...)
	o := options(t, s)
	o.MaxRetries = 1
	if _, err := hub.Download(context.Background(), repoID, "main", o); err != nil {
		t.Fatal(err)
	}
	s.Close()
	var progress bytes.Buffer
	o.Progress = &progress
	snap, err := hub.Download(context.Background(), repoID, "main", o)
	if err != nil {
		t.Fatal(err)
	}
	if !snap.FromCache || snap.Commit != commit {
		t.Errorf("%+v", snap)
	}
	if !strings.Contains(progress.String(), "using the cached snapshot") {
		t.Errorf("no warning: %q", progress.String())
	}
	_, err = hub.Download(context.Background(), "acme/other", "main", o)
	if !errors.Is(err, hub.ErrNetwork) || !strings.Contains(err.Error(), "cannot reach") {
		t.Errorf("err = %v", err)
	}
}

func TestRevisions(t *testing.T) {
	s := hubtest.New(t)
	files := stFiles()
	mainCommit := s.AddRepo(repoID, files...)
	devCommit := s.Commit(repoID, "dev", files[:len(files)-1]...)
	prCommit := s.Commit(repoID, "refs/pr/1", files[:len(files)-2]...)
	o := options(t, s)
	for _, c := range []struct{ rev, commit string }{
		{"dev", devCommit}, {mainCommit, mainCommit}, {"refs/pr/1", prCommit},
	} {
		snap, err := hub.Download(context.Background(), repoID, c.rev, o)
		if err != nil {
			t.Fatalf("%s: %v", c.rev, err)
		}
		if snap.Commit != c.commit {
			t.Errorf("%s: commit %s, want %s", c.rev, snap.Commit, c.commit)
		}
	}
	var refs []string
	filepath.WalkDir(filepath.Join(storage(o), "refs"), func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(filepath.Join(storage(o), "refs"), p)
			refs = append(refs, filepath.ToSlash(rel)+"="+string(b))
		}
		return nil
	})
	want := []string{"dev=" + devCommit, "refs/pr/1=" + prCommit}
	if !slices.Equal(refs, want) {
		t.Errorf("refs %v, want %v (none for a commit hash)", refs, want)
	}
}

func TestNotBERT(t *testing.T) {
	s := hubtest.New(t)
	files := stFiles()
	files[0] = hubtest.File{Path: "config.json", Data: bertConfig("xlm-roberta", "XLMRobertaModel")}
	s.AddRepo(repoID, files...)
	_, err := hub.Download(context.Background(), repoID, "main", options(t, s))
	if !errors.Is(err, hub.ErrUnsupported) || !strings.Contains(err.Error(), `model_type "xlm-roberta"`) || !strings.Contains(err.Error(), "not a BERT model") {
		t.Fatalf("err = %v", err)
	}
	var fetched []string
	for _, r := range s.Requests() {
		if strings.Contains(r.Path, "/resolve/") {
			fetched = append(fetched, r.Path[strings.Index(r.Path, "/resolve/")+50:])
		}
	}
	if !slices.Equal(fetched, []string{"modules.json", "config.json"}) {
		t.Errorf("fetched %v before refusing; want only modules.json and config.json", fetched)
	}
}

func TestNoSupportedWeights(t *testing.T) {
	s := hubtest.New(t)
	var files []hubtest.File
	for _, f := range stFiles() {
		if f.Path != "model.safetensors" && f.Path != "pytorch_model.bin" {
			files = append(files, f)
		}
	}
	s.AddRepo(repoID, files...)
	_, err := hub.Download(context.Background(), repoID, "main", options(t, s))
	if !errors.Is(err, hub.ErrUnsupported) || !strings.Contains(err.Error(), "onnx/model.onnx") || !strings.Contains(err.Error(), "model.safetensors") {
		t.Fatalf("err = %v", err)
	}
	for _, r := range s.Requests() {
		if strings.Contains(r.Path, "/resolve/") && !strings.HasSuffix(r.Path, "/modules.json") {
			t.Errorf("downloaded %s", r.Path)
		}
	}
}

func TestWeightChoices(t *testing.T) {
	ce := []hubtest.File{
		{Path: "config.json", Data: bertConfig("bert", "BertForSequenceClassification")},
		{Path: "vocab.txt", Data: []byte("[PAD]\n")},
		{Path: "tokenizer_config.json", Data: []byte(`{}`)},
	}
	index := []byte(`{"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors", "c": "model-00001-of-00002.safetensors"}}`)
	for _, c := range []struct {
		name  string
		extra []hubtest.File
		want  []string
	}{
		{"pytorch only", []hubtest.File{
			{Path: "pytorch_model.bin", Data: randomBytes(500, 4), LFS: true},
			{Path: "tf_model.h5", Data: randomBytes(500, 5), LFS: true},
			{Path: "flax_model.msgpack", Data: randomBytes(500, 6), LFS: true},
		}, []string{"config.json", "pytorch_model.bin", "tokenizer_config.json", "vocab.txt"}},
		{"sharded safetensors", []hubtest.File{
			{Path: "model.safetensors.index.json", Data: index},
			{Path: "model-00001-of-00002.safetensors", Data: randomBytes(500, 7), LFS: true},
			{Path: "model-00002-of-00002.safetensors", Data: randomBytes(500, 8), LFS: true},
			{Path: "pytorch_model.bin", Data: randomBytes(500, 9), LFS: true},
		}, []string{"config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json", "tokenizer_config.json", "vocab.txt"}},
		{"dense module", []hubtest.File{
			{Path: "model.safetensors", Data: randomBytes(500, 10), LFS: true},
			{Path: "modules.json", Data: []byte(`[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},{"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"},{"idx":2,"name":"2","path":"2_Dense","type":"sentence_transformers.models.Dense"}]`)},
			{Path: "1_Pooling/config.json", Data: []byte(`{}`)},
			{Path: "2_Dense/config.json", Data: []byte(`{"in_features": 32}`)},
			{Path: "2_Dense/model.safetensors", Data: randomBytes(300, 11), LFS: true},
			{Path: "2_Dense/pytorch_model.bin", Data: randomBytes(300, 12), LFS: true},
			{Path: "3_Other/config.json", Data: []byte(`{}`)},
		}, []string{"1_Pooling/config.json", "2_Dense/config.json", "2_Dense/model.safetensors", "config.json", "model.safetensors", "modules.json", "tokenizer_config.json", "vocab.txt"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := hubtest.New(t)
			files := append(slices.Clone(ce), c.extra...)
			s.AddRepo(repoID, files...)
			o := options(t, s)
			snap, err := hub.Download(context.Background(), repoID, "main", o)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(snap.Files, c.want) {
				t.Errorf("Files = %v\nwant %v", snap.Files, c.want)
			}
			checkSnapshot(t, o, snap, files)
		})
	}
}

// A transformer in a module folder (old sentence-transformers layout).
func TestTransformerInModuleFolder(t *testing.T) {
	s := hubtest.New(t)
	files := []hubtest.File{
		{Path: "modules.json", Data: []byte(`[{"idx":0,"name":"0","path":"0_Transformer","type":"sentence_transformers.models.Transformer"},{"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"}]`)},
		{Path: "0_Transformer/config.json", Data: bertConfig("bert", "BertModel")},
		{Path: "0_Transformer/vocab.txt", Data: []byte("[PAD]\n")},
		{Path: "0_Transformer/sentence_bert_config.json", Data: []byte(`{}`)},
		{Path: "0_Transformer/pytorch_model.bin", Data: randomBytes(500, 13), LFS: true},
		{Path: "1_Pooling/config.json", Data: []byte(`{}`)},
	}
	s.AddRepo(repoID, files...)
	snap, err := hub.Download(context.Background(), repoID, "main", options(t, s))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"0_Transformer/config.json", "0_Transformer/pytorch_model.bin", "0_Transformer/sentence_bert_config.json", "0_Transformer/vocab.txt", "1_Pooling/config.json", "modules.json"}
	if !slices.Equal(snap.Files, want) {
		t.Errorf("Files = %v", snap.Files)
	}
}

// Two downloads of the same repository into one cache at once.
func TestConcurrentDownloads(t *testing.T) {
	s := hubtest.New(t)
	files := stFiles()
	s.AddRepo(repoID, files...)
	o := options(t, s)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	snaps := make([]*hub.Snapshot, 3)
	for i := range errs {
		wg.Go(func() { snaps[i], errs[i] = hub.Download(context.Background(), repoID, "main", o) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
		checkSnapshot(t, o, snaps[i], files)
	}
}

func TestValidateRepoID(t *testing.T) {
	for _, ok := range []string{"acme/mini-bert", "sentence-transformers/all-MiniLM-L6-v2", "bert-base-uncased", "a/b", "org_1/model.v2"} {
		if err := hub.ValidateRepoID(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a/b/c", "/a", "a/", "a//b", "a--b/c", "a/b..c", "-a/b", "a/b.", "a b/c", "../x", strings.Repeat("a", 97), "a/b?c"} {
		if err := hub.ValidateRepoID(bad); !errors.Is(err, hub.ErrInvalidRepo) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	o := hub.Options{Endpoint: "http://127.0.0.1:1", CacheDir: t.TempDir()}
	for _, rev := range []string{"../x", "a//b", "a\\b", "x/.."} {
		if _, err := hub.Download(context.Background(), repoID, rev, o); !errors.Is(err, hub.ErrInvalidRepo) {
			t.Errorf("revision %q: %v", rev, err)
		}
	}
}

func TestOptionsFromEnv(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "custom-token")
	os.WriteFile(tokenFile, []byte("hf_fromfile\n"), 0o600)
	os.MkdirAll(filepath.Join(dir, "hfhome"), 0o755)
	os.WriteFile(filepath.Join(dir, "hfhome", "token"), []byte(" hf_homefile \r\n"), 0o600)
	for _, c := range []struct {
		name string
		env  map[string]string
		want hub.Options
	}{
		{"defaults", map[string]string{"HOME": dir},
			hub.Options{CacheDir: filepath.Join(dir, ".cache", "huggingface", "hub")}},
		{"xdg", map[string]string{"HOME": dir, "XDG_CACHE_HOME": filepath.Join(dir, "xdg")},
			hub.Options{CacheDir: filepath.Join(dir, "xdg", "huggingface", "hub")}},
		{"hf_home with token file", map[string]string{"HOME": dir, "HF_HOME": filepath.Join(dir, "hfhome"), "HF_HUB_OFFLINE": "1"},
			hub.Options{CacheDir: filepath.Join(dir, "hfhome", "hub"), Token: "hf_homefile", Offline: true}},
		{"explicit", map[string]string{"HOME": dir, "HF_HOME": filepath.Join(dir, "hfhome"), "HF_HUB_CACHE": "/c", "HF_TOKEN": "hf_env", "HF_ENDPOINT": "http://mirror.test/", "HF_HUB_OFFLINE": "no"},
			hub.Options{CacheDir: "/c", Token: "hf_env", Endpoint: "http://mirror.test"}},
		{"token path and legacy names", map[string]string{"HOME": dir, "HF_TOKEN_PATH": tokenFile, "HUGGINGFACE_HUB_CACHE": "~/legacy", "TRANSFORMERS_OFFLINE": "true"},
			hub.Options{CacheDir: filepath.Join(dir, "legacy"), Token: "hf_fromfile", Offline: true}},
		{"legacy token", map[string]string{"HOME": dir, "HUGGING_FACE_HUB_TOKEN": "hf_old", "HF_HUB_OFFLINE": "YES"},
			hub.Options{CacheDir: filepath.Join(dir, ".cache", "huggingface", "hub"), Token: "hf_old", Offline: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := hub.OptionsFromEnv(func(k string) string { return c.env[k] })
			if got.Endpoint != c.want.Endpoint || got.CacheDir != c.want.CacheDir || got.Token != c.want.Token || got.Offline != c.want.Offline {
				t.Errorf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
}
