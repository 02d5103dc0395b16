"""`fashionlab app` in a real browser (headless Chromium driven by Playwright): upload a
photo and read the predicted class, ask for a class and see a grid, upload a CSV and
download the filled file.

With FASHIONLAB_SCREENSHOTS=FOLDER it saves a screenshot of each tab there.
FASHIONLAB_APP_RUNS=DIR serves the runs there (those ``fashionlab demo`` makes: a
classifier, a conditional GAN, an inpainting run) instead of the tiny untrained ones made
here, and shows the page a photo of a real test image, so that the screenshots show real
answers. The README's come from ``fashionlab demo --only mlp cgan inpaint --out DIR``,
then ``FASHIONLAB_SCREENSHOTS=docs/images FASHIONLAB_APP_RUNS=DIR pytest -m browser
tests/test_app_browser.py`` (docs/app.md).
"""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import make_classifier_run, make_gan_run, make_inpaint_run
from fashionlab.data import CLASS_NAMES
from fashionlab.data.photos import PhotoStyle, render_photo

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
playwright = pytest.importorskip("playwright.sync_api")
pytest.importorskip("gradio")
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed "
                                 "(apt-get install chromium)")]
TIMEOUT = 60_000  # ms: a busy 2-core machine


def runs_folder(tmp_path: Path) -> Path:
    if os.environ.get("FASHIONLAB_APP_RUNS"):
        return Path(os.environ["FASHIONLAB_APP_RUNS"])
    runs = tmp_path / "runs"
    make_classifier_run(runs / "mlp", "mlp")
    make_gan_run(runs / "cgan", "cgan", {"g_width": 16, "d_width": 8})
    make_inpaint_run(runs / "inpaint", width=4)
    return runs


def garment(request) -> tuple[np.ndarray, str]:
    """The garment photographed for the page, and its true class: the first test image (an
    ankle boot) with real runs, a trouser-like block (its longest edge the full height)
    with the untrained ones."""
    if os.environ.get("FASHIONLAB_APP_RUNS"):
        fashion = request.getfixturevalue("fashion")
        return fashion.test_images[0].numpy(), CLASS_NAMES[int(fashion.test_labels[0])]
    block = np.zeros((28, 28), dtype=np.uint8)
    block[:, 8:20] = 210
    return block, "Trouser"


def shot(page, name: str) -> None:
    folder = os.environ.get("FASHIONLAB_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"app-{name}.png"), full_page=True)


@pytest.fixture
def page(tmp_path):
    from fashionlab.app.page import serve

    server = serve(runs_folder(tmp_path), block=False)
    with playwright.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1280, "height": 900}, accept_downloads=True)
        try:
            tab = context.new_page()
            tab.set_default_timeout(TIMEOUT)
            tab.goto(server.url)
            yield tab
        finally:
            context.close()
            server.close()


def test_the_page_classifies_generates_and_imputes(page, tmp_path, request):
    image, truth = garment(request)
    photo = render_photo(image, np.random.default_rng(0), PhotoStyle(backgrounds=("white",)))
    picture = tmp_path / f"photo{photo.suffix}"
    picture.write_bytes(photo.data)

    # Classify: give the true class, upload a photo, read the predicted class
    page.get_by_role("tab", name="Classify").click()
    page.get_by_label("true class (optional: colours the answer)").click()
    page.get_by_role("option", name=truth, exact=True).click()
    page.locator("#photo input[type=file]").set_input_files(str(picture))
    page.get_by_role("button", name="Classify the photo").click()
    verdict = page.locator("#verdict p")
    verdict.wait_for()
    answer, _, given = verdict.inner_text().partition(" (")  # "Sneaker 87% (Ankle boot)"
    predicted = answer.rsplit(" ", 1)[0]
    assert predicted in CLASS_NAMES and given == f"{truth})"
    colour = verdict.evaluate("p => p.style.color")
    assert colour == ("blue" if predicted == truth else "red")
    page.wait_for_timeout(1000)  # the bar chart draws itself
    shot(page, "classify")

    # Generate: ask for a class, see a grid
    page.get_by_role("tab", name="Generate").click()
    choose = page.get_by_label("class (conditional runs)")
    choose.click()
    page.get_by_role("option", name="Sneaker", exact=True).click()
    page.get_by_role("button", name="Generate", exact=True).click()
    grid = page.locator("#grid img")
    grid.wait_for()
    size = grid.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert size[0] > 500 and size[1] > 300  # 32 images, 8 a row, 3x
    shot(page, "generate")

    # Fill: upload a picture of the garment in the middle, paint a stroke across it, fill
    centred = Image.new("RGB", (280, 280), (245, 245, 245))
    coverage = Image.fromarray(image).resize((224, 224), Image.Resampling.BICUBIC)
    centred.paste((40, 40, 60), (28, 28), coverage)
    centred.save(tmp_path / "centred.png")
    page.get_by_role("tab", name="Fill").click()
    with page.expect_file_chooser() as chooser:
        page.locator("#fill-editor").get_by_text("Upload an image").click()
    chooser.value.set_files(str(tmp_path / "centred.png"))
    canvas = page.locator("#fill-editor canvas").first
    canvas.wait_for()
    page.wait_for_timeout(1000)
    box = canvas.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x - 40, y)
    page.mouse.down()
    page.mouse.move(x + 40, y, steps=10)
    page.mouse.up()
    page.get_by_role("button", name="Fill the painted region").click()
    filled = page.locator("#filled img")
    filled.wait_for()
    assert filled.evaluate("img => img.naturalWidth") == 3 * 168  # three 28x28, 6x
    shot(page, "fill")

    # Impute: upload a CSV, download the filled file
    table = tmp_path / "readings.csv"
    rows = [["day", "pm25"]] + [[f"d{i}", str(10 + i)] for i in range(10)]
    rows[4][1] = ""
    with open(table, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    page.get_by_role("tab", name="Impute").click()
    page.locator("#csv input[type=file]").set_input_files(str(table))
    page.get_by_label("method").click()
    page.get_by_role("option", name="mean", exact=True).click()
    page.get_by_role("button", name="Fill the empty cells").click()
    page.get_by_text("filled 1 empty cell(s)").wait_for()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the filled CSV").click()
    saved = tmp_path / "filled.csv"
    download.value.save_as(saved)
    filled = list(csv.reader(open(saved)))
    assert filled[4] == ["d3", "15"] and len(filled) == len(rows)
    shot(page, "impute")
