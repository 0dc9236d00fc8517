"""The scorer's and the reader's shared tokenizer cuts inputs exactly as the library's truncation does."""

from __future__ import annotations

import random
from pathlib import Path

from tokenizers import Tokenizer

from qa.models import wordpieces
from qa.models.reader import MODEL_FOLDER as READER
from qa.models.scorer import MODEL_FOLDER as SCORER

ARTICLE = next((Path(__file__).resolve().parents[1] / "corpus").glob("*.txt")).read_text(encoding="utf-8").split()


def _texts(rng: random.Random, n: int) -> list[str]:
    """Runs of the article's words, from empty to longer than any model's limit."""
    out = []
    for _ in range(n):
        length = rng.choice([0, 1, 2, 5, 20, 37, 38, 39, 40, 60, 76, 77, 78, 79, 80, 126, 127, 128, 150, 300])
        start = rng.randrange(len(ARTICLE) - length)
        out.append(" ".join(ARTICLE[start : start + length]))
    return out


def _library(folder: Path, max_length: int) -> Tokenizer:
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length)
    return tok


def test_the_scorer_and_the_reader_share_one_tokenizer():
    assert wordpieces.shared(SCORER / "tokenizer.json") is wordpieces.shared(READER / "tokenizer.json")
    tok = wordpieces.shared(READER / "tokenizer.json")
    assert tok.truncation is None and tok.padding is None


def test_pairs_are_cut_as_the_library_cuts_them():
    rng = random.Random(7)
    shared = wordpieces.shared(READER / "tokenizer.json")
    for max_length in (16, 80, 81, 128):
        library = _library(READER, max_length)
        firsts, seconds = _texts(rng, 60), _texts(rng, 60)
        for first, second in zip(firsts, seconds, strict=True):
            want = library.encode(first, second)
            ids, types = wordpieces.pair(shared, first, second, max_length)
            assert (ids, types) == (want.ids, want.type_ids), (max_length, len(first.split()), len(second.split()))
            assert len(ids) <= max_length


def test_single_texts_are_cut_as_the_library_cuts_them():
    rng = random.Random(11)
    shared = wordpieces.shared(SCORER / "tokenizer.json")
    for max_length in (8, 80, 128):
        library = _library(SCORER, max_length)
        for text in _texts(rng, 80):
            assert wordpieces.single(shared, text, max_length) == library.encode(text).ids


def test_a_candidate_read_with_its_context_is_cut_as_in_training():
    """A reader with context reads "sentence [SEP] sentence before" as its second text: the
    tokenizer keeps "[SEP]" whole, the same in answering (wordpieces.pair) as in training
    (the transformers tokenizer sentence-transformers uses), and the context is cut first."""
    from transformers import AutoTokenizer

    from qa.models.bundled import model_dir
    from qa.models.reader import NULL, reading

    rng = random.Random(5)
    shared = wordpieces.shared(READER / "tokenizer.json")
    training = AutoTokenizer.from_pretrained(str(model_dir()), local_files_only=True)  # what train_reader.py trains with
    sep = shared.token_to_id("[SEP]")
    for question, sentence, before in zip(_texts(rng, 40), _texts(rng, 40), _texts(rng, 40), strict=True):
        second = reading(sentence, before)
        ids, types = wordpieces.pair(shared, question, second, 112)
        want = training(question, second, truncation=True, max_length=112)
        assert (ids, types) == (want["input_ids"], want["token_type_ids"])
        if before.strip() and len(ids) < 112:
            assert ids.count(sep) == 3
        # the no-answer reading (a reader with "null"): the question alone, "[CLS] question [SEP] [SEP]",
        # as training's batches tokenize it (a single call would drop an empty second text's [SEP])
        ids, types = wordpieces.pair(shared, question, NULL, 112)
        want = training([question], [NULL], truncation=True, max_length=112)
        assert (ids, types) == (want["input_ids"][0], want["token_type_ids"][0]) and ids[-2:] == [sep, sep]
