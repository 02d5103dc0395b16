"""The seed's two Keras models as the TensorFlow tutorials write them, driven by vs_notebooks.py.

Runs in its own environment with ``tensorflow-cpu`` (never a fashionlab dependency):

    python -m venv /work/venvs/tf && /work/venvs/tf/bin/pip install tensorflow-cpu numpy

and imports nothing from fashionlab. ``benchmarks/vs_notebooks.py`` starts it once and
sends it one JSON command per line on stdin; it answers one JSON line per command on
stdout, so the two frameworks' runs can alternate while each keeps its warm state
(traced functions, allocator) between turns:

    {"cmd": "setup", "data_dir": DIR, "threads": 0, "seed": 0, "limit": null}
                                    -> {"tf": version, ...}  (limit: first N training images)
    {"cmd": "mlp", "epochs": N}     -> {"seconds": [per epoch], "cpu": [...]}  (same model on)
    {"cmd": "mlp_test"}             -> {"accuracy": test accuracy}
    {"cmd": "gan", "steps": N}      -> {"seconds": total, "cpu": total}       (same GAN on)

"seconds" are wall-clock seconds, "cpu" the process's CPU seconds over the same span.
    {"cmd": "quit"}

The models, straight from the tutorials:
- "Basic classification: Classify images of clothing": Flatten -> Dense(128, relu) ->
  Dense(10), Adam (Keras defaults), sparse categorical cross-entropy from logits,
  ``model.fit`` with its default batch of 32, pixels / 255;
- "Deep Convolutional Generative Adversarial Network": the generator Dense(7*7*256, no
  bias) -> BN -> LeakyReLU -> Reshape -> Conv2DTranspose(128, 5, 1) -> BN -> LeakyReLU ->
  Conv2DTranspose(64, 5, 2) -> BN -> LeakyReLU -> Conv2DTranspose(1, 5, 2, tanh), the
  discriminator Conv2D(64, 5, 2) -> LeakyReLU -> Dropout(0.3) -> Conv2D(128, 5, 2) ->
  LeakyReLU -> Dropout(0.3) -> Flatten -> Dense(1), binary cross-entropy from logits, two
  Adam(1e-4), batch 256, pixels to [-1, 1], ``tf.data`` shuffle(60000).batch(256) and the
  tutorial's ``@tf.function`` train step (both gradients from one forward pass).
"""

from __future__ import annotations

import gzip
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep stdout/stderr for the protocol

