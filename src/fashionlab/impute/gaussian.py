"""Normals and mixtures of normals fitted by EM to a table with gaps, and the fill they imply.

:class:`fashionlab.impute.MixtureForestImputer` fills with it (and GainImputer's generator
corrects that fill): the conditional mean of each gap given the row's other cells, exact
for any pattern of gaps. With one normal the fill is linear in
the given cells; a mixture weighs each component's conditional mean by how likely the
row's given cells are under it, which follows clusters (wine's three cultivars) that a
single normal averages away. :func:`choose_components` picks the number of components
on held-out cells.

Skewed columns (pollutant concentrations, rain) fit a normal poorly. With the imputer's
``power_transform="yeo-johnson"`` the mixture is fitted to each column's Yeo-Johnson
transform instead (:func:`fit_yeo_johnson`, standardised, on observed cells), and
:func:`mixture_expected_fill` fills each gap with the *mean of its back-transformed*
conditional distribution (Gauss-Hermite quadrature over each component's conditional
normal), not the back-transformed conditional mean: RMSE rewards the mean, and the
back-transform of the mean is a median-like value on a skewed column.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.preprocessing import PowerTransformer

RIDGE = 1e-3  # added to the covariance diagonal (values in [0, 1]): keeps it invertible
SHRINK = 0.5  # each component's covariance is pulled halfway to the pooled one (small tables)
CHOICE_ROWS = 2000  # rows (a seeded sample) on which choose_components compares candidates
GAUSS_HERMITE = 20  # quadrature nodes over each gap's conditional normal (expected fill)


def fit_mixture(
    x: torch.Tensor, observed: torch.Tensor, n_components: int, seed: int = 0,
    n_iterations: int = 50, tol: float = 1e-6,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Weights (K,), means (K, d) and covariances (K, d, d) of a mixture of normals fitted by EM.

    ``x`` (n, d) holds anything where ``observed`` is 0. One component starts from
    the observed means and variances; more start from k-means (seeded by ``seed``)
    on the one-component fill. The E-step weighs each component by the density of
    the row's observed cells and fills the gaps with that component's conditional
    mean (plus its conditional covariance); each component's covariance is then
    pulled ``SHRINK`` of the way to the weighted pooled one, and ``RIDGE`` added, so
    a component of a few dozen rows stays well conditioned. Stops when no entry of
    a mean or covariance moves by more than ``tol``. Rows sharing a pattern of gaps
    share their matrix work, so a long table with few patterns is fitted quickly.
    """
    n, d = x.shape
    eye = torch.eye(d, dtype=x.dtype)
    patterns = torch.unique(observed, dim=0, return_inverse=True)
    if n_components == 1:
        count = observed.sum(0).clamp_min(1)
        mean = (x * observed).sum(0) / count
        var = (((x - mean) * observed) ** 2).sum(0) / count
        weights, means = torch.ones(1, dtype=x.dtype), mean[None]
        covs = (torch.diag(var) + RIDGE * eye)[None]
    else:
        one = fit_mixture(x, observed, 1)
        start = mixture_fill(x, observed, *one)
        with warnings.catch_warnings():  # fewer distinct rows than components: EM copes
            warnings.filterwarnings("ignore", "Number of distinct clusters")
            labels = KMeans(n_components, n_init=5, random_state=seed).fit_predict(start.numpy())
        resp = torch.nn.functional.one_hot(torch.from_numpy(labels).long(), n_components)
        resp = resp.to(x.dtype)
        weights = resp.mean(0)
        means = (resp.T @ start) / resp.sum(0).clamp_min(1)[:, None]
        covs = one[2].expand(n_components, d, d).clone()
    for _ in range(n_iterations):
        terms = [_component(x, observed, means[k], covs[k], patterns)
                 for k in range(n_components)]
        log_p = torch.stack([t[0] for t in terms], 1) + torch.log(weights.clamp_min(1e-12))
        resp = torch.softmax(log_p, 1)  # (n, K)
        count = resp.sum(0).clamp_min(1e-8)
        new_means, new_covs = torch.empty_like(means), torch.empty_like(covs)
        for k, (_, filled, spread) in enumerate(terms):
            new_means[k] = resp[:, k] @ filled / count[k]
            centred = filled - new_means[k]
            per_pattern = torch.zeros(spread.patterns, dtype=x.dtype).index_add_(
                0, patterns[1], resp[:, k])  # (P,): the component's weight of each pattern
            scatter = (resp[:, k, None] * centred).T @ centred
            new_covs[k] = (scatter + spread.weighted_sum(per_pattern, d)) / count[k]
        weights = count / n
        pooled = (weights[:, None, None] * new_covs).sum(0)
        new_covs = (1 - SHRINK) * new_covs + SHRINK * pooled + RIDGE * eye
        moved = max((new_means - means).abs().max().item(), (new_covs - covs).abs().max().item())
        means, covs = new_means, new_covs
        if moved < tol:
            break
    return weights, means, covs


