"""A search setting as a JSON file (``--config FILE``), and its translation into Milvus, Elasticsearch and OpenSearch.

``python -m hybrid.config export --config FILE --target milvus|elasticsearch|opensearch`` prints a translation;
``--report r.json`` exports the best point of an evaluation report instead (and measures what is lost where a
method has no equivalent). The file::

    {"format": "hybrid-search-config", "version": 1,
     "settings": {"fusion": "weighted", "alpha": 0.6, "normalizer": "minmax", "window": 100, "rrf_k": 60,
                  "k": 5, "k1": 1.2, "b": 0.75, "rerank": 20},
     "tokenizer": {"mode": "search", "fold": true, "user_dict": null},
     "model": "auto"}

The demo's download adds ``exports`` (the three translations), which loading skips. Every key is optional
except ``format`` and ``version``; a missing one takes the built-in default. An unknown key
is an error (a typo must not fall back to a default silently). A new key (a future ``weight_model`` file, say) is
one more entry of ``_TOP`` and one more field of ``Config``; files of older versions keep loading.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .fusion import FUSERS, NORMALIZERS
from .kb import UserError
from .settings import DEFAULT_SETTINGS, MAX_K1, Settings
from .tokenize import TOKENIZER_MODES, TokenizerSettings

FORMAT = "hybrid-search-config"
VERSION = 1
TARGETS = ("milvus", "elasticsearch", "opensearch")
PRIMARY_METRIC = "ndcg@10"
# The pages each translation was written against (also cited in README "Carry a setting out").
DOCS = {
    "milvus_weighted": "https://milvus.io/docs/weighted-ranker.md",
    "milvus_rrf": "https://milvus.io/docs/rrf-ranker.md",
    "milvus_reranking": "https://milvus.io/docs/reranking.md",
    "es_linear": "https://elastic.co/docs/reference/elasticsearch/rest-apis/retrievers/linear-retriever",
    "es_rrf": "https://elastic.co/docs/reference/elasticsearch/rest-apis/retrievers/rrf-retriever",
    "es_dense_vector": "https://www.elastic.co/docs/reference/elasticsearch/mapping-reference/dense-vector",
    "os_normalization": "https://docs.opensearch.org/docs/search-plugins/search-pipelines/normalization-processor",
    "os_score_ranker": "https://docs.opensearch.org/docs/search-plugins/search-pipelines/score-ranker-processor",
}


class ConfigError(UserError):
    """A configuration file that cannot be used; the message names the file, the field and what is allowed."""


def _integer(low: int) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            return f"an integer >= {low}"
        return None
    return check


def _number(low: float, high: float = math.inf) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                or not low <= value <= high):
            return f"a number in [{low:g}, {high:g}]" if high != math.inf else f"a finite number >= {low:g}"
        return None
    return check


def _choice(options: Sequence[str]) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if value in options else "one of " + ", ".join(options)
    return check


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "true or false"


def _text_or_null(value: Any) -> str | None:
    return None if value is None or (isinstance(value, str) and value.strip()) else "a file path or null"


def _text(value: Any) -> str | None:
    return None if isinstance(value, str) and value.strip() else "a non-empty string"


# Each section's keys and what they accept (the checks say what is allowed, in the error message).
_SETTINGS = {"fusion": _choice(tuple(FUSERS)), "alpha": _number(0.0, 1.0), "normalizer": _choice(tuple(NORMALIZERS)),
             "window": _integer(1), "rrf_k": _integer(1), "k": _integer(1), "k1": _number(0.0, MAX_K1),
             "b": _number(0.0, 1.0), "rerank": _integer(0)}
_TOKENIZER = {"mode": _choice(TOKENIZER_MODES), "fold": _boolean, "user_dict": _text_or_null}
# ``exports`` (the translations ``export_all`` adds) is derived from the rest: read back, it is skipped.
_TOP = {"format": None, "version": None, "settings": _SETTINGS, "tokenizer": _TOKENIZER, "model": _text,
        "exports": None}


@dataclass(frozen=True)
class Config:
    """Everything a setting file carries: the search settings, the keyword tokenizer and the embedding model.

    Attributes:
        settings: the engine's defaults (``mode`` is per search and not stored).
        tokenizer: the keyword side's tokenizer.
        model: the embedding model ("auto", an alias, a hub id or a folder): the vectors must come from it.
    """

    settings: Settings = DEFAULT_SETTINGS
    tokenizer: TokenizerSettings = field(default_factory=TokenizerSettings)
    model: str = "auto"

    def to_dict(self) -> dict[str, Any]:
        """The file's JSON object."""
        settings = {key: getattr(self.settings, key) for key in _SETTINGS}
        return {"format": FORMAT, "version": VERSION, "settings": settings,
                "tokenizer": {"mode": self.tokenizer.mode, "fold": self.tokenizer.fold,
                              "user_dict": self.tokenizer.user_dict},
                "model": self.model}

    def override(self, *, model: str | None = None, tokenizer_mode: str | None = None,
                 user_dict: str | None = None, fold: bool | None = None, **settings: Any) -> "Config":
        """A copy with the command line's explicit values applied (``None``: keep the file's).

        Args:
            model, tokenizer_mode, user_dict, fold: the model and tokenizer flags.
            settings: ``Settings`` fields (``alpha=0.3``).
        """
        tokenizer = replace(self.tokenizer, **{k: v for k, v in (("mode", tokenizer_mode), ("user_dict", user_dict),
                                                                 ("fold", fold)) if v is not None})
        return Config(self.settings.with_(**settings), tokenizer, model if model is not None else self.model)


