package convert

import "strings"

// verifyTexts are the built-in inputs of the self-verification: about a
// hundred texts of varied length and script that together exercise every
// step of the tokenizer (cleaning, accents, CJK, punctuation, [UNK], special
// tokens written in the text) and the model (short and long sequences). The
// text at the truncation limit is added by LengthLimitText.
var verifyTexts = []string{
	// English prose of varied length.
	"Hello world.",
	"The quick brown fox jumps over the lazy dog.",
	"How many people live in Berlin?",
	"Berlin had a population of 3,520,031 registered inhabitants in an area of 891.82 square kilometers.",
	"Berlin is well known for its museums.",
	"Paris is the capital and most populous city of France.",
	"What is the boiling point of water at sea level?",
	"Water boils at 100 degrees Celsius (212 °F) at standard atmospheric pressure.",
	"A man is eating food.",
	"A man is riding a white horse on an enclosed ground.",
	"Two men are playing chess in the park while a crowd watches.",
	"The new movie is awesome!",
	"The new movie is so great.",
	"I can't believe it's not butter.",
	"She said, \"Don't go there,\" and left; nobody followed her.",
	"Photosynthesis converts light energy into chemical energy stored in glucose, releasing oxygen as a by-product.",
	"The mitochondria is the powerhouse of the cell.",
	"In 1969, Neil Armstrong became the first person to walk on the Moon.",
	"Machine learning models can overfit when the training data is small and the model has many parameters.",
	"Semantic search finds documents by meaning rather than by exact keyword matches.",
	"Cross-encoders score a query and a passage together, which is slower but more accurate than comparing embeddings.",
	"It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness.",
	"Please return the form by Friday, March 3rd, 2023 at 5:30 p.m.",
	"rain",
	"a",
	"OK",
	"",
	"   ",
	"Is it possible to travel faster than light? According to special relativity, no object with mass can reach the speed of light.",
	"The patient presented with acute myocardial infarction and was treated with percutaneous coronary intervention.",
	"Antidisestablishmentarianism is one of the longest words in English.",
	"Supercalifragilisticexpialidocious!",
	"UPPERCASE TEXT SHOULD BE HANDLED LIKE LOWERCASE BY UNCASED MODELS.",
	"MiXeD CaSe WoRdS aNd CamelCaseIdentifiers like getElementById.",

	// Digits, units, punctuation and symbols.
	"3.14159265358979323846",
	"Call +1 (555) 010-9999 or email jane.doe@example.com before 09:00.",
	"Prices rose 12.5% year-over-year, from $1,299.99 to €1.462,49.",
	"1 + 1 = 2; 2 * 3 = 6; 10 / 4 = 2.5; 2^10 = 1024.",
	"!!! ??? ... --- ((())) [[[]]] {{{}}} <<<>>> ~~~ ``` '''",
	"#hashtag @mention $TICKER %percent &ampersand *star",
	"https://www.example.org/path/to/page?query=semantic+search&lang=en#section-2",
	"ISBN 978-3-16-148410-0, DOI 10.1000/182, SKU A-12/B#7.",
	"The temperature was −40° (minus forty degrees), and 40° below zero is the same in °C and °F.",
	"© 2024 Example Corp™ — all rights reserved ® … “quoted” ‘text’ «guillemets»",

	// Accents and Latin-script languages.
	"Café au lait, crème brûlée et pâte à choux.",
	"Der Kölner Dom ist eine römisch-katholische Kathedrale in Köln.",
	"¿Dónde está la biblioteca? Está al lado de la estación.",
	"São Paulo é a maior cidade do Brasil e do hemisfério sul.",
	"Les élèves étudient l'histoire de la Révolution française.",
	"Tiếng Việt có nhiều dấu thanh điệu như sắc, huyền, hỏi, ngã, nặng.",
	"Zażółć gęślą jaźń — Polish pangram with ogonki.",
	"Ærøskøbing ligger på Ærø i Danmark; Smørrebrød er lækkert.",
	"İstanbul, Türkiye'nin en kalabalık şehridir; ılık bir gün.",
	"naïve coöperation, façade, jalapeño, piñata, résumé",
	"Combining marks written separately: e\u0301, a\u0308, n\u0303, o\u0302.",

	// Other scripts.
	"Москва — столица России и крупнейший город страны.",
	"Η Αθήνα είναι η πρωτεύουσα της Ελλάδας.",
	"القاهرة هي عاصمة مصر وأكبر مدنها.",
	"ירושלים היא עיר עתיקה.",
	"नई दिल्ली भारत की राजधानी है।",
	"กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย",
	"ქართული ენა ძალიან ლამაზია.",
	"Հայերենը հնդեվրոպական լեզու է։",

	// CJK and Korean.
	"北京是中华人民共和国的首都。",
	"我喜欢吃苹果和香蕉，你呢？",
	"東京は日本の首都です。",
	"ひらがなとカタカナ、そして漢字が混ざった文章です。",
	"がぎぐげご パピプペポ ヴ",
	"서울은 대한민국의 수도이다.",
	"안녕하세요, 만나서 반갑습니다!",
	"Mixed: English, 中文, 日本語, 한국어 in one sentence.",
	"𠀀𠀁 CJK Extension B characters and 〇 ideographic zero.",

	// Emoji and other symbols.
	"I love pizza 🍕🍕🍕 and coffee ☕!",
	"👍🏽 thumbs up with skin tone, 👨‍👩‍👧‍👦 family ZWJ sequence, 🇩🇪 flag.",
	"Stars ★☆✩ arrows ←↑→↓ math ∑∫√∞≠≈ box ┌─┐",

	// Whitespace and control characters.
	"tabs\tand\nnewlines\r\nand  double  spaces",
	"zero\u200bwidth\u200cjoiners\u200d and soft\u00adhyphen",
	"bell\u0007 and escape\u001b and nul\u0000 characters",
	"non\u00a0breaking\u2003em space\u3000ideographic space",
	"\ufeffbyte order mark at the start",

	// Special tokens and unknown words.
	"[CLS] written in the text [SEP] and [MASK] and [PAD] and [UNK].",
	"A word longer than one hundred characters: " + strings.Repeat("abcdefghij", 11) + ".",
	"Unknown glyphs: \U0001F9EC\U0001FAE0 \u2603\uFE0F",

	// Code and markup.
	"func main() { fmt.Println(\"hello, 世界\") }",
	"for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }",
	"SELECT name, COUNT(*) FROM users WHERE age >= 18 GROUP BY name;",
	"def fib(n):\n    return n if n < 2 else fib(n-1) + fib(n-2)",
	"<div class=\"note\"><p>Hello &amp; welcome!</p></div>",
	"{\"key\": [1, 2.5, true, null], \"nested\": {\"a\": \"b\"}}",
	"$ git commit -m 'fix: handle edge case' && git push origin main",
	"E = mc^2, F = ma, and ∇·E = ρ/ε₀ are famous equations.",

	// Questions and passages in search style.
	"what is the capital of australia",
	"Canberra is the capital city of Australia, located in the Australian Capital Territory.",
	"symptoms of vitamin d deficiency",
	"Vitamin D deficiency can cause bone pain, muscle weakness and fatigue.",
	"how to reset a forgotten password",
	"To reset your password, click \"Forgot password\" on the sign-in page and follow the emailed link.",
	"best practices for writing unit tests in go",
	"Table-driven tests keep Go unit tests short: each case is a struct in a slice, run in a loop with t.Run.",
	"who wrote pride and prejudice",
	"Pride and Prejudice is an 1813 novel of manners by Jane Austen.",
}

