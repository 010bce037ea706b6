// Package hub downloads models from a Hugging Face Hub compatible server into
// the cache layout huggingface_hub uses, so that the Python tools and quarry
// share one cache.
//
// Download fetches only the files a BERT sentence-transformers or
// cross-encoder conversion needs (configuration, tokenizer, weights,
// sentence-transformers module configurations), resumes interrupted
// downloads, verifies hashes, and works offline from the cache.
//
// The protocol is the one huggingface_hub speaks:
//
//	GET {endpoint}/api/models/{repo}/revision/{revision}?blobs=true
//	    → JSON: sha (the commit), siblings[].rfilename, .size, .blobId, .lfs.sha256
//	GET {endpoint}/{repo}/resolve/{commit}/{filename}
//	    → the file, or for LFS files a redirect to a CDN; the hub's response
//	      carries X-Repo-Commit, ETag (git blob id) or X-Linked-Etag (LFS
//	      sha256) and X-Linked-Size.
//
// The cache layout ({cache} is HF_HUB_CACHE, $HF_HOME/hub or
// ~/.cache/huggingface/hub):
//
//	{cache}/models--{org}--{name}/blobs/{etag}              file contents
//	{cache}/models--{org}--{name}/blobs/{etag}.incomplete   a download under way or interrupted
//	{cache}/models--{org}--{name}/snapshots/{commit}/{file} relative symlinks to the blobs
//	{cache}/models--{org}--{name}/refs/{revision}           the commit a branch or tag named
//	{cache}/.locks/models--{org}--{name}/{etag}.lock        held while a blob is written
//
// The token is sent only to the endpoint's host: never to a CDN or another
// host a redirect leads to.
package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// DefaultRevision is the revision Download uses when given none.
const DefaultRevision = "main"

// Options configures Download. The zero value downloads anonymously from
// the public hub into ~/.cache/huggingface/hub; OptionsFromEnv fills it the
// way huggingface_hub reads its environment.
type Options struct {
	// Endpoint is the hub's base URL (HF_ENDPOINT). Empty: the public hub.
	Endpoint string
	// Token is sent as "Authorization: Bearer" to the endpoint's host only.
	// Empty: anonymous.
	Token string
	// CacheDir is the hub cache (the folder holding models--*). Empty:
	// ~/.cache/huggingface/hub.
	CacheDir string
	// Offline uses the cache only, as HF_HUB_OFFLINE=1 does.
	Offline bool
	// Progress receives one progress line per file (bytes, rate, ETA) and
	// warnings (retries, fallback to the cache). Nil: silent. A terminal gets
	// a line rewritten in place; anything else gets a line per file.
	Progress io.Writer
	// HTTPClient sends the requests. Nil: a client with the default
	// transport. Its redirect policy is not used: Download follows redirects
	// itself to keep the token on the endpoint's host.
	HTTPClient *http.Client
	// MaxRetries bounds the retries of a request that failed transiently
	// (connection errors, 408, 429, 5xx) and of a download interrupted
	// without making progress. 0: 5; negative: no retries.
	MaxRetries int
	// RetryWait is the first wait between retries; it doubles up to 8 times
	// as long. A Retry-After header overrides it (up to a minute). 0: 1s.
	RetryWait time.Duration
	// StallTimeout aborts and resumes a request that received nothing for
	// that long. 0: 60s.
	StallTimeout time.Duration
	// UserAgent is sent with every request. Empty: "quarry-hub/1".
	UserAgent string
	// MaxConfigSize bounds each file that is not weights (config.json,
	// tokenizer files, vocabularies, module configurations): a file listed,
	// declared or served larger fails with ErrTooLarge and nothing of it is
	// kept. 0 or negative: DefaultMaxConfigSize.
	MaxConfigSize int64
	// MaxWeightsSize bounds each weights file (*.safetensors, *.bin, *.pt,
	// *.pth, *.h5, *.msgpack, *.onnx, *.gguf) the same way. 0 or negative:
	// DefaultMaxWeightsSize.
	MaxWeightsSize int64
}

// The default bounds on one downloaded file. A file the listing gives a size
// for is held to that size exactly (never more is written); the bounds cap
// files without a listed size, and listed sizes too.
const (
	DefaultMaxConfigSize  int64 = 64 << 20 // 64 MiB
	DefaultMaxWeightsSize int64 = 8 << 30  // 8 GiB
)

// maxSize is the bound on the file name.
func (o Options) maxSize(name string) int64 {
	switch strings.ToLower(path.Ext(name)) {
	case ".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack", ".onnx", ".gguf":
		return o.MaxWeightsSize
	}
	return o.MaxConfigSize
}

