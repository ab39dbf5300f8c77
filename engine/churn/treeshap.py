"""Exact TreeSHAP of a LightGBM ensemble for many rows at once.

A tree's SHAP values for a row depend only on which way the row goes at each of the tree's
splits (path-dependent TreeSHAP walks every path, weighting each by the training cover, and
asks of the row only that). Rows that go the same way at every split of one tree therefore
get the same SHAP values from it. So, tree by tree, rows are grouped by a code that says on
which side of each of the tree's thresholds every feature falls (a missing value and an
exact zero get codes of their own: LightGBM may send them the default way), and one row per
group is explained: from the tree's leaf tables (`leaftables`, six times cheaper per row than
LightGBM's walk), or by LightGBM's `pred_contrib` for a tree too big for them. On a book of
accounts a tree of 15 leaves sees a few thousand groups where there are tens of thousands of
rows, so the same exact values come out at a fraction of the cost. The codes are finer than
the decisions (a category keeps its exact value), never coarser, so no row is ever given
another row's values by mistake.
"""

from __future__ import annotations

import pickle
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.churn import leaftables
from engine.core.config import model_threads

MIN_ROWS = 2000  # below this, one `pred_contrib` call over every row is cheaper than grouping
_PARTS_ATTR = "_radar_tree_parts"
PARTS_FORMAT = 1  # raise it when TreeSplits or leaftables.TreeTable change: older kept parts are rebuilt


@dataclass(frozen=True)
class TreeSplits:
    """One tree's splits: feature -> sorted thresholds of its numeric splits; categorical features."""

    numeric: dict[int, np.ndarray]
    categorical: frozenset[int]

    @property
    def features(self) -> list[int]:
        return sorted({*self.numeric, *self.categorical})


def tree_parts(booster: Any) -> list[tuple[TreeSplits, leaftables.TreeTable | None]]:
    """Per tree of `booster`, its splits and leaf tables, from one dump (kept on the booster)."""
    found = getattr(booster, _PARTS_ATTR, None)
    if found is None:
        walked = [leaftables.walk(tree["tree_structure"]) for tree in booster.dump_model()["tree_info"]]
        found = list(zip([_splits(nodes) for nodes, _leaves in walked], leaftables.build(walked), strict=True))
        setattr(booster, _PARTS_ATTR, found)
    return found


def load_kept_parts(boosters: list, path: Path, key: str) -> bool:
    """Give `boosters` the parts `keep_parts` wrote to `path` for the same `key` (the model
    artifact's hash); False, and nothing given, when there are none that fit them."""
    try:
        with open(path, "rb") as file:
            kept = pickle.load(file)
    except Exception:  # none yet, or a damaged copy: built again and rewritten
        return False
    if not isinstance(kept, dict) or kept.get("key") != [PARTS_FORMAT, key]:
        return False
    found = kept.get("parts")
    if not isinstance(found, list) or len(found) != len(boosters):
        return False
    if any(len(parts) != booster.num_trees() for parts, booster in zip(found, boosters, strict=True)):
        return False
    for parts, booster in zip(found, boosters, strict=True):
        setattr(booster, _PARTS_ATTR, parts)
    return True


def keep_parts(boosters: list, path: Path, key: str) -> bool:
    """Write the parts every one of `boosters` already has (from explaining a batch) to `path`
    for `key`, renamed into place; False when some have none or the folder is read-only."""
    found = [getattr(booster, _PARTS_ATTR, None) for booster in boosters]
    if not found or any(parts is None for parts in found):
        return False
    part = path.with_suffix(".part")
    try:
        with open(part, "wb") as file:
            pickle.dump({"key": [PARTS_FORMAT, key], "parts": found}, file, protocol=pickle.HIGHEST_PROTOCOL)
        part.replace(path)  # readers never see half a file
    except OSError:
        return False
    return True


def _splits(nodes: list[leaftables.Node]) -> TreeSplits:
    """The features a tree splits on with their thresholds."""
    numeric: dict[int, set[float]] = {}
    categorical: set[int] = set()
    for node in nodes:
        if node.categories is not None:
            categorical.add(node.feature)
        else:
            numeric.setdefault(node.feature, set()).add(node.threshold)
    return TreeSplits(
        # A feature split both ways is coded by its exact value (as a category is).
        {f: np.array(sorted(t)) for f, t in numeric.items() if f not in categorical},
        frozenset(categorical),
    )


