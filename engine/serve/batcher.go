package serve

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quarry-search/quarry/engine/encoder"
	"github.com/quarry-search/quarry/engine/errs"
	"github.com/quarry-search/quarry/engine/sparse"
	"github.com/quarry-search/quarry/engine/tokenize"
)

// op is what a batch computes.
type op uint8

const (
	opEmbed op = iota
	opSparse
	opRank
)

// BatchOptions configure a Batcher.
type BatchOptions struct {
	// MaxBatchTokens bounds the word pieces of one encoder call (inputs
	// are never split: a single input above it is encoded alone); 0 = 16384.
	MaxBatchTokens int
	// MaxWait is how long a batch waits for requests that have announced
	// themselves (Arrive) but are still being tokenized; 0 = 2 ms, negative
	// = never. The batcher never waits when nothing is on its way, so a
	// lone request runs at once.
	MaxWait time.Duration
	// Merge lets one encoder call hold the inputs of several requests,
	// sorted by length. Without it every request is one call of its own,
	// in input order (the answer is then bit for bit the CLI's even for a
	// model whose results depend on the batch; see docs/serve.md).
	Merge bool
	// OnBatch, when set, is called after every encoder call (metrics).
	OnBatch func(BatchStats)
	// Compute, when set, is a semaphore shared with other batchers: a batch
	// holds one of its slots while the model runs (the time waiting for it
	// counts as queue time), so several models of one process do not
	// oversubscribe the cores.
	Compute chan struct{}
}

// BatchStats describe one encoder call of a Batcher.
type BatchStats struct {
	Inputs, Tokens, Requests int
	Duration                 time.Duration
	Err                      error
}

// ErrBatcherClosed is returned for work submitted to a closed Batcher.
var ErrBatcherClosed = errs.New(errs.Unavailable, "the model is shutting down")

// Batcher is dynamic batching over one model: requests from any number of
// goroutines queue up, and one goroutine encodes as many queued inputs as
// fit in MaxBatchTokens with one call of the model, then hands each request
// its results. It implements encoder.Encoder, encoder.Ranker and the
// engine's Reranker, so the same batched model serves the HTTP routes and
// the query encoding of index searches (engine.OpenOptions.Encoder).
//
// A request whose context ends while it is queued leaves the queue; one
// already being encoded finishes, its results dropped.
type Batcher struct {
	enc  encoder.Encoder // bi-encoder / sparse encoder (nil for a ranker)
	rk   encoder.Ranker  // cross-encoder (nil otherwise)
	info encoder.Info
	tok  *tokenize.Tokenizer
	opt  BatchOptions
	// label is the output of a cross-encoder Rerank returns.
	label int

	mu       sync.Mutex
	queue    []*job
	tokens   int // queued tokens
	closed   bool
	wake     chan struct{}
	done     chan struct{}
	arriving atomic.Int64
}

// job is one request's inputs.
type job struct {
	ctx    context.Context
	op     op
	encs   []tokenize.Encoding
	tokens int
	queued time.Time

	// Set by the batcher before done is closed.
	dense  [][]float32
	sparse []sparse.Vec
	logits [][]float32
	err    error
	wait   time.Duration // time in the queue
	infer  time.Duration // encoder calls
	done   chan struct{}
	// taken is set when the batcher picked the job.
	taken bool
}

var (
	_ encoder.Encoder = (*Batcher)(nil)
	_ encoder.Ranker  = (*Batcher)(nil)
)

// NewBatcher starts the batching goroutine of a bi-encoder or SPLADE model
// (enc) or a cross-encoder (rk; exactly one of them is set). Close stops
// it; the model stays the caller's.
func NewBatcher(enc encoder.Encoder, rk encoder.Ranker, opt BatchOptions) (*Batcher, error) {
	if (enc == nil) == (rk == nil) {
		return nil, errors.New("serve: a batcher takes an encoder or a ranker")
	}
	if opt.MaxBatchTokens <= 0 {
		opt.MaxBatchTokens = 16384
	}
	if opt.MaxWait == 0 {
		opt.MaxWait = 2 * time.Millisecond
	}
	b := &Batcher{enc: enc, rk: rk, opt: opt, wake: make(chan struct{}, 1), done: make(chan struct{})}
	if enc != nil {
		b.info, b.tok = enc.Info(), enc.Tokenizer()
	} else {
		b.info, b.tok = rk.Info(), rk.Tokenizer()
		if l, ok := rk.(interface{ Label() int }); ok {
			b.label = l.Label()
		}
	}
	go b.loop()
	return b, nil
}

