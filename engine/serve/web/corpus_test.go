package web_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hubExample is the model-search example of the repository (the layout of
// ../shared/examples/hf_data).
const hubExample = "../../../testdata/corpora/hf_data"

// hubCorpus writes a Hub model-search folder (models.jsonl +
// passages.jsonl) into dir: the example's models and passages as they are,
// then n generated models in the same shape (tasks, libraries, likes,
// downloads, lastModified, tags; a few passages each), so that the filters
// have values shared by several models and the sorts have something to
// order.
func hubCorpus(t testing.TB, dir string, n int) {
	t.Helper()
	models, err := os.ReadFile(filepath.Join(hubExample, "models.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	passages, err := os.ReadFile(filepath.Join(hubExample, "passages.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Count(strings.TrimRight(string(models), "\n"), "\n") + 1

	type task struct {
		tag, short string
		libs       []string
		sentences  []string
	}
	tasks := []task{
		{"automatic-speech-recognition", "asr", []string{"transformers", "nemo", "speechbrain"}, []string{
			"Transcribes %s speech sampled at 16 kHz into text.",
			"Fine-tuned on read and spontaneous %s audio recordings.",
			"Use it to transcribe interviews, meetings and podcasts in %s.",
		}},
		{"text-classification", "sentiment", []string{"transformers", "setfit"}, []string{
			"Classifies the sentiment of %s product reviews as positive or negative.",
			"Trained on short %s texts from social media.",
		}},
		{"translation", "mt", []string{"transformers", "fairseq"}, []string{
			"Translates %s text into English with a small encoder-decoder.",
			"Trained on parallel %s news and subtitles.",
		}},
		{"sentence-similarity", "embeddings", []string{"sentence-transformers"}, []string{
			"Maps %s sentences to dense vectors for semantic search and clustering.",
			"Mean pooling over the token embeddings; vectors are normalized.",
		}},
		{"audio-classification", "sound-events", []string{"speechbrain", "transformers"}, []string{
			"Detects sound events such as sirens, dogs and music in %s field recordings.",
			"Audio clips of ten seconds; mel spectrogram input.",
		}},
		{"summarization", "summarizer", []string{"transformers"}, []string{
			"Summarizes long %s articles into a few sentences.",
			"Abstractive summaries, trained on news.",
		}},
	}
	langs := []struct{ code, name string }{{"fr", "French"}, {"de", "German"}, {"en", "English"}, {"es", "Spanish"}, {"it", "Italian"}}
	orgs := []string{"acme-labs", "open-speech", "nlp-town", "vector-co", "audio-lab"}
	sizes := []string{"tiny", "small", "base", "large"}

	rng := rand.New(rand.NewPCG(20, 26))
	var mb, pb strings.Builder
	mb.Write(models)
	pb.Write(passages)
	seen := map[string]bool{}
	for i := 0; i < n; i++ {
		tk := tasks[i%len(tasks)]
		lg := langs[rng.IntN(len(langs))]
		id := fmt.Sprintf("%s/%s-%s-%s", orgs[rng.IntN(len(orgs))], tk.short, lg.code, sizes[rng.IntN(len(sizes))])
		for seen[id] {
			id += "-v2"
		}
		seen[id] = true
		lib := tk.libs[rng.IntN(len(tk.libs))]
		likes := int(rng.ExpFloat64() * 150)
		m := map[string]any{
			"modelId":      id,
			"sha":          fmt.Sprintf("%040x", rng.Uint64()),
			"lastModified": fmt.Sprintf("20%02d-%02d-%02dT%02d:%02d:00.000Z", 20+rng.IntN(6), 1+rng.IntN(12), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60)),
			"tags":         []string{lib, tk.tag, lg.code, "license:" + []string{"apache-2.0", "mit", "cc-by-4.0"}[rng.IntN(3)]},
			"pipeline_tag": tk.tag,
			"siblings":     []map[string]string{{"rfilename": "README.md"}, {"rfilename": "config.json"}},
			"config":       nil,
			"private":      false,
			"library_name": lib,
			"likes":        likes,
			"readme":       "# " + id,
			"downloads":    likes*int(40+rng.IntN(400)) + rng.IntN(500),
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		mb.Write(b)
		mb.WriteByte('\n')
		for _, s := range tk.sentences {
			if strings.Contains(s, "%s") {
				s = fmt.Sprintf(s, lg.name)
			}
			b, _ := json.Marshal(map[string]any{"id": line, "modelId": id, "passage": s + "\n"})
			pb.Write(b)
			pb.WriteByte('\n')
		}
		line++
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "models.jsonl"), []byte(mb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "passages.jsonl"), []byte(pb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// notesCorpus is a second index of another shape: plain JSONL notes whose
// text and fields carry HTML and the characters the filter syntax quotes.
const notesCorpus = `{"_id": "xss-1", "title": "<img src=x onerror=\"window.__xss=1\">", "text": "payload <script>window.__xss=2</script> and <b>bold</b> words & ampersands", "kind": "a, \"quoted\" kind", "size": 3}
{"_id": "plain-2", "title": "A plain note", "text": "an ordinary payload note about gardening", "kind": "plain", "size": 10}
{"_id": "plain-3", "text": "another note without a title, payload free", "kind": "plain", "size": 7}
`

// readJSONL reads the objects of a JSONL file (test helper for facts the
// test computes from its own corpus).
func readJSONL(t testing.TB, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
