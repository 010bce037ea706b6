//go:build !race

package modelgen

const raceEnabled = false
