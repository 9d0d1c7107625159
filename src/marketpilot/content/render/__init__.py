"""Rendered assets: e-mail (HTML + plain text) and poster/banner PNGs, each with AI-generation metadata."""

from marketpilot.content.render.email import RenderedEmail, render_email
from marketpilot.content.render.labels import ai_metadata
from marketpilot.content.render.poster import read_png_metadata, render_poster

__all__ = ["RenderedEmail", "ai_metadata", "read_png_metadata", "render_email", "render_poster"]
