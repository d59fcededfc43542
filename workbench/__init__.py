"""EDS Workbench."""
