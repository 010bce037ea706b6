// LuceneBM25 is the Lucene side of quarry's engine/lexical parity tests
// (engine/lexical/lucene_test.go; scripts/lexical/lucene/run.sh runs them).
//
//   java -cp CP LuceneBM25.java analyze FILE
//     prints, for every line of FILE, the terms of Lucene's EnglishAnalyzer
//     (Elasticsearch's "english"), space-separated.
//   java -cp CP LuceneBM25.java score ANALYZER CORPUS QUERIES K1 B MODE TIE K
//     indexes CORPUS (lines: ord TAB title TAB text) with ANALYZER
//     ("standard" for pre-analyzed terms, or "english") and BM25Similarity(K1,
//     B), runs every line of QUERIES (qid TAB query, analyzed the same way)
//     as MODE "combined" (one field "all" = title + " " + text, a bool of
//     SHOULD term clauses) or "best_fields" (Elasticsearch's multi_match
//     best_fields: dis_max of the per-field bools, tie breaker TIE), and
//     prints qid TAB ord TAB score for the top K.
//
// CP: lucene-core and lucene-analysis-common jars.
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.en.EnglishAnalyzer;
import org.apache.lucene.analysis.standard.StandardAnalyzer;
import org.apache.lucene.analysis.tokenattributes.CharTermAttribute;
import org.apache.lucene.document.Document;
import org.apache.lucene.document.Field;
import org.apache.lucene.document.StoredField;
import org.apache.lucene.document.TextField;
import org.apache.lucene.index.DirectoryReader;
import org.apache.lucene.index.IndexWriter;
import org.apache.lucene.index.IndexWriterConfig;
import org.apache.lucene.index.Term;
import org.apache.lucene.search.BooleanClause;
import org.apache.lucene.search.BooleanQuery;
import org.apache.lucene.search.DisjunctionMaxQuery;
import org.apache.lucene.search.IndexSearcher;
import org.apache.lucene.search.Query;
import org.apache.lucene.search.ScoreDoc;
import org.apache.lucene.search.TermQuery;
import org.apache.lucene.search.TopDocs;
import org.apache.lucene.search.similarities.BM25Similarity;
import org.apache.lucene.store.ByteBuffersDirectory;

public class LuceneBM25 {
  static List<String> analyze(Analyzer a, String field, String text) throws Exception {
    List<String> out = new ArrayList<>();
    try (TokenStream ts = a.tokenStream(field, text)) {
      CharTermAttribute term = ts.addAttribute(CharTermAttribute.class);
      ts.reset();
      while (ts.incrementToken()) out.add(term.toString());
      ts.end();
    }
    return out;
  }

  static Query bool(Analyzer a, String field, String text) throws Exception {
    BooleanQuery.Builder b = new BooleanQuery.Builder();
    for (String t : analyze(a, field, text)) {
      b.add(new TermQuery(new Term(field, t)), BooleanClause.Occur.SHOULD);
    }
    return b.build();
  }

  public static void main(String[] args) throws Exception {
    if (args[0].equals("analyze")) {
      Analyzer a = new EnglishAnalyzer();
      StringBuilder out = new StringBuilder();
      for (String line : Files.readAllLines(Path.of(args[1]))) {
        out.append(String.join(" ", analyze(a, "f", line))).append('\n');
      }
      System.out.print(out);
      return;
    }
    Analyzer analyzer = args[1].equals("english") ? new EnglishAnalyzer() : new StandardAnalyzer();
    Path corpus = Path.of(args[2]);
    Path queries = Path.of(args[3]);
    float k1 = Float.parseFloat(args[4]);
    float b = Float.parseFloat(args[5]);
    String mode = args[6];
    float tie = Float.parseFloat(args[7]);
    int k = Integer.parseInt(args[8]);

    BM25Similarity sim = new BM25Similarity(k1, b);
    ByteBuffersDirectory dir = new ByteBuffersDirectory();
    IndexWriterConfig cfg = new IndexWriterConfig(analyzer);
    cfg.setSimilarity(sim);
    try (IndexWriter w = new IndexWriter(dir, cfg)) {
      for (String line : Files.readAllLines(corpus)) {
        String[] p = line.split("\t", -1);
        Document d = new Document();
        d.add(new StoredField("ord", Integer.parseInt(p[0])));
        d.add(new TextField("title", p[1], Field.Store.NO));
        d.add(new TextField("text", p[2], Field.Store.NO));
        d.add(new TextField("all", p[1] + " " + p[2], Field.Store.NO));
        w.addDocument(d);
      }
    }
    try (DirectoryReader r = DirectoryReader.open(dir)) {
      IndexSearcher s = new IndexSearcher(r);
      s.setSimilarity(sim);
      StringBuilder out = new StringBuilder();
      for (String line : Files.readAllLines(queries)) {
        String[] p = line.split("\t", -1);
        Query q;
        if (mode.equals("combined")) {
          q = bool(analyzer, "all", p[1]);
        } else {
          List<Query> per = new ArrayList<>();
          per.add(bool(analyzer, "title", p[1]));
          per.add(bool(analyzer, "text", p[1]));
          q = new DisjunctionMaxQuery(per, tie);
        }
        TopDocs top = s.search(q, k);
        for (ScoreDoc sd : top.scoreDocs) {
          int ord = s.storedFields().document(sd.doc).getField("ord").numericValue().intValue();
          out.append(p[0]).append('\t').append(ord).append('\t').append(sd.score).append('\n');
        }
      }
      System.out.print(out);
    }
  }
}
