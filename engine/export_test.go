package engine

// SetBatchCandidates lowers the candidates a part of a SearchBatch holds
// (MaxBatchCandidates) until the returned function restores it.
func SetBatchCandidates(n int) (restore func()) {
	old := batchCandidates
	batchCandidates = n
	return func() { batchCandidates = old }
}
