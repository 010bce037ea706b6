package hub

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// onlineSource serves selectFiles from the hub, through the cache.
type onlineSource struct{ d *downloader }

func (s *onlineSource) has(name string) bool {
	_, ok := s.d.files[name]
	return ok
}

func (s *onlineSource) get(ctx context.Context, name string) (string, error) {
	return s.d.fetch(ctx, s.d.files[name])
}

func (s *onlineSource) list() []string {
	out := make([]string, 0, len(s.d.files))
	for f := range s.d.files {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

func (s *onlineSource) missing(format string, args ...any) error {
	return newError(ErrUnsupported, nil, "hub: "+format, args...)
}

func (d *downloader) resolveURL(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return d.opts.Endpoint + "/" + d.repo + "/resolve/" + d.commit + "/" + strings.Join(parts, "/")
}

// fetch makes one file of the listing available in the snapshot: from the
// snapshot itself, from a blob already in the cache, or downloaded.
func (d *downloader) fetch(ctx context.Context, f remoteFile) (string, error) {
	pointer := d.cache.pointerPath(d.commit, f.Path)
	if st, err := os.Stat(pointer); err == nil && st.Mode().IsRegular() && (f.Size < 0 || st.Size() == f.Size) {
		return pointer, nil
	}
	if etag := blobName(f.etag()); etag != "" && d.blobComplete(etag, f.Size) {
		return d.cache.link(d.commit, f.Path, etag)
	}
	return d.download(ctx, f)
}

func (d *downloader) blobComplete(etag string, size int64) bool {
	st, err := os.Stat(d.cache.blobPath(etag))
	return err == nil && st.Mode().IsRegular() && (size < 0 || st.Size() == size)
}

// download fetches a file into blobs/{etag}.incomplete, resuming what an
// earlier attempt or run left there, verifies it and moves it into place.
func (d *downloader) download(ctx context.Context, f remoteFile) (string, error) {
	var (
		etag     string
		unlock   func()
		offset   int64 // bytes of the partial file to keep
		resumed  bool  // the partial file holds bytes of an earlier attempt or run
		restart  bool  // restarted from zero after a failed verification
		failures int   // consecutive attempts that made no progress
	)
	defer func() {
		if unlock != nil {
			unlock()
		}
	}()
	// claim takes the blob's lock and finds what is already on disk; done
	// reports that another process completed the blob meanwhile.
	claim := func(e string) (done bool, err error) {
		if unlock != nil {
			unlock()
			unlock = nil
		}
		etag = e
		if unlock, err = d.cache.lock(ctx, e); err != nil {
			return false, err
		}
		if d.blobComplete(e, f.Size) {
			return true, nil
		}
		offset = partialSize(d.cache.blobPath(e)+".incomplete", f.Size)
		return false, nil
	}
	if e := blobName(f.etag()); e != "" {
		done, err := claim(e)
		if err != nil {
			return "", err
		}
		if done {
			return d.cache.link(d.commit, f.Path, etag)
		}
	}
	limit := d.opts.maxSize(f.Path)
	if f.Size > limit {
		return "", d.tooLarge(f, fmt.Sprintf("the listing gives %d bytes", f.Size), limit)
	}
	u := d.resolveURL(f.Path)
	retry := func(cause error) error {
		failures++
		if failures > d.opts.MaxRetries {
			return newError(ErrNetwork, cause, "hub: downloading %s of %s: interrupted %d times in a row (%d bytes kept; the next pull resumes)", f.Path, d.repo, failures, offset)
		}
		wait := d.opts.RetryWait << min(failures-1, 3)
		d.prog.warnf("warning: downloading %s: %v; resuming at byte %d in %v", f.Path, cause, offset, wait)
		if err := sleep(ctx, wait); err != nil {
			return fmt.Errorf("hub: downloading %s of %s: %w", f.Path, d.repo, err)
		}
		return nil
	}
	for {
		var hdr http.Header
		if offset > 0 {
			hdr = http.Header{"Range": {"bytes=" + strconv.FormatInt(offset, 10) + "-"}}
		}
		resp, err := d.t.get(ctx, u, hdr)
		if err != nil {
			return "", d.requestError(ctx, err, "downloading "+f.Path+" of "+d.repo)
		}
		switch resp.StatusCode {
		case http.StatusOK, http.StatusPartialContent, http.StatusRequestedRangeNotSatisfiable:
		default:
			err := d.statusError(ctx, resp, f.Path)
			resp.Close()
			return "", err
		}
		if c := resp.Meta.Get("X-Repo-Commit"); c != "" && !strings.EqualFold(c, d.commit) {
			resp.Close()
			return "", newError(ErrIntegrity, nil, "hub: %s of %s: asked for commit %s, the hub served commit %s", f.Path, d.repo, d.commit, c)
		}
		me := blobName(normalizeEtag(firstNonEmpty(resp.Meta.Get("X-Linked-Etag"), resp.Meta.Get("ETag"))))
		if me == "" {
			me = etag
		}
		if me == "" {
			resp.Close()
			return "", newError(nil, nil, "hub: %s of %s: the hub sent no ETag, so the file cannot be cached (is HF_ENDPOINT a hub?)", f.Path, d.repo)
		}
		if !strings.EqualFold(me, etag) {
			// Now the blob has a name: look for it and its partial download.
			resp.Close()
			done, err := claim(me)
			if err != nil {
				return "", err
			}
			if done {
				return d.cache.link(d.commit, f.Path, etag)
			}
			continue
		}
		size := f.Size
		if size < 0 {
			if s, err := strconv.ParseInt(resp.Meta.Get("X-Linked-Size"), 10, 64); err == nil && s >= 0 {
				size = s
			}
		}
		partial := d.cache.blobPath(etag) + ".incomplete"
		complete := false
		switch resp.StatusCode {
		case http.StatusRequestedRangeNotSatisfiable:
			resp.Close()
			if offset > 0 && (size < 0 || offset == size) {
				complete, resumed = true, true // the partial file already holds everything
				break
			}
			offset, resumed = 0, false
			if err := retry(fmt.Errorf("the server refused the range (HTTP 416)")); err != nil {
				return "", err
			}
			continue
		case http.StatusOK:
			if err := d.checkDeclared(f, resp.ContentLength, limit); err != nil {
				resp.Close()
				return "", err
			}
			if size < 0 && resp.ContentLength >= 0 {
				size = resp.ContentLength
			}
			offset, resumed = 0, false // the server ignored the range: start over
		case http.StatusPartialContent:
			start, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
			if !ok || start != offset {
				resp.Close()
				cause := fmt.Errorf("the server answered the range %d- with %q", offset, resp.Header.Get("Content-Range"))
				offset, resumed = 0, false
				if err := retry(cause); err != nil {
					return "", err
				}
				continue
			}
			if err := d.checkDeclared(f, total, limit); err != nil {
				resp.Close()
				return "", err
			}
			if size < 0 {
				size = total
			}
		}
		if size > limit {
			resp.Close()
			return "", d.tooLarge(f, fmt.Sprintf("the hub declares %d bytes", size), limit)
		}
		// bound is the most the file may hold: its size where the listing
		// or the response gives one, else the bound of its kind.
		bound := size
		if bound < 0 {
			bound = limit
		}
		var sum *digest
		if !complete {
			if offset > 0 {
				resumed = true
			}
			sum = d.digestFor(f, etag, size)
			if err := sum.prefill(partial, offset); err != nil {
				// The kept bytes cannot be read back: start over.
				resp.Close()
				offset, resumed = 0, false
				if err := retry(err); err != nil {
					return "", err
				}
				continue
			}
			n, rerr := d.receive(resp, partial, offset, f.Path, size, bound, sum)
			resp.Close()
			offset += n
			if n > 0 {
				failures = 0 // progress: the count of failures starts over
			}
			var we *writeError
			var over *overError
			switch {
			case errors.As(rerr, &we):
				return "", fmt.Errorf("hub: writing %s: %w", partial, we.err)
			case errors.As(rerr, &over):
				os.Remove(partial)
				d.prog.end(false)
				served := fmt.Sprintf("the hub served more than %d bytes", bound)
				if f.Size >= 0 {
					served = fmt.Sprintf("the listing gives %d bytes, the hub served more than %d", f.Size, bound)
				}
				return "", d.tooLarge(f, served, limit)
			case ctx.Err() != nil:
				return "", fmt.Errorf("hub: downloading %s of %s: %w (%d bytes kept in %s; the next pull resumes)", f.Path, d.repo, ctx.Err(), offset, partial)
			case rerr == nil && size >= 0 && offset < size:
				rerr = fmt.Errorf("connection closed at byte %d of %d", offset, size)
			}
			if rerr != nil {
				if err := retry(rerr); err != nil {
					return "", err
				}
				continue
			}
		}
		if err := d.verify(partial, f, etag, size, sum); err != nil {
			os.Remove(partial)
			if resumed && !restart {
				// Bytes kept from an earlier attempt may be what is wrong.
				restart, resumed, offset = true, false, 0
				d.prog.warnf("warning: %v; downloading %s again from the start", err, f.Path)
				continue
			}
			d.prog.end(false)
			return "", err
		}
		d.prog.end(true)
		if err := os.Rename(partial, d.cache.blobPath(etag)); err != nil {
			return "", fmt.Errorf("hub: moving %s into the cache: %w", f.Path, err)
		}
		return d.cache.link(d.commit, f.Path, etag)
	}
}

// writeError is a failure to write the partial file (not retried).
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }

// overError is a body longer than the file may be (not retried).
type overError struct{ bound int64 }

func (e *overError) Error() string { return fmt.Sprintf("more than %d bytes", e.bound) }

// tooLarge is the ErrTooLarge failure of f: what was listed or served, and
// the bound of its kind.
func (d *downloader) tooLarge(f remoteFile, what string, limit int64) error {
	return newError(ErrTooLarge, nil, "hub: %s of %s is too large: %s (the bound for this kind of file is %d bytes; see Options.MaxConfigSize and MaxWeightsSize); nothing of it was kept", f.Path, d.repo, what, limit)
}

// checkDeclared compares the length a response declares (-1: none) with
// the listed size and the bound, before a byte of the body is read.
func (d *downloader) checkDeclared(f remoteFile, declared, limit int64) error {
	switch {
	case declared < 0:
		return nil
	case f.Size >= 0 && declared > f.Size:
		return d.tooLarge(f, fmt.Sprintf("the listing gives %d bytes, the hub declares %d", f.Size, declared), limit)
	case f.Size >= 0 && declared < f.Size:
		return newError(ErrIntegrity, nil, "hub: %s of %s: the listing gives %d bytes, the hub declares %d; nothing of it was kept, pull again", f.Path, d.repo, f.Size, declared)
	case declared > limit:
		return d.tooLarge(f, fmt.Sprintf("the hub declares %d bytes", declared), limit)
	}
	return nil
}

// receive writes the body after offset bytes of the partial file, and into
// sum as it goes, and returns how many bytes it wrote. The file never holds
// more than bound bytes: a body that would make it longer stops at
// bound+1 bytes read with an *overError.
func (d *downloader) receive(resp *response, partial string, offset int64, name string, size, bound int64, sum *digest) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(partial), 0o755); err != nil {
		return 0, &writeError{err}
	}
	fl, err := os.OpenFile(partial, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return 0, &writeError{err}
	}
	if err := fl.Truncate(offset); err != nil {
		fl.Close()
		return 0, &writeError{err}
	}
	if _, err := fl.Seek(offset, io.SeekStart); err != nil {
		fl.Close()
		return 0, &writeError{err}
	}
	d.prog.begin(name, size, offset)
	buf := make([]byte, 256<<10)
	var n int64
	var rerr error
	// One byte past the bound tells an oversized body from a complete one.
	body := io.LimitReader(resp.Body, max(bound-offset, 0)+1)
	for {
		k, err := body.Read(buf)
		if k > 0 && offset+n+int64(k) > bound {
			fl.Close()
			return n, &overError{bound}
		}
		if k > 0 {
			if _, werr := fl.Write(buf[:k]); werr != nil {
				fl.Close()
				return n, &writeError{werr}
			}
			sum.write(buf[:k])
			n += int64(k)
			d.bytes += int64(k)
			d.prog.add(int64(k))
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			rerr = err
			break
		}
	}
	if err := fl.Sync(); err != nil && rerr == nil {
		fl.Close()
		return n, &writeError{err}
	}
	if err := fl.Close(); err != nil && rerr == nil {
		return n, &writeError{err}
	}
	return n, rerr
}

