"""pricebot entry points and wiring."""