class _Codes:
    """Each feature's values coded once against every threshold any tree uses on it; a tree's
    own code is then a lookup (its thresholds are a subset of them)."""

    def __init__(self, X: np.ndarray, trees: list[TreeSplits]):
        edges: dict[int, set[float]] = {}
        exact: set[int] = set()
        for tree in trees:
            exact |= tree.categorical
            for f, t in tree.numeric.items():
                edges.setdefault(f, set()).update(t.tolist())
        self.codes: dict[int, np.ndarray] = {}
        self.edges: dict[int, np.ndarray] = {}
        for f in exact:
            _values, inverse = np.unique(X[:, f], return_inverse=True)  # NaNs share one code
            self.codes[-1 - f] = inverse.reshape(-1).astype(np.int64)
        for f, found in edges.items():
            e = np.array(sorted(found))
            x = np.ascontiguousarray(X[:, f])
            code = np.searchsorted(e, x, side="left").astype(np.int64)
            code[np.isnan(x)] = len(e) + 1
            code[np.abs(x) <= leaftables.ZERO] = len(e) + 2
            self.codes[f], self.edges[f] = code, e

    def numeric(self, f: int, thresholds: np.ndarray) -> tuple[np.ndarray, int]:
        """(the tree's code per row, how many codes) for a feature and the tree's thresholds on it."""
        e = self.edges[f]
        # Global bin g holds (e[g-1], e[g]]: the tree's thresholds below its values are those <= e[g-1].
        lookup = np.empty(len(e) + 3, dtype=np.int64)
        lookup[0] = 0
        lookup[1 : len(e) + 1] = np.searchsorted(thresholds, e, side="right")
        lookup[len(e) + 1], lookup[len(e) + 2] = len(thresholds) + 1, len(thresholds) + 2
        return lookup[self.codes[f]], len(thresholds) + 3

    def exact(self, f: int) -> tuple[np.ndarray, int]:
        code = self.codes[-1 - f]
        return code, int(code.max(initial=0)) + 1


def _groups(codes: _Codes, tree: TreeSplits, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(one row standing for each group, the group of every row) for one tree."""
    key = np.zeros(n, dtype=np.int64)
    size = 1
    parts = [codes.numeric(f, t) for f, t in tree.numeric.items()] + [codes.exact(f) for f in tree.categorical]
    for code, count in parts:
        if size * count >= 2**62:  # renumber the groups found so far before the key overflows
            _values, key = np.unique(key, return_inverse=True)
            key = key.reshape(-1).astype(np.int64)
            size = int(key.max(initial=0)) + 1
        key = key * count + code
        size *= count
    if size <= 8 * n:  # a dense table is cheaper than sorting
        used = np.zeros(size, dtype=bool)
        used[key] = True
        inverse = (np.cumsum(used) - 1)[key]
        standing = np.empty(int(used.sum()), dtype=np.int64)
        standing[inverse] = np.arange(n)  # any row of a group stands for it: they share their values
        return standing, inverse
    # Hashing is several times cheaper than the sort np.unique would do on a sparse key.
    inverse, uniques = pd.factorize(key)
    standing = np.empty(len(uniques), dtype=np.int64)
    standing[inverse] = np.arange(n)
    return standing, inverse.astype(np.int64, copy=False)


def ensemble_contributions(boosters: list, X: np.ndarray, threads: int | None = None) -> np.ndarray:
    """Mean over `boosters` of LightGBM's exact TreeSHAP values for the rows of `X`: shape
    (rows, features + 1), the last column the expected value (all in log-odds). `threads`
    defaults to the model-threads policy (`model_threads`)."""
    return ensemble_explained(boosters, X, threads)[0]


def ensemble_explained(boosters: list, X: np.ndarray, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(`ensemble_contributions`, each booster's log-odds for each row: shape (rows, boosters)).
    A row's SHAP values add up to its prediction, so the predictions come with the values and
    no second pass over the trees is needed."""
    threads = threads or model_threads()
    n, width = len(X), X.shape[1] + 1
    raw = np.zeros((n, len(boosters)))
    if n < MIN_ROWS:
        total = np.zeros((n, width))
        for b, booster in enumerate(boosters):
            part = np.asarray(booster.predict(X, pred_contrib=True, num_threads=threads), dtype=np.float64)
            total += part
            raw[:, b] = part.sum(axis=1)
        return total / max(len(boosters), 1), raw
    # One booster per thread, each predicting on one core: LightGBM and the numpy grouping
    # release the GIL, and a few thousand rows per call are too few to split across cores.
    # Largest first: members differ in size by half (206 to 306 trees), and handing the big ones
    # out last would leave one core idle at the end.
    order = sorted(range(len(boosters)), key=lambda b: -boosters[b].num_trees())
    total = np.zeros((width, n))
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for b, part in zip(order, pool.map(lambda b: _booster_contributions(boosters[b], X), order), strict=True):
            total += part  # summed as they finish: a few boosters' parts in memory, not all
            raw[:, b] = part.sum(axis=0)
    return total.T / max(len(boosters), 1), raw


def _booster_contributions(booster: Any, X: np.ndarray) -> np.ndarray:
    """One booster's exact TreeSHAP values, by feature: shape (features + 1, rows)."""
    n, width = len(X), X.shape[1] + 1
    by_column = np.zeros((width, n))  # one contiguous row per feature: adding a tree's part is cheap
    parts = tree_parts(booster)
    codes = _Codes(X, [tree for tree, _table in parts])
    for t, (tree, table) in enumerate(parts):
        standing, inverse = _groups(codes, tree, n)
        if table is None:  # too many splits for the leaf tables: LightGBM's own walk
            part = np.asarray(
                booster.predict(X[standing], pred_contrib=True, start_iteration=t, num_iteration=1, num_threads=1),
                dtype=np.float64,
            ).T
            columns = [*tree.features, width - 1]
            lines = part[columns]
        else:
            columns = table.features.tolist()
            lines = leaftables.contributions(table, X[standing])
            by_column[width - 1] += table.expected
        # A tree moves only the features it splits on, and the base value.
        for column, line in zip(columns, lines, strict=True):
            by_column[column] += line.take(inverse)
    return by_column
