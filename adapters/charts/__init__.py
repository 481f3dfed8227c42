"""Price-history charts drawn as PNG images."""
