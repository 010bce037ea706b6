package engine_test

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/quarry-search/quarry/bindings"
	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/bert"
	"github.com/quarry-search/quarry/engine/modelgen"
)

// parityTexts are varied inputs for the native-vs-reference checks: plain
// English of many lengths, punctuation, digits, accents, CJK, Korean, Hindi,
// emoji, control characters, a very long word, and texts longer than the
// model's positions (truncated identically on both sides).
var parityTexts = func() []string {
	t := []string{
		"hello world",
		"The quick brown fox jumps over the lazy dog.",
		"How many people live in Berlin?",
		"Berlin had a population of 3,520,031 registered inhabitants in an area of 891.82 square kilometers.",
		"Berlin is well known for its museums.",
		"a",
		"?",
		"!!!",
		"e = mc^2; ∑_{i=1}^{n} i = n(n+1)/2",
		"Prices rose 3.5% in Q3-2024 (vs. 2.1% in Q2), said the C.E.O.",
		"Call +49 30 1234567 or e-mail info@example.org before 31/12/2025.",
		"Über den Wolken muss die Freiheit wohl grenzenlos sein.",
		"Crème brûlée, façade, naïve café — déjà vu.",
		"Hokkaidō and Kyūshū are islands of Japan.",
		"Müller and Schön met Ångström in Reykjavík.",
		"東京は日本の首都です。",
		"北京是中国的首都，人口超过两千万。",
		"서울은 대한민국의 수도입니다.",
		"नमस्ते, आप कैसे हैं? हिन्दी एक भाषा है।",
		"Привет, как дела? Москва — столица России.",
		"Αθήνα είναι η πρωτεύουσα της Ελλάδας. ΟΔΟΣ",
		"مرحبا بالعالم",
		"ภาษาไทยเป็นภาษาที่สวยงาม",
		"I love pizza 🍕 and sushi 🍣! 👨‍👩‍👧‍👦 👍🏽",
		"tab\tseparated\tvalues\r\nand CRLF line endings",
		"control\x00chars\x07and\u200bzero width",
		"İstanbul is in Turkey; ﬁne ligatures; ＦＵＬＬＷＩＤＴＨ",
		"func main() { fmt.Println(\"hello\") } // Go code",
		"SELECT * FROM users WHERE id = 42;",
		"https://example.com/path?query=1&x=y#fragment",
		"supercalifragilisticexpialidocious antidisestablishmentarianism",
		strings.Repeat("x", 150) + " long word becomes [UNK]",
		"UPPER CASE TEXT SHOULD BE LOWERCASED BY AN UNCASED MODEL",
		"[CLS] special tokens [SEP] written in the text [MASK]",
		"numbers 0 1 2 3 4 5 6 7 8 9 10 100 1000 10000 3.14159 2.71828",
		"The mitochondria is the powerhouse of the cell.",
		"Machine learning models encode sentences into dense vectors.",
		"Reranking with a cross-encoder improves precision at the top of the list.",
		"A man is playing a guitar.",
		"A woman is slicing an onion.",
		"The cat sat on the mat.",
		"Dogs are loyal animals.",
		"It was the best of times, it was the worst of times.",
		"To be, or not to be, that is the question.",
		"   leading and trailing spaces   ",
		"multiple     spaces    between   words",
		"hyphenated-words and under_scores and dot.separated.tokens",
		"C++ and C# and F# are programming languages; so is Go.",
		"Patient presented with acute myocardial infarction (AMI) and was treated with PCI.",
		"The GDP of the United States was $25.46 trillion in 2022.",
	}
	long := strings.Repeat("search engines index documents and rank them by relevance ", 90)
	t = append(t, long, long[:300], strings.Repeat("数据", 200))
	return t
}()

func genModel(t testing.TB, preset, kind, typ string) string {
	t.Helper()
	vocab, err := modelgen.LoadVocab("")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), preset+"-"+kind+"-"+typ+".gguf")
	if err := modelgen.Generate(p, modelgen.Spec{Preset: preset, Kind: kind, Type: typ, Seed: 11}, vocab); err != nil {
		t.Fatal(err)
	}
	return p
}

func cos64(a []float32, b []float64) float64 {
	var d, na, nb float64
	for i := range a {
		d += float64(a[i]) * b[i]
		na += float64(a[i]) * float64(a[i])
		nb += b[i] * b[i]
	}
	return d / math.Sqrt(na*nb)
}

func skipWithoutNative(t testing.TB) {
	if !bindings.Available {
		t.Skip("built without the native core")
	}
}

