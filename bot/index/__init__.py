"""The index: embeddings, the Chroma vector store, BM25, locking, the write journal and its
recovery (reconcile), consistency checks (doctor). It never imports ingest: the record
building a repair needs is :mod:`bot.index.writes`."""
