//go:build !unix

package main

// lockDir does not lock on this system: run one quarry-native at a time.
func lockDir(dir string) (func(), error) { return func() {}, nil }
