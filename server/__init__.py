"""HTTP layer: OpenAI-compatible /v1/embeddings, /search and /health beside the Gradio UI (no search logic here)."""

from .app import create_app, serve, start
from .settings import ApiSettings

__all__ = ["ApiSettings", "create_app", "serve", "start"]