// Snapshot is a downloaded (or cached) revision of a repository.
type Snapshot struct {
	// Dir is the snapshot folder, {cache}/models--{org}--{name}/snapshots/{commit}.
	Dir string
	// Commit is the full commit hash.
	Commit string
	// Files are the paths (slash-separated, relative to Dir) of the files
	// selected for conversion, sorted.
	Files []string
	// Repo and Revision are what was asked for.
	Repo, Revision string
	// Downloaded is the number of bytes transferred; 0 when everything came
	// from the cache.
	Downloaded int64
	// FromCache is true when the hub was not consulted (offline mode, or the
	// hub was unreachable and the cache had the revision).
	FromCache bool
}

// Path returns the local path of one of the snapshot's files.
func (s *Snapshot) Path(name string) string { return filepath.Join(s.Dir, filepath.FromSlash(name)) }

// OptionsFromEnv reads huggingface_hub's environment variables through
// getenv (os.Getenv, or a map lookup in tests): HF_ENDPOINT; HF_TOKEN (or
// HUGGING_FACE_HUB_TOKEN), else the token file HF_TOKEN_PATH or
// $HF_HOME/token; HF_HUB_CACHE (or HUGGINGFACE_HUB_CACHE), else $HF_HOME/hub;
// HF_HOME defaulting to $XDG_CACHE_HOME/huggingface or
// ~/.cache/huggingface; HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) as 1, ON,
// YES or TRUE.
func OptionsFromEnv(getenv func(string) string) Options {
	expand := func(p string) string {
		if p == "~" || strings.HasPrefix(p, "~/") {
			if home := homeDir(getenv); home != "" {
				return filepath.Join(home, p[1:])
			}
		}
		return p
	}
	hfHome := expand(getenv("HF_HOME"))
	if hfHome == "" {
		cache := expand(getenv("XDG_CACHE_HOME"))
		if cache == "" {
			if home := homeDir(getenv); home != "" {
				cache = filepath.Join(home, ".cache")
			}
		}
		if cache != "" {
			hfHome = filepath.Join(cache, "huggingface")
		}
	}
	var o Options
	o.Endpoint = strings.TrimRight(getenv("HF_ENDPOINT"), "/")
	o.CacheDir = expand(firstNonEmpty(getenv("HF_HUB_CACHE"), getenv("HUGGINGFACE_HUB_CACHE")))
	if o.CacheDir == "" && hfHome != "" {
		o.CacheDir = filepath.Join(hfHome, "hub")
	}
	o.Token = cleanToken(firstNonEmpty(getenv("HF_TOKEN"), getenv("HUGGING_FACE_HUB_TOKEN")))
	if o.Token == "" {
		tokenPath := expand(getenv("HF_TOKEN_PATH"))
		if tokenPath == "" && hfHome != "" {
			tokenPath = filepath.Join(hfHome, "token")
		}
		if tokenPath != "" {
			if b, err := os.ReadFile(tokenPath); err == nil {
				o.Token = cleanToken(string(b))
			}
		}
	}
	o.Offline = envTrue(getenv("HF_HUB_OFFLINE")) || envTrue(getenv("TRANSFORMERS_OFFLINE"))
	return o
}

func homeDir(getenv func(string) string) string {
	if h := getenv("HOME"); h != "" {
		return h
	}
	h, _ := os.UserHomeDir()
	return h
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func cleanToken(s string) string {
	return strings.TrimSpace(strings.NewReplacer("\r", "", "\n", "").Replace(s))
}

func envTrue(s string) bool {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "1", "ON", "YES", "TRUE":
		return true
	}
	return false
}

// defaultEndpoint is the public hub, assembled here so that no host name is
// spelled out anywhere else.
func defaultEndpoint() string { return "https://" + strings.Join([]string{"huggingface", "co"}, ".") }

