"""Test helpers: tiny format-faithful fixtures of the licensed datasets and body models (no real data)."""