// Info implements encoder.Encoder.
func (b *Batcher) Info() encoder.Info { return b.info }

// Tokenizer implements encoder.Encoder.
func (b *Batcher) Tokenizer() *tokenize.Tokenizer { return b.tok }

// SHA256 implements encoder.Encoder: the model's.
func (b *Batcher) SHA256() (string, error) {
	if b.enc == nil {
		return "", fmt.Errorf("%s is a cross-encoder: %w", b.info.Name, encoder.ErrModelKind)
	}
	return b.enc.SHA256()
}

// queueStats is the number of queued requests, their inputs and tokens.
func (b *Batcher) queueStats() (jobs, inputs, tokens int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, j := range b.queue {
		inputs += len(j.encs)
	}
	return len(b.queue), inputs, b.tokens
}

// Arrive announces a request that will be submitted soon (it is being
// decoded or tokenized); the returned func withdraws the announcement and
// must be called once, when the request is submitted or abandoned. A batch
// waits up to MaxWait for announced requests.
func (b *Batcher) Arrive() func() {
	b.arriving.Add(1)
	var once sync.Once
	return func() { once.Do(func() { b.arriving.Add(-1); b.signal() }) }
}

func (b *Batcher) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Close stops the batcher: queued requests fail with ErrBatcherClosed.
// Idempotent; the model is not closed.
func (b *Batcher) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	q := b.queue
	b.queue, b.tokens = nil, 0
	b.mu.Unlock()
	for _, j := range q {
		j.err = ErrBatcherClosed
		close(j.done)
	}
	b.signal()
	<-b.done
	return nil
}

