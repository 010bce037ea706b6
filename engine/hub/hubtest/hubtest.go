// Package hubtest is a fake Hugging Face Hub for tests: an httptest server
// with the model-info API, the resolve endpoint (small files served
// directly, LFS files redirected to a second server standing in for the
// CDN), the hub's metadata headers, Range support, authentication, gated and
// private repositories, renamed repositories, a request log, and injected
// faults (error statuses, cut connections, stalls, corrupt bodies).
package hubtest

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// File is a file of a fake repository. LFS files are served through the CDN
// with X-Linked-Etag (their sha256) and X-Linked-Size.
type File struct {
	Path string
	Data []byte
	LFS  bool
}

// SHA256 is the hex sha256 of the file's contents.
func (f File) SHA256() string {
	s := sha256.Sum256(f.Data)
	return hex.EncodeToString(s[:])
}

// GitOID is the git blob id of the file's contents.
func (f File) GitOID() string { return GitOID(f.Data) }

// GitOID is the git blob id of data.
func GitOID(data []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(data))
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

// pointer is the git-lfs pointer file of an LFS file.
func (f File) pointer() []byte {
	return fmt.Appendf(nil, "version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n", f.SHA256(), len(f.Data))
}

// ETag is the blob name huggingface_hub gives the file.
func (f File) ETag() string {
	if f.LFS {
		return f.SHA256()
	}
	return f.GitOID()
}

// Repo is a fake model repository.
type Repo struct {
	ID       string
	Private  bool              // needs the server's token
	Gated    bool              // files need the token, and GatedOK
	GatedOK  bool              // the token's account was granted access
	Branches map[string]string // branch or tag → commit
	commits  map[string]map[string]File
	order    int
}

// Request is one request the fake served.
type Request struct {
	Server string // "hub" or "cdn"
	Method string
	Path   string // unescaped path
	Query  string
	Range  string
	Auth   string // the Authorization header
	Status int
	Sent   int64 // body bytes written
}

// Fault changes the answer to matching requests.
type Fault struct {
	// On is "api" (model info), "resolve" (the hub's resolve request) or
	// "body" (the request whose answer carries File's contents: the resolve
	// request for small files, the CDN request for LFS files).
	On   string
	File string // for "resolve" and "body"; empty: any
	// Times is how many matching requests the fault applies to; 0: all.
	Times int
	// Status answers with this status (and RetryAfter as Retry-After).
	Status     int
	RetryAfter string
	// CutAfter (> 0) sends that many body bytes, then drops the connection.
	CutAfter int64
	// StallAfter (> 0) sends that many body bytes, then sends nothing until
	// the client goes away.
	StallAfter int64
	// Corrupt flips the bits of the first byte of the body.
	Corrupt bool
	// Extra appends that many zero bytes to the body (a file served larger
	// than the listing says), streamed, never held in memory.
	Extra int64
	// Truncate (> 0) serves only the first Truncate bytes of the body, as a
	// complete answer (a file served smaller than the listing says).
	Truncate int64
	// NoLength omits Content-Length: the body is sent chunked.
	NoLength bool
	// Fired, if set, is called each time the fault applies, before the
	// answer is written (a stall calls it after sending its bytes).
	Fired func()

	used int
}

// Server is the fake hub and its CDN.
type Server struct {
	Hub, CDN *httptest.Server
	// Token is the valid token. Private and gated repositories need it; a
	// different token is rejected everywhere.
	Token string
	// NoBlobs makes the API ignore ?blobs=true (no sizes or hashes in the
	// listing), as some mirrors do.
	NoBlobs bool
	// NoRange makes every server ignore Range headers (always 200).
	NoRange bool
	// NoErrorCodes omits X-Error-Code and X-Error-Message.
	NoErrorCodes bool

	mu      sync.Mutex
	repos   map[string]*Repo
	renamed map[string]string
	lfs     map[string][]byte // sha256 → contents
	log     []Request
	faults  []*Fault
	seq     atomic.Int64
}

