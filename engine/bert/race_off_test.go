//go:build !race

package bert_test

const raceEnabled = false
