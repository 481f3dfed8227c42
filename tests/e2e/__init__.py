"""Tests for pricebot."""
