"""Latency of the web app's Classify tab, through its API as a browser's requests reach it.

Starts ``fashionlab app`` over ``--runs`` (start time printed, imports not counted),
renders a few shop-style photos, then sends, per photo, one upload and one classify
request, as the page's "Use via API" shows them (``--client http``: ``POST .../upload``,
``POST .../call/classify``, then the answer read from ``GET .../call/classify/EVENT``,
over one kept-alive connection and one session per client, as a browser tab keeps them
(Gradio builds each new session's state of the page's 50-odd components: tens of ms);
output files not downloaded) or through
``gradio_client`` (``--client gradio``, whose own waiting adds to each request):

1. ``--sequential`` requests one after the other: p50, p95 and max;
2. ``--concurrent`` requests from ``--clients`` clients at once: errors, p50, p95, and
   requests per second;
3. where a request's time goes outside Gradio: the same photos read and converted, the
   model, and the answer made for the page, in this process (medians).

    python benchmarks/app_latency.py --runs DIR --run NAME --data-dir DIR
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


class HttpClient:
    """Classify requests over the app's HTTP API (module docstring), one connection."""

    def __init__(self, url: str, run: str):
        self.http = httpx.Client(base_url=url.rstrip("/") + "/gradio_api", timeout=60)
        self.run = run
        self.session = uuid.uuid4().hex  # one page, one session

    def predict(self, photo: Path) -> list:
        with open(photo, "rb") as file:
            reply = self.http.post("/upload", files={"files": (photo.name, file)})
        reply.raise_for_status()
        uploaded = {"path": reply.json()[0], "meta": {"_type": "gradio.FileData"}}
        reply = self.http.post("/call/classify", json={"data": [self.run, uploaded, ""],
                                                            "session_hash": self.session})
        reply.raise_for_status()
        event, answer = None, None
        with self.http.stream("GET", f"/call/classify/{reply.json()['event_id']}") as stream:
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    event = line.partition(":")[2].strip()
                elif line.startswith("data:") and event in ("complete", "error"):
                    answer = line.partition(":")[2].strip()
                    break
        if event != "complete":
            raise RuntimeError(f"the app answered {event}: {answer}")
        return json.loads(answer)


class GradioClient:
    """Classify requests through ``gradio_client``."""

    def __init__(self, url: str, run: str):
        from gradio_client import Client

        self.client = Client(url, verbose=False, download_files=False)
        self.run = run

    def predict(self, photo: Path) -> list:
        from gradio_client import handle_file

        return self.client.predict(self.run, handle_file(photo), "", api_name="/classify")


CLIENTS = {"http": HttpClient, "gradio": GradioClient}


def handler_parts(runs: str, run: str, photos: list[Path]) -> dict[str, float]:
    """Median seconds of the Classify handler's parts on ``photos`` (three rounds)."""
    from fashionlab.app.actions import Classified, Runs
    from fashionlab.app.page import _answer
    from fashionlab.data.user_images import read_user_picture

    classifier = Runs(runs).load("classifier", run)
    parts: dict[str, list[float]] = {"read and convert": [], "model": [], "answer": []}
    for photo in photos * 3:
        began = time.perf_counter()
        picture = read_user_picture(photo)
        read = time.perf_counter()
        probabilities = classifier.predict_proba(picture.image[None])[0].numpy()
        modelled = time.perf_counter()
        _answer(Classified(picture.image.numpy(), probabilities, 0))
        answered = time.perf_counter()
        for part, seconds in zip(parts, (read - began, modelled - read, answered - modelled),
                                 strict=True):
            parts[part].append(seconds)
    return {part: statistics.median(times) for part, times in parts.items()}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", required=True, help="the runs folder the app serves")
    parser.add_argument("--run", required=True, help="the classifier run, by its name there")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--sequential", type=int, default=100)
    parser.add_argument("--concurrent", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--client", choices=CLIENTS, default="http",
                        help="how requests are sent (module docstring)")
    args = parser.parse_args(argv)

    print(f"load average at the start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    start = time.perf_counter()
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
            client.predict(photos[i % len(photos)])
            return time.perf_counter() - began

        try:
            client = CLIENTS[args.client](server.url, args.run)
            for i in range(5):  # warm-up: the model is loaded on the first request
                classify(client, i)
            times = [classify(client, i) for i in range(args.sequential)]
            seq = results["sequential"] = {"p50": statistics.median(times),
                                           "p95": percentile(times, 95), "max": max(times)}
            print(f"{args.client} client; {args.sequential} sequential requests: "
                  f"p50 {1000 * seq['p50']:.0f} ms, "
                  f"p95 {1000 * seq['p95']:.0f} ms, max {1000 * seq['max']:.0f} ms")
            clients = [CLIENTS[args.client](server.url, args.run) for _ in range(args.clients)]
            errors: list[str] = []

            def client_requests(k: int) -> list[float]:
                """Client ``k`` sends its share of the requests one after the other."""
                times = []
                for i in range(k, args.concurrent, args.clients):
                    try:
                        times.append(classify(clients[k], i))
                    except Exception as exc:  # counted and reported: the benchmark's point
                        errors.append(f"{type(exc).__name__}: {exc}")
                return times

            began = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                done = [t for times in pool.map(client_requests, range(args.clients))
                        for t in times]
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
            results["parts"] = handler_parts(args.runs, args.run, photos)
            print("outside Gradio, medians: " + ", ".join(
                f"{part} {1000 * seconds:.1f} ms" for part, seconds in results["parts"].items()))
        finally:
            server.close()
    print(f"load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return results


if __name__ == "__main__":
    main()
