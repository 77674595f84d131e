"""Hybrid search for Chinese and mixed Chinese/English knowledge bases: jieba BM25 + embeddings + fusion."""

from .engine import EmptyQueryError, EngineNotReadyError, HybridEngine, IndexCorruptError
from .kb import Document, KnowledgeBaseError, entries_from_file, parse_entries
from .results import Hit, SearchResponse
from .settings import DEFAULT_SETTINGS, Settings
from .store import STORES, Store, StoreError, open_store

__all__ = [
    "DEFAULT_SETTINGS",
    "Document",
    "EmptyQueryError",
    "EngineNotReadyError",
    "Hit",
    "HybridEngine",
    "IndexCorruptError",
    "KnowledgeBaseError",
    "STORES",
    "SearchResponse",
    "Settings",
    "Store",
    "StoreError",
    "entries_from_file",
    "open_store",
    "parse_entries",
]
