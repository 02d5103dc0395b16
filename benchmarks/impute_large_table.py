"""Write the large table that ``impute --method auto`` and ``--method missforest`` were timed on.

``--rows`` rows of ``--columns`` columns: five seeded random walks (hours in time order)
mixed into every column, plus noise, three decimals, 5% of the cells left empty at
random. The timings, with their commands and the load average, are in
``docs/impute-large-tables.md``.

    python benchmarks/impute_large_table.py big.csv --rows 100000 --columns 50
"""

from __future__ import annotations

import argparse

import numpy as np


def large_table(rows: int, columns: int, seed: int = 0) -> np.ndarray:
    """Text cells (rows, columns): correlated random walks, 5% of them empty."""
    rng = np.random.default_rng(seed)
    walks = np.cumsum(rng.normal(size=(rows, 5)), axis=0)
    values = walks @ rng.normal(size=(5, columns)) + rng.normal(scale=0.5, size=(rows, columns))
    cells = np.round(values, 3).astype(str)
    cells[rng.random((rows, columns)) < 0.05] = ""
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="CSV file to write")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--columns", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cells = large_table(args.rows, args.columns, args.seed)
    with open(args.out, "w") as f:
        f.write(",".join(f"c{j}" for j in range(args.columns)) + "\n")
        f.writelines(",".join(row) + "\n" for row in cells)


if __name__ == "__main__":
    main()
