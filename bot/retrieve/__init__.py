"""Retrieval: hybrid vector + BM25 search, rank fusion, paper lookup by id or alias."""
