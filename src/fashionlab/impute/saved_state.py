"""A fitted imputer's state as JSON plus named arrays, and back: never pickle.

:func:`encode` turns a value into JSON, putting every array in ``arrays`` under a key made
of its path (``"start_fill_/fold_forests_/0/3.threshold"``); :func:`decode` rebuilds the
value. What it knows:

* JSON values (a float that JSON cannot hold, NaN or infinity, is tagged), lists, tuples,
  dicts with text keys;
* numpy arrays and torch tensors (their dtype kept);
* torch modules: their ``state_dict``; decoding loads it into the fresh module that the
  imputer's ``_networks(n_columns)`` hook builds (same structure as the saved values);
* scikit-learn parts: ``SimpleImputer`` (its statistics), ``KNNImputer`` (its rows), tree
  forests and linear regressors and ``IterativeImputer`` (as the array predictors of
  :mod:`fashionlab.impute.array_models`);
* a nested fashionlab imputer (GAIN's starting fill): its method, parameters and state.

Anything else raises ``TypeError`` naming it. Every node is a JSON value or a one-key dict
whose key says what it holds, so decoding never guesses.
"""

from __future__ import annotations

import json
import math

import numpy as np
import torch
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer

from fashionlab.impute.array_models import ArrayIterative, as_arrays, from_arrays
from fashionlab.impute.base import IMPUTERS, BaseImputer, make_imputer


def method_name(imputer: BaseImputer) -> str:
    """The name ``imputer``'s class is registered under."""
    return next(name for name, cls in IMPUTERS.items() if type(imputer) is cls)


def fitted_state(imputer: BaseImputer) -> dict:
    """The fitted attributes (scikit-learn's rule: they end in ``_``), by name."""
    return {k: v for k, v in vars(imputer).items() if k.endswith("_") and not k.startswith("_")}


def encode(value, key: str, arrays: dict[str, np.ndarray]):
    """``value`` as JSON; its arrays are added to ``arrays`` under keys starting with ``key``."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float | np.floating):
        value = float(value)
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    if isinstance(value, list | tuple):
        items = [encode(v, f"{key}/{i}", arrays) for i, v in enumerate(value)]
        return items if isinstance(value, list) else {"tuple": items}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"dict": {k: encode(v, f"{key}/{k}", arrays) for k, v in value.items()}}
    if isinstance(value, np.ndarray) and value.dtype != object:
        arrays[key] = value
        return {"array": key}
    if isinstance(value, torch.Tensor):
        arrays[key] = value.detach().cpu().numpy()
        return {"tensor": key}
    if isinstance(value, torch.nn.Module):
        for name, tensor in value.state_dict().items():
            arrays[f"{key}.{name}"] = tensor.detach().cpu().numpy()
        return {"module": key}
    if isinstance(value, SimpleImputer):
        arrays[key] = value.statistics_[None, :]
        return {"simple": {"strategy": value.strategy, "array": key}}
    if isinstance(value, KNNImputer):
        arrays[key] = value._fit_X
        return {"knn": {"n_neighbors": value.n_neighbors, "weights": value.weights,
                        "array": key}}
    if isinstance(value, IterativeImputer):
        value = ArrayIterative.from_sklearn(value)
    if isinstance(value, ArrayIterative):
        return {"iterative": encode({
            "statistics": value.statistics, "rounds": value.rounds, "low": value.low,
            "high": value.high, "steps": [list(step) for step in value.steps]}, key, arrays)}
    if isinstance(value, BaseImputer):
        return {"imputer": {"method": method_name(value), "params": saved_params(value),
                            "state": {k: encode(v, f"{key}/{k}", arrays)
                                      for k, v in fitted_state(value).items()}}}
    found = as_arrays(value)
    if found is None:
        raise TypeError(f"{type(value).__name__} at {key}")
    kind, model = found
    for name, array in model.arrays().items():
        arrays[f"{key}.{name}"] = array
    return {kind: key}


def saved_params(imputer: BaseImputer) -> dict:
    """``imputer``'s parameters as JSON (a seed that is a generator object is left out: the
    fitted state holds what it drew)."""
    params = imputer.get_params()
    if not (params.get("random_state") is None or isinstance(params["random_state"], int)):
        params["random_state"] = None
    return json.loads(json.dumps(params, default=_json_default))


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"parameter value {value!r}")


def decode(node, arrays: dict[str, np.ndarray], networks=None):
    """The value ``encode`` turned into ``node`` (``networks``: the fresh modules that saved
    modules load into, in the same structure)."""
    if not isinstance(node, dict | list):
        return node
    if isinstance(node, list):
        return [decode(v, arrays, _part(networks, i)) for i, v in enumerate(node)]
    if len(node) != 1:
        raise ValueError(f"unknown saved value {sorted(node)}")
    (tag, content), = node.items()
    if tag == "float":
        return float(content)
    if tag == "tuple":
        return tuple(decode(v, arrays, _part(networks, i)) for i, v in enumerate(content))
    if tag == "dict":
        return {k: decode(v, arrays, _part(networks, k)) for k, v in content.items()}
    if tag == "array":
        return arrays[content]
    if tag == "tensor":
        return torch.from_numpy(arrays[content].copy())
    if tag == "module":
        if not isinstance(networks, torch.nn.Module):
            raise ValueError(f"no network to load {content} into")
        prefix = f"{content}."
        networks.load_state_dict({k[len(prefix):]: torch.from_numpy(v.copy())
                                  for k, v in arrays.items() if k.startswith(prefix)})
        return networks.eval()
    if tag == "simple":
        return SimpleImputer(strategy=content["strategy"]).fit(arrays[content["array"]])
    if tag == "knn":
        return KNNImputer(n_neighbors=content["n_neighbors"], weights=content["weights"]).fit(
            arrays[content["array"]])
    if tag == "iterative":
        state = decode(content, arrays)
        return ArrayIterative(state["statistics"], [
            (int(c), np.asarray(o, np.int64), m) for c, o, m in state["steps"]],
            int(state["rounds"]), state["low"], state["high"])
    if tag in ("forest", "linear"):
        prefix = f"{content}."
        return from_arrays(tag, {k[len(prefix):]: v for k, v in arrays.items()
                                 if k.startswith(prefix)})
    if tag == "imputer":
        return restore_imputer(content["method"], content["params"], content["state"], arrays)
    raise ValueError(f"unknown saved value {tag!r}")


def _part(networks, index):
    if networks is None:
        return None
    if isinstance(networks, dict):
        return networks.get(index)
    return networks[index] if isinstance(networks, list | tuple) and index < len(networks) \
        else None


def _holds_module(node) -> bool:
    if isinstance(node, list):
        return any(map(_holds_module, node))
    if isinstance(node, dict):
        return "module" in node or any(map(_holds_module, node.values()))
    return False


def restore_imputer(method: str, params: dict, state: dict,
                    arrays: dict[str, np.ndarray]) -> BaseImputer:
    """The imputer ``encode`` saved: built from ``params``, its fitted attributes set back
    (attributes holding networks last: the imputer's ``_networks`` hook may need the rest)."""
    params = {k: (np.nan if k == "missing_values" and v is None else v)  # JSON's NaN: null
              for k, v in params.items()}
    imputer = make_imputer(method, params)
    later = {k: v for k, v in state.items() if _holds_module(v)}
    for key, node in state.items():
        if key not in later:
            setattr(imputer, key, decode(node, arrays))
    if later:
        networks = imputer._networks(int(imputer.n_features_in_))
        for key, node in later.items():
            setattr(imputer, key, decode(node, arrays, networks.get(key)))
    return imputer