// submit queues encs and waits for their results (or ctx). arrived, when
// set, withdraws the request's announcement (Arrive) once it is queued.
func (b *Batcher) submit(ctx context.Context, o op, encs []tokenize.Encoding, arrived func()) (*job, error) {
	if arrived != nil {
		defer arrived() // after the job is queued, or on an early return
	}
	if len(encs) == 0 {
		return &job{}, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	j := &job{ctx: ctx, op: o, encs: encs, queued: time.Now(), done: make(chan struct{})}
	for i := range encs {
		j.tokens += len(encs[i].IDs)
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, ErrBatcherClosed
	}
	b.queue = append(b.queue, j)
	b.tokens += j.tokens
	b.mu.Unlock()
	if arrived != nil {
		arrived()
	}
	b.signal()
	select {
	case <-j.done:
		return j, j.err
	case <-ctx.Done():
	}
	b.mu.Lock()
	if !j.taken {
		if i := slices.Index(b.queue, j); i >= 0 {
			b.queue = slices.Delete(b.queue, i, i+1)
			b.tokens -= j.tokens
		}
		b.mu.Unlock()
		return nil, ctx.Err()
	}
	b.mu.Unlock()
	// The batcher is encoding it: the call cannot be interrupted, and its
	// results are dropped.
	return nil, ctx.Err()
}

func (b *Batcher) loop() {
	defer close(b.done)
	var timer *time.Timer
	for {
		b.mu.Lock()
		for len(b.queue) == 0 && !b.closed {
			b.mu.Unlock()
			<-b.wake
			b.mu.Lock()
		}
		if b.closed {
			b.mu.Unlock()
			return
		}
		// Wait (bounded) for announced requests while the batch has room.
		if b.opt.Merge && b.opt.MaxWait > 0 && b.arriving.Load() > 0 && b.tokens < b.opt.MaxBatchTokens {
			b.mu.Unlock()
			if timer == nil {
				timer = time.NewTimer(b.opt.MaxWait)
			} else {
				timer.Reset(b.opt.MaxWait)
			}
		wait:
			for {
				select {
				case <-timer.C:
					break wait
				case <-b.wake:
					b.mu.Lock()
					full := b.tokens >= b.opt.MaxBatchTokens || b.closed
					b.mu.Unlock()
					if full || b.arriving.Load() == 0 {
						timer.Stop()
						break wait
					}
				}
			}
			b.mu.Lock()
			if b.closed {
				b.mu.Unlock()
				return
			}
		}
		batch := b.take()
		b.mu.Unlock()
		if len(batch) > 0 {
			b.run(batch)
		}
	}
}

// take removes the jobs of the next batch from the queue (b.mu held): the
// oldest job, then, when merging, every following job of the same op while
// the batch stays within the token budget.
func (b *Batcher) take() []*job {
	var batch []*job
	tokens := 0
	keep := b.queue[:0]
	for _, j := range b.queue {
		switch {
		case j.ctx.Err() != nil:
			j.err = j.ctx.Err()
			close(j.done)
			b.tokens -= j.tokens
			continue
		case len(batch) == 0,
			b.opt.Merge && j.op == batch[0].op && tokens+j.tokens <= b.opt.MaxBatchTokens:
			j.taken = true
			batch = append(batch, j)
			tokens += j.tokens
			b.tokens -= j.tokens
			continue
		}
		keep = append(keep, j)
	}
	clear(b.queue[len(keep):])
	b.queue = keep
	return batch
}

// ref points at one input of a job.
type ref struct {
	j *job
	i int
}

// run encodes a batch with one call of the model (a ranker's request
// without merging: chunks of rankChunk pairs) and completes its jobs.
func (b *Batcher) run(batch []*job) {
	if b.opt.Compute != nil {
		b.opt.Compute <- struct{}{}
		defer func() { <-b.opt.Compute }()
	}
	start := time.Now()
	o := batch[0].op
	var refs []ref
	var encs []tokenize.Encoding
	for _, j := range batch {
		j.wait = start.Sub(j.queued)
		for i := range j.encs {
			refs = append(refs, ref{j, i})
		}
	}
	if b.opt.Merge && len(batch) > 1 {
		// Sorted by length: the native core pads each length bucket.
		slices.SortStableFunc(refs, func(x, y ref) int { return len(x.j.encs[x.i].IDs) - len(y.j.encs[y.i].IDs) })
	}
	encs = make([]tokenize.Encoding, len(refs))
	tokens := 0
	for k, r := range refs {
		encs[k] = r.j.encs[r.i]
		tokens += len(encs[k].IDs)
	}
	for _, j := range batch {
		switch o {
		case opEmbed:
			j.dense = make([][]float32, len(j.encs))
		case opSparse:
			j.sparse = make([]sparse.Vec, len(j.encs))
		case opRank:
			j.logits = make([][]float32, len(j.encs))
		}
	}
	err := b.call(o, encs, refs)
	d := time.Since(start)
	if b.opt.OnBatch != nil {
		b.opt.OnBatch(BatchStats{Inputs: len(encs), Tokens: tokens, Requests: len(batch), Duration: d, Err: err})
	}
	for _, j := range batch {
		j.infer = d
		if err != nil {
			j.err = err
			j.dense, j.sparse, j.logits = nil, nil, nil
		}
		close(j.done)
	}
}

// rankChunk is how many pairs go to one cross-encoder call: the CLI's
// default --batch, so a rerank request is encoded as `quarry rerank` does.
const rankChunk = 256

// call runs the model over encs and stores each result in its job; a panic
// of the model is an error of this batch, not of the process.
func (b *Batcher) call(o op, encs []tokenize.Encoding, refs []ref) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("encoder panic: %v", p)
		}
	}()
	switch o {
	case opEmbed:
		out, err := b.enc.EmbedEncodings(encs)
		if err != nil {
			return err
		}
		if len(out) != len(encs) {
			return fmt.Errorf("encoder returned %d vectors for %d inputs", len(out), len(encs))
		}
		for k, r := range refs {
			r.j.dense[r.i] = out[k]
		}
	case opSparse:
		out, err := b.enc.SparseEncodings(encs)
		if err != nil {
			return err
		}
		if len(out) != len(encs) {
			return fmt.Errorf("encoder returned %d vectors for %d inputs", len(out), len(encs))
		}
		for k, r := range refs {
			r.j.sparse[r.i] = out[k]
		}
	case opRank:
		for lo := 0; lo < len(encs); lo += rankChunk {
			hi := min(lo+rankChunk, len(encs))
			out, err := b.rk.RankEncodings(encs[lo:hi])
			if err != nil {
				return err
			}
			if len(out) != hi-lo {
				return fmt.Errorf("ranker returned %d scores for %d pairs", len(out), hi-lo)
			}
			for k, r := range refs[lo:hi] {
				r.j.logits[r.i] = out[k]
			}
		}
	}
	return nil
}

