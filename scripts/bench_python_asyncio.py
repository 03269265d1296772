#!/usr/bin/env python3
"""Python asyncio + google-genai baseline for geminal's concurrency benchmark.

What it measures
----------------
One Python process opens N concurrent streamed answers with the official
Google Gen AI SDK (``pip install google-genai``, ``from google import genai``),
consumes every chunk of every answer, joins ``chunk.text`` and checks that no
answer is empty. Run it against geminal's fake server, where each streamed
answer takes 2.0 s (20 SSE chunks, 100 ms apart), and wrap it in
``/usr/bin/time`` to get wall time, CPU time and peak RSS. It is the "what a
Python user gets" comparison point for ``scripts/bench-concurrency.sh``
(geminal's whole-program benchmark: N = 32, 256 and 1024 concurrent answers).

Modes
-----
(a) default (no ``--max-connections``): ``genai.Client`` is built with only
    ``HttpOptions(base_url=..., api_version="v1beta")``, as a user would. With
    the SDK's default httpx/httpx2 backend the async connection pool allows at
    most 100 connections (max_keepalive_connections=20), so for N > 100 the
    extra requests wait in the pool: N=256 takes about 3 rounds of 2 s and
    N=1024 about 11 rounds. The SDK sets no client timeout by default, so waiting
    requests queue rather than fail.
(b) ``--max-connections M``: also passes
    ``HttpOptions(async_client_args={"limits": Limits(max_connections=M,
    max_keepalive_connections=M)})`` so the pool no longer caps concurrency
    (use M >= N). ``Limits`` comes from the same package the SDK uses (httpx2
    for google-genai 3.x, else httpx); passing an httpx2 object also makes the
    SDK pick that backend.

``api_version="v1beta"`` is always passed (``--api-version`` changes it):
google-genai 3.x defaults to ``/v1/`` for the Gemini API, but geminal and its
fake server use ``/v1beta/models/{model}:streamGenerateContent?alt=sse``; the
fake answers anything else with 404.

The SDK retries nothing by default (no ``retry_options``), so a failure is
reported as a failure, not hidden by a retry.

Output: one stdout line at the end, ``N=<n> ok=<count> wall=<seconds>``, where
wall is the time from starting the requests to the last answer finishing
(interpreter start-up and imports are excluded; ``/usr/bin/time`` includes
them). Exit status is non-zero if any answer failed or came back empty; the
number of failures and the first few errors go to stderr. ``--stats`` also
prints per-answer latency percentiles to stderr.

How to run
----------
    python3 -m venv /tmp/pyvenv && /tmp/pyvenv/bin/pip install google-genai
    cargo build --release
    target/release/geminal serve-fake --words 100 --chunks 20 --stream-secs 2 &
    # its first stdout line is the base URL, e.g. http://127.0.0.1:41177
    ulimit -n 20000
    /usr/bin/time -f "%e %U %S %M" /tmp/pyvenv/bin/python \\
        scripts/bench_python_asyncio.py --base-url http://127.0.0.1:41177 -n 1024
    /usr/bin/time -f "%e %U %S %M" /tmp/pyvenv/bin/python \\
        scripts/bench_python_asyncio.py --base-url http://127.0.0.1:41177 -n 1024 \\
        --max-connections 1024
"""

import argparse
import asyncio
import sys
import time

from google import genai
from google.genai import types


def pool_limits(max_connections):
    """Returns Limits from the HTTP package the SDK uses by default."""
    try:
        import httpx2 as httpx_pkg  # google-genai >= 3 defaults to httpx2
    except ImportError:
        import httpx as httpx_pkg  # older google-genai uses httpx
    return httpx_pkg.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
    )


async def one_answer(client, model, i, started):
    """Streams one answer; returns (text, s to first chunk, s to done)."""
    parts = []
    first = None
    stream = await client.aio.models.generate_content_stream(
        model=model, contents=f"question {i}"
    )
    async for chunk in stream:
        if first is None:
            first = time.perf_counter() - started
        if chunk.text:
            parts.append(chunk.text)
    return "".join(parts), first, time.perf_counter() - started


def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    idx = min(len(sorted_values) - 1, int(round(q * (len(sorted_values) - 1))))
    return sorted_values[idx]


async def run(args):
    options = {"base_url": args.base_url, "api_version": args.api_version}
    if args.max_connections is not None:
        options["async_client_args"] = {
            "limits": pool_limits(args.max_connections)
        }
    http_options = types.HttpOptions(**options)
    client = genai.Client(api_key="bench", http_options=http_options)

    started = time.perf_counter()
    results = await asyncio.gather(
        *(one_answer(client, args.model, i, started) for i in range(args.n)),
        return_exceptions=True,
    )
    wall = time.perf_counter() - started

    try:
        await client.aio.aclose()
    except Exception:  # closing is not what we measure
        pass

    ok = 0
    errors = []
    firsts, totals = [], []
    for i, result in enumerate(results):
        if isinstance(result, BaseException):
            errors.append(f"answer {i}: {type(result).__name__}: {result}")
            continue
        text, first, total = result
        if not text:
            errors.append(f"answer {i}: empty answer")
            continue
        ok += 1
        firsts.append(first)
        totals.append(total)

    if errors:
        print(f"{len(errors)} of {args.n} answers failed", file=sys.stderr)
        for line in errors[:5]:
            print(f"  {line}", file=sys.stderr)
    if args.stats and totals:
        firsts.sort()
        totals.sort()
        print(
            "first chunk s: p50={:.3f} p99={:.3f} max={:.3f}; "
            "answer done s: p50={:.3f} p99={:.3f} max={:.3f}".format(
                percentile(firsts, 0.5), percentile(firsts, 0.99), firsts[-1],
                percentile(totals, 0.5), percentile(totals, 0.99), totals[-1],
            ),
            file=sys.stderr,
        )
    print(f"N={args.n} ok={ok} wall={wall:.3f}")
    return 0 if ok == args.n else 1


def main():
    parser = argparse.ArgumentParser(
        description="N concurrent streamed answers via google-genai + asyncio"
    )
    parser.add_argument("--base-url", required=True,
                        help="base URL, e.g. http://127.0.0.1:41177")
    parser.add_argument("-n", type=int, required=True,
                        help="number of concurrent answers")
    parser.add_argument("--model", default="gemini-flash-latest")
    parser.add_argument("--api-version", default="v1beta",
                        help="REST API version in the URL path (default: "
                             "v1beta, what geminal and its fake server speak)")
    parser.add_argument("--max-connections", type=int, default=None,
                        help="raise the SDK's httpx pool limits to this many "
                             "connections (default: leave the SDK defaults)")
    parser.add_argument("--stats", action="store_true",
                        help="print per-answer latency percentiles to stderr")
    args = parser.parse_args()
    if args.n < 1:
        parser.error("-n must be at least 1")
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
