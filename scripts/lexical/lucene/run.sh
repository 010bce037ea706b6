#!/usr/bin/env bash
# Cross-check engine/lexical against Lucene itself (the engine inside
# Elasticsearch): BM25 scores on pre-analyzed terms, the "english" analyzer
# term for term, and BEIR's Elasticsearch setup end to end from raw text
# (engine/lexical/lucene_test.go). Needs a JDK 17+ and Maven; fetches
# lucene-core and lucene-analysis-common from Maven Central into ~/.m2.
set -euo pipefail
LUCENE_VERSION=${LUCENE_VERSION:-9.12.1}
cd "$(dirname "$0")/../../.."
cp=""
for a in lucene-core lucene-analysis-common; do
  mvn -q dependency:get -Dartifact=org.apache.lucene:${a}:${LUCENE_VERSION}
  cp="${cp:+$cp:}${HOME}/.m2/repository/org/apache/lucene/${a}/${LUCENE_VERSION}/${a}-${LUCENE_VERSION}.jar"
done
QUARRY_LUCENE_CP="$cp" go test -count=1 -run 'TestLucene' -v ./engine/lexical/