// TestParityWithReference checks the native core against the independent
// float64 Go reference (Hugging Face semantics) on the same GGUF weights.
func TestParityWithReference(t *testing.T) {
	skipWithoutNative(t)
	ctx := context.Background()
	for _, c := range []struct{ preset, kind, typ string }{
		{"tiny", "mean", "f32"}, {"tiny", "mean", "f16"}, {"tiny", "cls", "f32"}, {"small", "mean", "f32"}, {"small", "cls", "f16"},
		{"tiny", "rank", "f32"}, {"tiny", "rank", "f16"}, {"small", "rank", "f32"},
	} {
		name := c.preset + "-" + c.kind + "-" + c.typ
		t.Run(name, func(t *testing.T) {
			path := genModel(t, c.preset, c.kind, c.typ)
			m, err := engine.LoadModel(path, engine.ModelOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			cfg, ck, _, err := bert.ReadGGUF(path)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := bert.NewReference(cfg, ck)
			if err != nil {
				t.Fatal(err)
			}
			tok := m.Tokenizer()
			if c.kind == "rank" {
				query := "How many people live in Berlin?"
				got, st, err := m.RerankWithStats(ctx, query, parityTexts)
				if err != nil {
					t.Fatal(err)
				}
				if st.Truncated == 0 {
					t.Error("no pair reached the length limit")
				}
				worst := 0.0
				for i, d := range parityTexts {
					e := tok.EncodePair(query, d, m.MaxTokens())
					want, err := ref.Rerank(e.IDs, e.TypeIDs)
					if err != nil {
						t.Fatal(err)
					}
					for j := range want {
						diff := math.Abs(float64(got[i][j])-want[j]) / math.Max(1, math.Abs(want[j]))
						worst = math.Max(worst, diff)
						if diff > 1e-3 {
							t.Errorf("text %d %q label %d: native %g reference %g", i, d, j, got[i][j], want[j])
						}
					}
				}
				t.Logf("max relative logit difference %.2e over %d pairs", worst, len(parityTexts))
				return
			}
			got, st, err := m.EmbedWithStats(ctx, parityTexts)
			if err != nil {
				t.Fatal(err)
			}
			if st.Truncated == 0 {
				t.Error("no text reached the length limit")
			}
			minCos := 1.0
			for i, text := range parityTexts {
				e := tok.Encode(text, m.MaxTokens())
				want, err := ref.Embed(e.IDs, e.TypeIDs)
				if err != nil {
					t.Fatal(err)
				}
				c := cos64(got[i], want)
				minCos = math.Min(minCos, c)
				if c < 0.9999 {
					t.Errorf("text %d %q: cosine %.6f", i, text, c)
				}
			}
			t.Logf("min cosine %.7f over %d texts", minCos, len(parityTexts))
		})
	}
}

func TestEmbedderErrors(t *testing.T) {
	skipWithoutNative(t)
	bi := genModel(t, "tiny", "mean", "f32")
	ce := genModel(t, "tiny", "rank", "f32")
	m, err := engine.LoadModel(bi, engine.ModelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Rerank(context.Background(), "q", []string{"d"}); err == nil || !strings.Contains(err.Error(), "bi-encoder") {
		t.Errorf("rerank on bi-encoder: %v", err)
	}
	c, err := engine.LoadModel(ce, engine.ModelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Embed(context.Background(), []string{"d"}); err == nil || !strings.Contains(err.Error(), "cross-encoder") {
		t.Errorf("embed on cross-encoder: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Embed(ctx, []string{"x"}); err == nil {
		t.Error("cancelled context ignored")
	}
	if _, err := engine.LoadModel(filepath.Join(t.TempDir(), "missing.gguf"), engine.ModelOptions{}); !engine.IsNotExist(err) {
		t.Errorf("missing model: %v", err)
	}
	if _, err := engine.LoadModel(bi, engine.ModelOptions{Impl: "cuda"}); err == nil {
		t.Error("unknown impl accepted")
	}
}

func TestConcurrentEmbed(t *testing.T) {
	skipWithoutNative(t)
	m, err := engine.LoadModel(genModel(t, "tiny", "mean", "f32"), engine.ModelOptions{Workers: 2, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.Embed(context.Background(), parityTexts)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := m.Embed(context.Background(), parityTexts)
			if err != nil {
				t.Error(err)
				return
			}
			for i := range got {
				for j := range got[i] {
					if got[i][j] != want[i][j] {
						t.Errorf("text %d differs under concurrency", i)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if err := m.Close(); err != nil || m.Close() != nil {
		t.Error("Close not idempotent")
	}
	if _, err := m.Embed(context.Background(), []string{"x"}); err == nil {
		t.Error("embed after Close succeeded")
	}
}

func TestSigmoidAndRank(t *testing.T) {
	if s := engine.Sigmoid(30); s == 1 || s < 0.999999 {
		t.Errorf("sigmoid(30) = %v: must stay below 1 in float64", s)
	}
	if engine.Sigmoid(0) != 0.5 {
		t.Error("sigmoid(0)")
	}
	r := engine.RankByScore([]float32{0.5, 2, 0.5, -1})
	if r[0].Index != 1 || r[1].Index != 0 || r[2].Index != 2 || r[3].Index != 3 {
		t.Errorf("rank order %v", r)
	}
}
