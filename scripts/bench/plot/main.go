// Command plot draws the benchmark results of scripts/bench (JSON) as SVG
// files with gonum/plot:
//
//	go run ./scripts/bench/plot -in build/bench -out docs/bench
//
// It reads, from -in (each optional: a missing or unreadable file skips its
// plots with a message):
//
//	encode-batch.json   quarry bench encode --batch 1,8,32,128,512 --json  -> encode_batch.svg
//	encode-length.json  quarry bench encode --words A-B,C-D,... --json    -> encode_length.svg
//	encode.json         scripts/bench/encode.py (peer points on encode_batch.svg; peers.svg)
//	search.json         scripts/bench/search.py  -> search_qps_b1.svg, search_qps_b<B>.svg, search_recall_qps.svg
//	rerank.json         scripts/bench/rerank.py  (peers.svg)
//	index.json          scripts/bench/all.sh's index step: {"runs": [quarry bench index results]} -> index_rss.svg
//	ann.json, ann-debian.json, ann-1m.json, ann-debian-batch.json  scripts/bench/ann/ann.py -> ann_recall_qps.svg,
//	                    ann_debian_recall_qps.svg, ann_1m_recall_qps.svg, ann_debian_batch_recall_qps.svg
//
// and writes peers.svg (quarry's throughput over the best peer's, every
// comparison present) when any peer comparison is there. Every title ends
// with the machine the numbers come from.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

func main() {
	in := flag.String("in", "build/bench", "folder with the JSON results")
	out := flag.String("out", "docs/bench", "folder for the SVG files (created if missing)")
	format := flag.String("format", "svg", "image format: svg, or png (to look at the plots where no SVG viewer is at hand)")
	flag.Parse()
	switch *format {
	case "svg", "png":
		imageExt = "." + *format
	default:
		fmt.Fprintln(os.Stderr, "plot: -format: want svg or png")
		os.Exit(2)
	}
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: plot [-in DIR] [-out DIR]")
		os.Exit(2)
	}
	n, err := run(*in, *out, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "plot:", err)
		os.Exit(1)
	}
	if n == 0 {
		fmt.Fprintf(os.Stderr, "plot: no results in %s: nothing drawn\n", *in)
	}
}

// imageExt is the format of the files written (by the extension: .svg or
// .png).
var imageExt = ".svg"

// Figure size.
var (
	width  = 18 * vg.Centimeter
	height = 12 * vg.Centimeter
)

// ---- inputs (only the fields drawn) ----