// withDefaults fills the zero fields of o.
func (o Options) withDefaults() (Options, error) {
	if o.Endpoint == "" {
		o.Endpoint = defaultEndpoint()
	}
	o.Endpoint = strings.TrimRight(o.Endpoint, "/")
	u, err := url.Parse(o.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return o, newError(ErrInvalidRepo, nil, "hub endpoint %q is not an http(s) URL (check HF_ENDPOINT)", o.Endpoint)
	}
	if o.CacheDir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return o, fmt.Errorf("hub: no cache folder: set HF_HUB_CACHE or HF_HOME: %w", err)
		}
		o.CacheDir = filepath.Join(home, ".cache", "huggingface", "hub")
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = 5
	} else if o.MaxRetries < 0 {
		o.MaxRetries = 0
	}
	if o.RetryWait <= 0 {
		o.RetryWait = time.Second
	}
	if o.StallTimeout <= 0 {
		o.StallTimeout = 60 * time.Second
	}
	if o.UserAgent == "" {
		o.UserAgent = "quarry-hub/1"
	}
	if o.MaxConfigSize <= 0 {
		o.MaxConfigSize = DefaultMaxConfigSize
	}
	if o.MaxWeightsSize <= 0 {
		o.MaxWeightsSize = DefaultMaxWeightsSize
	}
	return o, nil
}

var (
	repoSegment = regexp.MustCompile(`^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$`)
	commitHash  = regexp.MustCompile(`^[0-9a-f]{40}$`)
)

// ValidateRepoID checks a model repository id the way huggingface_hub does:
// "ORG/NAME" (or a bare legacy "NAME"), letters, digits, '_', '-' and '.',
// each part starting and ending with a letter, digit or '_', no "--" or
// "..", at most 96 characters.
func ValidateRepoID(repo string) error {
	bad := func(why string) error {
		return newError(ErrInvalidRepo, nil, "invalid repository id %q: %s (expected ORG/NAME, e.g. sentence-transformers/all-MiniLM-L6-v2)", repo, why)
	}
	if repo == "" {
		return bad("empty")
	}
	if len(repo) > 96 {
		return bad("longer than 96 characters")
	}
	if strings.Contains(repo, "--") || strings.Contains(repo, "..") {
		return bad(`"--" and ".." are not allowed`)
	}
	parts := strings.Split(repo, "/")
	if len(parts) > 2 {
		return bad("more than one '/'")
	}
	for _, p := range parts {
		if !repoSegment.MatchString(p) {
			return bad("use letters, digits, '_', '-' and '.', starting and ending with a letter, digit or '_'")
		}
	}
	return nil
}

func validateRevision(rev string) error {
	if rev == "" || len(rev) > 255 {
		return newError(ErrInvalidRepo, nil, "invalid revision %q", rev)
	}
	for _, r := range rev {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return newError(ErrInvalidRepo, nil, "invalid revision %q: control character or backslash", rev)
		}
	}
	for _, seg := range strings.Split(rev, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return newError(ErrInvalidRepo, nil, "invalid revision %q: empty, '.' or '..' path segment", rev)
		}
	}
	return nil
}

// IsCommitHash reports whether rev is a full (40 hex digit) commit hash.
func IsCommitHash(rev string) bool { return commitHash.MatchString(rev) }

// RepoFolderName is the cache folder of a model repository:
// "models--ORG--NAME".
func RepoFolderName(repo string) string {
	return "models--" + strings.ReplaceAll(repo, "/", "--")
}

