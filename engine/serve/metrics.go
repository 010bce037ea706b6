package serve

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus metrics, on a registry of its own
// (no global state: two servers in one process do not share counters).
// TEI's te_* names where TEI has the metric (docs/serve.md lists them).
type metrics struct {
	reg *prometheus.Registry

	reqCount    *prometheus.CounterVec   // te_request_count{route}
	reqSuccess  *prometheus.CounterVec   // te_request_success{route}
	reqFailure  *prometheus.CounterVec   // te_request_failure{route,err}
	reqDuration *prometheus.HistogramVec // te_request_duration{route}
	tokDuration *prometheus.HistogramVec // te_request_tokenization_duration{route}
	queDuration *prometheus.HistogramVec // te_request_queue_duration{route}
	infDuration *prometheus.HistogramVec // te_request_inference_duration{route}
	inputLength *prometheus.HistogramVec // te_request_input_length{route}

	batchCount    *prometheus.CounterVec   // te_batch_inference_count{model}
	batchSuccess  *prometheus.CounterVec   // te_batch_inference_success{model}
	batchDuration *prometheus.HistogramVec // te_batch_inference_duration{model}
	batchSize     *prometheus.HistogramVec // te_batch_inference_size{model}
	batchTokens   *prometheus.HistogramVec // te_batch_inference_tokens{model}
	batchRequests *prometheus.HistogramVec // quarry_batch_requests{model}

	httpRequests *prometheus.CounterVec // quarry_http_requests_total{route,code}
	inflight     prometheus.Gauge       // quarry_http_inflight_requests
	rejected     *prometheus.CounterVec // quarry_http_rejected_total{reason}
	truncated    *prometheus.CounterVec // quarry_truncated_inputs_total{route}

	searchDuration  *prometheus.HistogramVec // quarry_search_duration_seconds{index,mode}
	searchEncode    *prometheus.HistogramVec // quarry_search_encode_duration_seconds{index,mode}
	searchRetrieve  *prometheus.HistogramVec // quarry_search_retrieve_duration_seconds{index,mode}
	searchResults   *prometheus.HistogramVec // quarry_search_results{index,mode}
	writeDocuments  *prometheus.CounterVec   // quarry_index_documents_written_total{index,op}
	indexGeneration *prometheus.GaugeVec     // quarry_index_generation{index}
}

// queueCollector reports each model's queue at scrape time.
type queueCollector struct {
	s                 *Server
	size, next, tokns *prometheus.Desc
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.size
	ch <- c.next
	ch <- c.tokns
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.s.models {
		jobs, inputs, tokens := m.b.queueStats()
		ch <- prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(jobs), m.name)
		ch <- prometheus.MustNewConstMetric(c.next, prometheus.GaugeValue, float64(inputs), m.name)
		ch <- prometheus.MustNewConstMetric(c.tokns, prometheus.GaugeValue, float64(tokens), m.name)
	}
}

// durations are the buckets of latency histograms, in seconds (100 µs to 60 s).
var durations = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// sizes are the buckets of count histograms.
var sizes = []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768}