// verifyQueries and the passages they are paired with form the
// cross-encoder checks: each query is scored against several passages,
// relevant and not.
var verifyQueries = []string{
	"How many people live in Berlin?",
	"what is the capital of australia",
	"symptoms of vitamin d deficiency",
	"how to reset a forgotten password",
	"who wrote pride and prejudice",
	"Wie hoch ist der Kölner Dom?",
	"北京的人口是多少？",
	"best pizza 🍕 near me",
	"SELECT statement group by",
	"boiling point of water",
}

// verifyPassages are scored against every query.
var verifyPassages = []string{
	"Berlin had a population of 3,520,031 registered inhabitants in an area of 891.82 square kilometers.",
	"Berlin is well known for its museums.",
	"Canberra is the capital city of Australia, located in the Australian Capital Territory.",
	"Vitamin D deficiency can cause bone pain, muscle weakness and fatigue.",
	"Pride and Prejudice is an 1813 novel of manners by Jane Austen.",
	"Der Kölner Dom ist eine römisch-katholische Kathedrale in Köln.",
	"北京是中华人民共和国的首都。",
	"",
}

// longText builds a text of more than n word pieces for any BERT
// vocabulary, so that it is cut at the truncation limit.
func longText(n int) string {
	const para = "Semantic search engines embed every document once and compare the query's embedding with all of them; " +
		"a cross-encoder then rereads the best candidates together with the query, 2 or 3 times slower per pair, " +
		"but usually more accurate. "
	var b strings.Builder
	for b.Len() < 8*n {
		b.WriteString(para)
	}
	return b.String()
}

// texts returns the verification texts for a model that truncates at
// maxLen word pieces: the built-in ones plus one past the limit.
func texts(maxLen int) []string {
	out := append([]string(nil), verifyTexts...)
	return append(out, longText(maxLen))
}

// pairs returns the (query, passage) pairs for a cross-encoder, one of them
// past the truncation limit.
func pairs(maxLen int) [][2]string {
	var out [][2]string
	for _, q := range verifyQueries {
		for _, p := range verifyPassages {
			out = append(out, [2]string{q, p})
		}
	}
	return append(out, [2]string{verifyQueries[0], longText(maxLen)})
}
