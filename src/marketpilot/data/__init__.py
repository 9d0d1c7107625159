"""Data layer: canonical schema, loaders, the store, sample data."""

from marketpilot.data.load import LoadReport, load_file
from marketpilot.data.schema import TABLES, TableSpec
from marketpilot.data.store import Store

__all__ = ["TABLES", "LoadReport", "Store", "TableSpec", "load_file"]
