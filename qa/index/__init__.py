"""The index on disk: the embedding model, immutable generations of passages, vectors and lexical tables."""
