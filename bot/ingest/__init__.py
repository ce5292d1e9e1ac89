"""Getting papers in: input readers, the ingest pipeline, one record per paper, fetching
from arXiv, export and import of the library."""