// kindErr is the error for an op the model cannot do.
func (b *Batcher) kindErr(what string, want encoder.Kind) error {
	return encoder.WrongKind(what, b.info, want)
}

// Embed embeds tokenized inputs (a bi-encoder), batched with other
// requests; it also reports the time queued and encoding.
func (b *Batcher) Embed(ctx context.Context, encs []tokenize.Encoding) ([][]float32, Timing, error) {
	return b.embed(ctx, encs, nil)
}

func (b *Batcher) embed(ctx context.Context, encs []tokenize.Encoding, arrived func()) ([][]float32, Timing, error) {
	if b.info.Kind != encoder.BiEncoder {
		if arrived != nil {
			arrived()
		}
		return nil, Timing{}, b.kindErr("embed", encoder.BiEncoder)
	}
	j, err := b.submit(ctx, opEmbed, encs, arrived)
	if err != nil {
		return nil, Timing{}, err
	}
	return j.dense, Timing{Queue: j.wait, Inference: j.infer}, nil
}

// Sparse makes the SPLADE vectors of tokenized inputs (a sparse encoder).
func (b *Batcher) Sparse(ctx context.Context, encs []tokenize.Encoding) ([]sparse.Vec, Timing, error) {
	return b.sparse(ctx, encs, nil)
}

func (b *Batcher) sparse(ctx context.Context, encs []tokenize.Encoding, arrived func()) ([]sparse.Vec, Timing, error) {
	if b.info.Kind != encoder.SparseEncoder {
		if arrived != nil {
			arrived()
		}
		return nil, Timing{}, b.kindErr("embed_sparse", encoder.SparseEncoder)
	}
	j, err := b.submit(ctx, opSparse, encs, arrived)
	if err != nil {
		return nil, Timing{}, err
	}
	return j.sparse, Timing{Queue: j.wait, Inference: j.infer}, nil
}

// Rank scores tokenized (query, document) pairs (a cross-encoder): every
// output logit of each pair.
func (b *Batcher) Rank(ctx context.Context, encs []tokenize.Encoding) ([][]float32, Timing, error) {
	return b.rank(ctx, encs, nil)
}

func (b *Batcher) rank(ctx context.Context, encs []tokenize.Encoding, arrived func()) ([][]float32, Timing, error) {
	if b.info.Kind != encoder.CrossEncoder {
		if arrived != nil {
			arrived()
		}
		return nil, Timing{}, b.kindErr("rerank", encoder.CrossEncoder)
	}
	j, err := b.submit(ctx, opRank, encs, arrived)
	if err != nil {
		return nil, Timing{}, err
	}
	return j.logits, Timing{Queue: j.wait, Inference: j.infer}, nil
}

// Label is the output of a multi-label cross-encoder that Rerank returns.
func (b *Batcher) Label() int { return b.label }

// EmbedEncodings implements encoder.Encoder (no context: the engine's
// query encoding).
func (b *Batcher) EmbedEncodings(encs []tokenize.Encoding) ([][]float32, error) {
	v, _, err := b.Embed(context.Background(), encs)
	return v, err
}

// SparseEncodings implements encoder.Encoder.
func (b *Batcher) SparseEncodings(encs []tokenize.Encoding) ([]sparse.Vec, error) {
	v, _, err := b.Sparse(context.Background(), encs)
	return v, err
}

// RankEncodings implements encoder.Ranker.
func (b *Batcher) RankEncodings(encs []tokenize.Encoding) ([][]float32, error) {
	v, _, err := b.Rank(context.Background(), encs)
	return v, err
}

// Rerank implements the engine's Reranker: the raw logit of the model's
// label for each (query, document) pair, truncated to the model's max
// tokens as `quarry rerank` does.
func (b *Batcher) Rerank(ctx context.Context, query string, docs []string) ([]float32, error) {
	encs := make([]tokenize.Encoding, len(docs))
	for i, d := range docs {
		encs[i] = b.tok.EncodePair(query, d, b.info.MaxTokens)
	}
	all, _, err := b.Rank(ctx, encs)
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(all))
	for i, l := range all {
		if b.label >= len(l) {
			return nil, fmt.Errorf("rerank: label %d of a model with %d outputs", b.label, len(l))
		}
		out[i] = l[b.label]
	}
	return out, nil
}

// Timing is where a request's encoding spent its time.
type Timing struct {
	Tokenize, Queue, Inference time.Duration
}