import numpy as np  # noqa: E402


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (.gz, or unzipped beside) as a uint8 array: (N, 28, 28) or (N,)."""
    data = gzip.open(path).read() if path.is_file() else path.with_suffix("").read_bytes()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


class Notebooks:
    """The two tutorials' models and training code, kept warm between commands."""

    def __init__(self, data_dir: str, threads: int, seed: int, limit: int | None = None):
        import tensorflow as tf

        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        tf.keras.utils.set_random_seed(seed)
        self.tf = tf
        root = Path(data_dir)
        self.train_images = read_idx(root / "train-images-idx3-ubyte.gz")[:limit]
        self.train_labels = read_idx(root / "train-labels-idx1-ubyte.gz")[:limit]
        self.test_images = read_idx(root / "t10k-images-idx3-ubyte.gz")
        self.test_labels = read_idx(root / "t10k-labels-idx1-ubyte.gz")
        self.mlp = None
        self.gan_batches = None

    # ------------------------------------------------------------------ classifier tutorial
    def build_mlp(self):
        tf = self.tf
        model = tf.keras.Sequential([
            tf.keras.Input(shape=(28, 28)),
            tf.keras.layers.Flatten(),
            tf.keras.layers.Dense(128, activation="relu"),
            tf.keras.layers.Dense(10),
        ])
        model.compile(optimizer="adam",
                      loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
        return model

    def mlp_epochs(self, epochs: int) -> tuple[list[float], list[float]]:
        """Wall and CPU seconds of each of ``epochs`` more epochs."""
        if self.mlp is None:
            self.mlp = self.build_mlp()
        x = self.train_images / 255.0
        seconds, cpu = [], []
        for _ in range(epochs):  # one fit call per epoch, so that each is timed alone
            start, cpu_start = time.perf_counter(), time.process_time()
            self.mlp.fit(x, self.train_labels, epochs=1, verbose=0)
            seconds.append(time.perf_counter() - start)
            cpu.append(time.process_time() - cpu_start)
        return seconds, cpu

    def mlp_test(self) -> float:
        _, accuracy = self.mlp.evaluate(self.test_images / 255.0, self.test_labels, verbose=0)
        return float(accuracy)

    # ------------------------------------------------------------------ DCGAN tutorial
    def build_gan(self):
        tf = self.tf
        layers = tf.keras.layers
        generator = tf.keras.Sequential([
            tf.keras.Input(shape=(100,)),
            layers.Dense(7 * 7 * 256, use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(),
            layers.Reshape((7, 7, 256)),
            layers.Conv2DTranspose(128, (5, 5), strides=(1, 1), padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(),
            layers.Conv2DTranspose(64, (5, 5), strides=(2, 2), padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(),
            layers.Conv2DTranspose(1, (5, 5), strides=(2, 2), padding="same", use_bias=False,
                                   activation="tanh"),
        ])
        discriminator = tf.keras.Sequential([
            tf.keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(64, (5, 5), strides=(2, 2), padding="same"),
            layers.LeakyReLU(),
            layers.Dropout(0.3),
            layers.Conv2D(128, (5, 5), strides=(2, 2), padding="same"),
            layers.LeakyReLU(),
            layers.Dropout(0.3),
            layers.Flatten(),
            layers.Dense(1),
        ])
        cross_entropy = tf.keras.losses.BinaryCrossentropy(from_logits=True)
        generator_optimizer = tf.keras.optimizers.Adam(1e-4)
        discriminator_optimizer = tf.keras.optimizers.Adam(1e-4)
        batch_size, noise_dim = 256, 100

        @tf.function
        def train_step(images):
            noise = tf.random.normal([batch_size, noise_dim])
            with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
                generated_images = generator(noise, training=True)
                real_output = discriminator(images, training=True)
                fake_output = discriminator(generated_images, training=True)
                gen_loss = cross_entropy(tf.ones_like(fake_output), fake_output)
                disc_loss = (cross_entropy(tf.ones_like(real_output), real_output)
                             + cross_entropy(tf.zeros_like(fake_output), fake_output))
            gradients_of_generator = gen_tape.gradient(gen_loss, generator.trainable_variables)
            gradients_of_discriminator = disc_tape.gradient(
                disc_loss, discriminator.trainable_variables)
            generator_optimizer.apply_gradients(
                zip(gradients_of_generator, generator.trainable_variables, strict=True))
            discriminator_optimizer.apply_gradients(
                zip(gradients_of_discriminator, discriminator.trainable_variables, strict=True))

        images = self.train_images.reshape(-1, 28, 28, 1).astype("float32")
        images = (images - 127.5) / 127.5
        dataset = tf.data.Dataset.from_tensor_slices(images).shuffle(60000).batch(batch_size)
        if len(images) < batch_size:  # a dry run's few images: one short batch, repeated
            dataset = dataset.repeat(batch_size)
        return train_step, dataset

    def gan_steps(self, steps: int) -> tuple[float, float]:
        """Wall and CPU seconds of ``steps`` tutorial steps on full batches (a new shuffled
        epoch when one ends)."""
        if self.gan_batches is None:
            self.train_step, self.dataset = self.build_gan()
            self.gan_batches = iter(self.dataset)
        start, cpu_start = time.perf_counter(), time.process_time()
        done = 0
        while done < steps:
            batch = next(self.gan_batches, None)
            if batch is None or batch.shape[0] != 256:  # the short last batch: a new epoch
                self.gan_batches = iter(self.dataset)
                continue
            self.train_step(batch)
            done += 1
        return time.perf_counter() - start, time.process_time() - cpu_start


def main() -> None:
    notebooks = None
    reply = sys.stdout
    sys.stdout = sys.stderr  # anything TensorFlow prints must not reach the protocol
    for line in sys.stdin:
        command = json.loads(line)
        name = command["cmd"]
        if name == "setup":
            notebooks = Notebooks(command["data_dir"], command.get("threads", 0),
                                  command.get("seed", 0), command.get("limit"))
            tf = notebooks.tf
            answer = {"tf": tf.__version__, "keras": tf.keras.__version__,
                      "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads()}
        elif name == "mlp":
            seconds, cpu = notebooks.mlp_epochs(command["epochs"])
            answer = {"seconds": seconds, "cpu": cpu}
        elif name == "mlp_test":
            answer = {"accuracy": notebooks.mlp_test()}
        elif name == "gan":
            seconds, cpu = notebooks.gan_steps(command["steps"])
            answer = {"seconds": seconds, "cpu": cpu}
        elif name == "quit":
            break
        else:
            answer = {"error": f"unknown command {name!r}"}
        reply.write(json.dumps(answer) + "\n")
        reply.flush()


if __name__ == "__main__":
    main()
