package web_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"
)

// withFacets fills the facets of GET /v1/indexes/{name} from the test's own
// corpora while the server answers none (engine/serve's facets are still a
// TODO on the branch this test was written against); it steps aside as
// soon as the server has facets of its own.
// TODO(web): remove once the server computes facets.
func withFacets(t testing.TB, h http.Handler, corpora map[string]string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.URL.Path, "/v1/indexes/")
		if !ok || r.Method != http.MethodGet || strings.Contains(name, "/") || corpora[name] == "" {
			h.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		var detail map[string]any
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &detail) != nil {
			copyAnswer(w, rec)
			return
		}
		if f, _ := detail["facets"].(map[string]any); len(f) > 0 {
			copyAnswer(w, rec)
			return
		}
		detail["facets"] = facetsOf(readJSONL(t, corpora[name]))
		b, _ := json.Marshal(detail)
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	})
}

func copyAnswer(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

// facetsOf computes api.md's facets of records (the fields that are
// metadata: all but ids, title, text and readme).
func facetsOf(recs []map[string]any) map[string]any {
	type acc struct {
		docs           int
		counts         map[string]int
		nums, strs     int
		min, max       float64
		tmin, tmax     string
		times, objects int
	}
	fields := map[string]*acc{}
	for _, rec := range recs {
		for k, v := range rec {
			switch k {
			case "_id", "id", "title", "text", "readme", "modelId":
				continue
			}
			if v == nil {
				continue
			}
			a := fields[k]
			if a == nil {
				a = &acc{counts: map[string]int{}}
				fields[k] = a
			}
			a.docs++
			switch x := v.(type) {
			case float64:
				if a.nums == 0 || x < a.min {
					a.min = x
				}
				if a.nums == 0 || x > a.max {
					a.max = x
				}
				a.nums++
			case string:
				a.strs++
				a.counts[x]++
				if _, err := time.Parse(time.RFC3339, x); err == nil {
					if a.times == 0 || x < a.tmin {
						a.tmin = x
					}
					if a.times == 0 || x > a.tmax {
						a.tmax = x
					}
					a.times++
				}
			case bool:
				a.strs++
				if x {
					a.counts["true"]++
				} else {
					a.counts["false"]++
				}
			case []any:
				a.strs++
				for _, e := range x {
					if s, ok := e.(string); ok {
						a.counts[s]++
					}
				}
			default:
				a.objects++
			}
		}
	}
	out := map[string]any{}
	for k, a := range fields {
		f := map[string]any{"documents": a.docs}
		switch {
		case a.objects > 0:
			continue
		case a.nums == a.docs:
			f["type"], f["min"], f["max"], f["sortable"] = "number", a.min, a.max, true
		case a.times == a.docs:
			f["type"], f["min"], f["max"], f["sortable"] = "time", a.tmin, a.tmax, true
		case a.strs == a.docs:
			f["type"], f["sortable"] = "string", true
			var vals []map[string]any
			for v, n := range a.counts {
				vals = append(vals, map[string]any{"value": v, "count": n})
			}
			sort.Slice(vals, func(i, j int) bool {
				ci, cj := vals[i]["count"].(int), vals[j]["count"].(int)
				return ci > cj || ci == cj && vals[i]["value"].(string) < vals[j]["value"].(string)
			})
			if len(vals) > 50 {
				vals, f["truncated"] = vals[:50], true
			}
			f["values"] = vals
		default:
			continue
		}
		out[k] = f
	}
	return out
}
