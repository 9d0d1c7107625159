"""Text embeddings (bundled multilingual-e5-small) and vector search.

from marketpilot.embed import embed, VectorIndex
index = VectorIndex()
index.add(product_ids, embed(descriptions, kind="passage"))
hits = index.search(embed(["保温杯"], kind="query"), k=5)
"""

from marketpilot.embed.encoder import DIM, embed, normalise_text
from marketpilot.embed.index import SearchResult, VectorIndex, VectorSearch

__all__ = ["DIM", "SearchResult", "VectorIndex", "VectorSearch", "embed", "normalise_text"]