// verify checks the size and, where the hub gives one, the hash of a
// completed download: the sha256 of LFS files (their ETag), the git blob id
// of the others when the listing confirms that is what the ETag is.
//
// sum, when not nil, holds the hash of the bytes as they were written; the
// file is read back (streamed, never held in memory) only when no sum was
// kept.
func (d *downloader) verify(p string, f remoteFile, etag string, size int64, sum *digest) error {
	st, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("hub: verifying %s: %w", f.Path, err)
	}
	if size >= 0 && st.Size() != size {
		return newError(ErrIntegrity, nil, "hub: %s of %s: got %d bytes, the hub says %d; the download was deleted, pull again", f.Path, d.repo, st.Size(), size)
	}
	if sum == nil || sum.h == nil {
		if sum = d.digestFor(f, etag, st.Size()); sum == nil {
			return nil
		}
		if err := sum.prefill(p, st.Size()); err != nil {
			return fmt.Errorf("hub: verifying %s: %w", f.Path, err)
		}
	}
	if got := hex.EncodeToString(sum.h.Sum(nil)); got != sum.want {
		return newError(ErrIntegrity, nil, "hub: %s of %s: %s mismatch: got %s, the hub says %s; the download was deleted, pull again", f.Path, d.repo, sum.algo, got, sum.want)
	}
	return nil
}

