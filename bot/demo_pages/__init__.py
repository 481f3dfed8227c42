"""HTML templates of the demo shop."""
