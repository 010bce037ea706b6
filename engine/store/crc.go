package store

import "hash/crc32"

// castagnoli is the CRC-32C table every checksum of an index uses: the
// store's own files and those of the other packages that keep per-segment
// files (lexical, sparse). It is computed once and never modified.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CRC32C is the CRC-32C (Castagnoli) of b: the checksum of every file,
// block, section, header and footer of an index.
func CRC32C(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// UpdateCRC32C returns the CRC-32C of the bytes summed into crc followed by
// b (UpdateCRC32C(0, b) == CRC32C(b)), for checksums computed piecewise.
func UpdateCRC32C(crc uint32, b []byte) uint32 { return crc32.Update(crc, castagnoli, b) }

func crc32c(b []byte) uint32 { return CRC32C(b) }
