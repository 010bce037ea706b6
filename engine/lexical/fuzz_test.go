package lexical

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"
)

// sectionsBlob packs four section payloads as uvarint lengths of the first
// three, then the payloads: the input form of the structured fuzz target.
func sectionsBlob(secs [numSections][]byte) []byte {
	var b []byte
	for _, s := range secs[:3] {
		b = binary.AppendUvarint(b, uint64(len(s)))
	}
	for _, s := range secs {
		b = append(b, s...)
	}
	return b
}

func blobSections(b []byte) ([numSections][]byte, bool) {
	var secs [numSections][]byte
	var lens [3]uint64
	for i := range lens {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return secs, false
		}
		lens[i], b = v, b[n:]
	}
	for i, l := range lens {
		if l > uint64(len(b)) {
			return secs, false
		}
		secs[i], b = b[:l], b[l:]
	}
	secs[3] = b
	return secs, true
}

// FuzzParseSegment feeds the reader arbitrary files (which the CRCs mostly
// reject) and, through sectionsBlob, arbitrary section contents under valid
// CRCs, which reach every structural check. Whatever parses must be
// searchable without panicking.
func FuzzParseSegment(f *testing.F) {
	for _, docs := range [][]Doc{smallCorpus(0), {{Ord: 7, Title: "Go", Text: "go fast"}, {Ord: 8, Text: "fast"}}, synthDocs(30, 1<<31, 5)} {
		data, _, err := EncodeSegment(context.Background(), docs, English())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		secs, err := splitSections("seed", data)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(sectionsBlob(secs))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(data []byte) {
			s, err := parseSegment("fuzz", data)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("error %v is not ErrCorrupt", err)
				}
				return
			}
			ix, err := openParsed([]*segment{s})
			if err != nil {
				t.Fatal(err)
			}
			q := ""
			for i, term := range s.terms {
				if i%3 == 0 {
					q += term.term + " "
				}
			}
			for _, p := range []Params{DefaultParams(), BEIRParams()} {
				hits, err := ix.Search(context.Background(), q, 5, p, nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, h := range hits {
					if uint64(h.Ord) < uint64(s.start) || uint64(h.Ord) >= s.end() {
						t.Fatalf("hit %d outside [%d, %d)", h.Ord, s.start, s.end())
					}
				}
			}
		}
		check(data)
		if secs, ok := blobSections(data); ok {
			check(assemble(secs))
		}
	})
}
