"""The learned fusion weight: cheap per-query features, a ridge model per alpha, its JSON file and its training."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .atomic import write_file, write_problem
from .config import FORMAT as CONFIG_FORMAT
from .fusion import Candidates, QueryEvidence, WeightChoice, adaptive_alpha
from .kb import UserError

FORMAT = 1
PACKAGED = Path(__file__).parent / "data" / "weight_model.json"
TOP = 10  # the lists whose overlap is a feature
MIN_QUERIES = 500  # below this the cross-validated gain is within its own noise (warned about)
RIDGES = (1.0, 10.0, 100.0, 1e3, 1e4, 1e5)  # ridge penalties tried by cross-validation
MARGINS = (0.0, 0.002, 0.005, 0.01, 0.02, 0.05)  # predicted gain needed to leave the given alpha, tried likewise
TIE = 1e-9  # cross-validated gains closer than this are a tie (it goes to the larger margin, then ridge)
MAX_FILE_BYTES = 1_000_000  # a model file is a few KB; anything far larger is not one (and is not read whole)
# Bounds of a usable model's numbers: trained ones lie far inside (gains are nDCG differences, features are
# standardised); beyond them a finite model overflows to inf/NaN gains at query time.
MAX_VALUE = {"means": 1e6, "intercepts": 1e3, "coefficients": 1e3}
SCALE_RANGE = (1e-6, 1e6)

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")
_DIGIT = re.compile(r"[0-9]")

# name -> (what a high value says, what a low value says), in the words "why this rank" shows
FEATURES: dict[str, tuple[str, str]] = {
    "query_length": ("a long query", "a short query"),
    "han_share": ("mostly Chinese characters", "few Chinese characters"),
    "latin_share": ("many Latin letters", "few Latin letters"),
    "digit_share": ("many digits", "few digits"),
    "tokens": ("many keyword tokens", "few keyword tokens"),
    "matched_share": ("most of your words matched", "few of your words matched"),
    "coverage": ("the best keyword match holds your rare words", "the best keyword match lacks your rare words"),
    "keyword_hits": ("many entries hold your words", "few entries hold your words"),
    "top_bm25": ("a strong keyword match", "a weak keyword match"),
    "bm25_gap": ("one keyword match stands out", "keyword matches are close"),
    "top_cosine": ("a high top cosine", "a low top cosine"),
    "top_standing": ("the top semantic match stands out", "the top semantic match hardly stands out"),
    "cosine_gap": ("one semantic match stands out", "semantic matches are close"),
    "candidate_mean": ("semantic candidates far above the knowledge base", "semantic candidates near the knowledge base"),
    "candidate_spread": ("semantic candidates spread widely", "semantic candidates bunched together"),
    "overlap": ("both lists agree", "the two lists disagree"),
    "blind_spot": ("semantic hits keyword matching cannot judge", "keyword matching can judge the semantic hits"),
}
FEATURE_NAMES = tuple(FEATURES)


class WeightModelError(UserError):
    """A weight model file that cannot be used; the message says what is wrong and how to fix it."""


def _numbers(value: Any, ndim: int) -> np.ndarray | None:
    """``value`` as a float array of ``ndim`` dimensions when it is nested lists of real numbers (no text,
    booleans or nulls, no ragged rows), else None."""
    def real(v: Any, depth: int) -> bool:
        if depth == 0:
            return isinstance(v, (int, float)) and not isinstance(v, bool)
        return isinstance(v, list) and all(real(item, depth - 1) for item in v)

    if not real(value, ndim):
        return None
    try:
        return np.asarray(value, dtype=np.float64)
    except ValueError:  # rows of different lengths
        return None


def check_folds(queries: int, folds: int) -> None:
    """Check that ``queries`` can be cross-validated in ``folds`` folds (each fold's two parts hold 2 or more).

    Raises:
        ValueError: too few queries for the folds.
    """
    if queries < max(folds, 2) * 2:
        raise ValueError(f"{queries} queries cannot be split into {folds} cross-validation folds: label at least "
                         f"{max(folds, 2) * 2} queries or lower --folds (a gain worth trusting needs "
                         f"{MIN_QUERIES} or more)")


def check_output(path: str | Path) -> Path:
    """Check that a model file can be written at ``path`` (before any long work), and return it.

    Raises:
        WeightModelError: ``path`` is a folder, or its folder is missing or not writable.
    """
    problem = write_problem(path)
    if problem:
        raise WeightModelError(f"{problem} (--out of the weight model)")
    return Path(path)


def features(keyword: Candidates, semantic: Candidates, evidence: QueryEvidence) -> np.ndarray:
    """The query's features (``FEATURE_NAMES`` order) from what both retrievers already computed.

    Everything is a few operations on the query text and the two candidate lists (at most ``window`` long),
    so the cost does not grow with the knowledge base.
    """
    query = evidence.query
    letters = max(sum(not c.isspace() for c in query), 1)
    n_tokens = len(evidence.token_idf)
    kw = keyword.scores[:keyword.own]
    sem = semantic.scores[:semantic.own]
    mean, std = evidence.cosine_mean, evidence.cosine_std
    scale = std if mean is not None and std is not None and std > 1e-12 else None
    top_cos = float(sem[0]) if sem.size else 0.0
    if scale is not None and sem.size:
        standing = (top_cos - mean) / scale
        gap = (top_cos - float(sem[1])) / scale if sem.size > 1 else 0.0
        cand_mean = (float(sem.mean()) - mean) / scale
        cand_spread = float(sem.std()) / scale
    else:
        standing = gap = cand_mean = cand_spread = 0.0
    top_kw = float(kw[0]) if kw.size else 0.0
    shared = len(set(keyword.docs[:min(TOP, keyword.own)].tolist()) & set(semantic.docs[:min(TOP, semantic.own)].tolist()))
    return np.array([
        math.log1p(len(query)),
        len(_HAN.findall(query)) / letters,
        len(_LATIN.findall(query)) / letters,
        len(_DIGIT.findall(query)) / letters,
        math.log1p(n_tokens),
        evidence.matched_tokens / n_tokens if n_tokens else 0.0,
        float(evidence.best_coverage),
        math.log1p(kw.size),
        math.log1p(max(top_kw, 0.0)),
        (top_kw - float(kw[1])) / top_kw if kw.size > 1 and top_kw > 0 else float(kw.size == 1),
        top_cos,
        standing,
        gap,
        cand_mean,
        cand_spread,
        shared / TOP,
        float(evidence.blind_spot),
    ], dtype=np.float64)


@dataclass(frozen=True)
class WeightModel:
    """A ridge regression per alpha of the grid: features -> expected nDCG@10 gain of ``adaptive`` at that alpha
    over ``adaptive`` at ``default_alpha``.

    Attributes:
        features: the feature names, in ``FEATURE_NAMES`` order.
        means, scales: standardisation of each feature.
        alphas: the grid of base alphas the model scores.
        default_alpha: the alpha its gains are measured from.
        intercepts: one per alpha; coefficients: (alphas, features).
        margin: the predicted gain over the given alpha needed to move away from it.
        provenance: what it was trained on (sets, query counts, folds, cross-validated gain, command).
    """

    features: tuple[str, ...]
    means: np.ndarray
    scales: np.ndarray
    alphas: np.ndarray
    default_alpha: float
    intercepts: np.ndarray
    coefficients: np.ndarray
    margin: float = 0.0
    ridge: float = 1.0
    provenance: Mapping[str, Any] = field(default_factory=dict)

    def gains(self, x: np.ndarray) -> np.ndarray:
        """Predicted gain at every grid alpha for features ``x`` (one query: (features,); many: (n, features))."""
        with np.errstate(all="ignore"):  # a non-finite gain keeps the given alpha (``choose``)
            z = (np.asarray(x, dtype=np.float64) - self.means) / self.scales
            return z @ self.coefficients.T + self.intercepts

    def choose(self, x: np.ndarray, alpha: float) -> WeightChoice:
        """The alpha for one query, and the features that moved it there, strongest first.

        The model stays at ``alpha`` unless a grid alpha is predicted to gain more than ``margin`` over it
        (the gain at ``alpha`` interpolated on the grid). The reasons are ``(feature, standardised value)``
        for up to three features whose values pushed the chosen alpha above ``alpha``, strongest first.
        """
        gains = self.gains(x)
        if not np.isfinite(gains).all():  # a feature far outside anything the model saw: no prediction
            return WeightChoice(float(alpha), float(alpha))
        here = float(np.interp(alpha, self.alphas, gains))
        best = int(np.argmax(gains))
        if gains[best] <= here + self.margin:
            return WeightChoice(float(alpha), float(alpha))
        chosen = float(self.alphas[best])
        with np.errstate(all="ignore"):
            z = (np.asarray(x, dtype=np.float64) - self.means) / self.scales
        near = int(np.argmin(np.abs(self.alphas - alpha)))
        push = z * (self.coefficients[best] - self.coefficients[near])
        order = [int(i) for i in np.argsort(-push) if push[i] > 1e-9][:3]
        return WeightChoice(float(alpha), chosen, tuple((self.features[i], float(z[i])) for i in order))

    def to_json(self) -> dict[str, Any]:
        """The model as the JSON object its file holds."""
        return {"format": FORMAT, "kind": "ridge gain per alpha of adaptive fusion",
                "features": list(self.features), "means": self.means.tolist(), "scales": self.scales.tolist(),
                "alphas": self.alphas.tolist(), "default_alpha": self.default_alpha,
                "intercepts": self.intercepts.tolist(), "coefficients": self.coefficients.tolist(),
                "margin": self.margin, "ridge": self.ridge, "provenance": dict(self.provenance)}

    def save(self, path: str | Path) -> Path:
        """Write the model as JSON (a few KB), atomically: ``path`` holds the old file or the whole new one.

        Raises:
            WeightModelError: ``path`` is a folder, or its folder is missing or not writable.
        """
        return write_file(check_output(path), json.dumps(self.to_json(), ensure_ascii=False, indent=1) + "\n")

    @classmethod
    def from_json(cls, data: Any, source: str = "the weight model") -> "WeightModel":
        """A model from its JSON object, checked field by field.

        Raises:
            WeightModelError: a field is missing, malformed or does not fit the others, or the features are
                not the ones this version computes.
        """
        retrain = "retrain it with `python -m hybrid.evaluate --train-weight DIR --out FILE`"
        if not isinstance(data, dict):
            raise WeightModelError(f"{source} is not a JSON object; {retrain}")
        if data.get("format") == CONFIG_FORMAT:
            raise WeightModelError(f"{source} is a setting file (`python -m hybrid.config export`), not a weight model: "
                                   "give it with --config, and the weight model (--train-weight's --out) with "
                                   "--weight-model")
        if type(data.get("format")) is not int or data["format"] != FORMAT:
            raise WeightModelError(f"{source} has format {data.get('format')!r}, this version reads {FORMAT}; {retrain}")
        missing = [k for k in ("features", "means", "scales", "alphas", "default_alpha", "intercepts", "coefficients")
                   if k not in data]
        if missing:
            raise WeightModelError(f"{source} lacks {', '.join(missing)}; {retrain}")
        names = tuple(data["features"]) if isinstance(data["features"], list) else ()
        if names != FEATURE_NAMES:
            raise WeightModelError(f"{source} was trained on features {list(names)}, this version computes "
                                   f"{list(FEATURE_NAMES)}; {retrain}")

        def array(key: str, shape: tuple[int, ...]) -> np.ndarray:
            value = _numbers(data[key], len(shape))
            if value is None:
                raise WeightModelError(f"{source}: {key} must be a list of numbers of shape {shape} (not text, "
                                       f"true/false or null); {retrain}")
            if value.shape != shape:
                raise WeightModelError(f"{source}: {key} must have shape {shape}, got shape {value.shape}; "
                                       f"{retrain}")
            if not np.isfinite(value).all():
                raise WeightModelError(f"{source}: {key} holds a value that is not a finite number (NaN or "
                                       f"Infinity); {retrain}")
            if key in MAX_VALUE and (np.abs(value) > MAX_VALUE[key]).any():
                raise WeightModelError(f"{source}: {key} holds a value beyond ±{MAX_VALUE[key]:g}, far outside "
                                       f"any trained model; {retrain}")
            return value

        def number(key: str, default: float | None, low: float, high: float, text: str) -> float:
            value = data.get(key, default)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or \
                    not low <= value <= high:
                raise WeightModelError(f"{source}: {key} must be {text}, got {value!r}; {retrain}")
            return float(value)

        n = len(names)
        alphas = _numbers(data["alphas"], 1)
        if alphas is None or alphas.size < 2 or not ((alphas >= 0) & (alphas <= 1)).all() or \
                not (np.diff(alphas) > 0).all():
            raise WeightModelError(f"{source}: alphas must be at least two increasing numbers in [0, 1]; {retrain}")
        scales = array("scales", (n,))
        if ((scales < SCALE_RANGE[0]) | (scales > SCALE_RANGE[1])).any():
            raise WeightModelError(f"{source}: scales must lie between {SCALE_RANGE[0]:g} and {SCALE_RANGE[1]:g}; "
                                   f"{retrain}")
        default_alpha = number("default_alpha", None, 0.0, 1.0, "a number in [0, 1]")
        margin = number("margin", 0.0, 0.0, 1.0, "a number in [0, 1]")
        ridge = number("ridge", 1.0, 0.0, math.inf, "a number >= 0")
        provenance = data.get("provenance")
        if provenance is not None and not isinstance(provenance, dict):
            raise WeightModelError(f"{source}: provenance must be a JSON object; {retrain}")
        return cls(names, array("means", (n,)), scales, alphas, default_alpha,
                   array("intercepts", (alphas.size,)), array("coefficients", (alphas.size, n)), margin, ridge,
                   dict(provenance or {}))

    @classmethod
    def load(cls, path: str | Path) -> "WeightModel":
        """Read and check a model file.

        Raises:
            WeightModelError: the file is missing, is not JSON, or is not a valid model.
        """
        path = Path(path)
        again = "write it again with `python -m hybrid.evaluate --train-weight DIR --out FILE`"
        if path.exists() and not path.is_file():  # a folder, a pipe (whose read would wait forever), a device
            raise WeightModelError(f"the weight model {path} is not a regular file; give the file that "
                                   "`python -m hybrid.evaluate --train-weight DIR --out FILE` wrote")
        try:
            with path.open("rb") as f:
                raw = f.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise WeightModelError(f"cannot read the weight model {path}: {exc.strerror or exc}; give the file "
                                   "that `python -m hybrid.evaluate --train-weight DIR --out FILE` wrote") from None
        if len(raw) > MAX_FILE_BYTES:
            raise WeightModelError(f"the weight model {path} is over {MAX_FILE_BYTES:,} bytes; a model file is a few "
                                   f"KB: is it the right file? Else {again}")
        try:
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise WeightModelError(f"the weight model {path} is not UTF-8 text; {again}") from None
        except (ValueError, RecursionError) as exc:
            detail = exc if isinstance(exc, ValueError) else "nested too deeply"
            raise WeightModelError(f"the weight model {path} is not valid JSON ({detail}); {again}") from None
        return cls.from_json(data, str(path))


_active: dict[str, WeightModel] = {}


def use(path: str | Path | None) -> WeightModel:
    """Make the model in ``path`` (the packaged one when None) the one ``learned`` fusion uses in this process.

    Raises:
        WeightModelError: the file cannot be used.
    """
    model = WeightModel.load(PACKAGED if path is None else path)
    _active["model"] = model
    _active["source"] = None if path is None else Path(path).name
    return model


def active_source() -> str | None:
    """The file name of the model ``use`` made active; None for the packaged one."""
    return _active.get("source")


def given_path(path: str) -> str:
    """A ``--weight-model`` argument, refused when empty (an unset variable must not mean the packaged model).

    Raises:
        WeightModelError: the argument is empty.
    """
    if not str(path).strip():
        raise WeightModelError("--weight-model is empty; give the file `python -m hybrid.evaluate --train-weight` "
                               "wrote, or leave the option out for the packaged model")
    return path


def mismatch_notes(model: WeightModel, embedder: str, dataset: str | None = None) -> list[str]:
    """Why a model's choices may not hold here: trained with another embedding model (its cosine features are on
    that model's scale), or trained on the very set it is evaluated on (its gain there is in-sample)."""
    notes = []
    trained_with = model.provenance.get("model")
    a, b = str(trained_with or "").rsplit("/", 1)[-1], str(embedder or "").rsplit("/", 1)[-1]
    if a and b and a not in b and b not in a:  # the packaged model's provenance names e5 inside a longer phrase
        notes.append(f"the weight model was trained with the embedding model {trained_with}, this run uses "
                     f"{embedder}: its cosine features are on another scale; retrain it with this model")
    sets = model.provenance.get("sets") or {}
    if dataset is not None and isinstance(sets, dict) and dataset in sets:  # a model keeps only the sets' names
        notes.append(f"the weight model was trained on a set named {dataset} ({sets[dataset]} queries): if it is "
                     "this one, 'learned' here is an in-sample figure, not what it gains on queries it has not seen "
                     "(training prints that cross-validated gain)")
    return notes


def active() -> WeightModel:
    """The model ``learned`` fusion uses: the one ``use`` set, else the packaged one."""
    model = _active.get("model")
    return model if model is not None else use(None)


def describe(choice: WeightChoice, evidence: QueryEvidence | None = None) -> list[str]:
    """English phrases for a choice's reasons, e.g. ``few of your words matched: more semantic``.

    With the query's ``evidence``, the semantic weight actually used (``adaptive_alpha`` of the chosen alpha) is
    explained too where it differs from the chosen alpha: first, as an override, when the blind-spot rule makes
    the search semantic only; last when partial keyword coverage raises it.
    """
    side = "more semantic" if choice.chosen > choice.given else "more keyword"
    reasons = [f"{FEATURES[name][0 if value > 0 else 1]}: {side}" for name, value in choice.reasons if name in FEATURES]
    if evidence is None:
        return reasons
    used = adaptive_alpha(choice.chosen, evidence)
    if evidence.blind_spot and choice.chosen < 1.0:
        return [f"semantic only, overriding the learned alpha {choice.chosen:g}: some of the best semantic hits "
                "share no script with your words, so keyword matching cannot judge them",
                *(f"overridden: {reason}" for reason in reasons)]
    if used - choice.chosen > 0.005:
        reasons.append(f"the best keyword match holds {min(max(evidence.best_coverage, 0.0), 1.0):.0%} of your "
                       f"words (by rarity), so the semantic weight rises from {choice.chosen:g} to {used:.2f}")
    return reasons


# ------------------------------------------------------------------------------------------- training


def _fit(x: np.ndarray, y: np.ndarray, ridge: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Standardise ``x`` and solve one ridge regression per column of ``y`` (shared features)."""
    means = x.mean(axis=0)
    scales = x.std(axis=0)
    scales = np.where(scales > SCALE_RANGE[0], scales, 1.0)  # a (nearly) constant feature: left unscaled
    z = (x - means) / scales
    intercepts = y.mean(axis=0)
    gram = z.T @ z + ridge * np.eye(z.shape[1])
    coefficients = np.linalg.solve(gram, z.T @ (y - intercepts)).T
    return means, scales, intercepts, coefficients


def _picked(x: np.ndarray, ndcg: np.ndarray, alphas: np.ndarray, default: int, ridge: float, margin: float,
            train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each test query's nDCG under the model fitted on ``train`` (rows of ``ndcg``: queries; columns: alphas),
    and the column (alpha) the model picked for it."""
    means, scales, intercepts, coefficients = _fit(x[train], ndcg[train] - ndcg[train][:, [default]], ridge)
    gains = ((x[test] - means) / scales) @ coefficients.T + intercepts
    best = np.argmax(gains, axis=1)
    pick = np.where(gains[np.arange(len(test)), best] > gains[:, default] + margin, best, default)
    return ndcg[test, pick], pick


def _folds(n: int, k: int, seed: int) -> list[np.ndarray]:
    return [np.sort(f) for f in np.array_split(np.random.default_rng(seed).permutation(n), k)]


def _select(x: np.ndarray, ndcg: np.ndarray, alphas: np.ndarray, default: int, rows: np.ndarray, k: int,
            seed: int, groups: np.ndarray | None = None) -> tuple[float, float]:
    """The (ridge, margin) with the best gain over the default by cross-validation within ``rows``.

    With ``groups`` of at least two sets among ``rows``, each set is left out in turn and every set weighs
    alike (what transfers to a set the model has not seen); otherwise ``k`` random folds, every query alike.
    A tie (within ``TIE``) goes to the cautious end: the largest margin, then the largest ridge penalty.
    """
    sets = np.unique(groups[rows]) if groups is not None else np.zeros(0)
    if sets.size >= 2:
        folds = [np.flatnonzero(groups[rows] == g) for g in sets]
    else:
        folds = _folds(len(rows), k, seed)
    best, chosen = -np.inf, (max(RIDGES), max(MARGINS))
    for margin in sorted(MARGINS, reverse=True):  # most cautious first: only a strictly better gain replaces it
        for ridge in sorted(RIDGES, reverse=True):
            total = 0.0
            for f in folds:
                train = np.setdiff1d(np.arange(len(rows)), f)
                picked, _ = _picked(x[rows], ndcg[rows], alphas, default, ridge, margin, train, f)
                gain = picked - ndcg[rows[f], default]
                total += gain.mean() if sets.size >= 2 else gain.sum()
            if total > best + TIE:
                best, chosen = total, (ridge, margin)
    return chosen


@dataclass(frozen=True)
class Training:
    """What ``train`` found: the fitted model, the nested cross-validated nDCG of each query under the
    model and under the default, the gain and its standard error, a warning when there are too few queries or
    the model never changed the weight, and how many queries the cross-validated model moved off the default;
    ``fixed``: each query's nDCG under the one alpha tuned on the same outer training folds (what setting a
    fixed alpha would get), ``fixed_alpha``: that alpha tuned on every query."""

    model: WeightModel
    learned: np.ndarray
    default: np.ndarray
    gain: float
    stderr: float
    warning: str | None
    moved: int = 0
    fixed: np.ndarray | None = None
    fixed_alpha: float | None = None


def train(x: np.ndarray, ndcg: np.ndarray, alphas: Sequence[float], default_alpha: float = 0.7, folds: int = 5,
          seed: int = 0, provenance: Mapping[str, Any] | None = None,
          groups: Sequence[str] | None = None) -> Training:
    """Fit the weight model and measure it by nested cross-validation.

    Args:
        x: (queries, features) from ``features``.
        ndcg: (queries, alphas): each query's nDCG@10 under ``adaptive`` at each alpha of ``alphas``.
        alphas: the grid; must hold ``default_alpha``.
        default_alpha: the alpha the gains are measured from (the default's).
        folds: outer folds; the ridge penalty and the margin are chosen inside each outer training part by
            an inner cross-validation, so the reported gain is measured on queries nothing was tuned on.
        provenance: recorded in the model file (sets, command); the counts and the gain are added.
        groups: each query's set; with two sets or more the penalty and margin are chosen leaving one set
            out at a time (a model for knowledge bases it has not seen), else by random folds.
    Returns:
        Training; its model is fitted on every query with the penalty and margin the whole set prefers.
    Raises:
        ValueError: shapes that do not fit, no ``default_alpha`` in the grid, or fewer queries than folds.
    """
    x, ndcg, grid = np.asarray(x, np.float64), np.asarray(ndcg, np.float64), np.asarray(alphas, np.float64)
    if x.ndim != 2 or x.shape[1] != len(FEATURE_NAMES) or ndcg.shape != (x.shape[0], grid.size):
        raise ValueError(f"expected features (n, {len(FEATURE_NAMES)}) and nDCG (n, {grid.size}), got {x.shape} "
                         f"and {ndcg.shape}")
    hits = np.flatnonzero(np.isclose(grid, default_alpha))
    if not hits.size:
        raise ValueError(f"the alpha grid {grid.tolist()} lacks the default alpha {default_alpha}")
    default = int(hits[0])
    n = x.shape[0]
    check_folds(n, folds)
    group = None if groups is None else np.asarray(groups)
    if group is not None and group.shape != (n,):
        raise ValueError(f"groups must name the set of each of the {n} queries, got {group.shape}")
    learned, fixed = np.empty(n), np.empty(n)
    moved = 0
    for f in _folds(n, folds, seed):
        train_rows = np.setdiff1d(np.arange(n), f)
        ridge, margin = _select(x, ndcg, grid, default, train_rows, max(2, folds - 1), seed + 1, group)
        learned[f], pick = _picked(x, ndcg, grid, default, ridge, margin, train_rows, f)
        moved += int((pick != default).sum())
        fixed[f] = ndcg[f, best_fixed(ndcg[train_rows], default)]
    diff = learned - ndcg[:, default]
    gain, stderr = float(diff.mean()), float(diff.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0
    ridge, margin = _select(x, ndcg, grid, default, np.arange(n), folds, seed + 1, group)
    means, scales, intercepts, coefficients = _fit(x, ndcg - ndcg[:, [default]], ridge)
    warning = None
    if not moved:
        warning = (f"cross-validation found no query where the model would change the weight, so the model keeps "
                   f"the default alpha {default_alpha:g} (its gain of 0 is by construction, not a measurement); ")
        if n < MIN_QUERIES:
            warning += (f"to learn a weight, label more queries (here {n}; {MIN_QUERIES} or more give a gain worth "
                        "trusting), ideally ones where another alpha ranks better")
        else:
            where = "these knowledge bases" if group is not None and np.unique(group).size >= 2 else "this knowledge base"
            warning += (f"{n} queries are enough to look, so on {where} the features do not tell which alpha a query "
                        "wants, if any query wants another")
    elif n < MIN_QUERIES:
        warning = (f"only {n} labelled queries: a cross-validated gain from fewer than {MIN_QUERIES} is within "
                   f"its noise (here ±{2 * stderr:.4f} nDCG@10, 2 standard errors); label more queries before "
                   "relying on the model")
    record = {**(provenance or {}), "queries": n, "folds": folds, "cv_gain": round(gain, 5),
              "cv_gain_stderr": round(stderr, 5), "cv_default_ndcg": round(float(ndcg[:, default].mean()), 5),
              "cv_learned_ndcg": round(float(learned.mean()), 5), "cv_fixed_ndcg": round(float(fixed.mean()), 5),
              "selection": "leave one set out" if group is not None and np.unique(group).size >= 2 else f"{folds} folds"}
    model = WeightModel(FEATURE_NAMES, means, scales, grid, float(default_alpha), intercepts, coefficients,
                        float(margin), float(ridge), record)
    return Training(model, learned, ndcg[:, default].copy(), gain, stderr, warning, moved, fixed,
                    float(grid[best_fixed(ndcg, default)]))


def _signed(value: float) -> str:
    """``value`` as a signed figure of 4 decimals, never "-0.0000"."""
    return f"{round(value, 4) + 0.0:+.4f}"


def _paired(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """The mean of ``a - b`` over the queries and its standard error."""
    diff = np.asarray(a) - np.asarray(b)
    return float(diff.mean()), float(diff.std(ddof=1) / math.sqrt(len(diff))) if len(diff) > 1 else 0.0


def fixed_alpha_lines(result: Training, default_alpha: float, several_sets: bool = False) -> str:
    """What one alpha tuned on the same folds gets, cross-validated, beside the model; and the best alpha over
    every query, said to be in-sample (``train``'s ``fixed`` and ``fixed_alpha``)."""
    gain, stderr = _paired(result.fixed, result.default)
    pooled = " (one alpha for all the sets together)" if several_sets else ""
    return (f"one alpha tuned on the same folds instead{pooled}: nDCG@10 {result.fixed.mean():.4f}, gain over the "
            f"default {_signed(gain)} (± {2 * stderr:.4f}); the best single alpha over all the queries, in-sample "
            f"(not cross-validated): {result.fixed_alpha:g}")


def advice(result: Training, default_alpha: float) -> str | None:
    """What to use, from the cross-validated figures only: the default when neither the model nor one tuned
    alpha beats it; one alpha when the model does no better than it; else the model, with its lead over that
    alpha and whether the lead is beyond 2 standard errors. None when nothing needs saying."""
    default = f"the default (adaptive, alpha {default_alpha:g})"
    learned, fixed, base = result.learned.mean(), result.fixed.mean(), result.default.mean()
    if max(learned, fixed) <= base + TIE:
        return f"neither the model nor one tuned alpha beat {default} here: keep the default"
    lead, stderr = _paired(result.learned, result.fixed)
    if lead <= TIE:
        alpha = (default if math.isclose(result.fixed_alpha, default_alpha)
                 else f"fusion 'adaptive' at alpha {result.fixed_alpha:g} (a setting file's alpha, or "
                 f"`python -m hybrid search --alpha {result.fixed_alpha:g}`)")
        return f"the model does no better than one tuned alpha here: {alpha} is as good and simpler"
    noise = "beyond" if lead > 2 * stderr else "within"
    return (f"the model leads one tuned alpha by {_signed(lead)} (± {2 * stderr:.4f}, 2 standard errors): "
            f"{noise} its noise")


def best_fixed(ndcg: np.ndarray, default: int) -> int:
    """The grid column with the best mean nDCG over ``ndcg``'s queries (a tie goes to the default).

    Args:
        ndcg: (queries, alphas) nDCG@10 under each alpha of the grid.
        default: the default alpha's column.
    Returns:
        The column: one fixed alpha tuned on these queries.
    """
    means = ndcg.mean(axis=0)
    return default if means[default] >= means.max() - TIE else int(means.argmax())