// New starts a fake hub; it is closed with t's cleanup when tb is given.
func New(tb interface{ Cleanup(func()) }) *Server {
	s := &Server{repos: map[string]*Repo{}, renamed: map[string]string{}, lfs: map[string][]byte{}}
	s.CDN = httptest.NewServer(s.logged("cdn", http.HandlerFunc(s.serveCDN)))
	s.Hub = httptest.NewServer(s.logged("hub", http.HandlerFunc(s.serveHub)))
	if tb != nil {
		tb.Cleanup(s.Close)
	}
	return s
}

// URL is the hub's endpoint.
func (s *Server) URL() string { return s.Hub.URL }

// Close stops both servers.
func (s *Server) Close() {
	s.Hub.Close()
	s.CDN.Close()
}

// AddRepo creates a repository whose branch "main" holds files, and returns
// the commit.
func (s *Server) AddRepo(id string, files ...File) string {
	s.mu.Lock()
	s.repos[id] = &Repo{ID: id, Branches: map[string]string{}, commits: map[string]map[string]File{}}
	s.mu.Unlock()
	return s.Commit(id, "main", files...)
}

// Commit adds a commit holding exactly files to a repository's branch (or
// tag) and returns its hash.
func (s *Server) Commit(id, branch string, files ...File) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[id]
	r.order++
	h := sha1.New()
	fmt.Fprintf(h, "%s %s %d", id, branch, r.order)
	m := map[string]File{}
	for _, f := range files {
		h.Write([]byte(f.Path))
		h.Write(f.Data)
		m[f.Path] = f
		if f.LFS {
			s.lfs[f.SHA256()] = f.Data
		}
	}
	commit := hex.EncodeToString(h.Sum(nil))
	r.commits[commit] = m
	r.Branches[branch] = commit
	return commit
}

// Repo returns a repository to change its access settings (under no
// concurrent requests).
func (s *Server) Repo(id string) *Repo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.repos[id]
}

// Rename moves a repository: requests for the old id are redirected to the
// new one with a relative redirect, as the hub does.
func (s *Server) Rename(oldID, newID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[oldID]
	delete(s.repos, oldID)
	r.ID = newID
	s.repos[newID] = r
	s.renamed[oldID] = newID
}

// AddFault installs a fault; later faults are checked after earlier ones.
func (s *Server) AddFault(f *Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Requests returns the log.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// ResetLog empties the log.
func (s *Server) ResetLog() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = nil
}

func (s *Server) fault(on, file string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.faults {
		if f.On != on || (f.File != "" && f.File != file) || (f.Times > 0 && f.used >= f.Times) {
			continue
		}
		f.used++
		return f
	}
	return nil
}

// countingWriter records the status and the body bytes of a response.
type countingWriter struct {
	http.ResponseWriter
	status int
	sent   int64
}

func (w *countingWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.sent += int64(n)
	return n, err
}

func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Server) logged(name string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &countingWriter{ResponseWriter: w}
		defer func() {
			s.mu.Lock()
			s.log = append(s.log, Request{
				Server: name, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
				Range: r.Header.Get("Range"), Auth: r.Header.Get("Authorization"),
				Status: cw.status, Sent: cw.sent,
			})
			s.mu.Unlock()
		}()
		h.ServeHTTP(cw, r)
	})
}

