"""Size and seed of the session demo warehouse (tests/conftest.py builds it; tests that pass its size to a
command import them from here, since a test module cannot import the root conftest by name)."""

DEMO_PATIENTS = 2_000
DEMO_SEED = 42
