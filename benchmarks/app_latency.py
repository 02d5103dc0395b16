"""Latency of the web app's Classify tab, through its API as a browser's requests reach it.

Starts ``fashionlab app`` over ``--runs`` (start time printed, imports not counted),
renders a few shop-style photos, then with ``gradio_client`` (one upload and one classify
request per photo, output files not downloaded):

1. ``--sequential`` requests one after the other: p50, p95 and max;
2. ``--concurrent`` requests from ``--clients`` clients at once: errors, p50, p95, and
   requests per second.

    python benchmarks/app_latency.py --runs DIR --run NAME --data-dir DIR
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", required=True, help="the runs folder the app serves")
    parser.add_argument("--run", required=True, help="the classifier run, by its name there")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--sequential", type=int, default=100)
    parser.add_argument("--concurrent", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args(argv)

    print(f"load average at the start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    start = time.perf_counter()
    from gradio_client import Client, handle_file

    from fashionlab.app.page import serve
    from fashionlab.data import load_fashion_mnist
    from fashionlab.data.photos import render_photo

    print(f"imports (gradio, torch, scikit-learn...) took {time.perf_counter() - start:.2f} s")
    start = time.perf_counter()
    server = serve(args.runs, block=False)
    print(f"app started in {time.perf_counter() - start:.2f} s (imports not counted) on "
          f"{server.url}")
    data = load_fashion_mnist(args.data_dir)
    rng = np.random.default_rng(0)
    results: dict = {}
    with tempfile.TemporaryDirectory() as folder:
        photos = []
        for i in range(20):
            photo = render_photo(data.test_images[i].numpy(), rng)
            path = Path(folder) / f"photo{i}{photo.suffix}"
            path.write_bytes(photo.data)
            photos.append(path)

        def classify(client, i: int) -> float:
            began = time.perf_counter()
            client.predict(args.run, handle_file(photos[i % len(photos)]), "",
                           api_name="/classify")
            return time.perf_counter() - began

        try:
            client = Client(server.url, verbose=False, download_files=False)
            for i in range(5):  # warm-up: the model is loaded on the first request
                classify(client, i)
            times = [classify(client, i) for i in range(args.sequential)]
            seq = results["sequential"] = {"p50": statistics.median(times),
                                           "p95": percentile(times, 95), "max": max(times)}
            print(f"{args.sequential} sequential requests: p50 {1000 * seq['p50']:.0f} ms, "
                  f"p95 {1000 * seq['p95']:.0f} ms, max {1000 * seq['max']:.0f} ms")
            clients = [Client(server.url, verbose=False, download_files=False)
                       for _ in range(args.clients)]
            errors: list[str] = []

            def one(i: int) -> float | None:
                try:
                    return classify(clients[i % args.clients], i)
                except Exception as exc:  # counted and reported: the benchmark's point
                    errors.append(f"{type(exc).__name__}: {exc}")
                    return None

            began = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                done = [t for t in pool.map(one, range(args.concurrent)) if t is not None]
            wall = time.perf_counter() - began
            results["concurrent"] = {"errors": len(errors), "p50": statistics.median(done),
                                     "p95": percentile(done, 95), "per_second":
                                     args.concurrent / wall}
            print(f"{args.concurrent} requests from {args.clients} concurrent clients: "
                  f"{len(errors)} errors, p50 {1000 * results['concurrent']['p50']:.0f} ms, "
                  f"p95 {1000 * results['concurrent']['p95']:.0f} ms, "
                  f"{results['concurrent']['per_second']:.1f} requests/s")
            for error in errors[:5]:
                print(f"  {error}")
        finally:
            server.close()
    print(f"load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return results


if __name__ == "__main__":
    main()
