package engine

import (
	"strconv"

	"github.com/quarry-search/quarry/engine/ann"
	"github.com/quarry-search/quarry/engine/errs"
	"github.com/quarry-search/quarry/engine/store"
)

// annFile is the key of a segment's HNSW graph (hnsw-NNNNNN.qhnsw,
// engine/ann) in store.Segment.Files.
const annFile = ann.FileKey

// ANN methods of an index (CreateOptions.ANN, Info.ANN.Method).
const (
	// ANNAuto, the default of a new dense index, builds a graph for every
	// segment of at least AutoGraphRows passages; smaller segments are
	// scanned exactly (see docs/ann.md for the measurement behind it).
	ANNAuto = "auto"
	// ANNHNSW builds a graph for every segment.
	ANNHNSW = "hnsw"
	// ANNOff builds none: every search is the exact scan.
	ANNOff = "off"
)

// AutoGraphRows is the segment size from which ANNAuto builds a graph.
const AutoGraphRows = 32768

// ANNSegmentPassages is the default AddOptions.SegmentPassages of an index
// with graphs: larger segments than the exact index's 8192, since a search
// visits every segment's graph.
const ANNSegmentPassages = 65536

// DefaultEf is the beam width of a graph search when Request.Ef is 0 (it is
// raised to the candidates a search asks for: Request.Pool, or
// Request.Rescore when set).
const DefaultEf = 192

// MaxEf is the largest Request.Ef.
const MaxEf = ann.MaxEf

// The largest CreateOptions.HNSWM and HNSWEfConstruction.
const (
	MaxHNSWM              = ann.MaxM
	MaxHNSWEfConstruction = ann.MaxEfConstruction
)

// Manifest settings of the graphs.
const (
	settingANN   = "ann"                  // ANNAuto | ANNHNSW | ANNOff; absent: off (indexes made before graphs existed)
	settingHNSWM = "hnsw.m"               // M of every graph
	settingHNSWC = "hnsw.ef_construction" // ef_construction of every graph
)

// ANNInfo describes an index's graphs.
type ANNInfo struct {
	Method         string `json:"method"` // ANNAuto, ANNHNSW
	M              int    `json:"m"`
	EfConstruction int    `json:"ef_construction"`
	GraphSegments  int    `json:"graph_segments"` // segments with a graph (the others are scanned exactly)
	GraphRows      int64  `json:"graph_rows"`     // passages reached through graphs
	GraphBytes     int64  `json:"graph_bytes"`    // graph files
	// BytesPerVector is, over the segments with a graph, the graph files'
	// bytes per passage: neighbour lists, the int8 traversal rows, the
	// full-precision rows (an f16/f32 index's own, an int8 index's rescore
	// copy) and the rows' ordinals (engine/ann). Searches map these files;
	// they do not decode those segments' vector files.
	BytesPerVector float64 `json:"bytes_per_vector"`
}

// annSettings validates CreateOptions' graph options into manifest
// settings (nil: no graphs).
func annSettings(opts CreateOptions, dt store.DType, sparse bool) (map[string]string, error) {
	method := opts.ANN
	if method == "" {
		method = ANNAuto
		if sparse || dt == store.Binary {
			method = ANNOff
		}
	}
	switch method {
	case ANNOff:
		return nil, nil
	case ANNAuto, ANNHNSW:
	default:
		return nil, errs.New(errs.BadInput, "create index: ann %q: want %s, %s or %s", opts.ANN, ANNAuto, ANNHNSW, ANNOff)
	}
	if sparse {
		return nil, errs.New(errs.BadInput, "create index: ann %s: a SPLADE index has no dense vectors to build a graph over (leave --ann out)", method)
	}
	if dt == store.Binary {
		return nil, errs.New(errs.BadInput, "create index: ann %s: graphs traverse f32, f16 or int8 rows, not binary (use --dtype int8, or --ann off)", method)
	}
	m, efc := opts.HNSWM, opts.HNSWEfConstruction
	if m == 0 {
		m = 16
	}
	if efc == 0 {
		efc = 200
	}
	if m < 2 || m > ann.MaxM {
		return nil, errs.New(errs.BadInput, "create index: hnsw m = %d: want 2..%d", opts.HNSWM, ann.MaxM)
	}
	if efc < 1 || efc > ann.MaxEfConstruction {
		return nil, errs.New(errs.BadInput, "create index: hnsw ef_construction = %d: want 1..%d", opts.HNSWEfConstruction, ann.MaxEfConstruction)
	}
	return map[string]string{settingANN: method, settingHNSWM: strconv.Itoa(m), settingHNSWC: strconv.Itoa(efc)}, nil
}

// graphParams is the manifest's graph method and parameters ("" when the
// index builds none).
func graphParams(man *store.Manifest) (string, ann.Params) {
	method := man.Settings[settingANN]
	if method != ANNAuto && method != ANNHNSW {
		return "", ann.Params{}
	}
	m, _ := strconv.Atoi(man.Settings[settingHNSWM])
	efc, _ := strconv.Atoi(man.Settings[settingHNSWC])
	return method, ann.Params{M: m, EfConstruction: efc}
}

// wantsGraph says whether a segment of rows passages gets a graph.
func wantsGraph(man *store.Manifest, rows int) bool {
	method, _ := graphParams(man)
	switch method {
	case ANNHNSW:
		return rows > 0
	case ANNAuto:
		return rows >= AutoGraphRows
	}
	return false
}

// defaultSegmentPassages is AddOptions.SegmentPassages' default for man.
func defaultSegmentPassages(man *store.Manifest) int {
	if method, _ := graphParams(man); method != "" {
		return ANNSegmentPassages
	}
	return 8192
}

// annInfo describes the graphs of man (nil when it builds none).
func annInfo(man *store.Manifest) *ANNInfo {
	method, p := graphParams(man)
	if method == "" {
		return nil
	}
	in := &ANNInfo{Method: method, M: p.M, EfConstruction: p.EfConstruction}
	for _, s := range man.Segments {
		if ref, ok := s.Files[annFile]; ok {
			in.GraphSegments++
			in.GraphRows += s.NumPassages
			in.GraphBytes += ref.Size
		}
	}
	if in.GraphRows > 0 {
		in.BytesPerVector = float64(in.GraphBytes) / float64(in.GraphRows)
	}
	return in
}
