"""Both trainers under `torchrun --nproc_per_node=2` (gloo, CPU) on tiny synthetic data.

The test launches this file through torchrun; each process trains a classifier and
a conditional GAN for one short epoch (in each step order), then (as the test's own
bookkeeping, not the library's) saves its final weights so the test can check that all
ranks agree.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


def worker(out: Path) -> None:
    """Runs inside each torchrun process."""
    sys.path.insert(0, str(HERE))
    import fashionlab.classifier.train as classifier_trainer
    from conftest import synthetic_fashion
    from fashionlab.classifier.train import ClassifierConfig, train_classifier
    from fashionlab.gan.train import GanConfig, train_gan

    data = synthetic_fashion(n_train=128, n_test=32)
    rank = int(os.environ["RANK"])

    # record the module the classifier trainer wraps in DDP (it returns no model)
    wrapped: list[torch.nn.Module] = []
    ddp = torch.nn.parallel.DistributedDataParallel

    class Recording(ddp):
        def __init__(self, module, *args, **kwargs):
            super().__init__(module, *args, **kwargs)
            wrapped.append(module)

    torch.nn.parallel.DistributedDataParallel = Recording
    classifier_trainer.load_fashion_mnist = lambda *args, **kwargs: data
    clf = train_classifier(ClassifierConfig(
        epochs=1, batch_size=16, n_val=32, device="cpu", out=str(out / "classifier"),
        figures=False))
    torch.nn.parallel.DistributedDataParallel = ddp

    gan = train_gan(GanConfig(
        model="cgan", model_args={"g_width": 16, "d_width": 8}, epochs=1, batch_size=16,
        samples=2, device="cpu", out=str(out / "gan")), data)
    shared = train_gan(GanConfig(
        model="cgan", model_args={"g_width": 16, "d_width": 8}, epochs=1, batch_size=16,
        samples=2, device="cpu", out=str(out / "gan-shared"), step_order="shared",
        figures=False), data)
    torch.save({
        "shared_generator": shared.generator.state_dict(),
        "shared_discriminator": shared.discriminator.state_dict(),
        "classifier": wrapped[0].state_dict(),
        "classifier_history": clf.history,
        "generator": gan.generator.state_dict(),
        "discriminator": gan.discriminator.state_dict(),
        "gan_history": gan.history,
    }, out / f"rank{rank}.pt")


def test_two_cpu_processes_train_both_models_in_lockstep(tmp_path):
    # TMPDIR: torchrun leaves a torchelastic_* folder in the temporary directory
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore",
           "TMPDIR": str(tmp_path)}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
               "--master_port=0", "--rdzv_backend=c10d", "--rdzv_endpoint=localhost:0",
               __file__, str(tmp_path)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]

    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    for key in ("classifier", "generator", "discriminator", "shared_generator",
                "shared_discriminator"):
        first, second = ranks[0][key], ranks[1][key]
        assert first.keys() == second.keys()
        for name in first:
            assert torch.equal(first[name], second[name]), f"{key}.{name} differs across ranks"
    for run in ("classifier", "gan"):  # written once, by rank 0: one row per epoch, no duplicate
        rows = (tmp_path / run / "metrics.jsonl").read_text().splitlines()
        assert [json.loads(row)["epoch"] for row in rows] == [1]
        assert json.loads((tmp_path / run / "config.json").read_text())["kind"] in ("classifier",
                                                                                    "gan")
    assert (tmp_path / "classifier" / "model.safetensors").is_file()
    assert (tmp_path / "gan" / "generator.safetensors").is_file()
    assert (tmp_path / "gan" / "figures" / "samples" / "epoch_001.png").is_file()
    gan_row = json.loads((tmp_path / "gan" / "metrics.jsonl").read_text())
    clf_row = ranks[0]["classifier_history"][0]
    assert all(torch.isfinite(torch.tensor(v)) for v in (gan_row["loss_g"], gan_row["loss_d"],
                                                        clf_row["loss"]))
    # the epoch averages are reduced over both processes, so every rank reports the same
    histories = [[{k: v for k, v in row.items() if k != "seconds"} for row in r["gan_history"]]
                 for r in ranks]
    assert histories[0] == histories[1]
    # 128 images sharded over 2 processes in batches of 16: 4 steps each, all images seen once
    assert (gan_row["steps"], gan_row["images"]) == (4, 128)


if __name__ == "__main__":
    worker(Path(sys.argv[1]))
