package lexical

import "math/bits"

// Lucene stores a document's field length in one byte (a "norm"), encoded
// with org.apache.lucene.util.SmallFloat.intToByte4: lengths below 24 are
// exact, larger ones keep 4 significant bits and are rounded down (100 is
// read back as 96). Elasticsearch's BM25 therefore scores with these rounded
// lengths; Params.LuceneNorms does the same so scores can be compared.

// luceneNumFreeValues is 255 - longToInt4(math.MaxInt32) = 255 - 231.
const luceneNumFreeValues = 24

func luceneLongToInt4(i uint64) uint32 {
	numBits := 64 - bits.LeadingZeros64(i)
	if numBits < 4 {
		return uint32(i) // subnormal
	}
	shift := numBits - 4
	encoded := uint32(i>>uint(shift)) & 0x07 // drop the implicit leading bit
	return encoded | uint32(shift+1)<<3
}

func luceneInt4ToLong(i uint32) uint64 {
	b := uint64(i & 0x07)
	shift := int(i>>3) - 1
	if shift == -1 {
		return b
	}
	return (b | 0x08) << uint(shift)
}

// luceneIntToByte4 is SmallFloat.intToByte4 for a non-negative length. Lucene
// takes an int; lengths past math.MaxInt32 are clamped.
func luceneIntToByte4(i uint32) byte {
	if i > 1<<31-1 {
		i = 1<<31 - 1
	}
	if i < luceneNumFreeValues {
		return byte(i)
	}
	return byte(luceneNumFreeValues + luceneLongToInt4(uint64(i-luceneNumFreeValues)))
}

// luceneByte4ToInt is SmallFloat.byte4ToInt.
func luceneByte4ToInt(b byte) uint32 {
	if b < luceneNumFreeValues {
		return uint32(b)
	}
	return uint32(luceneNumFreeValues + luceneInt4ToLong(uint32(b)-luceneNumFreeValues))
}

// luceneLength is the length Lucene scores a document of length dl with.
func luceneLength(dl uint32) uint32 { return luceneByte4ToInt(luceneIntToByte4(dl)) }
