"""Unit tests of the extraction engine (adapters/extract)."""
