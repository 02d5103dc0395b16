"""On-device batching: the whole data set is one tensor, batches are slices of it.

A per-sample ``DataLoader`` spends most of its time in Python for 28x28 images;
slicing a resident tensor costs one indexing call per batch.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

# Images per forward pass when nothing is learned (validation, test, predict, features):
# the narrow cnn on one CPU core evaluated 2,000 images 2.2x faster in batches of 256 than
# of 1,000 (its activations then stay in the cache); batches of 128 or 64 were no faster.
EVAL_BATCH_SIZE = 256


def shuffled_batches(
    n: int,
    batch_size: int,
    generator: torch.Generator,
    drop_last: bool = False,
    shard: tuple[int, int] = (0, 1),
) -> Iterator[torch.Tensor]:
    """Yield index tensors of a fresh random permutation of ``range(n)``.

    ``shard=(rank, world_size)`` keeps every ``world_size``-th index from ``rank``
    (after shuffling with the shared generator, so shards never overlap).
    """
    order = torch.randperm(n, generator=generator)
    rank, world = shard
    if world > 1:
        usable = n - n % world
        order = order[rank:usable:world]
    stop = len(order) - len(order) % batch_size if drop_last else len(order)
    for start in range(0, stop, batch_size):
        yield order[start : start + batch_size]