func newMetrics(s *Server) *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{reg: reg}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		reg.MustRegister(c)
		return c
	}
	hist := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
		reg.MustRegister(h)
		return h
	}
	m.reqCount = counter("te_request_count", "Inference requests received.", "route")
	m.reqSuccess = counter("te_request_success", "Inference requests answered with 2xx.", "route")
	m.reqFailure = counter("te_request_failure", "Inference requests that failed, by error type.", "route", "err")
	m.reqDuration = hist("te_request_duration", "Request duration (seconds).", durations, "route")
	m.tokDuration = hist("te_request_tokenization_duration", "Tokenization time of a request (seconds).", durations, "route")
	m.queDuration = hist("te_request_queue_duration", "Time a request waited in the batch queue (seconds).", durations, "route")
	m.infDuration = hist("te_request_inference_duration", "Encoder time of the batches a request was in (seconds).", durations, "route")
	m.inputLength = hist("te_request_input_length", "Tokens of each input, after truncation.", sizes, "route")
	m.batchCount = counter("te_batch_inference_count", "Encoder calls (batches).", "model")
	m.batchSuccess = counter("te_batch_inference_success", "Encoder calls that succeeded.", "model")
	m.batchDuration = hist("te_batch_inference_duration", "Encoder call duration (seconds).", durations, "model")
	m.batchSize = hist("te_batch_inference_size", "Inputs per encoder call.", sizes, "model")
	m.batchTokens = hist("te_batch_inference_tokens", "Tokens per encoder call.", sizes, "model")
	m.batchRequests = hist("quarry_batch_requests", "Requests merged into one encoder call.", sizes, "model")
	m.httpRequests = counter("quarry_http_requests_total", "HTTP requests by route and status.", "route", "code")
	m.inflight = prometheus.NewGauge(prometheus.GaugeOpts{Name: "quarry_http_inflight_requests", Help: "Requests holding a concurrency permit."})
	reg.MustRegister(m.inflight)
	m.rejected = counter("quarry_http_rejected_total", "Requests rejected before running, by reason (overloaded, auth, payload, batch).", "reason")
	m.truncated = counter("quarry_truncated_inputs_total", "Inputs truncated to the model's window (--auto-truncate).", "route")
	m.searchDuration = hist("quarry_search_duration_seconds", "Index search time (seconds).", durations, "index", "mode")
	m.searchEncode = hist("quarry_search_encode_duration_seconds", "Query encoding part of a search (seconds).", durations, "index", "mode")
	m.searchRetrieve = hist("quarry_search_retrieve_duration_seconds", "Retrieval part of a search (seconds).", durations, "index", "mode")
	m.searchResults = hist("quarry_search_results", "Results returned per search.", sizes, "index", "mode")
	m.writeDocuments = counter("quarry_index_documents_written_total", "Documents committed or deleted through the HTTP API.", "index", "op")
	m.indexGeneration = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "quarry_index_generation", Help: "Generation of each index's current snapshot."}, []string{"index"})
	reg.MustRegister(m.indexGeneration)
	reg.MustRegister(&queueCollector{s: s,
		size:  prometheus.NewDesc("te_queue_size", "Requests waiting in the model's batch queue.", []string{"model"}, nil),
		next:  prometheus.NewDesc("te_batch_next_size", "Inputs queued for the model's next batches.", []string{"model"}, nil),
		tokns: prometheus.NewDesc("te_batch_next_tokens", "Tokens queued for the model's next batches.", []string{"model"}, nil),
	})
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// handler serves the registry in Prometheus' text format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// onBatch records one encoder call of model.
func (m *metrics) onBatch(model string) func(BatchStats) {
	count, success := m.batchCount.WithLabelValues(model), m.batchSuccess.WithLabelValues(model)
	dur, size, tokens, reqs := m.batchDuration.WithLabelValues(model), m.batchSize.WithLabelValues(model),
		m.batchTokens.WithLabelValues(model), m.batchRequests.WithLabelValues(model)
	return func(st BatchStats) {
		count.Inc()
		if st.Err == nil {
			success.Inc()
		}
		dur.Observe(st.Duration.Seconds())
		size.Observe(float64(st.Inputs))
		tokens.Observe(float64(st.Tokens))
		reqs.Observe(float64(st.Requests))
	}
}

// observe records one finished HTTP request.
func (m *metrics) observe(route string, status int, inference bool, d time.Duration, errType string) {
	m.httpRequests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	if !inference {
		return
	}
	m.reqCount.WithLabelValues(route).Inc()
	m.reqDuration.WithLabelValues(route).Observe(d.Seconds())
	if status < 300 {
		m.reqSuccess.WithLabelValues(route).Inc()
	} else {
		m.reqFailure.WithLabelValues(route, errType).Inc()
	}
}

// observeTiming records where an inference request spent its time.
func (m *metrics) observeTiming(route string, t Timing, lengths []int) {
	m.tokDuration.WithLabelValues(route).Observe(t.Tokenize.Seconds())
	m.queDuration.WithLabelValues(route).Observe(t.Queue.Seconds())
	m.infDuration.WithLabelValues(route).Observe(t.Inference.Seconds())
	h := m.inputLength.WithLabelValues(route)
	for _, n := range lengths {
		h.Observe(float64(n))
	}
}