// Download makes the files a conversion of repo at revision needs available
// in the cache, downloading what is missing, and returns the snapshot. An
// empty revision means DefaultRevision.
func Download(ctx context.Context, repo, revision string, opts Options) (*Snapshot, error) {
	if revision == "" {
		revision = DefaultRevision
	}
	if err := ValidateRepoID(repo); err != nil {
		return nil, err
	}
	if err := validateRevision(revision); err != nil {
		return nil, err
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	c := newCache(opts.CacheDir, repo)
	if opts.Offline {
		snap, err := c.offlineSnapshot(ctx, repo, revision)
		if err != nil {
			return nil, err
		}
		return snap, nil
	}
	prog := newProgress(opts.Progress)
	defer prog.close()
	d := &downloader{
		opts:     opts,
		t:        newTransport(opts, prog),
		cache:    c,
		repo:     repo,
		revision: revision,
		prog:     prog,
	}
	snap, err := d.run(ctx)
	if err != nil && errors.Is(err, ErrNetwork) && ctx.Err() == nil && d.commit == "" {
		// The hub could not be reached for the listing: like huggingface_hub,
		// fall back to a complete cached snapshot of that revision.
		if cached, cerr := c.offlineSnapshot(ctx, repo, revision); cerr == nil {
			d.prog.warnf("warning: %v; using the cached snapshot %s", err, cached.Commit)
			return cached, nil
		}
	}
	return snap, err
}

// repoInfo is the part of the hub's model info Download uses.
type repoInfo struct {
	ID       string    `json:"id"`
	SHA      string    `json:"sha"`
	Private  bool      `json:"private"`
	Gated    any       `json:"gated"` // false, "auto" or "manual"
	Siblings []sibling `json:"siblings"`
}

type sibling struct {
	RFilename string `json:"rfilename"`
	Size      *int64 `json:"size"`
	BlobID    string `json:"blobId"`
	LFS       *struct {
		SHA256 string `json:"sha256"`
		Size   int64  `json:"size"`
	} `json:"lfs"`
}

// remoteFile is a file of the listing.
type remoteFile struct {
	Path   string
	Size   int64 // -1: unknown
	BlobID string
	SHA256 string // LFS files
}

// etag is the blob name huggingface_hub gives the file: the LFS sha256, else
// the git blob id. Empty when the listing had no blob metadata.
func (f remoteFile) etag() string {
	if f.SHA256 != "" {
		return f.SHA256
	}
	return f.BlobID
}

type downloader struct {
	opts     Options
	t        *transport
	cache    *cache
	repo     string
	revision string
	commit   string
	files    map[string]remoteFile
	prog     *progress
	bytes    int64
}

func (d *downloader) where() string { return d.repo + "@" + d.revision }

func (d *downloader) run(ctx context.Context) (*Snapshot, error) {
	info, err := d.repoInfo(ctx)
	if err != nil {
		return nil, err
	}
	d.commit = info.SHA
	d.files = info.files()
	src := &onlineSource{d: d}
	files, err := selectFiles(ctx, src, d.repo)
	if err != nil {
		return nil, err
	}
	if d.revision != d.commit {
		if err := d.cache.writeRef(d.revision, d.commit); err != nil {
			return nil, err
		}
	}
	sort.Strings(files)
	return &Snapshot{
		Dir: d.cache.snapshotDir(d.commit), Commit: d.commit, Files: files,
		Repo: d.repo, Revision: d.revision, Downloaded: d.bytes,
	}, nil
}

// repoInfo asks the hub for the commit and the file list of the revision.
func (d *downloader) repoInfo(ctx context.Context) (*repoInfo, error) {
	u := d.opts.Endpoint + "/api/models/" + d.repo + "/revision/" + url.PathEscape(d.revision) + "?blobs=true"
	resp, err := d.t.get(ctx, u, nil)
	if err != nil {
		return nil, d.requestError(ctx, err, "listing "+d.where())
	}
	defer resp.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, d.statusError(ctx, resp, "")
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxListing+1))
	if err != nil {
		return nil, d.requestError(ctx, err, "reading the listing of "+d.where())
	}
	if len(body) > maxListing {
		return nil, newError(ErrTooLarge, nil, "hub: the listing of %s from %s is larger than %d bytes (is HF_ENDPOINT a hub?)", d.where(), d.opts.Endpoint, maxListing)
	}
	info, err := parseListing(body)
	if err != nil {
		return nil, fmt.Errorf("hub: the listing of %s from %s: %w", d.where(), d.opts.Endpoint, err)
	}
	if IsCommitHash(d.revision) && info.SHA != d.revision {
		return nil, newError(ErrIntegrity, nil, "hub: asked for commit %s of %s, the hub answered with commit %s", d.revision, d.repo, info.SHA)
	}
	return info, nil
}

// maxListing bounds the model info the hub answers with.
const maxListing = 64 << 20

// parseListing decodes the hub's model info and checks its commit hash.
func parseListing(body []byte) (*repoInfo, error) {
	var info repoInfo
	if err := json.Unmarshal(body, &info); err != nil {
		return nil, newError(nil, err, "not valid JSON (is HF_ENDPOINT a hub?)")
	}
	info.SHA = strings.ToLower(info.SHA)
	if !IsCommitHash(info.SHA) {
		return nil, newError(nil, nil, "no commit hash (sha %q)", info.SHA)
	}
	return &info, nil
}

// files are the listed files at paths safe to create, by path. A size the
// listing does not give, or gives as negative, is -1 (unknown); a sha256
// is kept only when it is one.
func (info *repoInfo) files() map[string]remoteFile {
	files := make(map[string]remoteFile, len(info.Siblings))
	for _, s := range info.Siblings {
		if !validFilePath(s.RFilename) {
			continue // nothing quarry needs lives at such a path
		}
		f := remoteFile{Path: s.RFilename, Size: -1, BlobID: strings.ToLower(s.BlobID)}
		if s.Size != nil && *s.Size >= 0 {
			f.Size = *s.Size
		}
		if s.LFS != nil && isSHA256(strings.ToLower(s.LFS.SHA256)) {
			f.SHA256 = strings.ToLower(s.LFS.SHA256)
			f.Size = max(s.LFS.Size, -1)
		}
		files[s.RFilename] = f
	}
	return files
}