def _fail(path: str, message: str) -> ConfigError:
    return ConfigError(f"config {path}: {message}")


def config_from_dict(data: Any, path: str = "<dict>", base: Path | None = None) -> Config:
    """Check ``data`` (a parsed file) field by field and build the ``Config``.

    Args:
        data: the JSON object.
        path: the file's name, for messages.
        base: folder a relative ``tokenizer.user_dict`` is resolved against (the file's own).
    Raises:
        ConfigError: the first bad field: its name, the value and the allowed values.
    """
    if not isinstance(data, dict):
        raise _fail(path, f"expected a JSON object, got {type(data).__name__}")
    if data.get("format") != FORMAT:
        raise _fail(path, f"format must be {FORMAT!r} (is this a setting exported by hybrid-search?), got "
                          f"{data.get('format')!r}")
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _fail(path, f"version must be an integer >= 1, got {version!r}")
    if version > VERSION:
        raise _fail(path, f"version {version} was written by a newer hybrid-search (this one reads up to "
                          f"{VERSION}): upgrade, or export the setting again")
    _unknown(path, "", data, _TOP)
    values: dict[str, dict[str, Any]] = {}
    for section in ("settings", "tokenizer"):
        given = data.get(section, {})
        if not isinstance(given, dict):
            raise _fail(path, f"{section} must be a JSON object, got {type(given).__name__}")
        _unknown(path, section + ".", given, _TOP[section])
        for key, value in given.items():
            allowed = _TOP[section][key](value)
            if allowed is not None:
                raise _fail(path, f"{section}.{key} is {json.dumps(value, ensure_ascii=False)}; allowed: {allowed}")
        values[section] = given
    model = data.get("model", "auto")
    if _text(model) is not None:
        raise _fail(path, f"model is {json.dumps(model, ensure_ascii=False)}; allowed: {_text(model)}")
    settings = DEFAULT_SETTINGS.with_(**values["settings"])
    tokenizer = TokenizerSettings(**values["tokenizer"])
    if tokenizer.user_dict:
        user_dict = Path(tokenizer.user_dict)
        if not user_dict.is_absolute() and base is not None:
            user_dict = base / user_dict
        if not user_dict.is_file():
            raise _fail(path, f"tokenizer.user_dict {tokenizer.user_dict!r} is not a file (a relative path is read "
                              "from the config file's folder)")
        tokenizer = replace(tokenizer, user_dict=str(user_dict))
    return Config(settings, tokenizer, model)


def _unknown(path: str, prefix: str, given: Mapping[str, Any], known: Mapping[str, Any]) -> None:
    extra = [key for key in given if key not in known]
    if extra:
        raise _fail(path, f"unknown key {prefix + extra[0]!r}; allowed keys{' in ' + prefix[:-1] if prefix else ''}: "
                          + ", ".join(known))


def load_config(path: str | Path) -> Config:
    """Read a setting file.

    Raises:
        ConfigError: missing file, not JSON, or a bad field (named, with the allowed values).
    """
    path = Path(path)
    data = _read_json(path, "config")
    if _is_report(data):
        raise _fail(str(path), "this is an evaluation report (python -m hybrid.evaluate --out), not a setting file: "
                               f"give it as `python -m hybrid.config export --report {path}`, or turn its best point "
                               f"into a setting file with `python -m hybrid.config export --report {path} --target "
                               "config > setting.json`")
    return config_from_dict(data, str(path), path.parent)


