"""The official Python clients against a running `quarry serve` (scripts/serve/clients.sh runs it).

Every vector a client returns is compared bit for bit (float32) with `quarry embed`'s output for the
same texts; rerank scores with `quarry rerank`'s. Each check prints one line; the exit status is 1
when any failed. A JSON summary goes to --json.
"""

import argparse
import base64
import concurrent.futures
import json
import math
import sys
import urllib.request

import numpy as np

import cohere
import huggingface_hub
import openai


def f32(v):
    return np.asarray(v, dtype=np.float32)


def same_bits(got, want):
    got, want = f32(got), f32(want)
    return got.shape == want.shape and got.tobytes() == want.tobytes()


def matryoshka(v, d):
    """The server's rule (engine/serve normalizeVec): the first d values, their norm in float64
    summed in order, each value times 1/sqrt(norm) rounded to float32."""
    v = [float(x) for x in f32(v)[:d]]
    n = 0.0
    for x in v:
        n += x * x
    inv = 1 / math.sqrt(n)
    return f32([x * inv for x in v])


class Checks:
    def __init__(self, label):
        self.label, self.results = label, []

    def check(self, name, ok, detail=""):
        self.results.append({"check": name, "ok": bool(ok), "detail": detail})
        print("  %-4s %s%s" % ("ok" if ok else "FAIL", name, (": " + detail) if detail else ""), flush=True)

    def raises(self, name, fn, exc, status=None, attrs=None):
        """fn() must raise exc (with that HTTP status and attributes)."""
        try:
            fn()
        except exc as e:
            got = getattr(e, "status_code", None)
            if got is None and getattr(e, "response", None) is not None:
                got = e.response.status_code
            bad = []
            if status is not None and got != status:
                bad.append("status %s, want %s" % (got, status))
            for k, want in (attrs or {}).items():
                if getattr(e, k, None) != want:
                    bad.append("%s=%r, want %r" % (k, getattr(e, k, None), want))
            self.check(name, not bad, "; ".join(bad) or "%s.%s %s" % (type(e).__module__, type(e).__name__, got))
        except Exception as e:  # the wrong exception type
            self.check(name, False, "raised %s.%s: %s" % (type(e).__module__, type(e).__name__, str(e)[:200]))
        else:
            self.check(name, False, "no exception")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--model", required=True, help="the bi-encoder's name on the server")
    ap.add_argument("--rerank", required=True, help="the cross-encoder's name on the server")
    ap.add_argument("--texts", required=True, help="one text a line (what quarry embed read)")
    ap.add_argument("--cli", required=True, help="quarry embed's JSONL for --texts")
    ap.add_argument("--query", required=True)
    ap.add_argument("--rerank-cli", required=True, help="quarry rerank --format jsonl for --query over --texts")
    ap.add_argument("--log", required=True, help="the server's JSON request log")
    ap.add_argument("--label", default="")
    ap.add_argument("--json", required=True)
    a = ap.parse_args()

    texts = open(a.texts, encoding="utf-8").read().split("\n")[:-1]
    cli = [json.loads(l)["embedding"] for l in open(a.cli)]
    ranked = [json.loads(l) for l in open(a.rerank_cli)]
    assert len(cli) == len(texts) == len(ranked), (len(cli), len(texts), len(ranked))
    dim = len(cli[0])
    c = Checks(a.label)
    versions = {"openai": openai.__version__, "huggingface_hub": huggingface_hub.__version__, "cohere": cohere.__version__ if hasattr(cohere, "__version__") else "?"}
    print("== %s: %d texts, dim %d; %s" % (a.label, len(texts), dim, ", ".join("%s %s" % kv for kv in versions.items())), flush=True)

    # --- openai -------------------------------------------------------------------------------
    wire = []
    hook = openai.DefaultHttpxClient(event_hooks={"request": [lambda r: wire.append(json.loads(r.content))]})
    oa = openai.OpenAI(base_url=a.url + "/v1", api_key=a.key, max_retries=0, http_client=hook)
    r = oa.embeddings.create(input=texts, model=a.model)
    c.check("openai embeddings.create (SDK default: base64 on the wire, decoded by the SDK) == quarry embed, bit for bit",
            wire[-1].get("encoding_format") == "base64" and all(same_bits(d.embedding, cli[i]) for i, d in enumerate(r.data)),
            "wire encoding_format=%s, %d vectors" % (wire[-1].get("encoding_format"), len(r.data)))
    c.check("openai response: model, index order, usage", r.model == a.model and [d.index for d in r.data] == list(range(len(texts)))
            and r.usage.prompt_tokens == r.usage.total_tokens > 0, "model=%s usage=%s" % (r.model, r.usage))
    r = oa.embeddings.create(input=texts, model=a.model, encoding_format="float")
    c.check("openai encoding_format=float == quarry embed, bit for bit", all(same_bits(d.embedding, cli[i]) for i, d in enumerate(r.data)))
    r = oa.embeddings.create(input=texts, model=a.model, encoding_format="base64")
    dec = [np.frombuffer(base64.b64decode(d.embedding), dtype="<f4") for d in r.data]
    c.check("openai encoding_format=base64 (little-endian f32 strings) == quarry embed, bit for bit", all(same_bits(v, cli[i]) for i, v in enumerate(dec)))
    r = oa.embeddings.create(input=texts[0], model=a.model)
    c.check("openai single string input", len(r.data) == 1 and same_bits(r.data[0].embedding, cli[0]))

    def one(i):
        return i, oa.embeddings.create(input=[texts[i]], model=a.model).data[0].embedding

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        got = list(pool.map(one, [i for _ in range(4) for i in range(len(texts))]))
    c.check("openai, one text per request from 8 threads (merged by the dynamic batcher) == quarry embed",
            all(same_bits(v, cli[i]) for i, v in got), "%d requests" % len(got))
    for d in sorted({1, max(1, dim // 4), dim // 2, dim}):
        r = oa.embeddings.create(input=texts, model=a.model, dimensions=d)
        c.check("openai dimensions=%d == quarry embed's first %d values re-normalized" % (d, d),
                all(same_bits(x.embedding, matryoshka(cli[i], d) if d < dim else cli[i]) for i, x in enumerate(r.data)))
    tok = json.load(urllib.request.urlopen(urllib.request.Request(a.url + "/tokenize", json.dumps({"inputs": texts[0]}).encode(),
                                                                  {"Authorization": "Bearer " + a.key})))[0]
    ids = [t["id"] for t in tok]
    r = oa.embeddings.create(input=[ids], model=a.model, encoding_format="float")
    c.check("openai token-id input (POST /tokenize's ids of text 1, special tokens included) == quarry embed of the text",
            same_bits(r.data[0].embedding, cli[0]), "%d ids" % len(ids))
    c.raises("openai dimensions=%d (above the model's) -> UnprocessableEntityError" % (dim + 1),
             lambda: oa.embeddings.create(input="x", model=a.model, dimensions=dim + 1), openai.UnprocessableEntityError, 422,
             {"code": "validation", "type": "invalid_request_error"})
    c.raises("openai wrong api_key -> AuthenticationError",
             lambda: openai.OpenAI(base_url=a.url + "/v1", api_key="wrong-" + a.key, max_retries=0).embeddings.create(input="x", model=a.model),
             openai.AuthenticationError, 401, {"code": "invalid_api_key", "type": "authentication_error"})
    c.raises("openai unknown model -> NotFoundError", lambda: oa.embeddings.create(input="x", model="no-such-model"), openai.NotFoundError, 404)
    c.raises("openai empty input -> BadRequestError", lambda: oa.embeddings.create(input=[], model=a.model), openai.BadRequestError, 400, {"code": "empty"})
    c.raises("openai token id outside the vocabulary -> UnprocessableEntityError",
             lambda: oa.embeddings.create(input=[[10 ** 9]], model=a.model), openai.UnprocessableEntityError, 422)
    c.raises("openai 33 inputs (> --max-client-batch-size 32) -> APIStatusError 413",
             lambda: oa.embeddings.create(input=["x"] * 33, model=a.model), openai.APIStatusError, 413, {"code": "validation"})
    c.raises("openai a cross-encoder as model -> APIStatusError 424",
             lambda: oa.embeddings.create(input="x", model=a.rerank), openai.APIStatusError, 424, {"code": "backend"})

    # --- huggingface_hub: InferenceClient posts to the URL itself (TEI's POST /) ----------------
    n0 = sum(1 for _ in open(a.log))
    hf = huggingface_hub.InferenceClient(model=a.url, api_key=a.key)
    v = hf.feature_extraction(texts)
    c.check("huggingface_hub InferenceClient.feature_extraction(texts) == quarry embed, bit for bit",
            v.dtype == np.float32 and v.shape == (len(texts), dim) and all(same_bits(v[i], cli[i]) for i in range(len(texts))), "shape %s" % (v.shape,))
    v = hf.feature_extraction(texts[1], dimensions=dim // 2)
    c.check("huggingface_hub feature_extraction(dimensions=%d) == re-normalized prefix" % (dim // 2), same_bits(v[0], matryoshka(cli[1], dim // 2)))
    posts = [json.loads(l) for l in list(open(a.log))[n0:] if '"msg":"request"' in l]
    c.check("huggingface_hub requests went to POST / (routed by the model's kind)",
            len(posts) == 2 and all(p.get("method") == "POST" and p.get("path") == "/" and p.get("status") == 200 for p in posts),
            ", ".join("%s %s %s" % (p.get("method"), p.get("path"), p.get("status")) for p in posts))
    c.raises("huggingface_hub wrong api_key -> HfHubHTTPError 401",
             lambda: huggingface_hub.InferenceClient(model=a.url, api_key="wrong").feature_extraction("x"), huggingface_hub.errors.HfHubHTTPError, 401)

    # --- cohere: /v2/rerank (ClientV2) and /v1/rerank (Client) -------------------------------------
    order = [x["line"] - 1 for x in ranked]  # quarry rerank: sorted by score desc, ties in input order
    rel = {x["line"] - 1: x["relevance"] for x in ranked}
    co2 = cohere.ClientV2(api_key=a.key, base_url=a.url)
    top = min(3, len(texts))
    rr = co2.rerank(model=a.rerank, query=a.query, documents=texts, top_n=top)
    c.check("cohere ClientV2.rerank(top_n=%d) == quarry rerank (order, relevance_score exactly)" % top,
            [x.index for x in rr.results] == order[:top] and all(x.relevance_score == rel[x.index] for x in rr.results),
            "indices %s" % [x.index for x in rr.results])
    co1 = cohere.Client(api_key=a.key, base_url=a.url)
    rr = co1.rerank(model=a.rerank, query=a.query, documents=texts, return_documents=True)
    c.check("cohere Client.rerank (v1, return_documents) == quarry rerank, with the documents' text",
            [x.index for x in rr.results] == order and all(x.relevance_score == rel[x.index] and x.document.text == texts[x.index] for x in rr.results))
    c.raises("cohere wrong api_key -> UnauthorizedError",
             lambda: cohere.ClientV2(api_key="wrong", base_url=a.url).rerank(model=a.rerank, query="q", documents=["a"]), cohere.errors.UnauthorizedError, 401)
    c.raises("cohere empty documents -> BadRequestError", lambda: co2.rerank(model=a.rerank, query="q", documents=[]), cohere.errors.BadRequestError, 400)
    c.raises("cohere top_n=0 -> UnprocessableEntityError", lambda: co2.rerank(model=a.rerank, query="q", documents=["a"], top_n=0), cohere.errors.UnprocessableEntityError, 422)
    c.raises("cohere unknown model -> NotFoundError", lambda: co2.rerank(model="no-such-model", query="q", documents=["a"]), cohere.errors.NotFoundError, 404)
    c.raises("cohere a bi-encoder as model -> ApiError 424", lambda: co2.rerank(model=a.model, query="q", documents=["a"]), cohere.core.api_error.ApiError, 424)

    # --- the raw TEI route agrees (no SDK) -------------------------------------------------------
    req = urllib.request.Request(a.url + "/embed", json.dumps({"inputs": texts}).encode(), {"Authorization": "Bearer " + a.key})
    tei = json.load(urllib.request.urlopen(req))
    c.check("POST /embed (urllib, no SDK) == quarry embed, bit for bit", all(same_bits(tei[i], cli[i]) for i in range(len(texts))))

    failed = [x for x in c.results if not x["ok"]]
    json.dump({"label": a.label, "versions": versions, "texts": len(texts), "dim": dim, "checks": len(c.results), "failed": len(failed),
               "results": c.results}, open(a.json, "w"), indent=1)
    print("== %s: %d checks, %d failed" % (a.label, len(c.results), len(failed)), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
