"""The web app's page: Gradio Blocks with the tabs Classify, Generate, Fill and Impute,
each a thin layer over ``fashionlab.app.actions``, and ``serve``, which starts it.

Every request runs in one function that turns a ``FashionlabError`` into one message in
the page (``gr.Error``); Gradio keeps the server up whatever a request raises. Uploads are
capped at ``MAX_UPLOAD`` bytes by the server, pictures at ``MAX_PIXELS`` pixels by the
reader, and everything the app writes (uploads, grids, filled CSV files) goes into one
temporary folder of its own, removed when the server stops.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import pandas as pd

from fashionlab.app.actions import (
    GRID_MAX,
    Runs,
    classify,
    enlarge,
    fill_region,
    generate_grid,
    impute_file,
)
from fashionlab.data import CLASS_NAMES
from fashionlab.errors import FashionlabError
from fashionlab.impute import IMPUTERS  # scikit-learn: seconds, at import rather than start

MAX_UPLOAD = "20mb"  # the largest file the server accepts
BAR_COLOURS = {"true class": "#1f77b4", "top class": "#1f77b4", "predicted": "#d62728",
               "other": "#9e9e9e"}  # the seed's plot: true class blue, a wrong guess red
ANY_CLASS = "any class"


def picture_upload(**options) -> gr.Image:
    """A gr.Image whose upload reaches the handler as the uploaded file's path, unread:
    fashionlab's reader checks and decodes it. (Gradio's own reading would refuse a corrupt
    file in a traceback's words and make a 16-bit or transparent picture RGB. Its
    ``preprocess`` is replaced on the instance: a subclass of a Gradio component makes
    Gradio write a .pyi file beside this module.)"""
    image = gr.Image(type="filepath", **options)
    gradio_reading = image.preprocess

    def upload_path(payload):
        if payload is None or (payload.url or "").startswith("data:"):
            return gradio_reading(payload)
        return str(payload.path)  # Gradio has checked that it is an upload of this page

    image.preprocess = upload_path
    return image


def _in_page(fn: Callable, folder: Path) -> Callable:
    """``fn`` with a ``FashionlabError`` shown as one message in the page, an upload named
    as the user named it (not by where the app keeps it, under ``folder``)."""
    kept = re.compile(re.escape(str(folder)) + r"/[^/\s]+/")

    @functools.wraps(fn)
    def run(*args):
        try:
            return fn(*args)
        except FashionlabError as exc:
            raise gr.Error(kept.sub("", str(exc)), print_exception=False) from None

    return run


def _notice(text: str) -> str:
    return f"**{text}**" if text else ""


def build_page(runs: Runs, folder: Path) -> gr.Blocks:
    """The page over the runs in ``runs``; files it makes go into ``folder``."""
    with gr.Blocks(title="fashionlab", analytics_enabled=False) as page:
        gr.Markdown("# fashionlab\nClassify a garment, generate one, fill a region of a "
                    f"picture, or fill the empty cells of a CSV, with the runs in "
                    f"`{runs.root}/`.")
        dropdowns, notices = {}, {}
        with gr.Tab("Classify", id="classify"):
            notices["classifier"] = gr.Markdown(_notice(runs.missing("classifier")))
            with gr.Row():
                with gr.Column():
                    dropdowns["classifier"] = gr.Dropdown(
                        runs.choices("classifier"), label="classifier run")
                    truth = gr.Dropdown(["", *CLASS_NAMES], value="",
                                        label="true class (optional: colours the answer)")
                    with gr.Tab("Upload a photo"):
                        photo = picture_upload(sources=["upload", "clipboard"], label="photo",
                                               height=320, elem_id="photo")
                        classify_photo = gr.Button("Classify the photo", variant="primary")
                    with gr.Tab("Sketch"):
                        sketch = gr.Sketchpad(type="numpy", label="draw a garment",
                                              canvas_size=(280, 280), height=360,
                                              brush=gr.Brush(colors=["#202020"],
                                                             color_mode="fixed"))
                        classify_sketch = gr.Button("Classify the drawing", variant="primary")
                with gr.Column():
                    with gr.Row():
                        seen = gr.Image(label="what the model saw (28x28)", height=200,
                                        interactive=False, format="png")
                        top3 = gr.Label(num_top_classes=3, label="top 3")
                    verdict = gr.HTML(elem_id="verdict")
                    # No legend: the colours are the answer's (blue right, red wrong).
                    bars = gr.BarPlot(x="class", y="probability", color="bar",
                                      color_map=BAR_COLOURS, colors_in_legend=[], y_lim=[0, 1],
                                      sort=list(CLASS_NAMES), x_label_angle=-40,
                                      label="probabilities", height=260)
        answer = [seen, verdict, bars, top3]
        classify_photo.click(_in_page(functools.partial(_classify, runs), folder),
                             [dropdowns["classifier"], photo, truth], answer,
                             api_name="classify")
        classify_sketch.click(_in_page(functools.partial(_classify_sketch, runs), folder),
                              [dropdowns["classifier"], sketch, truth], answer,
                              api_name="classify_sketch")

        with gr.Tab("Generate", id="generate"):
            notices["gan"] = gr.Markdown(_notice(runs.missing("gan")))
            with gr.Row():
                with gr.Column():
                    dropdowns["gan"] = gr.Dropdown(runs.choices("gan"), label="GAN run")
                    wanted = gr.Dropdown([ANY_CLASS, *CLASS_NAMES], value=ANY_CLASS,
                                         label="class (conditional runs)")
                    seed = gr.Number(0, precision=0, label="seed", minimum=0)
                    scale = gr.Slider(0.5, 2.0, 1.0, step=0.1, label="noise scale (1 = as trained)")
                    count = gr.Slider(8, GRID_MAX, 32, step=8, label="images")
                    generate = gr.Button("Generate", variant="primary")
                with gr.Column():
                    grid = gr.Image(label="generated", format="png", interactive=False,
                                    elem_id="grid")
                    grid_file = gr.DownloadButton("Download the grid (PNG)", value=None)
        generate.click(_in_page(functools.partial(_generate, runs, folder), folder),
                       [dropdowns["gan"], wanted, seed, scale, count], [grid, grid_file],
                       api_name="generate")

        with gr.Tab("Fill", id="fill"):
            notices["inpaint"] = gr.Markdown(_notice(runs.missing("inpaint")))
            with gr.Row():
                with gr.Column():
                    dropdowns["inpaint"] = gr.Dropdown(runs.choices("inpaint"),
                                                       label="inpainting run")
                    editor = gr.ImageEditor(
                        type="numpy", sources=["upload", "clipboard"], height=380,
                        label="upload a picture, then paint the region to fill",
                        brush=gr.Brush(colors=["#ff2020"], color_mode="fixed"),
                        transforms=(), layers=False, elem_id="fill-editor")
                    fill = gr.Button("Fill the painted region", variant="primary")
                with gr.Column():
                    filled = gr.Image(label="seen (28x28), the region (red), filled",
                                      format="png", interactive=False, elem_id="filled")
        fill.click(_in_page(functools.partial(_fill, runs), folder),
                   [dropdowns["inpaint"], editor], filled, api_name="fill")

        with gr.Tab("Impute", id="impute"):
            with gr.Row():
                with gr.Column():
                    table = gr.File(file_types=[".csv"], type="filepath", label="CSV file",
                                    elem_id="csv")
                    method = gr.Dropdown(["auto", *IMPUTERS], value="auto", label="method")
                    impute = gr.Button("Fill the empty cells", variant="primary")
                with gr.Column():
                    summary = gr.Markdown(elem_id="impute-summary")
                    plot = gr.Plot(label="filled points", format="png")
                    table_file = gr.DownloadButton("Download the filled CSV", value=None)
        impute.click(_in_page(functools.partial(_impute, folder), folder), [table, method],
                     [table_file, plot, summary], api_name="impute")

        page.load(functools.partial(_refresh, runs), None,
                  [*dropdowns.values(), *notices.values()], api_name=False)
    return page


def _classify(runs: Runs, run: str | None, photo: str | None, truth: str | None):
    return _answer(classify(runs, run, photo, truth))


def _classify_sketch(runs: Runs, run: str | None, sketch: dict | None, truth: str | None):
    drawn = (sketch or {}).get("composite")
    if drawn is None:
        raise FashionlabError("draw a garment first")
    return _answer(classify(runs, run, drawn, truth))


def _answer(result):
    text, colour = result.verdict()
    verdict = (f'<p style="font-size:1.3em; text-align:center; color:{colour}">'
               f"{text}</p>")
    return enlarge(result.seen), verdict, pd.DataFrame(result.bars()), result.top()


def _generate(runs: Runs, folder: Path, run, wanted, seed, scale, count):
    wanted = "" if wanted in (None, ANY_CLASS) else wanted
    path = generate_grid(runs, run, wanted, int(seed or 0), float(scale), int(count), folder)
    return str(path), gr.DownloadButton(value=str(path))


def _fill(runs: Runs, run, editor: dict | None):
    editor = editor or {}
    return fill_region(runs, run, editor.get("background"), editor.get("layers"))


def _impute(folder: Path, table: str | None, method: str):
    out, figure, summary = impute_file(table, method, folder)
    return gr.DownloadButton(value=str(out)), figure, summary


def _refresh(runs: Runs):
    """On each page load: the runs as they are now."""
    runs.refresh()
    updates = []
    for kind in ("classifier", "gan", "inpaint"):
        choices = runs.choices(kind)
        updates.append(gr.Dropdown(choices=choices, value=choices[0][1] if choices else None))
    return [*updates, *(_notice(runs.missing(kind)) for kind in ("classifier", "gan", "inpaint"))]


@dataclass
class Server:
    """A running app: its page, its address and its temporary folder."""

    page: gr.Blocks
    url: str
    folder: Path
    previous_temp_dir: str | None = None  # GRADIO_TEMP_DIR before the app set its own

    def close(self) -> None:
        """Stop the server, remove its temporary folder, restore GRADIO_TEMP_DIR."""
        self.page.close()
        shutil.rmtree(self.folder, ignore_errors=True)
        _restore_temp_dir(self.previous_temp_dir)


def _restore_temp_dir(previous: str | None) -> None:
    if previous is None:
        os.environ.pop("GRADIO_TEMP_DIR", None)
    else:
        os.environ["GRADIO_TEMP_DIR"] = previous


def serve(runs_dir: str | Path = "runs", host: str = "127.0.0.1", port: int | None = None,
          block: bool = True, threads: int = 1) -> Server:
    """Start the app on ``host``:``port`` (a free port from 7860 on when None) over the runs
    under ``runs_dir``. With ``block`` it serves until Ctrl-C and then stops. ``threads``:
    PyTorch CPU threads per request (one is fastest for these small models)."""
    import torch

    torch.set_num_threads(threads)
    folder = Path(tempfile.mkdtemp(prefix="fashionlab-app-"))
    previous = os.environ.get("GRADIO_TEMP_DIR")
    # Where Gradio keeps uploads and outputs; it reads the variable on every request.
    os.environ["GRADIO_TEMP_DIR"] = str(folder)
    try:
        page = build_page(Runs(runs_dir), folder)
        page.queue(default_concurrency_limit=2)
        page.launch(server_name=host, server_port=port, prevent_thread_lock=True,
                    max_file_size=MAX_UPLOAD, show_error=True, quiet=True, ssr_mode=False,
                    allowed_paths=[str(folder)], footer_links=["api"])
    except OSError as exc:  # the port is taken, the host is not this machine's...
        shutil.rmtree(folder, ignore_errors=True)
        _restore_temp_dir(previous)
        raise FashionlabError(f"cannot serve on {host}:{port}: {exc}") from None
    server = Server(page, page.local_url, folder, previous)
    if block:
        print(f"fashionlab app on {server.url} (runs from {Path(runs_dir)}/); Ctrl-C stops it",
              flush=True)
        try:
            page.block_thread()
        finally:
            server.close()
    return server