def _is_report(data: Any) -> bool:
    """Whether parsed JSON is an evaluation report (a sweep, its best point or its setting) rather than a setting
    file."""
    if not isinstance(data, dict) or data.get("format") == FORMAT:
        return False
    return bool({"sweep", "best", "hybrid_config"} & set(data))


def _read_json(path: Path, kind: str) -> Any:
    """The parsed JSON of a ``kind`` ("config" or "report") file, or a ConfigError saying why it cannot be read."""
    if path.is_dir():
        raise ConfigError(f"{kind} {path} is a folder: give the JSON file itself")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{kind} {path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at position "
                          f"{exc.start}); the files hybrid-search writes are UTF-8 JSON: save it as UTF-8, e.g. "
                          "`iconv -f gbk -t utf-8 OLD > NEW` for a GBK file") from None
    except OSError as exc:
        raise ConfigError(f"{kind} {path}: cannot read it ({exc.strerror or exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{kind} {path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None


def save_config(config: Config, path: str | Path) -> Path:
    """Write ``config`` as a setting file (UTF-8 JSON); returns the path."""
    path = Path(path)
    path.write_text(dumps(config.to_dict()), encoding="utf-8")
    return path


def dumps(data: Any) -> str:
    """JSON as the files are written: UTF-8 characters kept, indented."""
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """``--config FILE`` (a setting file; the command's explicit flags override it)."""
    parser.add_argument("--config", default=None, metavar="FILE",
                        help="a setting file (JSON, exported by the demo or `python -m hybrid.config`); flags given "
                             "on the command line override its values")


def config_from_args(args: argparse.Namespace, **settings: Any) -> Config:
    """The ``--config`` file (built-in defaults without one) with the explicit flags of ``args`` applied.

    Reads ``args.model``, ``args.tokenizer_mode``, ``args.user_dict`` and ``args.no_fold`` when the command has them
    (``None``: not given); ``settings`` are the command's ``Settings`` flags (``None``: not given).
    """
    config = load_config(args.config) if getattr(args, "config", None) else Config()
    no_fold = getattr(args, "no_fold", None)
    return config.override(model=getattr(args, "model", None), tokenizer_mode=getattr(args, "tokenizer_mode", None),
                           user_dict=getattr(args, "user_dict", None), fold=None if not no_fold else False, **settings)


def check_store_bm25(config: Config, bm25_params: tuple[float, float] | None, store: str, source: str) -> None:
    """Refuse a setting whose BM25 k1 / b differ from those a store fixed when its collection was built (the search
    would silently use the store's).

    Args:
        config: the setting (from ``source``).
        bm25_params: the store's ``bm25_params`` (None: the store takes any).
        store: the store's ``describe()``.
        source: the setting file's name, for the message.
    Raises:
        ConfigError: naming both values and the two ways out.
    """
    for name, fixed in zip(("k1", "b"), bm25_params or ()):
        asked = float(getattr(config.settings, name))
        if abs(asked - fixed) > 1e-9:
            raise ConfigError(f"config {source}: BM25 {name}={asked:g}, but {store} was built with {name}={fixed:g}, "
                              f"fixed when its collection was built: index the knowledge base into a new collection "
                              f"with this setting (`python -m hybrid index --config {source} --collection NEW ...`), "
                              f"or set {name} to {fixed:g} in the file")


# ---------------------------------------------------------------------------------------- translations


def _weights(alpha: float) -> tuple[float, float]:
    """(keyword, semantic) weights, rounded so that 0.3 stays 0.3."""
    return round(1.0 - alpha, 6), round(float(alpha), 6)


# The sweep points each target's translation expresses: weighted fusion at a normaliser it has a counterpart for
# (the others are translated as minmax), and rrf where it takes the lists' weights (Milvus's RRFRanker takes none:
# alpha 0.5 only).
_EXPRESSES = {"milvus": ({"minmax", "none"}, False), "elasticsearch": ({"minmax", "none"}, True),
              "opensearch": ({"minmax", "zscore"}, True)}
UNNAMED_SET = "your labelled set"  # a report's set without a name (a page upload of a plain corpus.jsonl)


def _expressible(target: str, row: Mapping[str, Any], normalizer: str) -> bool:
    """Whether ``target`` expresses a sweep row (``normalizer``: the one a row without that column used)."""
    normalizers, weighted_rrf = _EXPRESSES[target]
    if any(not isinstance(row.get(key), (int, float)) or not math.isfinite(row[key])
           for key in (PRIMARY_METRIC, "alpha")):
        return False
    if row.get("fusion") == "weighted":
        return (row.get("normalizer") or normalizer) in normalizers
    return row.get("fusion") == "rrf" and (weighted_rrf or abs(float(row.get("alpha", -1)) - 0.5) < 1e-9)


def _row_settings(config: Config, row: Mapping[str, Any]) -> Config:
    """``config`` at a sweep row's fusion, alpha, normaliser and window (a column the row lacks keeps its value)."""
    chosen = {"fusion": row["fusion"], "alpha": float(row["alpha"]),
              **{key: row[key] for key in ("normalizer", "window") if row.get(key) is not None}}
    return replace(config, settings=config.settings.with_(**chosen))


def _figure(c: Config, row: Mapping[str, Any]) -> dict[str, Any]:
    s = c.settings
    return {"fusion": s.fusion, "alpha": s.alpha, "normalizer": s.normalizer, "window": s.window,
            PRIMARY_METRIC: row[PRIMARY_METRIC], **({"ci95": row["ci95"]} if "ci95" in row else {})}


def _describe(s: Settings) -> str:
    """A setting in words: ``weighted fusion, alpha 0.6, minmax, window 100``."""
    return ", ".join([f"{s.fusion} fusion", f"alpha {s.alpha:g}", *([s.normalizer] if s.fusion == "weighted" else []),
                      f"window {s.window}"])


def _nearest(config: Config, report: Mapping[str, Any] | None,
             target: str) -> tuple[Config, str, dict[str, Any] | None, Mapping[str, Any] | None]:
    """The setting ``target`` is given for a method it cannot express, how it was chosen ("best measured" or
    "same alpha"), what the report measured for both, and the report's row of weighted fusion at the same alpha,
    minmax.

    With a report whose sweep holds points ``target`` expresses (``_EXPRESSES``), the nearest is the best of them
    by nDCG@10 (a tie goes to weighted minmax at the same alpha, then to the nearest alpha): "best measured".
    Without, it is weighted fusion at the same alpha, minmax: "same alpha". The measured figures are None without
    a report, or when its sweep lacks either point.
    """
    same = replace(config, settings=config.settings.with_(fusion="weighted", normalizer="minmax"))
    rows = [row for row in (report or {}).get("sweep", ()) if isinstance(row, Mapping)]
    ours = next((row for row in rows if _same_point(row, config.settings)), None)
    same_row = next((row for row in rows if _same_point(row, same.settings)), None)
    candidates = [row for row in rows if _expressible(target, row, config.settings.normalizer)]
    if candidates:
        row = max(candidates, key=lambda r: (r[PRIMARY_METRIC], r is same_row,
                                             -abs(float(r.get("alpha", 0)) - config.settings.alpha)))
        nearest, rule = _row_settings(config, row), "best measured"
    else:
        nearest, row, rule = same, same_row, "same alpha"
    if ours is None or row is None:
        return nearest, rule, None, same_row
    measured = {"ours": _figure(config, ours), "nearest": _figure(nearest, row),
                "lost": round(ours[PRIMARY_METRIC] - row[PRIMARY_METRIC], 6)}
    return nearest, rule, measured, same_row


def _same_point(row: Mapping[str, Any], settings: Settings) -> bool:
    """Whether a sweep row is ``settings`` (rows without a normalizer or window column swept neither)."""
    return (row.get("fusion") == settings.fusion and abs(float(row.get("alpha", -1)) - settings.alpha) < 1e-9
            and row.get("normalizer", settings.normalizer) in (settings.normalizer, None)
            and row.get("window", settings.window) in (settings.window, None))


def set_name(report: Mapping[str, Any]) -> str:
    """The name of a report's labelled set, ``UNNAMED_SET`` when it has none."""
    return str(report.get("dataset") or "").strip() or UNNAMED_SET


def _no_equivalent(target: str, config: Config, report: Mapping[str, Any] | None, build,
                   model_note: str) -> dict[str, Any]:
    nearest, rule, measured, same_row = _nearest(config, report, target)
    out = build(nearest, model_note)
    alpha = config.settings.alpha
    why = (f"{config.settings.fusion!r} fusion has no {target} equivalent: it sets the semantic weight per query "
           "from the query's own evidence (keyword idf, the cosine's spread over the knowledge base), which no "
           "built-in ranker computes. ")
    same = f"weighted fusion at the same alpha ({alpha:g}), minmax"
    if rule == "same alpha":
        why += f"The nearest setting is given instead: {same}."
    elif _same_point(same_row or {}, nearest.settings):
        why += (f"The nearest setting is given instead: {same}, the best setting the report measured that "
                f"{target} can express.")
    else:
        why += (f"The best setting the report measured that {target} can express is given instead: "
                f"{_describe(nearest.settings)}, rather than {same}"
                + (f", which measured {same_row[PRIMARY_METRIC]:.4f} {PRIMARY_METRIC}." if same_row else "."))
    out.update({"equivalent": "none", "why": why, "nearest": rule, "ours": config.to_dict()["settings"]})
    if measured is not None:
        out["measured"] = measured
        out["why"] += (f" Measured on {set_name(report)}: ours {measured['ours'][PRIMARY_METRIC]:.4f}, "
                       f"the nearest {measured['nearest'][PRIMARY_METRIC]:.4f} {PRIMARY_METRIC}.")
    return out


# What each of our normalisers does to one retriever's scores (fusion.NORMALIZERS), in the translations' words.
_OURS = {"minmax": "min-max over each query's own candidates (BM25's low end at most 75% of its best score)",
         "max": "each score divided by the best of the query's own candidates",
         "zscore": "a z-score over each query's own candidates, shifted so the weakest is 0 and divided by 3 "
                   "standard deviations",
         "none": "the raw score (BM25 unbounded, cosine as it is)"}


def _same_model(config: Config, report: Mapping[str, Any] | None, used_model: str | None) -> str:
    """The note that the dense vectors must come from the setting's model, named: "auto" as the model it loaded
    (``used_model``), else the report's, else what "auto" picks where."""
    from .semantic import DEFAULT_GPU_MODEL, DEFAULT_PACKAGED, resolve_model

    if config.model != "auto":
        return f"Dense vectors must come from the same model ({resolve_model(config.model)[0]})."
    if used_model:
        return f"Dense vectors must come from the same model ({used_model}, the one \"auto\" loaded here)."
    measured = (report or {}).get("model")
    if measured:
        return f"Dense vectors must come from the same model ({measured}, the one the report measured)."
    return (f"Dense vectors must come from the same model: this setting's model is \"auto\", which is "
            f"{DEFAULT_GPU_MODEL} on a CUDA GPU and the packaged {DEFAULT_PACKAGED} elsewhere; use the one your "
            "vectors came from, and name it in the setting's \"model\" to pin it.")


def _milvus(config: Config, model_note: str) -> dict[str, Any]:
    s = config.settings
    kw, sem = _weights(s.alpha)
    notes = ["Give the two AnnSearchRequests in this order: the BM25 one (sparse, metric BM25) first, the dense "
             f"one (metric COSINE) second, each with limit={s.window} (our candidate window).",
             f"BM25 k1 and b are index parameters of the sparse field: params={{'bm25_k1': {s.k1:g}, "
             f"'bm25_b': {s.b:g}}} (fixed when the index is built).",
             "Keyword tokens: Milvus analyses the text with its own analyzer (e.g. jieba); our tokenizer "
             f"({config.tokenizer.mode}{'' if config.tokenizer.fold else ', no folding'}) folds width, case and "
             "Traditional/Simplified before jieba, so feed Milvus the text normalised the same way "
             "(hybrid.store.milvus does).",
             model_note]
    if s.fusion == "weighted" and s.normalizer == "none":
        # Raw scores added, as ours: Milvus's norm_score=False sums weight x raw BM25 and weight x raw cosine.
        out = {"ranker": "WeightedRanker", "args": [kw, sem], "kwargs": {"norm_score": False},
               "python": f"WeightedRanker({kw:g}, {sem:g}, norm_score=False)",
               "docs": [DOCS["milvus_weighted"], DOCS["milvus_reranking"]],
               "equivalent": "approximate",
               "differences": [
                   f"Normalisation: none on both sides (norm_score=False); ours is {_OURS[s.normalizer]}. A hit "
                   "found by one request only gets nothing from the other in Milvus, while ours looks up the "
                   "cosine of a keyword hit the semantic list left out, so rankings can differ below the hits both "
                   "lists hold."]}
    elif s.fusion == "weighted":
        out = {"ranker": "WeightedRanker", "args": [kw, sem], "kwargs": {"norm_score": True},
               "python": f"WeightedRanker({kw:g}, {sem:g}, norm_score=True)",
               "docs": [DOCS["milvus_weighted"], DOCS["milvus_reranking"]],
               "equivalent": "approximate",
               "differences": [
                   "Normalisation: Milvus maps each raw score through a fixed curve, the same for every query: "
                   "BM25 s to 2*atan(s)/pi, cosine c to (1+c)/2 (measured on Milvus Lite; its Reranking page "
                   f"says arctan); ours is {_OURS[s.normalizer]}. The weights match, the scale does not: BM25 "
                   "scores of 5 and 10 land at 0.87 and 0.94, and cosines only span about half of [0, 1], so "
                   "rankings can differ where the two lists disagree.",
                   f"Our normalizer {s.normalizer!r} has no Milvus counterpart beyond norm_score on/off."
                   if s.normalizer not in ("minmax",) else "norm_score=False would add raw scores (BM25 "
                   "dominates): keep it on."]}
    elif s.fusion == "rrf":
        out = {"ranker": "RRFRanker", "args": [s.rrf_k], "kwargs": {}, "python": f"RRFRanker({s.rrf_k})",
               "docs": [DOCS["milvus_rrf"]], "equivalent": "exact" if abs(s.alpha - 0.5) < 1e-9 else "approximate",
               "differences": [] if abs(s.alpha - 0.5) < 1e-9 else [
                   f"Milvus's RRFRanker takes no weights: both lists count equally (our alpha 0.5). Ours weights "
                   f"them {kw:g} (keyword) / {sem:g} (semantic)."]}
    else:
        raise ValueError(s.fusion)
    out.update({"target": "milvus", "fusion": s.fusion, "notes": notes})
    return out


def _linear_sub(kind: str, weight: float, normalizer: str, window: int) -> dict[str, Any]:
    retriever = ({"standard": {"query": {"match": {"text": "<query>"}}}} if kind == "keyword" else
                 {"knn": {"field": "vector", "query_vector": "<query embedding>", "k": window,
                          "num_candidates": window}})
    return {"retriever": retriever, "weight": weight, **({"normalizer": normalizer} if normalizer else {})}


def _elasticsearch(config: Config, model_note: str) -> dict[str, Any]:
    s = config.settings
    kw, sem = _weights(s.alpha)
    similarity = {"settings": {"index": {"similarity": {"default": {"type": "BM25", "k1": s.k1, "b": s.b}}}}}
    if s.fusion == "weighted":
        normalizer = {"minmax": "minmax", "none": "none"}.get(s.normalizer, "minmax")
        if s.normalizer == "minmax":
            differences = ["Elasticsearch's minmax spans each list's own top documents (min to max); ours starts "
                           "BM25's low end at most at 75% of its best score, so a short list of near-equal keyword "
                           "matches keeps more credit here."]
        elif s.normalizer == "none":
            # Elasticsearch scores a cosine kNN hit (1 + cosine) / 2 (dense_vector "similarity": cosine), so the
            # semantic weight is doubled for a cosine to count as in ours.
            differences = [f"Elasticsearch scores a kNN hit (1 + cosine) / 2 when the dense_vector field's "
                           "similarity is cosine (its default) or dot_product on unit-length vectors (this assumes "
                           f"one of them; l2_norm and max_inner_product score otherwise), so the semantic weight "
                           f"here is twice ours ({2 * sem:g}, not {sem:g}): a cosine then counts as much as in ours, "
                           "but every "
                           f"hit of the kNN list gets {sem:g} more than a hit BM25 alone found, which gets no "
                           "semantic part at all (ours looks up its cosine). Rankings can differ where the two "
                           "lists disagree."]
        else:
            differences = [f"Our normalizer {s.normalizer!r} ({_OURS[s.normalizer]}) has no linear-retriever "
                           "counterpart (minmax, l2_norm, none): minmax (min to max of each list's own top "
                           "documents) is used, so the two lists' scores are scaled differently."]
        body = {"retriever": {"linear": {
            "retrievers": [_linear_sub("keyword", kw, normalizer, s.window),
                           _linear_sub("semantic", 2 * sem if s.normalizer == "none" else sem, normalizer, s.window)],
            "rank_window_size": s.window}}, "size": s.k}
        out = {"retriever": "linear", "search": body, "docs": [DOCS["es_linear"], DOCS["es_dense_vector"]],
               "equivalent": "approximate", "differences": differences}
    elif s.fusion == "rrf":
        body = {"retriever": {"rrf": {
            "retrievers": [_linear_sub("keyword", kw, "", s.window), _linear_sub("semantic", sem, "", s.window)],
            "rank_constant": s.rrf_k, "rank_window_size": s.window}}, "size": s.k}
        out = {"retriever": "rrf", "search": body, "docs": [DOCS["es_rrf"]], "equivalent": "exact",
               "differences": ["A weight per child retriever (weight x its RRF score) is in the current rrf "
                               "retriever page; older versions take no weights (equal lists: our alpha 0.5)."]}
    else:
        raise ValueError(s.fusion)
    out.update({"target": "elasticsearch", "fusion": s.fusion, "index": similarity,
                "notes": ["`text` and `vector` are your index's text and dense_vector fields; the text field needs a "
                          "Chinese analyzer (Elasticsearch's standard one splits Chinese into single characters).",
                          model_note]})
    return out


def _opensearch(config: Config, model_note: str) -> dict[str, Any]:
    s = config.settings
    kw, sem = _weights(s.alpha)
    if s.fusion == "weighted":
        technique = {"minmax": "min_max", "zscore": "z_score"}.get(s.normalizer, "min_max")
        processor = {"normalization-processor": {"normalization": {"technique": technique}, "combination": {
            "technique": "arithmetic_mean", "parameters": {"weights": [kw, sem]}}}}
        if s.normalizer == "minmax":
            differences = ["OpenSearch's min_max spans each clause's own results; ours starts BM25's low end at most "
                           "at 75% of its best score."]
        elif s.normalizer == "zscore":
            differences = ["z_score here is the plain z-score; ours shifts it so the weakest candidate is 0 and "
                           "divides by 3 standard deviations."]
        else:
            differences = [f"Our normalizer {s.normalizer!r} ({_OURS[s.normalizer]}) has no counterpart (min_max, "
                           "l2, z_score): min_max (each clause's own results, min to max) is used."]
        out = {"processor": "normalization-processor", "docs": [DOCS["os_normalization"]],
               "equivalent": "approximate", "differences": differences}
    elif s.fusion == "rrf":
        processor = {"score-ranker-processor": {"combination": {"technique": "rrf", "rank_constant": s.rrf_k,
                                                                "parameters": {"weights": [kw, sem]}}}}
        out = {"processor": "score-ranker-processor", "docs": [DOCS["os_score_ranker"]], "equivalent": "exact",
               "differences": ["combination.parameters.weights is in the current score-ranker page (not in the "
                               "2.19/3.0 pages): without it both clauses count equally (our alpha 0.5)."]}
    else:
        raise ValueError(s.fusion)
    out.update({"target": "opensearch", "fusion": s.fusion,
                "pipeline": {"description": f"hybrid-search {s.fusion}, alpha {s.alpha:g}",
                             "phase_results_processors": [processor]},
                "query": {"query": {"hybrid": {"queries": [{"match": {"text": "<query>"}},
                                                           {"knn": {"vector": {"vector": "<query embedding>",
                                                                               "k": s.window}}}]}},
                          "size": s.k},
                "notes": ["PUT the pipeline to /_search/pipeline/<name> and search with ?search_pipeline=<name>; "
                          "weights follow the order of the hybrid query's clauses: keyword first, semantic second.",
                          model_note]})
    return out


_BUILDERS = {"milvus": _milvus, "elasticsearch": _elasticsearch, "opensearch": _opensearch}


def export(config: Config, target: str, report: Mapping[str, Any] | None = None,
           used_model: str | None = None) -> dict[str, Any]:
    """The translation of ``config`` for ``target`` (a key of ``TARGETS``).

    A fusion method with no equivalent (adaptive, learned: a weight per query) gets ``equivalent: "none"``, the
    reason, and a setting the target expresses (``nearest`` says which rule chose it): with ``report``, the best
    point of its sweep the target expresses ("best measured": weighted fusion at a normaliser the target has, rrf
    where it takes weights), else weighted fusion at the same alpha, minmax ("same alpha"); with ``report``, both
    settings' measured nDCG@10 (``measured``), the set named (``UNNAMED_SET`` when it has no name).
    ``used_model``: the model a model "auto" loaded where the setting is used (named in the notes).
    Raises:
        ValueError: unknown target.
    """
    if target not in _BUILDERS:
        raise ValueError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
    build = _BUILDERS[target]
    model_note = _same_model(config, report, used_model)
    if config.settings.fusion in ("weighted", "rrf"):
        return build(config, model_note)
    return _no_equivalent(target, config, report, build, model_note)


def export_all(config: Config, report: Mapping[str, Any] | None = None,
               used_model: str | None = None, weight_model: str | None = None) -> dict[str, Any]:
    """The setting file's object with the three translations under ``exports`` (the demo's download).

    ``weight_model``: the file name of the weight model fusion "learned" used, when not the packaged one (a setting
    file does not carry it: each translation's notes say so).
    """
    exports = {t: export(config, t, report, used_model) for t in TARGETS}
    if weight_model and config.settings.fusion == "learned":
        note = (f"Fusion 'learned' here used the weight model {weight_model}, not the packaged one; this file does "
                f"not carry it: give it with --weight-model {weight_model} wherever you use this setting.")
        exports = {t: {**e, "notes": [*e.get("notes", []), note]} for t, e in exports.items()}
    return {**config.to_dict(), "exports": exports}


def milvus_ranker(config: Config, report: Mapping[str, Any] | None = None):
    """The pymilvus ranker object of ``export(config, "milvus")`` (for ``MilvusClient.hybrid_search``)."""
    import pymilvus

    spec = export(config, "milvus", report)
    return getattr(pymilvus, spec["ranker"])(*spec["args"], **spec["kwargs"])


def config_from_report(report: Mapping[str, Any], point: str = "best") -> Config:
    """The setting of an evaluation report's ``best`` sweep point (or its ``default``), with the rest of the
    configuration the report was run with (``report["config"]``, else built-in defaults)."""
    base = config_from_dict(report["config"], "report") if report.get("config") else Config()
    if point == "default":
        chosen = report.get("hybrid_config") or {}
    elif point == "best":
        chosen = report.get("best") or {}
        if not chosen:
            raise ConfigError("the report has no best sweep point (it swept no fusion method)")
        chosen = {**(report.get("hybrid_config") or {}),
                  **{key: chosen[key] for key in ("fusion", "alpha", "normalizer", "window", "rrf_k")
                     if chosen.get(key) is not None}}
    else:
        raise ValueError(f"point must be best or default, got {point!r}")
    keys = {f.name for f in fields(Settings)} & set(chosen)
    config = replace(base, settings=base.settings.with_(**{k: chosen[k] for k in keys}))
    from .semantic import portable_model

    measured = str(report.get("model") or "")
    if config.model == "auto" and measured and portable_model(measured):
        # the weights were tuned on this model's vectors; "auto" is Qwen3-Embedding-4B on a CUDA GPU
        config = replace(config, model=measured)
    return config


# ---------------------------------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m hybrid.config``."""
    p = argparse.ArgumentParser(prog="python -m hybrid.config",
                                description="Check a setting file, or translate it for another search engine.")
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("export", help="print the setting as Milvus, Elasticsearch or OpenSearch configuration")
    source = e.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", metavar="FILE", help="a setting file")
    source.add_argument("--report", metavar="FILE", help="an evaluation report (python -m hybrid.evaluate --out)")
    e.add_argument("--point", choices=("best", "default"), default=None,
                   help="with --report: its best sweep point (default) or its default setting")
    e.add_argument("--target", choices=(*TARGETS, "config", "all"), required=True,
                   help="an engine, `config` (the setting file itself) or `all` (the file plus all three)")
    c = sub.add_parser("check", help="read a setting file and print it with every default filled in")
    c.add_argument("config", metavar="FILE")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "check":
            print(dumps(load_config(args.config).to_dict()), end="")
            return 0
        report = None
        if args.config and args.point:
            raise ConfigError(f"--point {args.point} picks a point of an evaluation report (--report); a setting "
                              "file holds one setting: drop --point, or give the report with --report")
        if args.report:
            report = _read_json(Path(args.report), "report")
            if isinstance(report, dict) and report.get("format") == FORMAT:
                raise ConfigError(f"report {args.report} is a setting file, not an evaluation report: give it with "
                                  f"--config {args.report}")
            if not _is_report(report):
                raise ConfigError(f"report {args.report} is not an evaluation report (no sweep, best or "
                                  "hybrid_config): give the file `python -m hybrid.evaluate --out FILE` wrote")
            config = config_from_report(report, args.point or "best")
            weights = (report.get("weight_model") or {}).get("file")
            if config.settings.fusion == "learned" and weights and weights != "packaged":
                print(f"note: this setting's fusion 'learned' was evaluated with the weight model {weights}, which "
                      f"a setting file does not carry: give --weight-model {weights} wherever you use it",
                      file=sys.stderr)
        else:
            config = load_config(args.config)
        if args.target == "config":
            out = config.to_dict()
        elif args.target == "all":
            out = export_all(config, report)
        else:
            out = export(config, args.target, report)
    except (ConfigError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(dumps(out), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
