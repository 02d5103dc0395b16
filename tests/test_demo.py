"""The main job: `fashionlab demo --quick` writes a complete, valid, self-contained report."""

from __future__ import annotations

import base64
import io
import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from fashionlab.cli import main
from fashionlab.report.sections import SECTIONS


@pytest.fixture(scope="module")
def quick_demo(tmp_path_factory, fashion_dir) -> Path:
    out = tmp_path_factory.mktemp("demo")
    air = Path(__file__).resolve().parents[2] / "shared" / "data" / "air-quality"
    code = main(["demo", "--quick", "--out", str(out), "--data-dir", str(fashion_dir),
                 "--air-quality-dir", str(air), "--device", "cpu"])
    assert code == 0
    return out


def _numbers(obj):
    if isinstance(obj, dict):
        for value in obj.values():
            yield from _numbers(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from _numbers(value)
    elif isinstance(obj, float):
        yield obj


def test_every_section_is_in_the_report(quick_demo):
    results = json.loads((quick_demo / "results.json").read_text())
    assert list(results["sections"]) == [key for key, _, _ in SECTIONS]
    html = (quick_demo / "report.html").read_text()
    for key, title, _ in SECTIONS:
        assert f"id='{key}'" in html and title in html
    for key, section in results["sections"].items():
        assert section["status"] == "ok", f"{key}: {section['text']}"
        assert section["how"], f"section {key} does not say how its numbers were made"


def test_cnn_section_trains_the_five_minute_model(quick_demo):
    """The demo's CNN is the five-minute benchmark's choice, not the plain default cnn."""
    config = json.loads((quick_demo / "cnn" / "config.json").read_text())
    assert config["model"] == "cnn"
    assert config["model_args"] == {"widths": [24, 48, 96], "pool_first": True, "head_grid": 3}
    results = json.loads((quick_demo / "results.json").read_text())
    assert "pool_first=true" in results["sections"]["cnn"]["text"]


def test_numbers_are_finite_and_images_valid(quick_demo):
    results = json.loads((quick_demo / "results.json").read_text())
    values = list(_numbers(results))
    assert values and all(math.isfinite(v) for v in values)
    figures = [Path(p) for s in results["sections"].values() for p in s["figures"].values()]
    assert len(figures) >= len(SECTIONS)
    for path in figures:
        with Image.open(path) as img:
            img.verify()
    html = (quick_demo / "report.html").read_text()
    embedded = re.findall(r"src='data:image/(png|gif);base64,([^']+)'", html)
    assert len(embedded) == len(figures)
    for _, data in embedded:
        Image.open(io.BytesIO(base64.b64decode(data))).verify()
    assert "http://" not in html and "https://" not in html  # opens offline


def test_unknown_section_is_a_clear_error(capsys, tmp_path):
    code = main(["demo", "--quick", "--only", "nothing", "--out", str(tmp_path / "d")])
    assert code == 2 and "unknown demo section" in capsys.readouterr().err


def test_missing_fashion_mnist_stops_the_demo_before_it_writes(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("FASHIONLAB_DATA", raising=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    code = main(["demo", "--quick", "--data-dir", str(empty), "--out", str(tmp_path / "d")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"the Fashion-MNIST folder {empty}" in err and "--data-dir" in err
    assert not (tmp_path / "d").exists()


def test_missing_air_quality_data_is_a_skipped_section_not_a_crash(tmp_path, fashion_dir,
                                                                   monkeypatch):
    from fashionlab.report.demo import DemoConfig, run_demo

    keys = [key for key, _, _ in SECTIONS]
    if "impute" not in keys:
        pytest.skip("the imputation section is not part of the demo")
    monkeypatch.delenv("FASHIONLAB_AIR_QUALITY", raising=False)
    results = run_demo(DemoConfig(profile="quick", out=str(tmp_path / "d"),
                                  data_dir=str(fashion_dir), air_quality_dir=str(tmp_path / "no"),
                                  only=["impute"]), log=lambda _: None)
    section = results["sections"]["impute"]
    assert section["status"] == "skipped" and "air-quality" in section["text"]
    assert "Skipped:" in (tmp_path / "d" / "report.html").read_text()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

_PROBE = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const broken = imgs.filter(i => !i.complete || i.naturalWidth === 0).length;
  document.title = 'images=' + imgs.length + ' broken=' + broken;
});
</script>"""


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
def test_report_renders_in_a_real_browser_without_broken_images(quick_demo, tmp_path):
    # The report itself has no script; a copy with a probe reports what the browser decoded.
    probe = tmp_path / "probe.html"
    html = (quick_demo / "report.html").read_text()
    probe.write_text(html.replace("</body>", _PROBE + "</body>"))
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    match = re.search(r"<title>images=(\d+) broken=(\d+)</title>", result.stdout)
    assert match, result.stderr[-2000:]
    images, broken = map(int, match.groups())
    assert images >= len(SECTIONS) and broken == 0
