"""Getting papers in: input readers, the ingest pipeline, one record per paper, fetching
from arXiv."""
