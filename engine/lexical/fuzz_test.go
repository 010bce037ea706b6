package lexical

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/quarry-search/quarry/engine/store"
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
				var ce *store.CorruptError
				if !errors.As(err, &ce) || ce.Path != "fuzz" {
					t.Fatalf("error %v is not a store.CorruptError naming the file", err)
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

// docPostings lists, per document of s (by ordinal − start), its terms with
// their title and text frequencies, read back from the postings.
func docPostings(s *segment) []map[string][2]uint32 {
	out := make([]map[string][2]uint32, s.n)
	for i := range out {
		out[i] = map[string][2]uint32{}
	}
	for j := range s.terms {
		t := &s.terms[j]
		s.eachPosting(t, func(ord int64, tfTitle, tfText uint32) {
			out[ord-int64(s.start)][t.term] = [2]uint32{tfTitle, tfText}
		})
	}
	return out
}

// FuzzCopyFiltered filters whatever segment parses (arbitrary files, or
// arbitrary sections under valid CRCs) by a deletion mask and a new start
// ordinal taken from the input, and checks the copy against the source
// document by document: it parses (so every recomputed statistic is
// consistent), holds exactly the kept documents with their stored lengths
// and their postings unchanged, and filtering it again keeping everything
// gives the same bytes.
func FuzzCopyFiltered(f *testing.F) {
	for i, docs := range [][]Doc{smallCorpus(0), {{Ord: 7, Title: "Go", Text: "go fast"}, {Ord: 8, Text: "fast"}}, synthDocs(30, 1<<31, 5)} {
		data, _, err := EncodeSegment(context.Background(), docs, English())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, []byte{0x5a, byte(i)}, uint32(i*3))
		secs, err := splitSections("seed", data)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(sectionsBlob(secs), []byte{0xff, 0x01}, uint32(1<<31))
	}
	f.Fuzz(func(t *testing.T, data, mask []byte, newStart uint32) {
		check := func(data []byte) {
			s, err := parseSegment("fuzz", data)
			if err != nil {
				return
			}
			dropped := func(i uint32) bool {
				if len(mask) == 0 {
					return false
				}
				b := mask[int(i/8)%len(mask)]
				return b&(1<<(i%8)) != 0
			}
			var kept []uint32 // source positions of the kept documents
			for i := range s.n {
				if !dropped(i) {
					kept = append(kept, i)
				}
			}
			newOf := make(map[uint32]uint32, len(kept))
			for k, i := range kept {
				newOf[s.start+i] = newStart + uint32(k)
			}
			remap := func(ord uint32) (uint32, bool) { o, ok := newOf[ord]; return o, ok }
			out, info, err := s.filtered(remap)
			switch {
			case len(kept) == 0:
				if !errors.Is(err, store.ErrNoDocuments) {
					t.Fatalf("nothing kept: %v", err)
				}
				return
			case uint64(newStart)+uint64(len(kept)) > maxU32+1:
				if err == nil {
					t.Fatalf("%d documents from ordinal %d accepted", len(kept), newStart)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			c, err := parseSegment("copy", out)
			if err != nil {
				t.Fatalf("the copy does not parse: %v", err)
			}
			if c.start != newStart || int(c.n) != len(kept) || info.Docs != len(kept) || info.Terms != len(c.terms) || uint64(info.Postings) != c.entries || c.analyzer != s.analyzer {
				t.Fatalf("copy holds %d documents from %d (info %+v), want %d from %d", c.n, c.start, info, len(kept), newStart)
			}
			src, dst := docPostings(s), docPostings(c)
			for k, i := range kept {
				if c.dl[fTitle][k] != s.dl[fTitle][i] || c.dl[fText][k] != s.dl[fText][i] {
					t.Fatalf("document %d: lengths %d/%d, source %d/%d", k, c.dl[fTitle][k], c.dl[fText][k], s.dl[fTitle][i], s.dl[fText][i])
				}
				if len(dst[k]) != len(src[i]) {
					t.Fatalf("document %d: %d terms, source %d", k, len(dst[k]), len(src[i]))
				}
				for term, tf := range src[i] {
					if dst[k][term] != tf {
						t.Fatalf("document %d, term %q: %v, source %v", k, term, dst[k][term], tf)
					}
				}
			}
			again, _, err := c.filtered(func(o uint32) (uint32, bool) { return o, true })
			if err != nil || !bytes.Equal(again, out) {
				t.Fatalf("copying the copy changed it: %v", err)
			}
		}
		check(data)
		if secs, ok := blobSections(data); ok {
			check(assemble(secs))
		}
	})
}
