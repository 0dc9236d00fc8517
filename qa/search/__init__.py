"""Finding passages: BM25 and dense search, fused."""
