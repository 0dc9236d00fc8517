"""Measuring answer quality: the article dev set and the SQuAD evaluation documents."""
