"""The index: embeddings, the Chroma vector store, BM25, locking, the write journal and its
recovery."""
