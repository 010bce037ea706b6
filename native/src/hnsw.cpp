// HNSW: approximate top-k over the rows of a quarry_vectors (Malkov and
// Yashunin's hierarchical navigable small-world graph, with the neighbour
// selection heuristic of hnswlib; written here, not copied).
//
// - The graph holds only levels and neighbour lists; the vectors are the
//   caller's, passed at build and again at search (possibly another copy of
//   the same rows: f16 or int8 for traversal). Similarity is the dot product,
//   computed with topk.cpp's kernels (vecdot.h), so a row scores the same here
//   as in the exact scan.
// - Levels: floor(-ln(U)·mL), mL = 1/ln(m), U drawn per row from the seed and
//   the row number alone, so they do not depend on threads or order.
// - Layer 0 keeps up to 2m neighbours per node, upper layers m. A new node
//   gets up to m neighbours chosen by the heuristic (a candidate is kept only
//   if it is closer to the new node than to every neighbour kept before it);
//   a neighbour whose list overflows is pruned by the same heuristic.
// - Insertion is multi-threaded with striped locks over the nodes' lists (a
//   thread holds one at a time, so there is no lock order to get wrong). One
//   thread inserts in row order: the graph is a function of (rows, params).
// - Search descends greedily through the upper layers, then runs an ef-wide
//   beam on layer 0. Disallowed rows are traversed (stepping stones) but never
//   enter the result set; with groups, the result set keeps one row per group
//   (its best), and the beam does not stop before it holds ef groups. Where
//   the exact scan of the allowed rows costs less (few rows, or a selective
//   filter: use_exact()) the search is that scan, quarry_topk.
#include "internal.h"
#include "vecdot.h"

#include <atomic>
#include <cstring>
#include <functional>
#include <queue>
#include <thread>
#include <unordered_map>

namespace quarry {
namespace {

constexpr int kMaxLevel = 31;  // levels are clamped (P(level > 31) < 1e-9 per node at m = 2)
constexpr int kMaxM = 128;
constexpr int kMaxEf = 100000;
constexpr uint32_t kVersion = 1;
constexpr char kMagic[8] = {'q', 'u', 'a', 'r', 'H', 'N', 'S', 'W'};
constexpr size_t kHeaderBytes = 72;

// Cost of a graph search, in rows of the exact scan, per slot of its beam,
// and of the exact scan's skipping a disallowed row (see use_exact()).
constexpr double kGraphWork = 64;
constexpr double kSkipWork = 0.1;

uint64_t splitmix64(uint64_t z) {
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

// ---- CRC-32C (Castagnoli, reflected 0x82F63B78), as Go's crc32.Castagnoli ----
struct Crc32cTable {
    uint32_t t[8][256];
    Crc32cTable() {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
            t[0][i] = c;
        }
        for (uint32_t i = 0; i < 256; i++)
            for (int s = 1; s < 8; s++) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
    }
};

uint32_t crc32c(const uint8_t *p, size_t n) {
    static const Crc32cTable T;
    uint32_t c = 0xFFFFFFFFu;
    // slicing by 8
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= c;
        c = T.t[7][w & 0xff] ^ T.t[6][(w >> 8) & 0xff] ^ T.t[5][(w >> 16) & 0xff] ^ T.t[4][(w >> 24) & 0xff] ^
            T.t[3][(w >> 32) & 0xff] ^ T.t[2][(w >> 40) & 0xff] ^ T.t[1][(w >> 48) & 0xff] ^ T.t[0][w >> 56];
        p += 8;
        n -= 8;
    }
    while (n--) c = (c >> 8) ^ T.t[0][(c ^ *p++) & 0xff];
    return ~c;
}

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the HNSW file format is written as little-endian memory");

// Per-thread visited marks: a tag per node, reset in O(1) by a new epoch.
struct Visited {
    std::vector<uint32_t> tag;
    uint32_t epoch = 0;
    void reset(size_t n) {
        if (tag.size() != n) {
            tag.assign(n, 0);
            epoch = 0;
        }
        if (++epoch == 0) {
            std::fill(tag.begin(), tag.end(), 0);
            epoch = 1;
        }
    }
    // Marks i; true when it was marked already.
    bool test_set(uint32_t i) {
        if (tag[i] == epoch) return true;
        tag[i] = epoch;
        return false;
    }
};

// The rows being traversed.
struct Rows {
    const char *data = nullptr;
    const float *scales = nullptr;
    int64_t rb = 0;
    int32_t dtype = 0, dim = 0;
    bool simd = false;
    explicit Rows(const quarry_vectors *x)
        : data((const char *)x->data), scales(x->scales), rb(quarry_vec_row_bytes(x->dtype, x->dim)), dtype(x->dtype),
          dim(x->dim) {
#ifdef QUARRY_TOPK_AVX2
        simd = dtype == QUARRY_VEC_I8 ? dim % 32 == 0 : dim % 8 == 0;
#endif
    }
    const char *row(uint32_t i) const { return data + (int64_t)i * rb; }
};

// A query prepared for the rows' type: floats for f32/f16 rows, int8 and a
// scale for int8 rows (as quarry_topk prepares it, or a stored row as is).
struct Query {
    std::vector<float> f;
    std::vector<int8_t> q8;
    const float *fp = nullptr;
    const int8_t *q8p = nullptr;
    float qs = 1;