func (s *Server) hubError(w http.ResponseWriter, status int, code, msg string) {
	if !s.NoErrorCodes {
		if code != "" {
			w.Header().Set("X-Error-Code", code)
		}
		if msg != "" {
			w.Header().Set("X-Error-Message", msg)
		}
	}
	w.Header().Set("X-Request-Id", "req-"+strconv.FormatInt(s.seq.Add(1), 10))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// serveHub answers /api/models/{id}[/revision/{rev}] and
// /{id}/resolve/{rev}/{file}.
func (s *Server) serveHub(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	segs := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	for i, seg := range segs {
		u, err := url.PathUnescape(seg)
		if err != nil {
			http.Error(w, "bad path", http.StatusBadRequest)
			return
		}
		segs[i] = u
	}
	auth := r.Header.Get("Authorization")
	authed := s.Token != "" && auth == "Bearer "+s.Token
	if auth != "" && !authed && s.Token != "" {
		s.hubError(w, http.StatusUnauthorized, "", "Invalid credentials in Authorization header")
		return
	}
	api := len(segs) >= 4 && segs[0] == "api" && segs[1] == "models"
	if api {
		segs = segs[2:]
	}
	// Repository id: one or two segments before "resolve"/"revision".
	n := 2
	if len(segs) >= 2 && (segs[1] == "resolve" || segs[1] == "revision") {
		n = 1
	}
	if len(segs) < n {
		http.NotFound(w, r)
		return
	}
	id := strings.Join(segs[:n], "/")
	rest := segs[n:]
	s.mu.Lock()
	repo := s.repos[id]
	newID, moved := s.renamed[id]
	s.mu.Unlock()
	if repo == nil && moved {
		var target string
		if api {
			target = "/api/models/" + newID + strings.TrimPrefix(r.URL.EscapedPath(), "/api/models/"+id)
		} else {
			target = "/" + newID + strings.TrimPrefix(r.URL.EscapedPath(), "/"+id)
		}
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		w.Header().Set("Location", target)
		w.WriteHeader(http.StatusTemporaryRedirect)
		return
	}
	if repo == nil || (repo.Private && !authed) {
		if authed {
			s.hubError(w, http.StatusNotFound, "RepoNotFound", "Repository not found")
		} else {
			s.hubError(w, http.StatusUnauthorized, "RepoNotFound", "Invalid username or password.")
		}
		return
	}
	if api {
		s.serveAPI(w, r, repo, rest)
		return
	}
	if len(rest) < 3 || rest[0] != "resolve" {
		http.NotFound(w, r)
		return
	}
	s.serveResolve(w, r, repo, rest[1], strings.Join(rest[2:], "/"), authed)
}

func (s *Server) commitOf(repo *Repo, rev string) (string, map[string]File) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := repo.Branches[rev]; ok {
		return c, repo.commits[c]
	}
	if files, ok := repo.commits[rev]; ok {
		return rev, files
	}
	return "", nil
}

type apiSibling struct {
	RFilename string  `json:"rfilename"`
	Size      *int64  `json:"size,omitempty"`
	BlobID    string  `json:"blobId,omitempty"`
	LFS       *apiLFS `json:"lfs,omitempty"`
}

type apiLFS struct {
	SHA256      string `json:"sha256"`
	Size        int64  `json:"size"`
	PointerSize int64  `json:"pointerSize"`
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, repo *Repo, rest []string) {
	if f := s.fault("api", ""); f != nil {
		if s.applyStatus(w, f) {
			return
		}
	}
	rev := "main"
	switch {
	case len(rest) == 0:
	case len(rest) == 2 && rest[0] == "revision":
		rev = rest[1]
	default:
		http.NotFound(w, r)
		return
	}
	commit, files := s.commitOf(repo, rev)
	if commit == "" {
		s.hubError(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rev)
		return
	}
	blobs := r.URL.Query().Get("blobs") == "true" && !s.NoBlobs
	names := make([]string, 0, len(files))
	for p := range files {
		names = append(names, p)
	}
	sort.Strings(names)
	sib := make([]apiSibling, 0, len(names))
	for _, p := range names {
		f := files[p]
		e := apiSibling{RFilename: p}
		if blobs {
			size := int64(len(f.Data))
			e.Size = &size
			if f.LFS {
				ptr := f.pointer()
				e.BlobID = GitOID(ptr)
				e.LFS = &apiLFS{SHA256: f.SHA256(), Size: size, PointerSize: int64(len(ptr))}
			} else {
				e.BlobID = f.GitOID()
			}
		}
		sib = append(sib, e)
	}
	gated := any(false)
	if repo.Gated {
		gated = "manual"
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"id": repo.ID, "modelId": repo.ID, "sha": commit, "private": repo.Private,
		"gated": gated, "siblings": sib,
	})
}

