"""Shared fixtures: the real data from ../shared (integration) and tiny synthetic data (unit)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch

from fashionlab.data.fashion_mnist import FashionMNIST

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
FASHION_DIR = Path(os.environ.get("FASHIONLAB_DATA", SHARED_DATA / "fashion-mnist"))
AIR_QUALITY_DIR = SHARED_DATA / "air-quality"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    # No test may read or fill the user's real cache, or find data by accident.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path_factory.mktemp("keras")))
    monkeypatch.delenv("FASHIONLAB_DATA", raising=False)


@pytest.fixture
def ctrl_c_raises():
    """Ctrl-C (SIGINT) with Python's own meaning, ``KeyboardInterrupt``, for one test.

    A shell starts a background job (``cmd &``, ``nohup``) with SIGINT ignored, and Python
    then keeps it ignored: a test that presses Ctrl-C with ``signal.raise_signal`` would see
    nothing happen. Tests of what Ctrl-C does install the default handler for themselves and
    put the old one back after, so they pass however the suite was started."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a test module of tiny tensors: extra threads only add overhead,
    and on a machine whose 2 cores are shared OpenMP threads spin-wait (a 1-second test
    took 40 s). Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``. The same
    holds for the BLAS and OpenMP pools of NumPy and scikit-learn (threadpoolctl): a tiny
    logistic regression took 8 s instead of 0.3 s."""
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def fashion_dir() -> Path:
    """The real Fashion-MNIST folder (integration tests)."""
    if not (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"Fashion-MNIST not found at {FASHION_DIR}")
    return FASHION_DIR


@pytest.fixture(scope="session")
def fashion(fashion_dir) -> FashionMNIST:
    from fashionlab.data import load_fashion_mnist

    return load_fashion_mnist(fashion_dir)


def synthetic_fashion(n_train: int = 256, n_test: int = 64, seed: int = 0) -> FashionMNIST:
    """Tiny learnable data: class c is a bright horizontal band at rows 2c..2c+5, plus noise."""
    g = torch.Generator().manual_seed(seed)

    def make(n):
        labels = torch.randint(0, 10, (n,), generator=g)
        images = torch.randint(0, 40, (n, 28, 28), generator=g)
        for i, c in enumerate(labels.tolist()):
            images[i, 2 * c + 2 : 2 * c + 7, 4:24] += 200
        return images.clamp(0, 255).to(torch.uint8), labels

    train_x, train_y = make(n_train)
    test_x, test_y = make(n_test)
    return FashionMNIST(train_x, train_y, test_x, test_y, source=Path("synthetic"))


@pytest.fixture
def tiny_fashion() -> FashionMNIST:
    return synthetic_fashion()


@pytest.fixture
def classifier_data(monkeypatch) -> FashionMNIST:
    """Tiny synthetic data that the classifier trainer and ``classify`` load instead of
    Fashion-MNIST."""
    import fashionlab.classifier.predict as classify
    import fashionlab.classifier.train as trainer

    fake = synthetic_fashion(n_train=384, n_test=64)
    monkeypatch.setattr(trainer, "load_fashion_mnist", lambda *args, **kwargs: fake)
    monkeypatch.setattr(classify, "load_fashion_mnist", lambda *args, **kwargs: fake)
    return fake


def write_untrained_classifier_run(folder: Path) -> Path:
    """A classifier run folder holding a freshly initialised (seeded) ``mlp``: enough of a
    feature network for the GAN metrics' tests."""
    from fashionlab.classifier.train import ClassifierConfig, run_config
    from fashionlab.models import create_model
    from fashionlab.runtime.runs import Run

    torch.manual_seed(0)
    model = create_model("mlp", "classifier")
    run = Run(folder)
    run.write_config(run_config(ClassifierConfig(model="mlp"), model))
    run.save_weights(model.state_dict())
    return run.path


@pytest.fixture(scope="module")
def classifier_run(tmp_path_factory) -> Path:
    return write_untrained_classifier_run(tmp_path_factory.mktemp("runs") / "clf")


def _perturb_batch_norm(model: torch.nn.Module) -> None:
    """Running statistics away from 0 and 1, so that a model run in training mode (batch
    statistics) could not pass for one in eval mode."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


def make_classifier_run(path: Path, model: str, model_args: dict | None = None, **config):
    """An untrained classifier run folder (seeded weights), as load_classifier reads one."""
    from fashionlab.models import create_model
    from fashionlab.runtime.runs import Run

    run = Run(path)
    run.write_config({"kind": "classifier", "model": model, "model_args": model_args or {},
                      **config})
    torch.manual_seed(0)
    net = create_model(model, "classifier", **(model_args or {}))
    _perturb_batch_norm(net)
    run.save_weights(net.state_dict())
    return run


def make_gan_run(path: Path, model: str, model_args: dict | None = None):
    """An untrained GAN run folder (seeded generator weights), as load_generator reads one."""
    from fashionlab.models import create_model
    from fashionlab.runtime.runs import Run

    run = Run(path)
    run.write_config({"kind": "gan", "model": model, "model_args": model_args or {},
                      "conditional": model == "cgan"})
    torch.manual_seed(0)
    generator, _ = create_model(model, "gan", **(model_args or {}))
    _perturb_batch_norm(generator)
    run.save_weights(generator.state_dict(), "generator.safetensors")
    return run


def make_inpaint_run(path: Path, **settings):
    """An untrained inpainting run folder (seeded weights), as load_inpainter reads one."""
    from dataclasses import asdict

    from fashionlab.inpaint.train import InpaintConfig, build_models
    from fashionlab.runtime.runs import Run

    config = InpaintConfig(**settings)
    run = Run(path)
    run.write_config({"kind": "inpaint", **asdict(config)})
    torch.manual_seed(0)
    generator, _ = build_models(config)
    run.save_weights(generator.state_dict())
    return run


STATION_COLUMNS = ["a_pm", "a_t", "b_pm", "b_t"]  # 2 stations x 2 variables


def station_values(rows: int, seed: int, missing: float, outage: slice) -> np.ndarray:
    """Hourly values of ``STATION_COLUMNS`` (daily-ish sines plus noise), a ``missing`` share
    of cells lost at random and station a's two columns lost over the rows ``outage``."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows)[:, None]
    values = 10 + np.sin(t / 12 + np.arange(4)) + 0.1 * rng.standard_normal((rows, 4))
    values[rng.random(values.shape) < missing] = np.nan
    values[outage, 0:2] = np.nan
    return values
