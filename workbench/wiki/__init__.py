"""The wiki as a product: sync from a git-hosted wiki, render as a static site."""
