"""FHIR R4 ingestion and export: read (bulk NDJSON, Bundle), mapping (resources → AP-HP tables), ids (persistent
id map), load (provenance, quarantine, CDC, atomic swap), export (warehouse → bulk NDJSON). See docs/fhir.md."""