type machine struct {
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`
	Threads    int    `json:"threads"`
	GOMAXPROCS int    `json:"gomaxprocs"`
}

// line is the machine as a title line; threads overrides the JSON's when
// positive.
func (m machine) line(threads int) string {
	if threads <= 0 {
		threads = m.Threads
	}
	if threads <= 0 {
		threads = m.GOMAXPROCS
	}
	cpu := m.CPU
	if cpu == "" {
		cpu = "unknown CPU"
	}
	s := cpu
	if m.Cores > 0 {
		s += fmt.Sprintf(", %d cores", m.Cores)
	}
	if threads > 0 {
		s += fmt.Sprintf(", %d threads", threads)
	}
	return s
}

type quarryEncode struct {
	Machine machine `json:"machine"`
	Model   string  `json:"model"`
	Threads int     `json:"threads"`
	Impl    string  `json:"impl"`
	Points  []struct {
		Words      string  `json:"words"`
		Batch      int     `json:"batch"`
		MeanTokens float64 `json:"mean_tokens"`
		SentPerS   float64 `json:"sentences_per_s"`
		TokPerS    float64 `json:"tokens_per_s"`
	} `json:"points"`
}

type peerSide struct {
	SentPerS  float64 `json:"sentences_per_s"`
	PairsPerS float64 `json:"pairs_per_s"`
	LatencyMs float64 `json:"latency_ms"`
}

type peerEncode struct {
	Machine machine  `json:"machine"`
	Threads int      `json:"threads"`
	Model   string   `json:"model"`
	STBatch int      `json:"st_batch"`
	ST      peerSide `json:"sentence_transformers"`
	Quarry  peerSide `json:"quarry"`
	Ratio   float64  `json:"ratio"`
}

type peerRerank struct {
	Machine machine  `json:"machine"`
	Batch   int      `json:"batch"`
	Pairs   int      `json:"pairs"`
	ST      peerSide `json:"sentence_transformers"`
	Quarry  peerSide `json:"quarry"`
	Ratio   float64  `json:"ratio"`
}

type searchResult struct {
	N        int      `json:"n"`
	Batch    int      `json:"batch"`
	Engine   string   `json:"engine"`
	QPS      float64  `json:"qps"`
	Recall   *float64 `json:"recall_at_k"`
	Rescore  int      `json:"rescore"`
	BestPeer string   `json:"best_peer"`
	Ratio    float64  `json:"ratio_to_best_peer"`
}

type searchJSON struct {
	Machine machine        `json:"machine"`
	Dim     int            `json:"dim"`
	K       int            `json:"k"`
	Batch   int            `json:"batch"`
	Results []searchResult `json:"results"`
	Sweep   []struct {
		N       int     `json:"n"`
		DType   string  `json:"dtype"`
		Rescore int     `json:"rescore"`
		QPS     float64 `json:"qps"`
		Recall  float64 `json:"recall_at_k"`
		Batch   int     `json:"batch"`
	} `json:"sweep"`
}

type indexRun struct {
	Machine         machine `json:"machine"`
	Model           string  `json:"model"`
	DType           string  `json:"dtype"`
	Threads         int     `json:"threads"`
	Batch           int     `json:"batch"`
	SegmentPassages int     `json:"segment_passages"`
	Docs            int64   `json:"docs"`
	Passages        int64   `json:"passages"`
	DocsPerS        float64 `json:"docs_per_s"`
	PassagesPerS    float64 `json:"passages_per_s"`
	IndexMB         float64 `json:"index_mb"`
	PeakRSSIndexing int64   `json:"peak_rss_indexing_mb"`
	PeakRSSMB       int64   `json:"peak_rss_mb"`
}

type indexJSON struct {
	Runs []indexRun `json:"runs"`
}

// ---- driver ----

// run draws every plot whose inputs are in dir `in` into `out`, reporting
// on w; it returns how many SVG files it wrote. Missing inputs are not
// errors; unreadable ones are reported and skipped.
func run(in, out string, w io.Writer) (int, error) {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return 0, err
	}
	r := &runner{in: in, out: out, w: w}
	var (
		eb, el quarryEncode
		pe     peerEncode
		pr     peerRerank
		sj     searchJSON
		ij     indexJSON
	)
	haveEB := r.load("encode-batch.json", &eb)
	haveEL := r.load("encode-length.json", &el)
	havePE := r.load("encode.json", &pe)
	havePR := r.load("rerank.json", &pr)
	haveS := r.load("search.json", &sj)
	haveI := r.load("index.json", &ij)
	for _, f := range [][2]string{{"ann.json", "ann_recall_qps.svg"}, {"ann-debian.json", "ann_debian_recall_qps.svg"},
		{"ann-1m.json", "ann_1m_recall_qps.svg"}, {"ann-debian-batch.json", "ann_debian_batch_recall_qps.svg"}} {
		var aj annJSON
		if r.load(f[0], &aj) {
			r.draw(f[1], func() (*plot.Plot, error) { return annPlot(aj) })
		} else {
			r.skip(f[1], f[0])
		}
	}

	if haveEB {
		var peer *peerEncode
		if havePE {
			peer = &pe
		}
		r.draw("encode_batch.svg", func() (*plot.Plot, error) { return encodeBatchPlot(eb, peer) })
	} else {
		r.skip("encode_batch.svg", "encode-batch.json")
	}
	if haveEL {
		r.draw("encode_length.svg", func() (*plot.Plot, error) { return encodeLengthPlot(el) })
	} else {
		r.skip("encode_length.svg", "encode-length.json")
	}
	if haveS {
		batches := map[int]bool{}
		for _, res := range sj.Results {
			batches[res.Batch] = true
		}
		bs := sortedKeys(batches)
		for _, b := range bs {
			r.draw(fmt.Sprintf("search_qps_b%d.svg", b), func() (*plot.Plot, error) { return searchQPSPlot(sj, b) })
		}
		if len(bs) == 0 {
			fmt.Fprintln(w, "skip search_qps_b*.svg: search.json has no results")
		}
		r.draw("search_recall_qps.svg", func() (*plot.Plot, error) { return recallPlot(sj) })
	} else {
		r.skip("search_qps_b*.svg and search_recall_qps.svg", "search.json")
	}
	if haveI {
		r.draw("index_rss.svg", func() (*plot.Plot, error) { return indexPlot(ij) })
	} else {
		r.skip("index_rss.svg", "index.json")
	}
	var (
		pep *peerEncode
		prp *peerRerank
		sjp *searchJSON
	)
	if havePE {
		pep = &pe
	}
	if havePR {
		prp = &pr
	}
	if haveS {
		sjp = &sj
	}
	if pep != nil || prp != nil || sjp != nil {
		r.draw("peers.svg", func() (*plot.Plot, error) { return peersPlot(pep, prp, sjp) })
	} else {
		r.skip("peers.svg", "encode.json, rerank.json and search.json")
	}
	return r.written, nil
}

type runner struct {
	in, out string
	w       io.Writer
	written int
}

// load decodes in/name into v; false (with a message unless the file is
// simply absent) when it cannot.
func (r *runner) load(name string, v any) bool {
	b, err := os.ReadFile(filepath.Join(r.in, name))
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		fmt.Fprintf(r.w, "skip %s: %v\n", name, err)
		return false
	}
	return true
}

func (r *runner) skip(what, missing string) {
	fmt.Fprintf(r.w, "skip %s: no %s in %s\n", what, missing, r.in)
}

// errNoData marks a plot without anything to draw (skipped, not failed).
var errNoData = errors.New("no data points")

func (r *runner) draw(name string, mk func() (*plot.Plot, error)) {
	name = strings.TrimSuffix(name, ".svg") + imageExt
	p, err := mk()
	if err == nil {
		err = p.Save(width, height, filepath.Join(r.out, name))
	}
	if err != nil {
		fmt.Fprintf(r.w, "skip %s: %v\n", name, err)
		return
	}
	r.written++
	fmt.Fprintf(r.w, "wrote %s\n", filepath.Join(r.out, name))
}

// ---- plots ----

func newPlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	return p
}

// addSeries adds a line with points (one point: a point only) joined in x
// order, styled by its index; it drops points a log axis cannot show.
func addSeries(p *plot.Plot, label string, xys plotter.XYs, i int, dashed bool) error {
	xys = slices.Clone(xys)
	sort.SliceStable(xys, func(a, b int) bool { return xys[a].X < xys[b].X })
	return addPath(p, label, xys, i, dashed)
}

// addPath is addSeries joining the points in the order given.
func addPath(p *plot.Plot, label string, xys plotter.XYs, i int, dashed bool) error {
	xys = slices.DeleteFunc(slices.Clone(xys), func(v plotter.XY) bool {
		return math.IsNaN(v.X) || math.IsNaN(v.Y) || math.IsInf(v.X, 0) || math.IsInf(v.Y, 0) ||
			(isLog(p.X) && v.X <= 0) || (isLog(p.Y) && v.Y <= 0)
	})
	if len(xys) == 0 {
		return nil
	}
	s, err := plotter.NewScatter(xys)
	if err != nil {
		return err
	}
	s.GlyphStyle.Color = plotutil.Color(i)
	s.GlyphStyle.Shape = plotutil.Shape(i)
	s.GlyphStyle.Radius = vg.Points(3)
	if len(xys) == 1 {
		p.Add(s)
		p.Legend.Add(label, s)
		return nil
	}
	l, err := plotter.NewLine(xys)
	if err != nil {
		return err
	}
	l.LineStyle.Color = plotutil.Color(i)
	l.LineStyle.Width = vg.Points(1.5)
	if dashed {
		l.LineStyle.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
	}
	p.Add(l, s)
	p.Legend.Add(label, l, s)
	return nil
}

// addLabels writes labels beside the points xys in series i's colour.
func addLabels(p *plot.Plot, xys plotter.XYs, labels []string, i int) error {
	l, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
	if err != nil {
		return err
	}
	for j := range l.TextStyle {
		l.TextStyle[j].Font.Size = vg.Points(7)
		l.TextStyle[j].Color = plotutil.Color(i)
	}
	l.Offset = vg.Point{X: vg.Points(4), Y: vg.Points(3)}
	p.Add(l)
	return nil
}

func isLog(a plot.Axis) bool {
	_, ok := a.Scale.(plot.LogScale)
	return ok
}

// setLog makes an axis logarithmic over the positive values given, padded
// by a fraction of a decade, with readable 1-2-5 ticks.
func setLog(a *plot.Axis, vals []float64) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vals {
		if v > 0 && !math.IsInf(v, 0) && !math.IsNaN(v) {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	if math.IsInf(lo, 0) {
		lo, hi = 1, 10
	}
	a.Scale = plot.LogScale{}
	a.Tick.Marker = logTicks{}
	a.Min, a.Max = lo/1.25, hi*1.25
}

// logTicks labels 1, 2 and 5 times powers of ten (only the powers when the
// range spans more than three decades), with unlabelled minor ticks between.
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	if lo <= 0 || hi <= lo {
		return nil
	}
	decades := math.Log10(hi / lo)
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		base := math.Pow(10, e)
		for m := 1; m < 10; m++ {
			v := base * float64(m)
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || (decades <= 3 && (m == 2 || m == 5)) || (decades <= 0.7) {
				t.Label = humanNum(v)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

// humanNum formats a tick value: 1, 20, 500, 1k, 20k, 1M.
func humanNum(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 3, 64) + "M"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'g', 3, 64) + "k"
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// fromZero starts a linear axis at 0 and ends it at headroom times the
// largest of vals.
func fromZero(a *plot.Axis, vals []float64, headroom float64) {
	hi := 0.0
	for _, v := range vals {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			hi = max(hi, v)
		}
	}
	if hi <= 0 {
		hi = 1
	}
	a.Min, a.Max = 0, hi*headroom
}

// intTicks labels exactly the given values (batch sizes, corpus sizes).
func intTicks(vals []float64) plot.ConstantTicks {
	vals = slices.Clone(vals)
	slices.Sort(vals)
	vals = slices.Compact(vals)
	ts := make(plot.ConstantTicks, len(vals))
	for i, v := range vals {
		ts[i] = plot.Tick{Value: v, Label: humanNum(v)}
	}
	return ts
}

// encodeBatchPlot: sentences/s against batch size, one line per word range,
// with encode.py's quarry and sentence-transformers figures as points.
func encodeBatchPlot(e quarryEncode, peer *peerEncode) (*plot.Plot, error) {
	p := newPlot(fmt.Sprintf("Encode throughput vs batch size: %s (%s)\n%s", e.Model, e.Impl, e.Machine.line(e.Threads)),
		"batch size (sentences per call)", "sentences/s")
	byWords := map[string]plotter.XYs{}
	var order []string
	var xs, ys []float64
	for _, pt := range e.Points {
		if _, ok := byWords[pt.Words]; !ok {
			order = append(order, pt.Words)
		}
		byWords[pt.Words] = append(byWords[pt.Words], plotter.XY{X: float64(pt.Batch), Y: pt.SentPerS})
		xs, ys = append(xs, float64(pt.Batch)), append(ys, pt.SentPerS)
	}
	if len(xs) == 0 {
		return nil, errNoData
	}
	i := 0
	if peer != nil && peer.ST.SentPerS > 0 && peer.STBatch > 0 {
		xs, ys = append(xs, float64(peer.STBatch)), append(ys, peer.ST.SentPerS)
	}
	if peer != nil && peer.Quarry.SentPerS > 0 {
		xs, ys = append(xs, 256), append(ys, peer.Quarry.SentPerS) // encode.py runs quarry embed --batch 256
	}
	setLog(&p.X, xs)
	p.X.Tick.Marker = intTicks(xs)
	fromZero(&p.Y, ys, 1.08)
	for _, w := range order {
		if err := addSeries(p, "quarry bench encode, "+w+" words", byWords[w], i, false); err != nil {
			return nil, err
		}
		i++
	}
	if peer != nil {
		if peer.Quarry.SentPerS > 0 {
			if err := addSeries(p, "quarry embed (encode.py, batch 256)", plotter.XYs{{X: 256, Y: peer.Quarry.SentPerS}}, i, false); err != nil {
				return nil, err
			}
			i++
		}
		if peer.ST.SentPerS > 0 && peer.STBatch > 0 {
			label := fmt.Sprintf("sentence-transformers (encode.py, batch %d)", peer.STBatch)
			if err := addSeries(p, label, plotter.XYs{{X: float64(peer.STBatch), Y: peer.ST.SentPerS}}, i, false); err != nil {
				return nil, err
			}
		}
	}
	p.Legend.Left = false
	p.Legend.Top = false
	p.Legend.XOffs = -vg.Points(6)
	p.Legend.YOffs = vg.Points(6)
	return p, nil
}

// encodeLengthPlot: sentences/s and tokens/s against the mean tokens per
// sentence, one pair of lines per batch size (log-log).
func encodeLengthPlot(e quarryEncode) (*plot.Plot, error) {
	p := newPlot(fmt.Sprintf("Encode throughput vs text length: %s (%s)\n%s", e.Model, e.Impl, e.Machine.line(e.Threads)),
		"mean tokens per sentence", "per second")
	type series struct{ sent, tok plotter.XYs }
	byBatch := map[int]*series{}
	var xs, ys []float64
	for _, pt := range e.Points {
		s := byBatch[pt.Batch]
		if s == nil {
			s = &series{}
			byBatch[pt.Batch] = s
		}
		s.sent = append(s.sent, plotter.XY{X: pt.MeanTokens, Y: pt.SentPerS})
		s.tok = append(s.tok, plotter.XY{X: pt.MeanTokens, Y: pt.TokPerS})
		xs = append(xs, pt.MeanTokens)
		ys = append(ys, pt.SentPerS, pt.TokPerS)
	}
	if len(xs) == 0 {
		return nil, errNoData
	}
	setLog(&p.X, xs)
	setLog(&p.Y, ys)
	bs := sortedKeys(byBatch)
	for i, b := range bs {
		if err := addSeries(p, fmt.Sprintf("sentences/s, batch %d", b), byBatch[b].sent, i, false); err != nil {
			return nil, err
		}
		if err := addSeries(p, fmt.Sprintf("tokens/s, batch %d", b), byBatch[b].tok, i, true); err != nil {
			return nil, err
		}
	}
	p.Legend.Top = false
	return p, nil
}

// searchQPSPlot: QPS against corpus size (log-log), one line per engine.
func searchQPSPlot(s searchJSON, batch int) (*plot.Plot, error) {
	what := "1 query per call"
	if batch != 1 {
		what = fmt.Sprintf("%d queries per call", batch)
	}
	p := newPlot(fmt.Sprintf("Exact top-%d search, dim %d, %s\n%s", s.K, s.Dim, what, s.Machine.line(0)),
		"corpus size (vectors)", "queries/s")
	by := map[string]plotter.XYs{}
	var xs, ys []float64
	for _, r := range s.Results {
		if r.Batch != batch {
			continue
		}
		by[r.Engine] = append(by[r.Engine], plotter.XY{X: float64(r.N), Y: r.QPS})
		xs, ys = append(xs, float64(r.N)), append(ys, r.QPS)
	}
	if len(xs) == 0 {
		return nil, errNoData
	}
	setLog(&p.X, xs)
	p.X.Tick.Marker = intTicks(xs)
	setLog(&p.Y, ys)
	for i, e := range engineOrder(by) {
		if err := addSeries(p, engineLabel(e), by[e], i, !strings.HasPrefix(e, "quarry")); err != nil {
			return nil, err
		}
	}
	p.Legend.Top = false // QPS falls with the corpus size: the lower left stays free
	return p, nil
}

// engineOrder: quarry's dtypes first (f32, f16, int8, binary), then peers.
func engineOrder[V any](m map[string]V) []string {
	rank := func(e string) int {
		for i, d := range []string{"quarry-f32", "quarry-f16", "quarry-int8", "quarry-binary"} {
			if e == d {
				return i
			}
		}
		if strings.HasPrefix(e, "quarry") {
			return 10
		}
		return 20
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool {
		ra, rb := rank(keys[a]), rank(keys[b])
		if ra != rb {
			return ra < rb
		}
		return keys[a] < keys[b]
	})
	return keys
}

func engineLabel(e string) string {
	switch e {
	case "quarry-int8", "quarry-binary":
		return "quarry " + strings.TrimPrefix(e, "quarry-") + " + f16 rescoring"
	case "numpy":
		return "numpy (q @ X.T, argpartition)"
	case "faiss":
		return "faiss IndexFlatIP"
	}
	if d, ok := strings.CutPrefix(e, "quarry-"); ok {
		return "quarry " + d
	}
	return e
}

// recallPlot: recall@k against QPS at the sweep's corpus size, 1 query per
// call: the rescoring sweep of each quantized dtype (points labelled with
// the candidates rescored), and the exact engines as single points.
func recallPlot(s searchJSON) (*plot.Plot, error) {
	if len(s.Sweep) == 0 {
		return nil, errors.New("search.json has no rescoring sweep")
	}
	n := s.Sweep[0].N
	for _, sw := range s.Sweep {
		n = max(n, sw.N)
	}
	p := newPlot(fmt.Sprintf("Recall@%d vs QPS, %s vectors of dim %d, 1 query per call\n%s", s.K, humanNum(float64(n)), s.Dim, s.Machine.line(0)),
		"queries/s", fmt.Sprintf("recall@%d (vs exact f32)", s.K))
	by := map[string]plotter.XYs{}
	labels := map[string][]string{}
	var xs, ys []float64
	sweep := slices.Clone(s.Sweep)
	sort.SliceStable(sweep, func(a, b int) bool { return sweep[a].Rescore < sweep[b].Rescore })
	for _, sw := range sweep {
		if sw.N != n {
			continue
		}
		e := "quarry-" + sw.DType
		by[e] = append(by[e], plotter.XY{X: sw.QPS, Y: sw.Recall})
		labels[e] = append(labels[e], strconv.Itoa(sw.Rescore))
		xs, ys = append(xs, sw.QPS), append(ys, sw.Recall)
	}
	exact := map[string]plotter.XYs{}
	for _, r := range s.Results {
		if r.N != n || r.Batch != 1 || by[r.Engine] != nil {
			continue
		}
		rec := 1.0
		if r.Recall != nil {
			rec = *r.Recall
		}
		exact[r.Engine] = append(exact[r.Engine], plotter.XY{X: r.QPS, Y: rec})
		xs, ys = append(xs, r.QPS), append(ys, rec)
	}
	setLog(&p.X, xs)
	lo := 1.0
	for _, y := range ys {
		lo = min(lo, y)
	}
	// The lowest third stays free for the legend.
	span := 1 - lo + 0.01
	p.Y.Min, p.Y.Max = max(0, lo-0.45*span), 1+0.05*span
	i := 0
	for _, e := range engineOrder(by) {
		// A line through the sweep in rescoring order, each point labelled
		// with its candidates.
		if err := addPath(p, engineLabel(e)+" (labels: candidates rescored)", by[e], i, false); err != nil {
			return nil, err
		}
		if err := addLabels(p, by[e], labels[e], i); err != nil {
			return nil, err
		}
		i++
	}
	for _, e := range engineOrder(exact) {
		if err := addSeries(p, engineLabel(e)+" (exact)", exact[e], i, false); err != nil {
			return nil, err
		}
		i++
	}
	p.Legend.Top = false
	p.Legend.Left = true
	return p, nil
}

// annJSON is what scripts/bench/ann/ann.py writes.
type annJSON struct {
	Machine machine `json:"machine"`
	Data    string  `json:"data"`
	N       int     `json:"n"`
	Dim     int     `json:"dim"`
	K       int     `json:"k"`
	M       int     `json:"m"`
	EfC     int     `json:"ef_construction"`
	Batch   bool    `json:"batch"`
	Engines map[string]struct {
		Points []struct {
			Ef     int     `json:"ef"`
			QPS    float64 `json:"qps"`
			Recall float64 `json:"recall_at_k"`
		} `json:"points"`
	} `json:"engines"`
}

// annPlot: recall@k against QPS of each engine's ef sweep (HNSW graphs, 1
// thread, one query per call), points labelled with their ef.
func annPlot(a annJSON) (*plot.Plot, error) {
	if len(a.Engines) == 0 {
		return nil, errors.New("no engines")
	}
	mode, threads := "1 thread", 1
	if a.Batch {
		mode, threads = "all queries per call", a.Machine.Cores
	}
	p := newPlot(fmt.Sprintf("HNSW recall@%d vs QPS, %s × %d, M %d, ef_construction %d, %s\n%s", a.K, humanNum(float64(a.N)), a.Dim, a.M, a.EfC, mode, a.Machine.line(threads)),
		"queries/s", fmt.Sprintf("recall@%d (vs exact f32)", a.K))
	var xs []float64
	lo := 1.0
	for _, e := range a.Engines {
		for _, pt := range e.Points {
			xs = append(xs, pt.QPS)
			if pt.Recall >= 0.96 {
				lo = min(lo, pt.Recall)
			}
		}
	}
	setLog(&p.X, xs)
	p.Y.Min, p.Y.Max = max(0.96, lo-0.005), 1.0
	label := map[string]string{"hnswlib": "hnswlib", "faiss": "FAISS IndexHNSWFlat", "quarry-f16-int8": "quarry f16 index (int8 traversal, f16 rescoring)",
		"quarry-int8": "quarry int8 (+ rescoring)", "quarry-f16": "quarry f16 traversal", "quarry-f32": "quarry f32"}
	for i, e := range engineOrder(a.Engines) {
		var xys plotter.XYs
		var ls []string
		for _, pt := range a.Engines[e].Points {
			if pt.Recall < p.Y.Min {
				continue
			}
			xys = append(xys, plotter.XY{X: pt.QPS, Y: pt.Recall})
			ls = append(ls, strconv.Itoa(pt.Ef))
		}
		name := label[e]
		if name == "" {
			name = e
		}
		if err := addPath(p, name, xys, i, !strings.HasPrefix(e, "quarry")); err != nil {
			return nil, err
		}
		if e == "quarry-f16-int8" || e == "hnswlib" {
			if err := addLabels(p, xys, ls, i); err != nil {
				return nil, err
			}
		}
	}
	p.Legend.Top = false
	p.Legend.Left = true
	return p, nil
}

// indexPlot: peak RSS against corpus size, with end-to-end throughput in
// the legend, to show that memory follows the batch and segment sizes, not
// the corpus.
func indexPlot(ij indexJSON) (*plot.Plot, error) {
	if len(ij.Runs) == 0 {
		return nil, errNoData
	}
	runs := slices.Clone(ij.Runs)
	sort.Slice(runs, func(a, b int) bool { return runs[a].Docs < runs[b].Docs })
	r0 := runs[0]
	p := newPlot(fmt.Sprintf("quarry index: peak memory vs corpus size\n%s, %s vectors, batch %d, %d passages per segment\n%s",
		r0.Model, r0.DType, r0.Batch, r0.SegmentPassages, r0.Machine.line(r0.Threads)),
		"documents indexed", "MB")
	var xs, ys []float64
	var indexing, loaded, disk plotter.XYs
	var rates []string
	for _, r := range runs {
		x := float64(r.Docs)
		indexing = append(indexing, plotter.XY{X: x, Y: float64(r.PeakRSSIndexing)})
		loaded = append(loaded, plotter.XY{X: x, Y: float64(r.PeakRSSMB)})
		disk = append(disk, plotter.XY{X: x, Y: r.IndexMB})
		xs = append(xs, x)
		ys = append(ys, float64(r.PeakRSSIndexing), float64(r.PeakRSSMB), r.IndexMB)
		rates = append(rates, fmt.Sprintf("%s: %.0f docs/s", humanNum(x), r.DocsPerS))
	}
	setLog(&p.X, xs)
	p.X.Tick.Marker = intTicks(xs)
	fromZero(&p.Y, ys, 1.45) // room for the legend above the lines
	if err := addSeries(p, "peak RSS while indexing", indexing, 0, false); err != nil {
		return nil, err
	}
	if err := addSeries(p, "peak RSS incl. loading the searchable index", loaded, 1, true); err != nil {
		return nil, err
	}
	if err := addSeries(p, "index size on disk", disk, 2, true); err != nil {
		return nil, err
	}
	p.X.Label.Text = "documents indexed (" + strings.Join(rates, ", ") + ")"
	return p, nil
}

// peersPlot: quarry's throughput over the best peer's, per comparison.
func peersPlot(pe *peerEncode, pr *peerRerank, sj *searchJSON) (*plot.Plot, error) {
	var names []string
	var vals plotter.Values
	var m machine
	threads := 0
	if pe != nil && pe.Ratio > 0 {
		names = append(names, fmt.Sprintf("encode\nvs sentence-transformers\n(batch %d)", pe.STBatch))
		vals = append(vals, pe.Ratio)
		m, threads = pe.Machine, pe.Threads
	}
	if pr != nil && pr.Ratio > 0 {
		names = append(names, fmt.Sprintf("rerank\nvs CrossEncoder\n(batch %d)", pr.Batch))
		vals = append(vals, pr.Ratio)
		m = pr.Machine
	}
	if sj != nil {
		n := 0
		for _, r := range sj.Results {
			n = max(n, r.N)
		}
		for _, want := range []struct {
			engine string
			batch  int
		}{{"quarry-f32", 1}, {"quarry-f32", sj.Batch}, {"quarry-int8", 1}, {"quarry-int8", sj.Batch}} {
			for _, r := range sj.Results {
				if r.N == n && r.Engine == want.engine && r.Batch == want.batch && r.Ratio > 0 {
					what := strings.TrimPrefix(r.Engine, "quarry-")
					if r.Engine == "quarry-int8" && r.Recall != nil {
						what += fmt.Sprintf("+rescore\n(recall %.3f)", *r.Recall)
					}
					names = append(names, fmt.Sprintf("search %s\n%s, %d q/call\nvs %s", what, humanNum(float64(n)), r.Batch, r.BestPeer))
					vals = append(vals, r.Ratio)
					m = sj.Machine
					break
				}
			}
		}
	}
	if len(vals) == 0 {
		return nil, errNoData
	}
	p := newPlot("quarry throughput over the best peer's (same data, same threads; dashed: parity, above = quarry faster)\n"+m.line(threads),
		"", "ratio (quarry / peer)")
	bars, err := plotter.NewBarChart(vals, vg.Points(28))
	if err != nil {
		return nil, err
	}
	bars.Color = plotutil.Color(0)
	bars.LineStyle.Width = 0
	p.Add(bars)
	one := plotter.NewFunction(func(float64) float64 { return 1 })
	one.LineStyle.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	one.LineStyle.Color = plotutil.Color(1)
	p.Add(one)
	p.NominalX(names...)
	p.X.Tick.Label.Font.Size = vg.Points(7)
	labels := make([]string, len(vals))
	xys := make(plotter.XYs, len(vals))
	for i, v := range vals {
		labels[i] = fmt.Sprintf("%.2fx", v)
		xys[i] = plotter.XY{X: float64(i), Y: v}
	}
	ls, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
	if err != nil {
		return nil, err
	}
	for i := range ls.TextStyle {
		ls.TextStyle[i].XAlign = draw.XCenter
	}
	ls.Offset = vg.Point{Y: vg.Points(3)}
	p.Add(ls)
	fromZero(&p.Y, append(slices.Clone([]float64(vals)), 1), 1.15)
	return p, nil
}

func sortedKeys[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