    // From a caller's float query.
    void from_floats(const Rows &R, const float *q) {
        if (R.dtype == QUARRY_VEC_I8) {
            q8.assign(R.dim, 0);
            qs = quantize_query_i8(q, R.dim, q8.data());
            q8p = q8.data();
        } else {
            fp = q;
        }
    }
    // From stored row r (building: row-to-row similarity).
    void from_row(const Rows &R, uint32_t r) {
        const char *p = R.row(r);
        switch (R.dtype) {
            case QUARRY_VEC_F32: fp = (const float *)p; break;
            case QUARRY_VEC_F16: {
                f.resize(R.dim);
                const uint16_t *h = (const uint16_t *)p;
                for (int32_t j = 0; j < R.dim; j++) f[j] = f16_to_f32(h[j]);
                fp = f.data();
                break;
            }
            case QUARRY_VEC_I8:
                q8p = (const int8_t *)p;
                qs = R.scales[r];
                break;
        }
    }
};

// out[i] = similarity of q and row ids[i], i < n.
void score(const Rows &R, const Query &Q, const uint32_t *ids, int n, float *out) {
#ifdef QUARRY_TOPK_AVX2
    if (R.simd) {
        const char *ptr[8];
        for (int i = 0; i < n; i += 8) {
            const int c = std::min(8, n - i);
            for (int b = 0; b < 8; b++) ptr[b] = R.row(ids[i + std::min(b, c - 1)]);
            if (R.dtype == QUARRY_VEC_I8) {
                int32_t v[8];
                i8_tile<1, 8>(&Q.q8p, ptr, R.dim, v, 8);
                for (int b = 0; b < c; b++) out[i + b] = (float)v[b] * Q.qs * R.scales[ids[i + b]];
            } else {
                float s[8];
                if (R.dtype == QUARRY_VEC_F16)
                    float_tile<true, 1, 8>(&Q.fp, ptr, R.dim, s, 8);
                else
                    float_tile<false, 1, 8>(&Q.fp, ptr, R.dim, s, 8);
                for (int b = 0; b < c; b++) out[i + b] = s[b];
            }
        }
        return;
    }
#endif
    const int64_t d = R.dim;
    for (int i = 0; i < n; i++) {
        const char *row = R.row(ids[i]);
        switch (R.dtype) {
            case QUARRY_VEC_F32: {
                const float *b = (const float *)row;
                float s = 0;
                for (int64_t j = 0; j < d; j++) s += Q.fp[j] * b[j];
                out[i] = s;
                break;
            }
            case QUARRY_VEC_F16: {
                const uint16_t *b = (const uint16_t *)row;
                float s = 0;
                for (int64_t j = 0; j < d; j++) s += Q.fp[j] * f16_to_f32(b[j]);
                out[i] = s;
                break;
            }
            case QUARRY_VEC_I8: {
                const int8_t *b = (const int8_t *)row;
                int32_t s = 0;
                for (int64_t j = 0; j < d; j++) s += (int32_t)Q.q8p[j] * b[j];
                out[i] = (float)s * Q.qs * R.scales[ids[i]];
                break;
            }
        }
    }
}

float score1(const Rows &R, const Query &Q, uint32_t id) {
    float s;
    score(R, Q, &id, 1, &s);
    return s;
}

using Cand = std::pair<float, uint32_t>;  // (similarity, node)
using MaxHeap = std::priority_queue<Cand>;
using MinHeap = std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>>;

void check_vectors(const quarry_vectors *x, const char *what) {
    if (!x) fail(QUARRY_ERR_ARG, "%s: vectors are NULL", what);
    if (x->dim <= 0 || x->n < 0) fail(QUARRY_ERR_ARG, "%s: invalid shape %lld x %d", what, (long long)x->n, x->dim);
    if (x->dtype != QUARRY_VEC_F32 && x->dtype != QUARRY_VEC_F16 && x->dtype != QUARRY_VEC_I8)
        fail(QUARRY_ERR_ARG, "%s: vector type %d is not supported (f32, f16 or int8)", what, x->dtype);
    if (x->n > 0 && !x->data) fail(QUARRY_ERR_ARG, "%s: vector data is NULL", what);
    if (x->dtype == QUARRY_VEC_I8 && x->n > 0 && !x->scales) fail(QUARRY_ERR_ARG, "%s: int8 vectors need scales", what);
}

}  // namespace
}  // namespace quarry

using namespace quarry;

struct quarry_hnsw {
    int64_t n = 0;
    int32_t dim = 0, m = 16, m0 = 32, efc = 200;
    int32_t max_level = -1;
    int64_t entry = -1;
    uint64_t seed = 0;
    std::vector<uint8_t> level;    // per node
    std::vector<uint32_t> l0;      // n lists of 1 + m0: count, then ids (unused slots 0)
    std::vector<uint32_t> up_off;  // per node: its first upper list (layers 1..level follow)
    std::vector<uint32_t> up;      // upper lists of 1 + m, node by node, layer by layer

    // Scratch for searches (a graph may be searched from several threads).
    mutable std::mutex pool_mu;
    mutable std::vector<std::unique_ptr<Visited>> pool;

    uint32_t *links(uint32_t i, int lc) {
        if (lc == 0) return l0.data() + (size_t)i * (1 + m0);
        return up.data() + ((size_t)up_off[i] + (lc - 1)) * (1 + m);
    }
    const uint32_t *links(uint32_t i, int lc) const { return const_cast<quarry_hnsw *>(this)->links(i, lc); }
    int cap(int lc) const { return lc == 0 ? m0 : m; }

