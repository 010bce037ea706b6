package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/quarry-search/quarry/engine/search"
)

// killLetters spell the documents' unique words: no vowel or s, so no
// stemmer rule changes them and every word is its own BM25 term.
const killLetters = "bcdfghjkmnpqrtvwxz"

func killWord(n int) string {
	b := []byte("zq")
	for i := 0; i < 5; i++ {
		b = append(b, killLetters[n%len(killLetters)])
		n /= len(killLetters)
	}
	return string(b)
}

// killLedger is what the clients were told: ids acknowledged as committed,
// as deleted, and those whose request got no answer (either outcome).
type killLedger struct {
	mu        sync.Mutex
	acked     map[string]bool // committed and not deleted since
	deleted   map[string]bool
	uncertain map[string]bool
	words     map[string]string
	posts     int
	// documents in the 200 answers: committed by POSTs, deleted by DELETEs
	ackedDocs, ackedDeletes int
	// unanswered writes settled at a restart: found committed, found absent
	settledIn, settledOut int
}

// TestServeWritesSurviveKill: kill -9 lands on `quarry serve --writable`
// while clients stream POST (JSONL and JSON arrays) and DELETE documents;
// after each restart every acknowledged document is found exactly once,
// no acknowledged delete comes back, and the count adds up.
// QUARRY_SERVE_KILL_ROUNDS sets the rounds (3).
func TestServeWritesSurviveKill(t *testing.T) {
	if !search.Native() {
		t.Skip("no native core")
	}
	if testing.Short() {
		t.Skip("short")
	}
	rounds := 3
	if v, err := strconv.Atoi(os.Getenv("QUARRY_SERVE_KILL_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	model := tinyModel(t, "mean")
	dir := filepath.Join(t.TempDir(), "ix")
	seed := filepath.Join(t.TempDir(), "seed.jsonl")
	os.WriteFile(seed, []byte(`{"_id": "seed", "text": "the first document"}`+"\n"), 0o644)
	if out, err := quarryCmd("index", "-q", "-m", model, "-i", seed, "-o", dir).CombinedOutput(); err != nil {
		t.Fatalf("index: %v\n%s", err, out)
	}
	led := &killLedger{acked: map[string]bool{"seed": true}, deleted: map[string]bool{}, uncertain: map[string]bool{},
		words: map[string]string{"seed": "first"}}
	r := rand.New(rand.NewPCG(7, uint64(rounds)))
	next := 1
	for round := 0; round < rounds; round++ {
		base, stop := startWritable(t, model, dir)
		verifyLedger(t, base, led, round)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for c := 0; c < 3; c++ {
			first := next
			next += 100000
			wg.Add(1)
			go func(c, first int) {
				defer wg.Done()
				streamWrites(ctx, base, led, c, first, rand.New(rand.NewPCG(uint64(round), uint64(c))))
			}(c, first)
		}
		time.Sleep(time.Duration(300+r.IntN(1200)) * time.Millisecond)
		stop(syscall.SIGKILL)
		cancel()
		wg.Wait()
	}
	base, stop := startWritable(t, model, dir)
	verifyLedger(t, base, led, rounds)
	stop(syscall.SIGTERM)
	// Every file of the last generation verifies (checksums, cross-references).
	out, err := quarryCmd("check", "--json", dir).Output()
	var rep struct {
		Files     []json.RawMessage
		Problems  []json.RawMessage
		Leftovers []json.RawMessage
	}
	if jerr := json.Unmarshal(out, &rep); err != nil || jerr != nil || len(rep.Problems) > 0 || len(rep.Files) == 0 {
		t.Errorf("quarry check after the kills: %v\n%s", err, out)
	}
	t.Logf("%d kill -9 rounds: %d acknowledged POSTs committing %d documents, %d acknowledged deletions; %d documents live and each found once, %d deleted or never committed and absent; unanswered at the kill: %d found committed, %d absent; quarry check: %d files ok, %d leftovers",
		rounds, led.posts, led.ackedDocs, led.ackedDeletes, len(led.acked), len(led.deleted), led.settledIn, led.settledOut, len(rep.Files), len(rep.Leftovers))
}

// startWritable starts the server on dir and waits for it to answer.
func startWritable(t *testing.T, model, dir string) (string, func(os.Signal)) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := quarryCmd("serve", "--writable", "--index", "t="+dir, "--model", model, "--addr", addr, "--quiet", "--threads", "1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	stop := func(sig os.Signal) {
		cmd.Process.Signal(sig)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	base := "http://" + addr
	for i := 0; ; i++ {
		if res, err := http.Get(base + "/health"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		select {
		case <-done:
			t.Fatalf("the server exited: %s", stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if i > 1000 {
			stop(syscall.SIGKILL)
			t.Fatalf("the server did not start: %s", stderr.String())
		}
	}
	t.Cleanup(func() { stop(syscall.SIGKILL) })
	return base, stop
}

// streamWrites posts batches of 1–8 new documents (JSONL or a JSON array)
// and now and then deletes some acknowledged ones, until ctx ends or the
// server dies.
func streamWrites(ctx context.Context, base string, led *killLedger, c, n int, r *rand.Rand) {
	cl := &http.Client{Timeout: 30 * time.Second}
	for ctx.Err() == nil {
		if r.IntN(5) == 0 {
			led.mu.Lock()
			var ids []string
			for id := range led.acked {
				if id != "seed" && len(ids) < 3 {
					ids = append(ids, id)
				}
			}
			for _, id := range ids {
				delete(led.acked, id)
				led.uncertain[id] = true
			}
			led.mu.Unlock()
			if len(ids) == 0 {
				continue
			}
			body, _ := json.Marshal(map[string]any{"ids": ids})
			req, _ := http.NewRequestWithContext(ctx, "DELETE", base+"/v1/indexes/t/documents", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			res, err := cl.Do(req)
			if err != nil {
				return // the server is gone: the ids stay uncertain
			}
			var out struct{ Deleted, Missing []string }
			json.NewDecoder(res.Body).Decode(&out)
			res.Body.Close()
			if res.StatusCode == 200 {
				led.mu.Lock()
				led.ackedDeletes += len(out.Deleted)
				for _, id := range append(out.Deleted, out.Missing...) {
					delete(led.uncertain, id)
					led.deleted[id] = true
				}
				led.mu.Unlock()
			}
			continue
		}
		k := 1 + r.IntN(8)
		ids := make([]string, k)
		var jsonl bytes.Buffer
		docs := make([]map[string]any, k)
		led.mu.Lock()
		for i := range ids {
			ids[i] = fmt.Sprintf("c%d-%d", c, n)
			w := killWord(n)
			led.words[ids[i]] = w
			led.uncertain[ids[i]] = true
			docs[i] = map[string]any{"_id": ids[i], "text": w + " streamed document", "client": c}
			line, _ := json.Marshal(docs[i])
			jsonl.Write(append(line, '\n'))
			n++
		}
		led.mu.Unlock()
		body, ctype := jsonl.Bytes(), "application/x-ndjson"
		if r.IntN(2) == 0 {
			body, _ = json.Marshal(docs)
			ctype = "application/json"
		}
		req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/indexes/t/documents", bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		res, err := cl.Do(req)
		if err != nil {
			return
		}
		var out struct{ Committed []string }
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		json.Unmarshal(b, &out)
		led.mu.Lock()
		if res.StatusCode == 200 {
			led.posts++
			led.ackedDocs += len(out.Committed)
			for _, id := range out.Committed {
				delete(led.uncertain, id)
				led.acked[id] = true
			}
		} else if res.StatusCode < 500 {
			for _, id := range ids { // refused whole: none of them exists
				delete(led.uncertain, id)
			}
		}
		led.mu.Unlock()
	}
}

// verifyLedger checks the restarted server against the ledger and settles
// the unanswered writes by what the index holds.
func verifyLedger(t *testing.T, base string, led *killLedger, round int) {
	t.Helper()
	led.mu.Lock()
	defer led.mu.Unlock()
	count := func(id string) int {
		res, err := http.Get(base + "/v1/indexes/t/search?mode=bm25&k=5&q=" + url.QueryEscape(led.words[id]))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out struct{ Results []struct{ ID string } }
		if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != 200 {
			t.Fatalf("search %s: status %d, %v", id, res.StatusCode, err)
		}
		n := 0
		for _, x := range out.Results {
			if x.ID == id {
				n++
			}
		}
		return n
	}
	live := 0
	for id := range led.acked {
		if n := count(id); n != 1 {
			t.Errorf("round %d: acknowledged document %s found %d times", round, id, n)
		}
		live++
	}
	for id := range led.deleted {
		if n := count(id); n != 0 {
			t.Errorf("round %d: acknowledged delete of %s, but it is back (%d)", round, id, n)
		}
	}
	for id := range led.uncertain {
		switch count(id) {
		case 0:
			delete(led.uncertain, id)
			led.deleted[id] = true // absent: a later check must not find it either
			led.settledOut++
		case 1:
			delete(led.uncertain, id)
			led.acked[id] = true
			led.settledIn++
			live++
		default:
			t.Errorf("round %d: unanswered write %s found more than once", round, id)
		}
	}
	res, err := http.Get(base + "/v1/indexes/t")
	if err != nil {
		t.Fatal(err)
	}
	var sum struct{ Documents int }
	json.NewDecoder(res.Body).Decode(&sum)
	res.Body.Close()
	if sum.Documents != live {
		t.Errorf("round %d: the index holds %d documents, the ledger %d", round, sum.Documents, live)
	}
}
