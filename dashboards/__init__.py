"""Panel applications."""