def mixture_fill(
    x: torch.Tensor, given: torch.Tensor, weights: torch.Tensor, means: torch.Tensor,
    covs: torch.Tensor,
) -> torch.Tensor:
    """``x`` where ``given``, elsewhere the mixture's conditional mean given the row's given cells.

    Computed in the dtype of ``means``; with one component it is that normal's conditional
    mean, linear in the given cells.
    """
    chunk = max(1, 2**22 // (x.shape[1] ** 2 * len(weights)))
    out = []
    for i in range(0, len(x), chunk):
        resp, filled, _ = mixture_moments(x[i:i + chunk], given[i:i + chunk], weights, means,
                                          covs, variances=False)
        out.append((resp[:, :, None] * filled).sum(1))
    return torch.cat(out).to(x.dtype)


def mixture_moments(
    x: torch.Tensor, given: torch.Tensor, weights: torch.Tensor, means: torch.Tensor,
    covs: torch.Tensor, variances: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Each row's component probabilities (n, K), each component's conditional mean of every
    cell given the row's given cells (n, K, d; given cells: ``x``) and, with ``variances``,
    its conditional variance (n, K, d; given cells: 0)."""
    x, given = x.to(means.dtype), given.to(means.dtype)
    patterns = torch.unique(given, dim=0, return_inverse=True)
    terms = [_component(x, given, means[k], covs[k], patterns, spread=variances)
             for k in range(len(weights))]
    log_p = torch.stack([t[0] for t in terms], 1) + torch.log(weights.clamp_min(1e-12))
    resp = torch.softmax(log_p, 1)  # (n, K): how likely each component is for the row
    filled = torch.stack([t[1] for t in terms], 1)
    if not variances:
        return resp, filled, None
    spread = [t[2].diagonal(x.shape[1])[patterns[1]] for t in terms]
    return resp, filled, torch.stack(spread, 1).clamp_min(0)


def mixture_expected_fill(
    x: torch.Tensor, given: torch.Tensor, weights: torch.Tensor, means: torch.Tensor,
    covs: torch.Tensor, back: Callable[[torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """The conditional mean of ``back(z)`` for every cell, given the row's given cells.

    ``x`` (n, d) holds the mixture-space values where ``given``; ``back`` maps the mixture's
    space to the caller's, column by column (last axis), on any leading shape. Each cell's
    conditional law is a mixture of normals (component probabilities from the row's given
    cells; a given cell's is a point mass at its value); the mean of ``back`` under it is
    computed by ``GAUSS_HERMITE``-node Gauss-Hermite quadrature. The caller keeps its own
    values where ``given``.
    """
    nodes, node_weights = np.polynomial.hermite.hermgauss(GAUSS_HERMITE)
    nodes = torch.from_numpy(nodes).to(means.dtype)
    node_weights = torch.from_numpy(node_weights / math.sqrt(math.pi)).to(means.dtype)
    d, k = x.shape[1], len(weights)
    chunk = max(1, 2**22 // (d * d * k + d * k * GAUSS_HERMITE))
    out = []
    for i in range(0, len(x), chunk):
        resp, mean, var = mixture_moments(x[i:i + chunk], given[i:i + chunk], weights, means, covs)
        points = mean[:, :, None] + torch.sqrt(2 * var)[:, :, None] * nodes[:, None]  # n,K,H,d
        values = back(points)
        out.append(torch.einsum("nkhd,h,nk->nd", values, node_weights, resp))
    return torch.cat(out)


def fit_yeo_johnson(
    x: torch.Tensor, observed: torch.Tensor, transform: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-column Yeo-Johnson exponents (scikit-learn's maximum likelihood on the observed
    cells of ``x``, values in [0, 1]; 1, no transform, for a column of one or two values),
    and the mean and standard deviation of the transformed observed cells (for
    standardising; 1 where a column is constant). ``transform=False``: exponents of 1 (no
    transform, only the standardisation)."""
    lambdas = _fitted_exponents(x, observed) if transform else torch.ones(
        x.shape[1], dtype=torch.float64)
    y = _yeo_johnson(x.double().clamp(0, 1), lambdas)
    count = observed.sum(0).clamp_min(1)
    mean = (y * observed).sum(0) / count
    std = (((y - mean) * observed) ** 2).sum(0).div(count).sqrt()
    return lambdas, mean, torch.where(std > 1e-12, std, torch.ones_like(std))


def _fitted_exponents(x: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    """Yeo-Johnson exponents by maximum likelihood on the observed cells (1: two values)."""
    values = np.where(observed.numpy() > 0, x.numpy(), np.nan)
    with warnings.catch_warnings():  # constant columns: a harmless exponent of 1
        warnings.simplefilter("ignore", RuntimeWarning)
        fitted = PowerTransformer(method="yeo-johnson", standardize=False).fit(values)
    lambdas = torch.from_numpy(fitted.lambdas_).to(torch.float64)
    # a column of at most two values: any monotone map of it is affine, so keep it linear
    two_valued = [len(np.unique(c[~np.isnan(c)])) <= 2 for c in values.T]
    lambdas[torch.tensor(two_valued)] = 1.0
    return lambdas


def yeo_johnson(x: torch.Tensor, lambdas: torch.Tensor, mean: torch.Tensor,
                std: torch.Tensor) -> torch.Tensor:
    """Standardised Yeo-Johnson transform of values in [0, 1] (clamped there first), float64."""
    return (_yeo_johnson(x.double().clamp(0, 1), lambdas) - mean) / std


def yeo_johnson_inverse(z: torch.Tensor, lambdas: torch.Tensor, mean: torch.Tensor,
                        std: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`yeo_johnson` (last axis = columns), clamped to [0, 1]."""
    top = _yeo_johnson(torch.ones_like(lambdas), lambdas)  # the transform of 1
    y = torch.minimum((z * std + mean).clamp_min(0), top)
    small = lambdas.abs() < 1e-8
    safe = torch.where(small, torch.ones_like(lambdas), lambdas)
    power = (y * safe + 1).clamp_min(1e-300) ** (1 / safe) - 1
    return torch.where(small, torch.expm1(y), power).clamp(0, 1)


def _yeo_johnson(x: torch.Tensor, lambdas: torch.Tensor) -> torch.Tensor:
    """Yeo-Johnson's transform of non-negative values: ((x + 1)^lambda - 1) / lambda."""
    small = lambdas.abs() < 1e-8
    safe = torch.where(small, torch.ones_like(lambdas), lambdas)
    return torch.where(small, torch.log1p(x), ((x + 1) ** safe - 1) / safe)


def choose_components(
    x: torch.Tensor, observed: torch.Tensor, candidates: tuple[int, ...] = (1, 2, 3),
    folds: int = 3, fraction: float = 0.1, seed: int = 0,
) -> tuple[int, list[float]]:
    """The number of components whose fill scores best on held-out cells, and each one's score.

    On a sample of at most ``CHOICE_ROWS`` rows, ``folds`` disjoint sets of
    ``fraction`` of the observed cells are hidden in turn; each candidate mixture is
    fitted without them and scored by the mean squared error of its fill on them
    (summed over the folds). Three folds, not one: one fold's choice was often wrong
    on the small tables (their few hundred cells are a noisy judge).
    """
    # no more normals than rows (k-means starts them): a table of two rows tries 1 and 2
    candidates = tuple(k for k in candidates if k <= len(x)) or candidates[:1]
    generator = torch.Generator().manual_seed(seed)
    if len(x) > CHOICE_ROWS:
        rows = torch.randperm(len(x), generator=generator)[:CHOICE_ROWS]
        x, observed = x[rows], observed[rows]
    draw = torch.rand(observed.shape, generator=generator, dtype=observed.dtype)
    scores = [0.0] * len(candidates)
    for fold in range(folds):
        held = observed * ((draw >= fold * fraction) & (draw < (fold + 1) * fraction)).to(x.dtype)
        for j, k in enumerate(candidates):
            fitted = fit_mixture(x, observed - held, k, seed=seed)
            filled = mixture_fill(x, observed - held, *fitted)
            scores[j] += (((filled - x) ** 2 * held).sum() / held.sum().clamp_min(1)).item()
    return candidates[int(np.argmin(scores))], scores


BUCKET = 8  # patterns are solved in groups whose gap counts differ by less than this


class GapCovariance(NamedTuple):
    """The conditional covariance of each pattern's gaps, compactly, in groups of patterns
    (``parts``): for each, the patterns' ids (G,), their ``inverse`` (G, M, M) among their gap
    ``columns`` (G, M), padded with zeros (column 0) up to ``M``, the group's most gaps. Dense,
    it would be (P, d, d): too much memory on wide tables."""

    parts: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
    patterns: int

    def weighted_sum(self, weights: torch.Tensor, d: int) -> torch.Tensor:
        """sum_p weights[p] * (pattern p's covariance, spread over the d x d matrix)."""
        total = torch.zeros(d * d, dtype=weights.dtype)
        for ids, inverse, columns in self.parts:
            cells = (columns[:, :, None] * d + columns[:, None, :]).flatten()
            total.index_add_(0, cells, (weights[ids, None, None] * inverse).flatten())
        return total.view(d, d)

    def diagonal(self, d: int) -> torch.Tensor:
        """(P, d): each pattern's conditional variance of every cell (0 on given cells)."""
        out = torch.zeros(self.patterns, d, dtype=self.parts[0][1].dtype if self.parts
                          else torch.float64)
        for ids, inverse, columns in self.parts:
            out[ids] = torch.zeros(len(ids), d, dtype=out.dtype).scatter_add_(
                1, columns, torch.diagonal(inverse, dim1=1, dim2=2))
        return out


def _component(
    x: torch.Tensor, given: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor,
    patterns: tuple[torch.Tensor, torch.Tensor], spread: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, GapCovariance | None]:
    """For one normal: (log density of each row's given cells, filled rows, and, with
    ``spread``, the conditional covariance of the gaps of each pattern).

    ``patterns``: the distinct rows of ``given`` and each row's index among them.
    Everything goes through the precision matrix P = S^-1 (one d x d inverse), so each
    pattern solves a system the size of its *gaps*, P_mm, instead of one the size of its
    given cells: the gaps' conditional mean is ``mean_m - P_mm^-1 P_mg (x_g - mean_g)`` and
    their conditional covariance ``P_mm^-1``; the given cells' density uses
    ``S_gg^-1 = P_gg - P_gm P_mm^-1 P_mg`` and ``det S_gg = det S * det P_mm``. Patterns
    are solved in groups of similar gap counts (``BUCKET``), each padded with the identity
    to its most gaps (one batched Cholesky per group), so a few nearly empty rows do not
    make every pattern pay for their size. The same numbers as the given-block formulas
    (to about 1e-13), tens of times faster on a wide table with a few gaps per row (a
    300-column pattern with 30 gaps: 30^3, not 270^3).
    """
    unique, index = patterns
    chol = torch.linalg.cholesky(cov)
    precision = torch.cholesky_inverse(chol)
    centred = given * (x - mean)  # zero on the gaps
    pulled = centred @ precision  # (n, d); on the gaps: P_mg (x_g - mean_g)
    quadratic = (pulled * centred).sum(1)  # x_g' P_gg x_g, less the gaps' term below
    log_det = torch.full((len(x),), 2 * torch.log(torch.diagonal(chol)).sum().item(),
                         dtype=x.dtype)  # log det S, plus log det P_mm below: log det S_gg
    shift = torch.zeros_like(x)
    counts = (1 - unique).sum(1).long()
    group = (counts + BUCKET - 1) // BUCKET  # 0: no gap, 1: 1-8 gaps, 2: 9-16, ...
    local = torch.empty(len(unique), dtype=torch.long)  # each pattern's place in its group
    parts = []
    for key in torch.unique(group).tolist():
        ids = torch.nonzero(group == key).flatten()
        most = int(counts[ids].max())
        # each pattern's gap columns first (in column order), then padding at column 0
        columns = torch.argsort(unique[ids], dim=1, stable=True)[:, :most]  # (G, M)
        valid = (torch.arange(most)[None] < counts[ids, None]).to(x.dtype)  # (G, M)
        columns = columns * valid.long()
        both = valid[:, :, None] * valid[:, None, :]
        block = precision[columns[:, :, None], columns[:, None, :]] * both \
            + torch.diag_embed(1 - valid)  # (G, M, M): P_mm, the identity on the padding
        factor = torch.linalg.cholesky(block)
        inverse = torch.cholesky_inverse(factor) * both  # P_mm^-1, zero on the padding
        local[ids] = torch.arange(len(ids))
        rows = torch.nonzero(torch.isin(index, ids)).flatten()
        mine = local[index[rows]]
        rhs = pulled[rows].gather(1, columns[mine]) * valid[mine]  # (r, M)
        solved = torch.einsum("nij,nj->ni", inverse[mine], rhs)  # (r, M)
        quadratic[rows] -= (rhs * solved).sum(1)
        log_det[rows] += 2 * torch.log(torch.diagonal(factor, dim1=1, dim2=2)).sum(1)[mine]
        shift[rows] = torch.zeros(len(rows), x.shape[1], dtype=x.dtype).scatter_add_(
            1, columns[mine], -solved * valid[mine])
        parts.append((ids, inverse, columns))
    log_p = -0.5 * (quadratic + log_det + given.sum(1) * math.log(2 * math.pi))
    filled = given * x + (1 - given) * (mean + shift)
    return log_p, filled, GapCovariance(parts, len(unique)) if spread else None