// digest is the hash a download is checked against: the sha256 of LFS files
// (their ETag), the git blob id of the others when the listing confirms
// that is what the ETag is. h is nil where the hash needs a size not known
// yet (the git blob id hashes the size first).
type digest struct {
	h          hash.Hash
	want, algo string
}

// digestFor is f's digest for a file of size bytes (-1: unknown), or nil
// when the hub gives no hash to check.
func (d *downloader) digestFor(f remoteFile, etag string, size int64) *digest {
	switch {
	case f.SHA256 != "":
		return &digest{h: sha256.New(), want: f.SHA256, algo: "sha256"}
	case isSHA256(strings.ToLower(etag)):
		return &digest{h: sha256.New(), want: strings.ToLower(etag), algo: "sha256"}
	case f.BlobID != "" && strings.EqualFold(f.BlobID, etag) && len(etag) == 40 && isHex(strings.ToLower(etag)):
		g := &digest{want: strings.ToLower(etag), algo: "git blob id"}
		if size >= 0 {
			g.h = sha1.New()
			fmt.Fprintf(g.h, "blob %d\x00", size)
		}
		return g
	}
	return nil
}

// write hashes bytes as they go to disk.
func (g *digest) write(b []byte) {
	if g != nil && g.h != nil {
		g.h.Write(b)
	}
}

