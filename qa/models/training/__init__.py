"""The scripts that train the scorer and the reader (`python -m qa.models.training.scorer`,
`python -m qa.models.training.reader`); they need the dev extras (torch, sentence-transformers,
datasets) and ../shared/training beside the checkout. The answer stage never imports them."""