    // Sets up levels, offsets and empty lists for n nodes.
    void layout() {
        up_off.assign(n, 0);
        uint64_t tot = 0;
        for (int64_t i = 0; i < n; i++) {
            up_off[i] = (uint32_t)tot;
            tot += level[i];
            if (tot > 0xFFFFFFFFull) fail(QUARRY_ERR_ARG, "too many upper-layer lists");
        }
        l0.assign((size_t)n * (1 + m0), 0);
        up.assign((size_t)tot * (1 + m), 0);
    }

    std::unique_ptr<Visited> take_visited() const {
        {
            std::lock_guard<std::mutex> l(pool_mu);
            if (!pool.empty()) {
                auto v = std::move(pool.back());
                pool.pop_back();
                return v;
            }
        }
        return std::unique_ptr<Visited>(new Visited());
    }
    void give_visited(std::unique_ptr<Visited> v) const {
        std::lock_guard<std::mutex> l(pool_mu);
        if (pool.size() < 64) pool.push_back(std::move(v));
    }
};

namespace quarry {
namespace {

// One thread's state while building.
struct Builder {
    quarry_hnsw *h;
    const Rows &R;
    std::vector<std::mutex> &locks;
    std::mutex &top_mu;
    Visited vis;
    Query q, qc;
    std::vector<uint32_t> ids;
    std::vector<float> sc;
    std::vector<Cand> kept, pool;

    std::mutex &lock_of(uint32_t i) { return locks[i & (locks.size() - 1)]; }

    // Copies node i's list at layer lc into ids (under its lock).
    void copy_links(uint32_t i, int lc, std::vector<uint32_t> &out) {
        std::lock_guard<std::mutex> l(lock_of(i));
        const uint32_t *p = h->links(i, lc);
        out.assign(p + 1, p + 1 + p[0]);
    }

    // Beam search of width ef on layer lc from eps; returns the ef best,
    // best first.
    std::vector<Cand> search_layer(const Query &Q, const std::vector<Cand> &eps, int ef, int lc) {
        vis.reset(h->n);
        MaxHeap cand;
        MinHeap W;
        for (const Cand &e : eps) {
            if (vis.test_set(e.second)) continue;
            cand.push(e);
            W.push(e);
            if ((int)W.size() > ef) W.pop();
        }
        std::vector<uint32_t> nb, fresh;
        while (!cand.empty()) {
            const Cand c = cand.top();
            if ((int)W.size() >= ef && c.first < W.top().first) break;
            cand.pop();
            copy_links(c.second, lc, nb);
            fresh.clear();
            for (uint32_t j : nb) __builtin_prefetch(&vis.tag[j]);
            for (uint32_t j : nb)
                if (!vis.test_set(j)) {
                    __builtin_prefetch(R.row(j));  // as in search_one
                    __builtin_prefetch(R.row(j) + 64);
                    fresh.push_back(j);
                }
            if (fresh.empty()) continue;
            sc.resize(fresh.size());
            score(R, Q, fresh.data(), (int)fresh.size(), sc.data());
            for (size_t t = 0; t < fresh.size(); t++) {
                if ((int)W.size() < ef || sc[t] > W.top().first) {
                    cand.push({sc[t], fresh[t]});
                    W.push({sc[t], fresh[t]});
                    if ((int)W.size() > ef) W.pop();
                }
            }
        }
        std::vector<Cand> out;
        out.reserve(W.size());
        while (!W.empty()) {
            out.push_back(W.top());
            W.pop();
        }
        std::reverse(out.begin(), out.end());
        return out;
    }

    // The heuristic: from candidates sorted best first (similarity to the
    // base node), keeps up to mmax, each only if it is more similar to the
    // base than to every candidate kept before it.
    void select(const std::vector<Cand> &cands, int mmax, std::vector<Cand> &out) {
        out.clear();
        for (const Cand &c : cands) {
            if ((int)out.size() >= mmax) break;
            bool good = true;
            if (!out.empty()) {
                qc.from_row(R, c.second);
                ids.resize(out.size());
                for (size_t t = 0; t < out.size(); t++) ids[t] = out[t].second;
                sc.resize(out.size());
                score(R, qc, ids.data(), (int)ids.size(), sc.data());
                for (size_t t = 0; t < out.size(); t++)
                    if (sc[t] > c.first) {
                        good = false;
                        break;
                    }
            }
            if (good) out.push_back(c);
        }
    }

    // Writes list (ids) of node i at layer lc; the caller holds its lock.
    void write(uint32_t i, int lc, const std::vector<Cand> &list) {
        uint32_t *p = h->links(i, lc);
        const int cap = h->cap(lc);
        const int c = std::min<int>(cap, (int)list.size());
        p[0] = (uint32_t)c;
        for (int t = 0; t < c; t++) p[1 + t] = list[t].second;
        for (int t = c; t < cap; t++) p[1 + t] = 0;
    }

