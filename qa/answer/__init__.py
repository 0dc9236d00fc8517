"""Choosing the answer: the sentence that answers, its citation, abstention and follow-ups."""
