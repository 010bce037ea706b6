package errs

import (
	"fmt"
	"runtime/debug"
	"sync"
)

// Group runs goroutines and waits for them. A panic in one of them does not
// kill the process (Go's exit status 2, which reads as bad input): it is
// recovered and raised again by Wait, in the goroutine that waits, as a
// *GoroutinePanic carrying the first panicking goroutine's value and stack,
// so the caller's recover (the CLI's top level, the server's per-request
// handler) reports it as the internal failure it is. The zero value is ready
// to use; a Group is not reused after Wait.
type Group struct {
	wg    sync.WaitGroup
	mu    sync.Mutex
	panic *GoroutinePanic
}

// GoroutinePanic is what Wait panics with when a goroutine of its Group
// panicked. As an error its kind is Internal.
type GoroutinePanic struct {
	Value any
	Stack []byte // of the goroutine that panicked
}

func (p *GoroutinePanic) Error() string {
	return fmt.Sprintf("panic in a worker goroutine: %v\n%s", p.Value, p.Stack)
}

// ErrorKind is Internal: a panic is a bug.
func (p *GoroutinePanic) ErrorKind() Kind { return Internal }

// Go runs f in a new goroutine.
func (g *Group) Go(f func()) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer func() {
			if v := recover(); v != nil {
				g.mu.Lock()
				if g.panic == nil {
					g.panic = &GoroutinePanic{Value: v, Stack: debug.Stack()}
				}
				g.mu.Unlock()
			}
		}()
		f()
	}()
}

// Wait waits for every goroutine started by Go, then panics with a
// *GoroutinePanic if one of them panicked.
func (g *Group) Wait() {
	g.wg.Wait()
	if g.panic != nil {
		panic(g.panic)
	}
}
