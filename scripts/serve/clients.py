"""The official OpenAI Python client against a running `quarry serve`.

    python clients.py URL API_KEY MODEL_NAME TEXTS_FILE REFERENCE.npy

REFERENCE.npy is `quarry embed --format npy` of TEXTS_FILE (one text per
line) with the same model. Each check prints one line; the exit status is
the number of failed checks.
"""
import sys

import numpy as np
import openai

url, key, model, texts_file, ref_file = sys.argv[1:6]
texts = [line.rstrip("\n") for line in open(texts_file, encoding="utf-8") if line.strip()]
ref = np.load(ref_file).astype(np.float32)
failed = 0


def check(name, ok, detail=""):
    global failed
    print(("PASS " if ok else "FAIL ") + name + (": " + detail if detail else ""))
    failed += 0 if ok else 1


client = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)
print(f"openai {openai.__version__}, numpy {np.__version__}, {len(texts)} texts, model {model}")

# The SDK asks for base64 when encoding_format is not given, and decodes it.
got = client.embeddings.create(model=model, input=texts)
v = np.array([d.embedding for d in got.data], dtype=np.float32)
check("embeddings.create (SDK default, base64) == quarry embed, bit for bit",
      v.shape == ref.shape and np.array_equal(v.view(np.uint32), ref.view(np.uint32)), f"shape {v.shape}")
check("usage.prompt_tokens > 0 and data[i].index == i",
      got.usage.prompt_tokens > 0 and [d.index for d in got.data] == list(range(len(texts))))

got = client.embeddings.create(model=model, input=texts, encoding_format="float")
v = np.array([d.embedding for d in got.data], dtype=np.float32)
check("embeddings.create(encoding_format='float') == quarry embed, bit for bit",
      v.shape == ref.shape and np.array_equal(v.view(np.uint32), ref.view(np.uint32)))

one = client.embeddings.create(model=model, input=texts[0], encoding_format="float")
check("a single string input", np.array_equal(np.array(one.data[0].embedding, dtype=np.float32), ref[0]))

d = min(16, ref.shape[1])
got = client.embeddings.create(model=model, input=texts, dimensions=d, encoding_format="float")
v = np.array([x.embedding for x in got.data], dtype=np.float64)
want = ref[:, :d].astype(np.float64)
want /= np.linalg.norm(want, axis=1, keepdims=True)
check(f"dimensions={d}: the first {d} re-normalized", v.shape == want.shape and np.abs(v - want).max() < 1e-6,
      f"max |diff| {np.abs(v - want).max():.2e}")

try:
    client.embeddings.create(model=model, input=texts, dimensions=ref.shape[1] + 1)
    check("dimensions above the model's is an error", False)
except openai.UnprocessableEntityError as e:
    check("dimensions above the model's: UnprocessableEntityError (422)", e.status_code == 422)
except openai.BadRequestError as e:
    check("dimensions above the model's: BadRequestError (400)", e.status_code == 400)

try:
    openai.OpenAI(base_url=url + "/v1", api_key="wrong-" + key, max_retries=0).embeddings.create(model=model, input="x")
    check("a wrong API key is refused", False)
except openai.AuthenticationError as e:
    check("a wrong API key: AuthenticationError (401)", e.status_code == 401)

try:
    client.embeddings.create(model="no-such-model", input="x")
    check("an unknown model is refused", False)
except openai.NotFoundError as e:
    check("an unknown model: NotFoundError (404)", e.status_code == 404, str(e.body)[:100])

ids = client.embeddings.create(model=model, input=[[101, 7592, 2088, 102]], encoding_format="float")
check("token-id input", len(ids.data) == 1 and len(ids.data[0].embedding) == ref.shape[1])

sys.exit(failed)
