"""`fashionlab app`: the page's API driven with gradio_client, on tiny runs made here."""

from __future__ import annotations

import csv
import json
import os
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import make_classifier_run, make_gan_run, make_inpaint_run
from fashionlab.cli import main
from fashionlab.data import CLASS_NAMES
from fashionlab.data.photos import PhotoStyle, render_photo
from fashionlab.data.user_images import read_user_picture

gr = pytest.importorskip("gradio")
client_module = pytest.importorskip("gradio_client")
pytestmark = pytest.mark.usefixtures("one_thread")


def shirt() -> np.ndarray:
    image = np.zeros((28, 28), dtype=np.uint8)
    image[:, 7:21] = 200
    image[0:9, 2:26] = 230
    return image


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The app over a runs folder with a classifier, an unconditional and a conditional
    GAN and an inpainting run; its working directory is an empty folder, to see that it
    writes nothing there."""
    from fashionlab.app.page import serve

    root = tmp_path_factory.mktemp("app")
    runs = root / "runs"
    make_classifier_run(runs / "mlp", "mlp")
    make_gan_run(runs / "gans" / "lite", "lite", {"g_width": 16, "d_width": 8})
    make_gan_run(runs / "gans" / "cgan", "cgan", {"g_width": 16, "d_width": 8})
    make_inpaint_run(runs / "inpaint", width=4)
    cwd = root / "cwd"
    cwd.mkdir()
    previous = os.getcwd()
    os.chdir(cwd)
    server = serve(runs, block=False)
    try:
        client = client_module.Client(server.url, verbose=False,
                                      download_files=str(root / "downloads"))
        yield {"server": server, "client": client, "runs": runs, "root": root, "cwd": cwd}
    finally:
        server.close()
        os.chdir(previous)


def photo_file(folder, name="photo", background="grey"):
    photo = render_photo(shirt(), np.random.default_rng(0), PhotoStyle(backgrounds=(background,)))
    path = folder / f"{name}{photo.suffix}"
    path.write_bytes(photo.data)
    return path


def error_of(call) -> str:
    """The one message the page shows for a request, as "error: ..." (and never the
    server's own folders)."""
    with pytest.raises(client_module.exceptions.AppError) as caught:
        call()
    assert "fashionlab-app-" not in str(caught.value)
    return f"error: {caught.value}"


def test_it_binds_this_machine_only_and_writes_only_in_its_folder(app):
    assert app["server"].url.startswith("http://127.0.0.1:")
    assert app["server"].folder.is_dir()
    assert list(app["cwd"].iterdir()) == []  # checked again after the other tests below


def test_classify_a_photo_gives_what_the_model_gives(app, tmp_path):
    from fashionlab.classifier.predict import load_classifier

    path = photo_file(tmp_path)
    seen, verdict, bars, top3 = app["client"].predict("mlp", client_module.handle_file(path),
                                                      "Trouser", api_name="/classify")
    expected = load_classifier(app["runs"] / "mlp", "cpu").predict_proba(
        read_user_picture(path).image[None])[0]
    best = int(expected.argmax())
    assert top3["label"] == CLASS_NAMES[best]
    assert [c["label"] for c in top3["confidences"]] == [
        CLASS_NAMES[int(i)] for i in expected.argsort(descending=True)[:3]]
    assert [row[1] for row in bars["data"]] == pytest.approx(expected.tolist(), abs=1e-6)
    # the seed's picture: the answer blue when right, red when wrong; bars the same
    colour = "blue" if best == CLASS_NAMES.index("Trouser") else "red"
    assert f"color:{colour}" in verdict and "(Trouser)" in verdict
    assert bars["data"][CLASS_NAMES.index("Trouser")][2] == "true class"
    shown = np.asarray(Image.open(seen))
    assert shown.shape[:2] == (168, 168)  # the 28x28 image, 6x
    assert np.array_equal(shown[::6, ::6, 0] if shown.ndim == 3 else shown[::6, ::6],
                          read_user_picture(path).image.numpy())


def test_classify_a_sketch(app, tmp_path):
    drawing = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    drawing.paste((30, 30, 30, 255), (100, 20, 180, 260))  # a trouser-like bar
    drawing.save(tmp_path / "sketch.png")
    sketch = {"background": None, "layers": [],
              "composite": client_module.handle_file(tmp_path / "sketch.png")}
    _, verdict, bars, top3 = app["client"].predict("mlp", sketch, "",
                                                   api_name="/classify_sketch")
    assert top3["label"] in CLASS_NAMES and "color:black" in verdict
    assert sum(row[1] for row in bars["data"]) == pytest.approx(1, abs=1e-4)


def test_generate_a_grid_of_a_class_and_download_it(app):
    grid, download = app["client"].predict("gans/cgan", "Sneaker", 3, 1.2, 16,
                                           api_name="/generate")
    from fashionlab.gan.figures import grid_image

    image = Image.open(grid)
    assert image.size == grid_image(torch.zeros(16, 28, 28, dtype=torch.uint8), 8).size
    assert open(download["value"], "rb").read() == open(grid, "rb").read()
    again, _ = app["client"].predict("gans/cgan", "Sneaker", 3, 1.2, 16, api_name="/generate")
    assert np.array_equal(np.asarray(Image.open(again)), np.asarray(image))  # seeded
    other, _ = app["client"].predict("gans/cgan", "Bag", 3, 1.2, 16, api_name="/generate")
    assert not np.array_equal(np.asarray(Image.open(other)), np.asarray(image))
    message = error_of(lambda: app["client"].predict("gans/lite", "Sneaker", 0, 1.0, 8,
                                                     api_name="/generate"))
    assert "is an unconditional GAN: it cannot make a chosen class" in message


def test_fill_a_painted_region(app, tmp_path):
    path = photo_file(tmp_path, background="white")
    size = Image.open(path).size
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    layer.paste((255, 32, 32, 255), (0, size[1] // 3, size[0], size[1] // 2))  # a band
    layer.save(tmp_path / "layer.png")
    editor = {"background": client_module.handle_file(path),
              "layers": [client_module.handle_file(tmp_path / "layer.png")],
              "composite": client_module.handle_file(path)}
    result = np.asarray(Image.open(app["client"].predict("inpaint", editor,
                                                         api_name="/fill")).convert("RGB"))
    assert result.shape[1] > 3 * result.shape[0] - 30  # three pictures side by side
    red = (result[..., 0] > 200) & (result[..., 1] < 60)
    assert red.any()  # the region is shown in red
    empty = {"background": client_module.handle_file(path), "layers": [],
             "composite": client_module.handle_file(path)}
    message = error_of(lambda: app["client"].predict("inpaint", empty, api_name="/fill"))
    assert "paint the region to fill" in message


def test_impute_a_csv_and_download_the_filled_file(app, tmp_path):
    table = tmp_path / "readings.csv"
    rows = [["day", "pm25", "temp"]] + [[f"d{i}", str(10 + i), str(20 - i)] for i in range(12)]
    rows[3][1] = ""
    rows[7][2] = "NA"
    with open(table, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    download, plot, summary = app["client"].predict(client_module.handle_file(table), "mean",
                                                    api_name="/impute")
    filled = list(csv.reader(open(download["value"])))
    assert filled[0] == rows[0] and [r[0] for r in filled] == [r[0] for r in rows]
    assert all(cell for row in filled for cell in row)  # nothing left empty
    assert filled[3][1] == "16"  # the mean of the others (15.8), with their decimals (none)
    assert "filled 2 empty cell(s)" in summary and "with mean" in summary
    assert plot["type"] == "matplotlib" and plot["plot"].startswith("data:image/png")


def test_bad_input_is_one_message_and_the_server_lives_on(app, tmp_path):
    client = app["client"]
    blank = tmp_path / "wall.png"
    Image.new("RGB", (300, 200), (230, 228, 226)).save(blank)
    noisy = np.random.default_rng(0).normal(225, 3, (200, 300, 3)).clip(0, 255)
    Image.fromarray(noisy.astype(np.uint8)).save(tmp_path / "noisy.jpg")
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(500))
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(photo_file(tmp_path, "whole").read_bytes()[:2000])
    text = tmp_path / "words.csv"
    text.write_text("name,city\nann,paris\nbob,\n")
    for call, message in (
        (lambda: client.predict("mlp", client_module.handle_file(blank), "",
                                api_name="/classify"), "shows nothing"),
        (lambda: client.predict("mlp", client_module.handle_file(tmp_path / "noisy.jpg"), "",
                                api_name="/classify"), "shows nothing"),
        (lambda: client.predict("mlp", client_module.handle_file(corrupt), "",
                                api_name="/classify"), "error: corrupt.png is not an image"),
        (lambda: client.predict("mlp", client_module.handle_file(truncated), "",
                                api_name="/classify"), "error: truncated.png could not be decoded"),
        (lambda: client.predict(client_module.handle_file(text), "auto", api_name="/impute"),
         "has no numeric column"),
        (lambda: client.predict("mlp", None, "", api_name="/classify"), "upload a picture"),
    ):
        assert message in error_of(call)
    huge = tmp_path / "huge.png"
    huge.write_bytes(os.urandom(21 * 1024 * 1024))  # over the 20 MB upload limit
    with pytest.raises(Exception, match="(?i)size|large|413"):
        client.predict("mlp", client_module.handle_file(huge), "", api_name="/classify")
    # a run of another kind: the page offers only runs of the tab's kind
    message = error_of(lambda: client.predict("inpaint", client_module.handle_file(
        photo_file(tmp_path)), "", api_name="/classify"))
    assert "not in the list of choices" in message
    # the server still answers
    _, verdict, _, _ = client.predict("mlp", client_module.handle_file(photo_file(tmp_path)),
                                      "", api_name="/classify")
    assert "%" in verdict
    assert list(app["cwd"].iterdir()) == []


def test_a_page_without_runs_says_which_command_makes_them(tmp_path):
    import httpx

    from fashionlab.app.page import serve

    server = serve(tmp_path / "none", block=False)
    try:
        config = httpx.get(f"{server.url}config", timeout=30).text
    finally:
        server.close()
    assert "No classifier run under" in config and "fashionlab demo --quick" in config
    assert "fashionlab train gan --model cgan" in config
    assert not server.folder.exists()  # its temporary folder goes with it


def test_the_command_line_starts_the_server_with_its_options(monkeypatch, tmp_path):
    import fashionlab.app.page as page

    called = {}
    monkeypatch.setattr(page, "serve", lambda *args: called.setdefault("args", args))
    assert main(["app", "--runs", str(tmp_path), "--port", "7999", "--host", "0.0.0.0"]) == 0
    assert called["args"] == (str(tmp_path), "0.0.0.0", 7999)


def test_runs_are_found_by_kind_loaded_once_and_checked(tmp_path):
    from fashionlab.app.actions import Runs
    from fashionlab.errors import FashionlabError

    runs_dir = tmp_path / "runs"
    make_classifier_run(runs_dir / "a", "mlp")
    make_classifier_run(runs_dir / "b", "mlp")
    make_inpaint_run(runs_dir / "c", width=4)
    runs = Runs(runs_dir)
    assert runs.choices("classifier") == [("a (mlp)", "a"), ("b (mlp)", "b")]
    first = runs.load("classifier", "a")
    assert runs.load("classifier", "a") is first
    with pytest.raises(FashionlabError, match="no classifier run named 'c'"):
        runs.load("classifier", "c")  # the inpainting run, asked for as a classifier
    with pytest.raises(FashionlabError, match="no classifier run named '../a'"):
        runs.load("classifier", "../a")  # names, not paths
    # a folder that became a run of another kind after the page listed it
    config = json.loads((runs_dir / "b" / "config.json").read_text())
    (runs_dir / "b" / "config.json").write_text(json.dumps({**config, "kind": "gan"}))
    with pytest.raises(FashionlabError, match="is a gan run, not a classifier run"):
        runs.load("classifier", "b")
    shutil.rmtree(runs_dir)
    runs.refresh()
    assert runs.choices("classifier") == [] and "No classifier run" in runs.missing("classifier")
    with pytest.raises(FashionlabError, match="No classifier run under"):
        runs.load("classifier", None)