// requestError describes a failed request (no HTTP status).
func (d *downloader) requestError(ctx context.Context, err error, what string) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("hub: %s: %w", what, ctxErr)
	}
	var he *Error
	if errors.As(err, &he) {
		return err
	}
	return newError(ErrNetwork, err, "hub: %s: cannot reach %s (check the network and HF_ENDPOINT; HF_HUB_OFFLINE=1 uses the cache only)", what, d.opts.Endpoint)
}

// statusError turns an error status into a message that says what to do.
// file is empty for the listing.
func (d *downloader) statusError(ctx context.Context, resp *response, file string) error {
	he := resp.httpError()
	tokenHint := "set HF_TOKEN to a token with read access (or save one in $HF_HOME/token)"
	page := d.opts.Endpoint + "/" + d.repo
	subject := "the listing of " + d.where()
	if file != "" {
		subject = file + " of " + d.repo + "@" + shortCommit(d.commit)
	}
	tokenSent := d.opts.Token != ""
	switch he.StatusCode {
	case http.StatusUnauthorized:
		switch {
		case he.Code == "GatedRepo":
			return newError(ErrUnauthorized, he, "hub: %s is a gated repository: accept its conditions at %s, then %s", d.repo, page, tokenHint)
		case tokenSent && he.Code != "RepoNotFound", strings.Contains(he.Message, "Invalid credentials"):
			return newError(ErrUnauthorized, he, "hub: the hub rejected the token for %s: it is invalid or expired; check HF_TOKEN (or $HF_HOME/token)", d.repo)
		case tokenSent:
			return newError(ErrUnauthorized, he, "hub: %s: repository not found, or the token has no access to it: check the name and the token's permissions", d.repo)
		default:
			return newError(ErrUnauthorized, he, "hub: %s: repository not found, or it is private or gated: check the name; for a private or gated repository %s", d.repo, tokenHint)
		}
	case http.StatusForbidden:
		if he.Code == "GatedRepo" {
			return newError(ErrForbidden, he, "hub: %s is gated and this token's account has no access yet: request access at %s", d.repo, page)
		}
		return newError(ErrForbidden, he, "hub: access to %s denied: the token lacks read permission for this repository", subject)
	case http.StatusNotFound:
		code := he.Code
		if code == "" && file == "" {
			code = d.probeRepo(ctx)
		}
		switch {
		case code == "RepoNotFound":
			hint := "check the name (ORG/NAME)"
			if !tokenSent {
				hint += "; if it is private, " + tokenHint
			}
			return newError(ErrRepoNotFound, he, "hub: repository %s not found on %s: %s", d.repo, d.opts.Endpoint, hint)
		case code == "RevisionNotFound":
			return newError(ErrRevisionNotFound, he, "hub: %s has no revision %q: check the branch, tag or commit (--revision)", d.repo, d.revision)
		default:
			return newError(ErrFileNotFound, he, "hub: %s not found although the listing has it", subject)
		}
	case http.StatusBadRequest:
		return newError(ErrInvalidRepo, he, "hub: the hub refused the request for %s", subject)
	}
	if he.StatusCode >= 500 || he.StatusCode == http.StatusTooManyRequests || he.StatusCode == http.StatusRequestTimeout {
		return newError(ErrNetwork, he, "hub: %s: the hub kept failing after %d retries; try again later", subject, d.opts.MaxRetries)
	}
	return newError(nil, he, "hub: %s", subject)
}

// probeRepo tells a missing repository from a missing revision when a 404
// came without X-Error-Code (some mirrors): it asks for the repository
// without a revision.
func (d *downloader) probeRepo(ctx context.Context) string {
	resp, err := d.t.get(ctx, d.opts.Endpoint+"/api/models/"+d.repo, nil)
	if err != nil {
		return ""
	}
	defer resp.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
		return "RevisionNotFound"
	case resp.StatusCode == http.StatusNotFound:
		return "RepoNotFound"
	}
	return ""
}

func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

func isSHA256(s string) bool { return len(s) == 64 && isHex(s) }

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return s != ""
}

// validFilePath accepts repository file paths that are safe to create under
// a snapshot folder.
func validFilePath(p string) bool {
	if p == "" || strings.ContainsAny(p, "\\\x00") || strings.HasPrefix(p, "/") {
		return false
	}
	if path.Clean(p) != p {
		return false
	}
	return filepath.IsLocal(filepath.FromSlash(p))
}
