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
			if size < 0 {
				size = total
			}
		}
		if !complete {
			if offset > 0 {
				resumed = true
			}
			n, rerr := d.receive(resp, partial, offset, f.Path, size)
			resp.Close()
			offset += n
			if n > 0 {
				failures = 0 // progress: the count of failures starts over
			}
			var we *writeError
			switch {
			case errors.As(rerr, &we):
				return "", fmt.Errorf("hub: writing %s: %w", partial, we.err)
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
		if err := d.verify(partial, f, etag, size); err != nil {
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

// receive writes the body after offset bytes of the partial file and
// returns how many bytes it wrote.
func (d *downloader) receive(resp *response, partial string, offset int64, name string, size int64) (int64, error) {
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
	for {
		k, err := resp.Body.Read(buf)
		if k > 0 {
			if _, werr := fl.Write(buf[:k]); werr != nil {
				fl.Close()
				return n, &writeError{werr}
			}
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
func (d *downloader) verify(p string, f remoteFile, etag string, size int64) error {
	fl, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("hub: verifying %s: %w", f.Path, err)
	}
	defer fl.Close()
	st, err := fl.Stat()
	if err != nil {
		return fmt.Errorf("hub: verifying %s: %w", f.Path, err)
	}
	if size >= 0 && st.Size() != size {
		return newError(ErrIntegrity, nil, "hub: %s of %s: got %d bytes, the hub says %d; the download was deleted, pull again", f.Path, d.repo, st.Size(), size)
	}
	var h hash.Hash
	var want, algo string
	switch {
	case f.SHA256 != "":
		h, want, algo = sha256.New(), f.SHA256, "sha256"
	case isSHA256(strings.ToLower(etag)):
		h, want, algo = sha256.New(), strings.ToLower(etag), "sha256"
	case f.BlobID != "" && strings.EqualFold(f.BlobID, etag) && len(etag) == 40 && isHex(strings.ToLower(etag)):
		h, want, algo = sha1.New(), strings.ToLower(etag), "git blob id"
		fmt.Fprintf(h, "blob %d\x00", st.Size())
	default:
		return nil
	}
	if _, err := io.Copy(h, fl); err != nil {
		return fmt.Errorf("hub: verifying %s: %w", f.Path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return newError(ErrIntegrity, nil, "hub: %s of %s: %s mismatch: got %s, the hub says %s; the download was deleted, pull again", f.Path, d.repo, algo, got, want)
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
	if err != nil {
		return 0, 0, false
	}
	total = -1
	if tot != "*" {
		if total, err = strconv.ParseInt(tot, 10, 64); err != nil {
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
