"""The chat layer: a registry of command specs, one module per command family, a dispatcher."""
