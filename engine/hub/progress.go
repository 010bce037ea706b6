package hub

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progress writes one line per downloaded file: bytes, rate and ETA. On a
// terminal the line is redrawn in place a few times a second; elsewhere a
// line is written every 10 seconds and when the file is done. A nil writer
// makes every method a no-op.
type progress struct {
	w      io.Writer
	live   bool
	every  time.Duration
	name   string
	total  int64 // -1: unknown
	offset int64 // bytes already on disk when the transfer started
	got    int64 // bytes received since start
	start  time.Time
	drawn  time.Time
	open   bool // a live line is on the screen without its newline
	active bool
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w, every: 10 * time.Second}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.live, p.every = true, 200*time.Millisecond
		}
	}
	return p
}

// begin starts (or, after an interruption, restarts) the transfer of name
// at offset bytes of total.
func (p *progress) begin(name string, total, offset int64) {
	if p.w == nil {
		return
	}
	if p.active && p.name == name {
		// A resumed attempt: keep the clock, count from the new offset.
		p.offset, p.got, p.total = offset, 0, total
		return
	}
	p.end(false)
	p.name, p.total, p.offset, p.got = name, total, offset, 0
	p.start, p.drawn, p.active = time.Now(), time.Now(), true
}

func (p *progress) add(n int64) {
	if p.w == nil || !p.active {
		return
	}
	p.got += n
	if now := time.Now(); now.Sub(p.drawn) >= p.every {
		p.drawn = now
		p.draw(false)
	}
}

// end finishes the line of the current file; ok says it completed.
func (p *progress) end(ok bool) {
	if p.w == nil || !p.active {
		return
	}
	if ok {
		p.draw(true)
	} else if p.open {
		fmt.Fprintln(p.w)
		p.open = false
	}
	p.active = false
}

func (p *progress) draw(final bool) {
	elapsed := time.Since(p.start)
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(p.got) / s
	}
	done := p.offset + p.got
	var b strings.Builder
	fmt.Fprintf(&b, "  %s  ", p.name)
	if final {
		fmt.Fprintf(&b, "%s  %s/s  %s", fmtBytes(done), fmtBytes(int64(rate)), fmtDuration(elapsed))
		if p.offset > 0 {
			fmt.Fprintf(&b, "  (resumed at %s)", fmtBytes(p.offset))
		}
	} else {
		if p.total >= 0 {
			fmt.Fprintf(&b, "%s / %s", fmtBytes(done), fmtBytes(p.total))
		} else {
			b.WriteString(fmtBytes(done))
		}
		fmt.Fprintf(&b, "  %s/s", fmtBytes(int64(rate)))
		if p.total >= 0 && rate > 0 {
			fmt.Fprintf(&b, "  ETA %s", fmtDuration(time.Duration(float64(p.total-done)/rate*float64(time.Second))))
		}
	}
	if p.live {
		fmt.Fprintf(p.w, "\r\x1b[K%s", b.String())
		p.open = !final
		if final {
			fmt.Fprintln(p.w)
		}
		return
	}
	fmt.Fprintln(p.w, b.String())
}

// warnf writes a message on a line of its own.
func (p *progress) warnf(format string, args ...any) {
	if p.w == nil {
		return
	}
	if p.open {
		fmt.Fprintln(p.w)
		p.open = false
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}

// close ends an unfinished live line.
func (p *progress) close() { p.end(false) }

func fmtBytes(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	case n < 1000*1000*1000:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.2f GB", float64(n)/1e9)
}

func fmtDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}
