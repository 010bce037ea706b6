package bindings

// HNSWParams configure BuildHNSW. The zero value gives the defaults.
type HNSWParams struct {
	M              int    // neighbours per node on upper layers (2·M on layer 0), in [2, 128]; 0 = 16
	EfConstruction int    // beam width while inserting; 0 = 200
	Threads        int    // insertion threads; 0 = all cores
	Seed           uint64 // levels come from it: Threads 1 and one Seed give a byte-identical graph
}

// HNSWStats describe a graph.
type HNSWStats struct {
	N              int64 // rows
	Dim            int
	M              int // upper-layer degree (layer 0: 2·M)
	EfConstruction int
	MaxLevel       int   // top layer (-1 for an empty graph)
	Entry          int64 // entry point row (-1 for an empty graph)
	Edges          int64 // directed edges over all layers
	Bytes          int64 // memory held by the native graph
}

// MaxEf is the largest beam width (and k) of HNSW.Search: kMaxEf in
// native/src/hnsw.cpp (TestMaxEfMatchesNative checks they agree).
const MaxEf = 100000

// Return codes of the native HNSW calls, beside CodeArg and CodeCompute.
const (
	CodeCanceled = -4 // the build's context was canceled
	CodeCorrupt  = -5 // a serialized graph is damaged
)