func (s *Server) serveResolve(w http.ResponseWriter, r *http.Request, repo *Repo, rev, name string, authed bool) {
	if repo.Gated && !authed {
		s.hubError(w, http.StatusUnauthorized, "GatedRepo", "Access to model "+repo.ID+" is restricted. You must have access to it and be authenticated to access it. Please log in.")
		return
	}
	if repo.Gated && !repo.GatedOK {
		s.hubError(w, http.StatusForbidden, "GatedRepo", "Access to model "+repo.ID+" is restricted and you are not in the authorized list.")
		return
	}
	commit, files := s.commitOf(repo, rev)
	if commit == "" {
		s.hubError(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rev)
		return
	}
	f, ok := files[name]
	if !ok {
		w.Header().Set("X-Repo-Commit", commit)
		s.hubError(w, http.StatusNotFound, "EntryNotFound", "Entry not found")
		return
	}
	if ft := s.fault("resolve", name); ft != nil && s.applyStatus(w, ft) {
		return
	}
	w.Header().Set("X-Repo-Commit", commit)
	if f.LFS {
		w.Header().Set("X-Linked-Etag", `"`+f.SHA256()+`"`)
		w.Header().Set("X-Linked-Size", strconv.Itoa(len(f.Data)))
		w.Header().Set("ETag", `"`+GitOID(f.pointer())+`"`)
		loc := fmt.Sprintf("%s/lfs/%s?filename=%s&X-Signature=%d", s.CDN.URL, f.SHA256(), url.QueryEscape(name), s.seq.Add(1))
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusFound)
		return
	}
	w.Header().Set("ETag", `"`+f.GitOID()+`"`)
	s.serveBody(w, r, name, f.Data)
}

func (s *Server) serveCDN(w http.ResponseWriter, r *http.Request) {
	sha, ok := strings.CutPrefix(r.URL.Path, "/lfs/")
	s.mu.Lock()
	data, found := s.lfs[sha]
	s.mu.Unlock()
	if !ok || !found {
		http.NotFound(w, r)
		return
	}
	m := md5.Sum(data)
	w.Header().Set("ETag", `"`+hex.EncodeToString(m[:])+`"`)
	s.serveBody(w, r, r.URL.Query().Get("filename"), data)
}

// applyStatus answers with the fault's status, if it has one.
func (s *Server) applyStatus(w http.ResponseWriter, f *Fault) bool {
	if f.Status == 0 {
		return false
	}
	if f.Fired != nil {
		f.Fired()
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	s.hubError(w, f.Status, "", http.StatusText(f.Status))
	return true
}

// serveBody writes data with Range support and the "body" faults.
func (s *Server) serveBody(w http.ResponseWriter, r *http.Request, name string, data []byte) {
	f := s.fault("body", name)
	if f != nil && s.applyStatus(w, f) {
		return
	}
	start, status := int64(0), http.StatusOK
	if rng := r.Header.Get("Range"); rng != "" && !s.NoRange {
		v, ok := strings.CutPrefix(rng, "bytes=")
		a, b, _ := strings.Cut(v, "-")
		n, err := strconv.ParseInt(a, 10, 64)
		if !ok || err != nil || b != "" || n < 0 {
			http.Error(w, "unsupported range", http.StatusBadRequest)
			return
		}
		if n >= int64(len(data)) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", len(data)))
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		start, status = n, http.StatusPartialContent
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", n, len(data)-1, len(data)))
	}
	body := data[start:]
	if f != nil && f.Corrupt && len(body) > 0 {
		body = append([]byte(nil), body...)
		body[0] ^= 0xff
	}
	if f != nil && f.Truncate > 0 && f.Truncate < int64(len(body)) {
		body = body[:f.Truncate]
	}
	var extra int64
	if f != nil {
		extra = f.Extra
	}
	w.Header().Set("Accept-Ranges", "bytes")
	if f == nil || !f.NoLength {
		w.Header().Set("Content-Length", strconv.FormatInt(int64(len(body))+extra, 10))
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	if f != nil && f.CutAfter > 0 && f.CutAfter < int64(len(body)) {
		if f.Fired != nil {
			f.Fired()
		}
		w.Write(body[:f.CutAfter])
		http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler) // drops the connection mid-body
	}
	if f != nil && f.StallAfter > 0 && f.StallAfter < int64(len(body)) {
		w.Write(body[:f.StallAfter])
		http.NewResponseController(w).Flush()
		if f.Fired != nil {
			f.Fired()
		}
		<-r.Context().Done()
		return
	}
	if f != nil && f.Fired != nil {
		f.Fired()
	}
	if _, err := w.Write(body); err != nil || extra == 0 {
		return
	}
	zeros := make([]byte, 64<<10)
	for extra > 0 {
		k := min(extra, int64(len(zeros)))
		if _, err := w.Write(zeros[:k]); err != nil {
			return // the client went away
		}
		extra -= k
	}
}