// prefill hashes the first n bytes of the file p (kept from an earlier
// attempt), streamed.
func (g *digest) prefill(p string, n int64) error {
	if g == nil || g.h == nil || n == 0 {
		return nil
	}
	fl, err := os.Open(p)
	if err != nil {
		return err
	}
	defer fl.Close()
	if _, err := io.CopyN(g.h, fl, n); err != nil {
		return fmt.Errorf("reading back %s: %w", p, err)
	}
	return nil
}

// partialSize is how much of an interrupted download can be kept.
func partialSize(p string, size int64) int64 {
	st, err := os.Stat(p)
	if err != nil || !st.Mode().IsRegular() {
		return 0
	}
	if size >= 0 && st.Size() > size {
		os.Remove(p)
		return 0
	}
	return st.Size()
}

// parseContentRange reads "bytes START-END/TOTAL" (TOTAL may be "*": -1).
func parseContentRange(s string) (start, total int64, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimSpace(s), "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, tot, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	a, _, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(a, 10, 64)
	if err != nil || start < 0 {
		return 0, 0, false
	}
	total = -1
	if tot != "*" {
		if total, err = strconv.ParseInt(tot, 10, 64); err != nil || total < 0 {
			return 0, 0, false
		}
	}
	return start, total, true
}

// normalizeEtag strips the weak marker and the quotes, as huggingface_hub
// does.
func normalizeEtag(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "W/")
	return strings.Trim(s, `"`)
}

// blobName is the file name a blob gets: the ETag itself (huggingface_hub's
// name) when it is a safe file name, else its sha256.
func blobName(etag string) string {
	if etag == "" {
		return ""
	}
	ok := len(etag) <= 128 && etag != "." && etag != ".."
	for i := 0; ok && i < len(etag); i++ {
		c := etag[i]
		ok = c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_' || c == '.' || c == '+' || c == '='
	}
	if ok && !strings.HasSuffix(etag, ".incomplete") && !strings.HasSuffix(etag, ".tmp") {
		return etag
	}
	sum := sha256.Sum256([]byte(etag))
	return hex.EncodeToString(sum[:])
}
