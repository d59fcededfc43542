"""The indicator dictionary (wiki pages) and the engine that executes it."""