    // Adds q to e's list at layer lc, pruning it with the heuristic when full.
    void link_back(uint32_t e, uint32_t qn, int lc) {
        std::lock_guard<std::mutex> l(lock_of(e));
        uint32_t *p = h->links(e, lc);
        const int cap = h->cap(lc);
        for (uint32_t t = 0; t < p[0]; t++)
            if (p[1 + t] == qn) return;
        if ((int)p[0] < cap) {
            p[1 + p[0]] = qn;
            p[0]++;
            return;
        }
        qc.from_row(R, e);
        ids.assign(p + 1, p + 1 + p[0]);
        ids.push_back(qn);
        sc.resize(ids.size());
        score(R, qc, ids.data(), (int)ids.size(), sc.data());
        pool.clear();
        for (size_t t = 0; t < ids.size(); t++) pool.push_back({sc[t], ids[t]});
        std::sort(pool.begin(), pool.end(), [](const Cand &a, const Cand &b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
        std::vector<Cand> chosen;
        select(pool, cap, chosen);
        write(e, lc, chosen);
    }

    void insert(uint32_t qn) {
        const int L = h->level[qn];
        int64_t ep;
        int top;
        {
            std::lock_guard<std::mutex> l(top_mu);
            if (h->entry < 0) {
                h->entry = qn;
                h->max_level = L;
                return;
            }
            ep = h->entry;
            top = h->max_level;
        }
        q.from_row(R, qn);
        uint32_t cur = (uint32_t)ep;
        float cur_s = score1(R, q, cur);
        std::vector<uint32_t> nb;
        for (int lc = top; lc > L; lc--) {
            for (bool changed = true; changed;) {
                changed = false;
                copy_links(cur, lc, nb);
                if (nb.empty()) break;
                sc.resize(nb.size());
                score(R, q, nb.data(), (int)nb.size(), sc.data());
                for (size_t t = 0; t < nb.size(); t++)
                    if (sc[t] > cur_s) {
                        cur_s = sc[t];
                        cur = nb[t];
                        changed = true;
                    }
            }
        }
        std::vector<Cand> eps{{cur_s, cur}}, chosen;
        for (int lc = std::min(L, top); lc >= 0; lc--) {
            std::vector<Cand> W = search_layer(q, eps, h->efc, lc);
            select(W, h->m, chosen);
            {
                // Another thread may have linked itself to qn already (it
                // reached qn through a higher layer): keep those links too.
                std::lock_guard<std::mutex> l(lock_of(qn));
                uint32_t *p = h->links(qn, lc);
                std::vector<Cand> list = chosen;
                for (uint32_t t = 0; t < p[0]; t++) {
                    bool dup = false;
                    for (const Cand &c : list) dup |= c.second == p[1 + t];
                    if (!dup) list.push_back({0, p[1 + t]});
                }
                write(qn, lc, list);
            }
            for (const Cand &c : chosen) link_back(c.second, qn, lc);
            eps = std::move(W);
        }
        if (L > top) {
            std::lock_guard<std::mutex> l(top_mu);
            if (L > h->max_level) {
                h->max_level = L;
                h->entry = qn;
            }
        }
    }
};

// Runs fn(t) on n threads (t = 0 on the caller's), rethrowing the first error.
void run_threads(int n, const std::function<void(int)> &fn) {
    if (n <= 1) return fn(0);
    std::vector<std::thread> th;
    std::exception_ptr eptr;
    std::mutex emu;
    auto guarded = [&](int t) {
        try {
            fn(t);
        } catch (...) {
            std::lock_guard<std::mutex> l(emu);
            if (!eptr) eptr = std::current_exception();
        }
    };
    for (int t = 1; t < n; t++) th.emplace_back(guarded, t);
    guarded(0);
    for (auto &t : th) t.join();
    if (eptr) std::rethrow_exception(eptr);
}

int threads_or_cores(int32_t n) { return n > 0 ? n : (int)std::max(1u, std::thread::hardware_concurrency()); }

// Fraction of rows the filter allows: exact from the bitset when rows are
// their own groups, else from a fixed pseudo-random sample of 4096 rows.
double allowed_fraction(const quarry_vectors *x) {
    if (!x->allow || x->n == 0) return 1;
    if (!x->groups) {
        const int64_t bits = std::min<int64_t>(x->n, std::max<int64_t>(0, x->n_allow_bits));
        int64_t cnt = 0, w = 0;
        for (; (w + 1) * 64 <= bits; w++) cnt += __builtin_popcountll(x->allow[w]);
        if (w * 64 < bits) cnt += __builtin_popcountll(x->allow[w] & ((1ULL << (bits - w * 64)) - 1));
        return (double)cnt / (double)x->n;
    }
    const int64_t S = 4096;
    int64_t cnt = 0, tot = 0;
    if (x->n <= S) {
        for (int64_t r = 0; r < x->n; r++) cnt += allowed(x, x->groups[r]);
        tot = x->n;
    } else {
        for (int64_t i = 0; i < S; i++) cnt += allowed(x, x->groups[splitmix64((uint64_t)i) % (uint64_t)x->n]);
        tot = S;
    }
    return (double)cnt / (double)tot;
}

// Whether a search is cheaper as the exact scan of the allowed rows.
//
// The exact scan scores the allowed rows, fraction f of n, and steps over
// the others: f·n + S·(1−f)·n rows' worth. A filtered beam keeps expanding
// until it holds ef allowed groups, so it scores about W·ef/f rows, W per
// beam slot (neighbour lists of 2·M plus the upper layers, at the random
// access that costs a graph more per row than the scan). Measured with
// `quarry bench ann` (384-dim f16, 1 thread, 2 cores; docs/ann.md):
// unfiltered, 4,096 clustered rows at ef 128: graph 5.5k QPS, scan 7.3k
// (W ≈ 42); 62,697 real embeddings: scan 509 QPS (31 ns a row), graph at
// ef 128 3.7k QPS (W ≈ 68). 100k clustered rows with 10 % allowed: the scan
// 1.3k QPS (S ≈ 0.16), the graph forced at ef 16 3.2k QPS at recall 0.990
// (W ≈ 62); with 1 % allowed the scan runs 4.4k QPS (S ≈ 0.06). W = 64 and
// S = 0.1 put the switch where both cost about the same, and the scan is
// exact, so near the crossover it errs on the right side. The environment
// variable QUARRY_HNSW_GRAPH_WORK overrides W (0: always the graph; tests
// that must exercise the graph on small data set it).
bool use_exact(const quarry_vectors *x, int32_t ef) {
    double w = kGraphWork;
    if (const char *e = getenv("QUARRY_HNSW_GRAPH_WORK")) {
        char *end = nullptr;
        const double v = strtod(e, &end);
        if (end != e && v >= 0) w = v;
    }
    if (w == 0) return false;
    const double f = allowed_fraction(x);
    if (f <= 0) return true;
    const double n = (double)x->n;
    return f * n + kSkipWork * (1 - f) * n < w * (double)ef / f;
}

// Result set of one query's layer-0 beam: allowed rows only, one per group
// (its best row), at most ef groups. Stale heap entries (a group's earlier,
// worse row) are skipped lazily.
struct Results {
    const quarry_vectors *x;
    int ef;
    bool grouped;
    // Worst on top: lower score, then larger group, then larger row.
    struct E {
        float s;
        int64_t g;
        uint32_t r;
    };
    struct Worse {
        bool operator()(const E &a, const E &b) const {
            // true when a ranks above b in the heap order (a is better)
            return a.s > b.s || (a.s == b.s && (a.g < b.g || (a.g == b.g && a.r < b.r)));
        }
    };
    std::priority_queue<E, std::vector<E>, Worse> heap;
    std::unordered_map<int64_t, std::pair<float, uint32_t>> best;  // group -> its row in the set
    int live = 0;

    void clear() {
        heap = decltype(heap)();
        best.clear();
        live = 0;
    }
    bool full() const { return live >= ef; }
    float worst() const { return heap.top().s; }
    bool is_live(const E &e) const {
        if (!grouped) return true;
        auto it = best.find(e.g);
        return it != best.end() && it->second.second == e.r;
    }
    void pop_stale() {
        while (!heap.empty() && !is_live(heap.top())) heap.pop();
    }
    void add(float s, uint32_t r) {
        const int64_t g = group_of(x, r);
        if (!allowed(x, g)) return;
        if (grouped) {
            auto it = best.find(g);
            if (it != best.end()) {
                if (it->second.first > s || (it->second.first == s && it->second.second < r)) return;
                it->second = {s, r};
            } else {
                best.emplace(g, std::make_pair(s, r));
                live++;
            }
        } else {
            live++;
        }
        heap.push({s, g, r});
        pop_stale();
        while (live > ef) {
            const E w = heap.top();
            heap.pop();
            if (grouped) best.erase(w.g);
            live--;
            pop_stale();
        }
    }
    // The live entries, best first (ties: smaller group).
    void sorted(std::vector<E> &out) {
        out.clear();
        while (!heap.empty()) {
            const E e = heap.top();
            heap.pop();
            if (is_live(e)) out.push_back(e);
        }
        std::reverse(out.begin(), out.end());
        std::stable_sort(out.begin(), out.end(), [](const E &a, const E &b) { return a.s > b.s || (a.s == b.s && a.g < b.g); });
    }
};

// Searches one query; writes k outputs.
void search_one(const quarry_hnsw *h, const Rows &R, const quarry_vectors *x, const float *query, int k, int ef,
                Visited &vis, Query &Q, Results &res, std::vector<uint32_t> &fresh, std::vector<float> &sc,
                std::vector<Results::E> &out, float *scores, int64_t *rows, int64_t *groups) {
    int n_out = 0;
    if (h->n > 0) {
        Q.from_floats(R, query);
        uint32_t cur = (uint32_t)h->entry;
        float cur_s = score1(R, Q, cur);
        for (int lc = h->max_level; lc >= 1; lc--) {
            for (bool changed = true; changed;) {
                changed = false;
                const uint32_t *p = h->links(cur, lc);
                const int c = (int)p[0];
                if (c == 0) break;
                sc.resize(c);
                score(R, Q, p + 1, c, sc.data());
                const uint32_t from = cur;
                for (int t = 0; t < c; t++)
                    if (sc[t] > cur_s) {
                        cur_s = sc[t];
                        cur = h->links(from, lc)[1 + t];
                        changed = true;
                    }
            }
        }
        vis.reset(h->n);
        res.clear();
        MaxHeap cand;
        vis.test_set(cur);
        cand.push({cur_s, cur});
        res.add(cur_s, cur);
        while (!cand.empty()) {
            const Cand c = cand.top();
            if (res.full() && c.first < res.worst()) break;
            cand.pop();
            const uint32_t *p = h->links(c.second, 0);
            // The next candidate's list is likely read next: start fetching it.
            if (!cand.empty()) __builtin_prefetch(h->links(cand.top().second, 0));
            fresh.clear();
            for (uint32_t t = 0; t < p[0]; t++) __builtin_prefetch(&vis.tag[p[1 + t]]);
            for (uint32_t t = 0; t < p[0]; t++) {
                const uint32_t j = p[1 + t];
                if (!vis.test_set(j)) {
                    // Random rows: fetch their first lines before the tile kernel reads them.
                    const char *row = R.row(j);
                    __builtin_prefetch(row);
                    __builtin_prefetch(row + 64);
                    fresh.push_back(j);
                }
            }
            if (fresh.empty()) continue;
            sc.resize(fresh.size());
            score(R, Q, fresh.data(), (int)fresh.size(), sc.data());
            for (size_t t = 0; t < fresh.size(); t++) {
                if (!res.full() || sc[t] > res.worst()) {
                    cand.push({sc[t], fresh[t]});
                    res.add(sc[t], fresh[t]);
                }
            }
        }
        res.sorted(out);
        n_out = std::min<int>(k, (int)out.size());
        for (int j = 0; j < n_out; j++) {
            scores[j] = out[j].s;
            rows[j] = out[j].r;
            if (groups) groups[j] = out[j].g;
        }
    }
    for (int j = n_out; j < k; j++) {
        scores[j] = -INFINITY;
        rows[j] = -1;
        if (groups) groups[j] = -1;
    }
}

// Little-endian writer / reader of the file format.
struct Writer {
    uint8_t *p;
    void bytes(const void *s, size_t n) {
        memcpy(p, s, n);
        p += n;
    }
    void u32(uint32_t v) { bytes(&v, 4); }
    void u64(uint64_t v) { bytes(&v, 8); }
};

struct Reader {
    const uint8_t *p;
    uint32_t u32() {
        uint32_t v;
        memcpy(&v, p, 4);
        p += 4;
        return v;
    }
    uint64_t u64() {
        uint64_t v;
        memcpy(&v, p, 8);
        p += 8;
        return v;
    }
};

inline int64_t pad4(int64_t n) { return (n + 3) / 4 * 4; }

// Serialized size from header fields, or -1 when they cannot describe a file.
int64_t file_size(uint64_t n, uint32_t m0, uint32_t m, uint64_t n_upper) {
    if (n >= 0xFFFFFFFFull || m > (uint32_t)kMaxM || m0 != 2 * m || n_upper > n * (uint64_t)kMaxLevel) return -1;
    return (int64_t)kHeaderBytes + pad4((int64_t)n) + (int64_t)n * (1 + m0) * 4 + (int64_t)n_upper * (1 + m) * 4 + 4;
}

int64_t n_upper_lists(const quarry_hnsw *h) { return (int64_t)(h->up.size() / (1 + h->m)); }

}  // namespace
}  // namespace quarry

extern "C" int quarry_hnsw_build(const quarry_vectors *x, const quarry_hnsw_params *params, quarry_hnsw **out, char *err,
                                 size_t err_len) {
    return guarded(err, err_len, [&]() -> int {
        if (!out) fail(QUARRY_ERR_ARG, "hnsw build: out is NULL");
        *out = nullptr;
        check_vectors(x, "hnsw build");
        if (x->n >= 0xFFFFFFFFll) fail(QUARRY_ERR_ARG, "hnsw build: %lld rows (at most 2^32 - 2)", (long long)x->n);
        quarry_hnsw_params p{};
        if (params) p = *params;
        if (p.m == 0) p.m = 16;
        if (p.ef_construction == 0) p.ef_construction = 200;
        if (p.m < 2 || p.m > kMaxM) fail(QUARRY_ERR_ARG, "hnsw build: m %d is outside [2, %d]", p.m, kMaxM);
        if (p.ef_construction < 0 || p.ef_construction > kMaxEf)
            fail(QUARRY_ERR_ARG, "hnsw build: ef_construction %d is outside [1, %d]", p.ef_construction, kMaxEf);
        if (p.n_threads < 0) fail(QUARRY_ERR_ARG, "hnsw build: n_threads %d", p.n_threads);

        std::unique_ptr<quarry_hnsw> h(new quarry_hnsw());
        h->n = x->n;
        h->dim = x->dim;
        h->m = p.m;
        h->m0 = 2 * p.m;
        h->efc = std::max(p.ef_construction, p.m);
        h->seed = p.seed;
        const double ml = 1.0 / std::log((double)p.m);
        h->level.resize(h->n);
        for (int64_t i = 0; i < h->n; i++) {
            const uint64_t z = splitmix64(p.seed ^ splitmix64((uint64_t)i));
            const double u = ((double)(z >> 11) + 0.5) * (1.0 / 9007199254740992.0);  // (0, 1)
            h->level[i] = (uint8_t)std::min<double>(kMaxLevel, std::floor(-std::log(u) * ml));
        }
        h->layout();

        const Rows R(x);
        int nt = threads_or_cores(p.n_threads);
        nt = (int)std::max<int64_t>(1, std::min<int64_t>(nt, h->n / 256));
        size_t nlocks = 1;
        while (nlocks < (size_t)std::min<int64_t>(std::max<int64_t>(h->n, 1), 1 << 16)) nlocks <<= 1;
        std::vector<std::mutex> locks(nlocks);
        std::mutex top_mu;
        std::atomic<int64_t> next{0};
        std::atomic<bool> stop{false};
        bool canceled = false;
        std::mutex cmu;
        run_threads(nt, [&](int) {
            Builder b{h.get(), R, locks, top_mu, {}, {}, {}, {}, {}, {}, {}};
            try {
                for (;;) {
                    if (stop.load(std::memory_order_relaxed)) return;
                    if (p.cancel && __atomic_load_n(p.cancel, __ATOMIC_RELAXED)) {
                        std::lock_guard<std::mutex> l(cmu);
                        canceled = true;
                        stop = true;
                        return;
                    }
                    const int64_t i = next.fetch_add(1, std::memory_order_relaxed);
                    if (i >= h->n) return;
                    b.insert((uint32_t)i);
                }
            } catch (...) {
                stop = true;
                throw;
            }
        });
        if (canceled) fail(QUARRY_ERR_CANCELED, "hnsw build: canceled");
        *out = h.release();
        return QUARRY_OK;
    });
}

extern "C" int quarry_hnsw_search(const quarry_hnsw *h, const quarry_vectors *x, const float *queries, int32_t nq,
                                  int32_t k, int32_t ef, int32_t n_threads, float *scores, int64_t *rows,
                                  int64_t *groups, char *err, size_t err_len) {
    return guarded(err, err_len, [&]() -> int {
        if (!h) fail(QUARRY_ERR_ARG, "hnsw search: graph is NULL");
        check_vectors(x, "hnsw search");
        if (x->n != h->n || x->dim != h->dim)
            fail(QUARRY_ERR_ARG, "hnsw search: vectors are %lld x %d, the graph was built over %lld x %d", (long long)x->n,
                 x->dim, (long long)h->n, h->dim);
        if (nq < 0 || k <= 0 || k > kMaxEf) fail(QUARRY_ERR_ARG, "hnsw search: invalid nq %d or k %d", nq, k);
        if (ef > kMaxEf) fail(QUARRY_ERR_ARG, "hnsw search: ef %d is above %d", ef, kMaxEf);
        if (n_threads < 0) fail(QUARRY_ERR_ARG, "hnsw search: n_threads %d", n_threads);
        if (ef < k) ef = k;
        if (nq > 0 && (!queries || !scores || !rows)) fail(QUARRY_ERR_ARG, "hnsw search: queries and outputs must not be NULL");
        for (int64_t i = 0; i < (int64_t)nq * x->dim; i++)
            if (!std::isfinite(queries[i]))
                fail(QUARRY_ERR_ARG, "hnsw search: query %lld has a non-finite value", (long long)(i / x->dim));
        if (nq == 0) return QUARRY_OK;
        if (use_exact(x, ef))
            return quarry_topk(queries, nq, x, k, n_threads, scores, rows, groups, err, err_len);

        const Rows R(x);
        int nt = std::min<int>(threads_or_cores(n_threads), nq);
        std::atomic<int32_t> next{0};
        run_threads(nt, [&](int) {
            std::unique_ptr<Visited> vis = h->take_visited();
            Query Q;
            Results res{x, ef, x->groups != nullptr, {}, {}, 0};
            std::vector<uint32_t> fresh;
            std::vector<float> sc;
            std::vector<Results::E> out;
            for (;;) {
                const int32_t i = next.fetch_add(1, std::memory_order_relaxed);
                if (i >= nq) break;
                const size_t o = (size_t)i * k;
                search_one(h, R, x, queries + (int64_t)i * x->dim, k, ef, *vis, Q, res, fresh, sc, out, scores + o,
                           rows + o, groups ? groups + o : nullptr);
            }
            h->give_visited(std::move(vis));
        });
        return QUARRY_OK;
    });
}

extern "C" int64_t quarry_hnsw_serialized_size(const quarry_hnsw *h) {
    if (!h) return -1;
    return file_size((uint64_t)h->n, (uint32_t)h->m0, (uint32_t)h->m, (uint64_t)n_upper_lists(h));
}

extern "C" int quarry_hnsw_serialize(const quarry_hnsw *h, void *buf, int64_t len, char *err, size_t err_len) {
    return guarded(err, err_len, [&]() -> int {
        if (!h) fail(QUARRY_ERR_ARG, "hnsw serialize: graph is NULL");
        const int64_t size = quarry_hnsw_serialized_size(h);
        if (!buf || len < size) fail(QUARRY_ERR_ARG, "hnsw serialize: buffer of %lld bytes, %lld needed", (long long)len, (long long)size);
        uint8_t *start = (uint8_t *)buf;
        Writer w{start};
        w.bytes(kMagic, 8);
        w.u32(kVersion);
        w.u32((uint32_t)kHeaderBytes);
        w.u64((uint64_t)h->n);
        w.u32((uint32_t)h->dim);
        w.u32((uint32_t)h->m);
        w.u32((uint32_t)h->m0);
        w.u32((uint32_t)h->efc);
        w.u32((uint32_t)h->max_level);
        w.u32(0);
        w.u64((uint64_t)h->entry);
        w.u64(h->seed);
        w.u64((uint64_t)n_upper_lists(h));
        w.bytes(h->level.data(), h->level.size());
        for (int64_t i = h->n; i < pad4(h->n); i++) *w.p++ = 0;
        w.bytes(h->l0.data(), h->l0.size() * 4);
        w.bytes(h->up.data(), h->up.size() * 4);
        w.u32(crc32c(start, (size_t)(w.p - start)));
        return QUARRY_OK;
    });
}

extern "C" int quarry_hnsw_load(const void *buf, int64_t len, quarry_hnsw **out, char *err, size_t err_len) {
    return guarded(err, err_len, [&]() -> int {
        if (!out) fail(QUARRY_ERR_ARG, "hnsw load: out is NULL");
        *out = nullptr;
        if (!buf && len != 0) fail(QUARRY_ERR_ARG, "hnsw load: buffer is NULL");
        if (len < (int64_t)kHeaderBytes + 4) fail(QUARRY_ERR_CORRUPT, "hnsw load: %lld bytes is too short for a graph", (long long)len);
        const uint8_t *start = (const uint8_t *)buf;
        if (memcmp(start, kMagic, 8) != 0) fail(QUARRY_ERR_CORRUPT, "hnsw load: not an HNSW graph (bad magic)");
        Reader r{start + 8};
        const uint32_t version = r.u32(), hb = r.u32();
        if (version != kVersion) fail(QUARRY_ERR_CORRUPT, "hnsw load: version %u (this build reads %u)", version, kVersion);
        if (hb != kHeaderBytes) fail(QUARRY_ERR_CORRUPT, "hnsw load: header of %u bytes", hb);
        const uint64_t n = r.u64();
        const uint32_t dim = r.u32(), m = r.u32(), m0 = r.u32(), efc = r.u32();
        const int32_t max_level = (int32_t)r.u32();
        const uint32_t reserved = r.u32();
        const int64_t entry = (int64_t)r.u64();
        const uint64_t seed = r.u64(), n_upper = r.u64();
        if (dim == 0 || dim > (1u << 20)) fail(QUARRY_ERR_CORRUPT, "hnsw load: dim %u", dim);
        if (m < 2 || m > (uint32_t)kMaxM || m0 != 2 * m) fail(QUARRY_ERR_CORRUPT, "hnsw load: degrees m %u, m0 %u", m, m0);
        if (efc < 1 || efc > (uint32_t)kMaxEf) fail(QUARRY_ERR_CORRUPT, "hnsw load: ef_construction %u", efc);
        if (reserved != 0) fail(QUARRY_ERR_CORRUPT, "hnsw load: reserved header field is %u", reserved);
        if (n >= 0xFFFFFFFFull) fail(QUARRY_ERR_CORRUPT, "hnsw load: %llu rows", (unsigned long long)n);
        if (n == 0 ? (max_level != -1 || entry != -1 || n_upper != 0)
                   : (max_level < 0 || max_level > kMaxLevel || entry < 0 || (uint64_t)entry >= n))
            fail(QUARRY_ERR_CORRUPT, "hnsw load: entry point %lld at level %d for %llu rows", (long long)entry, max_level,
                 (unsigned long long)n);
        const int64_t size = file_size(n, m0, m, n_upper);
        if (size < 0 || size != len)
            fail(QUARRY_ERR_CORRUPT, "hnsw load: %lld bytes, the header describes %lld", (long long)len, (long long)size);
        uint32_t want;
        memcpy(&want, start + len - 4, 4);
        if (crc32c(start, (size_t)len - 4) != want) fail(QUARRY_ERR_CORRUPT, "hnsw load: checksum mismatch");

        std::unique_ptr<quarry_hnsw> h(new quarry_hnsw());
        h->n = (int64_t)n;
        h->dim = (int32_t)dim;
        h->m = (int32_t)m;
        h->m0 = (int32_t)m0;
        h->efc = (int32_t)efc;
        h->max_level = max_level;
        h->entry = entry;
        h->seed = seed;
        const uint8_t *p = start + kHeaderBytes;
        h->level.assign(p, p + n);
        uint64_t sum = 0;
        for (uint64_t i = 0; i < n; i++) {
            if (h->level[i] > max_level) fail(QUARRY_ERR_CORRUPT, "hnsw load: node %llu at level %d above the top %d", (unsigned long long)i, h->level[i], max_level);
            sum += h->level[i];
        }
        for (int64_t i = (int64_t)n; i < pad4((int64_t)n); i++)
            if (p[i] != 0) fail(QUARRY_ERR_CORRUPT, "hnsw load: nonzero padding");
        if (n > 0 && h->level[entry] != max_level) fail(QUARRY_ERR_CORRUPT, "hnsw load: entry point is not on the top level");
        if (sum != n_upper) fail(QUARRY_ERR_CORRUPT, "hnsw load: %llu upper lists, levels sum to %llu", (unsigned long long)n_upper, (unsigned long long)sum);
        p += pad4((int64_t)n);
        h->layout();
        memcpy(h->l0.data(), p, h->l0.size() * 4);
        p += h->l0.size() * 4;
        memcpy(h->up.data(), p, h->up.size() * 4);
        for (uint64_t i = 0; i < n; i++) {
            for (int lc = 0; lc <= h->level[i]; lc++) {
                const uint32_t *l = h->links((uint32_t)i, lc);
                const uint32_t cap = (uint32_t)h->cap(lc);
                if (l[0] > cap) fail(QUARRY_ERR_CORRUPT, "hnsw load: node %llu has %u neighbours on layer %d (at most %u)", (unsigned long long)i, l[0], lc, cap);
                for (uint32_t t = 0; t < l[0]; t++) {
                    const uint32_t j = l[1 + t];
                    if (j >= n || j == i || h->level[j] < lc)
                        fail(QUARRY_ERR_CORRUPT, "hnsw load: node %llu has an invalid neighbour %u on layer %d", (unsigned long long)i, j, lc);
                }
                for (uint32_t t = l[0]; t < cap; t++)
                    if (l[1 + t] != 0) fail(QUARRY_ERR_CORRUPT, "hnsw load: node %llu has a nonzero unused slot on layer %d", (unsigned long long)i, lc);
            }
        }
        *out = h.release();
        return QUARRY_OK;
    });
}

extern "C" int quarry_hnsw_get_stats(const quarry_hnsw *h, quarry_hnsw_stats *out) {
    if (!h || !out) return QUARRY_ERR_ARG;
    out->n = h->n;
    out->dim = h->dim;
    out->m = h->m;
    out->ef_construction = h->efc;
    out->max_level = h->max_level;
    out->entry = h->entry;
    int64_t edges = 0;
    for (int64_t i = 0; i < h->n; i++)
        for (int lc = 0; lc <= h->level[i]; lc++) edges += h->links((uint32_t)i, lc)[0];
    out->edges = edges;
    out->bytes = (int64_t)(sizeof(quarry_hnsw) + h->level.size() + 4 * (h->l0.size() + h->up_off.size() + h->up.size()));
    return QUARRY_OK;
}

extern "C" void quarry_hnsw_free(quarry_hnsw *h) { delete h; }
