//go:build race

package bert_test

// raceEnabled skips the MiniLM-sized cases, which take minutes under the race
// detector and add no concurrency coverage over the tiny ones.
const raceEnabled = true
