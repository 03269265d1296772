"""Real clients, written by others, against `geminal serve`: the official `openai` SDK
(whole, streamed, models, a refused key), Google's `google-genai` (a changed base URL: whole,
streamed, countTokens), and `prometheus_client`'s OpenMetrics parser reading /metrics.
Run by tests/serve.rs: python serve_clients.py BASE_URL KEY. Prints one line per check."""

import sys
import urllib.request

import openai
from google import genai
from prometheus_client.openmetrics.parser import text_string_to_metric_families

base, key = sys.argv[1], sys.argv[2]
model = "gemini-2.5-flash"


def check(name, condition, detail=""):
    if not condition:
        print(f"FAIL {name}: {detail}")
        sys.exit(1)
    print(f"ok {name}")


oa = openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)
whole = oa.chat.completions.create(model=model, messages=[{"role": "user", "content": "hello from openai"}])
check("openai whole", whole.choices[0].message.content and whole.usage.total_tokens > 0, whole)

stream = oa.chat.completions.create(
    model=model,
    messages=[{"role": "user", "content": "stream from openai"}],
    stream=True,
    stream_options={"include_usage": True},
)
parts, usage = [], None
for chunk in stream:
    if chunk.choices:
        parts.append(chunk.choices[0].delta.content or "")
    if chunk.usage:
        usage = chunk.usage
check("openai stream", len(parts) > 2 and "".join(parts) and usage and usage.completion_tokens > 0, parts)

ids = [m.id for m in oa.models.list()]
check("openai models", model in ids, ids)

try:
    openai.OpenAI(base_url=f"{base}/v1", api_key="not-a-key", max_retries=0).chat.completions.create(
        model=model, messages=[{"role": "user", "content": "x"}]
    )
    check("openai refused key", False, "no error")
except openai.AuthenticationError as e:
    check("openai refused key", e.status_code == 401 and "key" in str(e.message), e)

try:
    oa.chat.completions.create(model=model, n=2, messages=[{"role": "user", "content": "x"}])
    check("openai n=2", False, "no error")
except openai.BadRequestError as e:
    check("openai n=2", e.status_code == 400, e)

g = genai.Client(api_key=key, http_options={"base_url": base})
answer = g.models.generate_content(model=model, contents="hello from google-genai")
check("genai whole", answer.text and answer.usage_metadata.total_token_count > 0, answer)
streamed = [c.text or "" for c in g.models.generate_content_stream(model=model, contents="stream from google-genai")]
check("genai stream", len(streamed) > 2 and "".join(streamed), streamed)
counted = g.models.count_tokens(model=model, contents="count these tokens")
check("genai countTokens", counted.total_tokens > 0, counted)

request = urllib.request.Request(f"{base}/metrics", headers={"Authorization": f"Bearer {key}"})
text = urllib.request.urlopen(request).read().decode()
families = {f.name: f for f in text_string_to_metric_families(text)}
requests = families["geminal_serve_requests"]
answered = sum(s.value for s in requests.samples if s.name == "geminal_serve_requests_total")
check("metrics requests", answered == 4, answered)
rejected = families["geminal_serve_rejected"]
reasons = {s.labels["reason"]: s.value for s in rejected.samples if s.name == "geminal_serve_rejected_total"}
check("metrics rejected", reasons == {"unauthenticated": 1.0, "bad_request": 1.0}, reasons)
check("metrics histograms", "geminal_serve_ttft_seconds" in families and "geminal_serve_latency_seconds" in families)
print("all ok")
