"""A multivariate normal fitted by EM to a table with gaps, and the fill it implies.

:class:`fashionlab.impute.GainImputer` hands this fill to its generator as the starting
point it corrects (``start="gaussian"``): the conditional mean of each gap given the
row's other cells, exact for any pattern of gaps.
"""

from __future__ import annotations

import torch

RIDGE = 1e-3  # added to the covariance diagonal (values in [0, 1]): keeps it invertible


def fit_gaussian(
    x: torch.Tensor, observed: torch.Tensor, n_iterations: int = 50, tol: float = 1e-6
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and precision matrix of a multivariate normal fitted by EM to the observed cells.

    ``x`` (n, d) holds anything where ``observed`` is 0. The E-step fills each
    row's gaps with their conditional mean and adds their conditional
    covariance; ``RIDGE`` on the diagonal keeps the covariance invertible.
    Stops when no entry of the mean or covariance moves by more than ``tol``.
    """
    n, d = x.shape
    count = observed.sum(0).clamp_min(1)
    mean = (x * observed).sum(0) / count
    var = (((x - mean) * observed) ** 2).sum(0) / count
    cov = torch.diag(var) + RIDGE * torch.eye(d, dtype=x.dtype)
    chunk = max(1, 2**22 // (d * d))
    for _ in range(n_iterations):
        precision = torch.linalg.inv(cov)
        filled, spread = [], torch.zeros(d, d, dtype=x.dtype)
        for i in range(0, n, chunk):
            f, system = _conditional(x[i:i + chunk], observed[i:i + chunk], mean, precision)
            gaps = 1 - observed[i:i + chunk]
            # conditional covariance of the gaps = inverse of the precision's gap block
            spread += (torch.linalg.inv(system) * gaps[:, :, None] * gaps[:, None, :]).sum(0)
            filled.append(f)
        filled = torch.cat(filled)
        new_mean = filled.mean(0)
        centred = filled - new_mean
        new_cov = (centred.T @ centred + spread) / n + RIDGE * torch.eye(d, dtype=x.dtype)
        moved = max((new_mean - mean).abs().max().item(), (new_cov - cov).abs().max().item())
        mean, cov = new_mean, new_cov
        if moved < tol:
            break
    return mean, torch.linalg.inv(cov)


def gaussian_fill(
    x: torch.Tensor, given: torch.Tensor, mean: torch.Tensor, precision: torch.Tensor
) -> torch.Tensor:
    """``x`` where ``given``, elsewhere the conditional mean given the row's given cells."""
    chunk = max(1, 2**22 // (x.shape[1] ** 2))
    return torch.cat([_conditional(x[i:i + chunk], given[i:i + chunk], mean, precision)[0]
                      for i in range(0, len(x), chunk)])


def _conditional(
    x: torch.Tensor, given: torch.Tensor, mean: torch.Tensor, precision: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(filled rows, per-row systems). With Q the precision, the gaps' conditional
    mean is ``mean_m - Q_mm^-1 Q_mg (x_g - mean_g)``; each row's system is Q_mm
    padded with the identity on the given cells, so one batched solve does all rows."""
    gaps = 1 - given
    system = gaps[:, :, None] * precision * gaps[:, None, :] + torch.diag_embed(given)
    rhs = -gaps * ((given * (x - mean)) @ precision)
    shift = torch.linalg.solve(system, rhs.unsqueeze(-1)).squeeze(-1)
    return given * x + gaps * (mean + shift), system
