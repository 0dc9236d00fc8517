"""From ranked passages to a result: the answer sentence, quoted verbatim, with numbered citations."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from qa.answer import abstain, answertype, judge, tables
from qa.answer.result import Answer, Citation, Hit, Result
from qa.index.lexical import tokens
from qa.index.store import Index
from qa.ingest.chunks import Passage, sentence_before
from qa.models.abstainer import shipped as shipped_abstainer
from qa.search.retrieval import Candidate
from qa.text import skeleton


@dataclass(frozen=True)
class Rules:
    """How sentences are scored and when the assistant abstains (calibrated on the dev set and SQuAD)."""

    #: weights of a sentence's own evidence (cosine and BM25, fused as in retrieval), of its passage's
    #: score, and of the share of the question's own words it holds
    w_sentence: float = 0.6
    w_passage: float = 0.4
    w_overlap: float = 0.3
    #: bonus for holding what the question asks for and does not say (a new year for "when")
    w_type: float = 0.15
    #: a follow-up's answer is not the earlier answer: malus for the share of the earlier question's
    #: words (those the follow-up does not repeat) that the sentence holds
    w_earlier: float = 0.3
    #: passages whose sentences compete for the answer
    answer_depth: int = 3
    #: the next or previous sentence joins the quote when it scores this close to the best (ratio)
    #: and the two together stay short; the one before always joins when the answer opens by
    #: pointing back ("It", "This", ...)
    pair_ratio: float = 0.9
    pair_words: int = 60
    #: abstain when the best passage scores below this (nothing in the corpus is about the question),
    min_score: float = 0.2
    #: or below this while the question names something the corpus never mentions,
    unknown_name_score: float = 0.6
    #: or below this while the answer lacks what the question asks for (no new date for "when")
    untyped_score: float = 0.6
    #: answer kinds the quote must hold whatever the score: a count has a figure, while "when" may
    #: be answered by an event ("after the war") and "who" by a common noun ("the deacons")
    strict_kinds: tuple[str, ...] = ("number",)
    #: the answer scorer (qa.models.scorer), each use 0 when off: how far its probability moves a
    #: passage among the top `scorer_depth` ones, how much it adds to a sentence's score, and the
    #: confidence below which the assistant abstains. Chosen on the article dev set and held-out
    #: training documents (eval/scorer_ablation.py, docs/quality.md): rerank and answer help the
    #: held-out documents (R@1 and answer@1 +4 points each) and keep the article's answer@1; every
    #: abstain threshold costs the article many false abstentions, so it stays off. 20 passages are
    #: read, not the first 5 (the models' rerank reaches answers that retrieval alone ranks 6th to
    #: 20th, most often where a corpus holds many documents: COVID-QA's 49 papers searched together
    #: R@5 0.823 -> 0.853; docs/quality.md, "Reranking deeper in every search"); the index keeps the
    #: scorer's vector of every sentence (computed when it is built), so a deeper pool costs the
    #: scorer one question vector and a product of vectors
    scorer_rerank: float = 0.8
    scorer_answer: float = 1.6
    scorer_abstain: float = 0.0
    scorer_depth: int = 20
    #: the scorer reads the searched text (a follow-up joined to the question it leans on) instead of
    #: the question as typed
    scorer_reads_query: bool = True
    #: the answer reader (qa.models.reader), a cross-encoder that reads the question and a sentence
    #: together: it reads the `reader_candidates` body sentences of the top passages that the answer
    #: step (with the scorer) ranks best; how far its probability moves those passages, how much it
    #: adds to a sentence's score, and the best probability below which the assistant abstains (each
    #: 0 when off). Chosen like the scorer's (docs/quality.md, fifth to seventh rounds): rerank and
    #: answer each win article passages and held-out answers on a plateau (article hit@1 the same
    #: at rerank 0.8-1.2; answer 2-4); rerank 1.2 keeps a few more held-out passages first and 0.8
    #: one more article answer (the byline of "Who wrote this article?", which body-text bonuses
    #: otherwise outweigh), a tie within noise settled for the article; the reader that reads each
    #: candidate with the sentence before it (seventh round) sits on the same plateau. 5 candidates
    #: (8, or one more from each passage, changed nothing; 3 and 4 lost held-out questions; each
    #: costs a forward pass); every abstain threshold refuses answerable article questions, so it
    #: stays off; reading the searched text instead of the question as typed cost article answers.
    #: 8 since the models read 20 passages (more of them hold sentences close to the best): one more
    #: article passage and answer, COVID-QA's papers together R@5 +0.4 and overlapping quotes +0.7
    #: points, for about 1.2 more readings a question there (`reader_within` still lets few through)
    reader_candidates: int = 8
    #: of those candidates, the reader reads only the ones whose score before it is no more than this
    #: below the best one's (inf: all of them): a sentence that far behind is seldom lifted to the
    #: answer by the reader, and each one read costs a forward pass (~20 ms on a CPU without int8
    #: dot-product instructions). Chosen like the weights (docs/quality.md, ninth round): 1.0 changes
    #: no figure and reads 23% fewer; 0.5 reads 42% fewer, one held-out answer less and one article
    #: answer more; 0.25 lost six held-out answers
    reader_within: float = 0.5
    #: 1.2 with the no-answer reader (thirteenth round): it moves passages further than the reader
    #: before it did (article hit@1 0.900 -> 0.912, held-out R@1 0.908 -> 0.912, against 0.8);
    #: the reader before it was on a plateau between 0.8 and 1.2
    reader_rerank: float = 1.2
    reader_answer: float = 3.0
    reader_abstain: float = 0.0
    reader_reads_query: bool = False
    #: a paragraph's first sentence is read with its section's heading as the text before it (where
    #: the document has headings: Markdown, HTML, Word, PDF), as BM25 reads it with each passage
    reader_reads_heading: bool = True
    #: the span model (qa.models.span), which marks the short answer inside the quote, reads the
    #: `span_candidates` sentences the reader read that score best after it (those that could still
    #: overtake the best) and adds to each `span_answer` x the reader's probability x how strongly it
    #: holds an answer (its best span's start + end logit through a logistic centred at
    #: `span_center`, `span_scale` wide; judge.spot): among sentences the reader likes, the one with a
    #: sure short answer over the one that restates the question; one the reader sets aside stays
    #: aside. Chosen on the held-out training documents, COVID-QA dev and the article (docs/quality.md,
    #: "The span model helps choose the quote"); the best sentence's reading is the one its words are
    #: marked with, so it costs a reading only for a close runner-up
    span_answer: float = 6.0
    span_center: float = 7.0
    span_scale: float = 3.0
    span_candidates: int = 3
    #: issue 25 part 4: with both models on, the abstention model (qa.models.abstainer, fitted on
    #: training material by qa/models/training/abstain.py) decides whether to abstain in place of
    #: min_score, unknown_name_score and untyped_score (which still say why, and still decide without
    #: the models or for a quote the reader did not read: a title or byline), and its probability that
    #: the quote is right is the confidence shown; strict_kinds and the two abstain thresholds still
    #: refuse (docs/quality.md, issue 25 part 4)
    learned_abstention: bool = True
    #: ... except where two signs agree that the quote misses what the question asks: it holds no
    #: kind of thing asked for (no name the question does not say, for "who") and the reader gives it
    #: less than this. Then the rules' refusal ("The best match gives no name for this.") stands,
    #: whatever the abstention model says: a linear model weighs the two apart and lets such a quote
    #: through on its other figures (0 turns it off). Chosen on the abstention model's training cases
    #: (held-out training documents; docs/quality.md): under 0.05 such quotes were 78 unanswered cases
    #: and 3 of 2,104 answerable with the shipped reader (82 and 3 with the candidate it was chosen
    #: with), no COVID-QA question. 0.075 since: on an AVX2 CPU's int8 kernels the reader's figures
    #: move a little, and between 0.05 and 0.075 lay one more near miss and no answerable or COVID-QA
    #: question (0.1 would refuse 3 answerable ones too); no development set moved
    untyped_reader: float = 0.075
    #: a search limited to at most `narrow_docs` documents (a reader asking of one paper) reranks
    #: deeper: the models read `narrow_depth` passages instead of `scorer_depth`, the reader up to
    #: `narrow_reader_candidates` sentences within `narrow_reader_within` of the best, and the
    #: answer comes from the top `narrow_answer_depth` passages (never less deep than an open
    #: search: `narrowed`). Chosen on COVID-QA dev and the held-out documents (docs/quality.md, issue
    #: 25 part 3): passages and answers of questions asked of one long paper, within the latency a
    #: limited search is allowed; 20 passages as every search reads now (10 before: within four questions)
    narrow_docs: int = 3
    narrow_depth: int = 20
    narrow_reader_candidates: int = 8
    narrow_reader_within: float = 0.75
    narrow_answer_depth: int = 3

    def overrule_model(self, signals: Mapping[str, float]) -> bool:
        """Whether the rules' refusal of a quote with these figures (`abstain.signals`) stands over
        the abstention model's verdict: the quote lacks the kind of thing the question asks for, and
        that kind is a strict one (a count with no figure) or the reader doubts the quote. The
        answer step and the model's fit (qa/models/training/abstain_fit.py) both ask here."""
        if signals["untyped"] != 1.0:
            return False
        return (any(signals.get(f"asks_{kind}") == 1.0 for kind in self.strict_kinds)
                or signals["reader_quote"] < abstain.log_odds(self.untyped_reader))

    def narrowed(self) -> Rules:
        """These rules as a search limited to a few documents uses them (reranking deeper: never
        fewer passages, sentences or answer passages than an open search, whatever the fields say)."""
        return replace(self, scorer_depth=max(self.scorer_depth, self.narrow_depth),
                       reader_candidates=max(self.reader_candidates, self.narrow_reader_candidates),
                       reader_within=max(self.reader_within, self.narrow_reader_within),
                       answer_depth=max(self.answer_depth, self.narrow_answer_depth))

    def pool(self, k: int) -> int:
        """How many passages the search should find for `k` shown: three times as many, and at
        least as many as the models rerank in any search (open or limited)."""
        return max(k * 3, 10, self.scorer_depth, self.narrow_depth)


def _distinct(candidates: list[Candidate], passages: Sequence[Passage], k: int) -> list[Candidate]:
    """Drops candidates that repeat an earlier one's text or overlap its span by more than half."""
    kept: list[Candidate] = []
    seen: set[str] = set()
    for c in candidates:
        p = passages[c.row]
        key = skeleton(p.text).lower()
        overlapping = any(
            (q := passages[o.row]).doc == p.doc
            and min(q.end, p.end) - max(q.start, p.start) > 0.5 * min(q.end - q.start, p.end - p.start)
            for o in kept
        )
        if key in seen or overlapping:
            continue
        seen.add(key)
        kept.append(c)
        if len(kept) == k:
            break
    return kept


_POINTS_BACK = re.compile(r"^(It|Its|This|That|These|Those|They|Their|He|His|She|Her|Such|The latter|The former)\b")


def _sentence_scores(p: Passage, c: Candidate, focus: set[str], earlier: set[str], wanted: str | None,
                     query: str, rules: Rules) -> np.ndarray:
    """Each sentence of a candidate passage: its own evidence, its passage, the question's words it holds."""
    texts = [p.sentence_text(i) for i in range(len(p.sentences))]
    own = np.asarray(c.sentences, dtype=np.float32) if len(c.sentences) == len(texts) else np.zeros(len(texts), np.float32)
    words = [set(tokens(t)) for t in texts]
    overlap = np.array([len(focus & w) / max(1, len(focus)) for w in words], dtype=np.float32)
    old = np.array([len(earlier & w) / len(earlier) if earlier else 0.0 for w in words], dtype=np.float32)
    typed = np.array([1.0 if answertype.holds(wanted, t, query) else 0.0 for t in texts], dtype=np.float32)
    return (rules.w_sentence * own + rules.w_passage * c.score + rules.w_overlap * overlap
            + rules.w_type * typed - rules.w_earlier * old)


def compose(
    question: str,
    query: str,
    index: Index,
    candidates: list[Candidate],
    k: int,
    rules: Rules | None = None,
    scorer: judge.Judge | None = None,
    reader: judge.Reads | None = None,
    searched_docs: int | None = None,
    span: judge.Spots | None = None,
) -> Result:
    """Ranks sentences inside the top passages, picks the answer (or abstains) and cites it.

    With a `scorer`, the sentences of the top `rules.scorer_depth` passages get its probability,
    used as `rules` says (rerank, answer, abstain) and shown as the answer's confidence. With a
    `reader`, the `rules.reader_candidates` sentences the answer step ranks best are read again,
    question and sentence together; its probability is used the same way and shown instead.
    With a `span` model as well, the `rules.span_candidates` sentences the reader read that score
    best after it are read once more, for the short answer each holds (`judge.spot`).
    `searched_docs`: how many documents the search was limited to (None: all of them); at most
    `rules.narrow_docs`, the models rerank deeper (`Rules.narrowed`)."""
    rules = rules or Rules()
    if searched_docs is not None and searched_docs <= rules.narrow_docs:
        rules = rules.narrowed()
    focus = set(tokens(question))
    earlier = set(tokens(query)) - focus
    wanted = answertype.kind(question)
    probs: list[np.ndarray] = []  # the scorer's probability for each sentence of the top passages
    weighed: list[np.ndarray] = []  # the part of it that may move passages and answers (body text)
    reads: list[np.ndarray] = []  # the reader's probability (0 for the sentences it did not read)
    bonus: list[float] = []  # what reranking added to each of the top passages' scores
    reading = reader is not None and rules.reader_candidates > 0
    memo: dict[int, np.ndarray] = {}

    def own(c: Candidate, share: np.ndarray | None) -> np.ndarray:
        """A sentence's answer score before the reader: its evidence and the scorer's share (once a passage)."""
        if c.row not in memo:
            scores = _sentence_scores(index.passages[c.row], c, focus, earlier, wanted, query, rules)
            memo[c.row] = scores + rules.scorer_answer * share if share is not None and rules.scorer_answer else scores
        return memo[c.row]

    if scorer is None and not reading:
        chosen = _distinct(candidates, index.passages, k)
    else:
        reranks = bool((scorer is not None and rules.scorer_rerank) or (reading and rules.reader_rerank))
        depth = rules.scorer_depth if reranks else min(rules.scorer_depth, rules.answer_depth)
        chosen = _distinct(candidates, index.passages, max(k, depth))
        judged = [index.passages[c.row] for c in chosen[:depth]]
        # what the models may move: body text, the kind they were trained on, and a table's rows,
        # which they read told in words (Passage.reading_text). A title or a byline is short and
        # repeats the question's names, so it scores high without answering anything ("Who painted
        # the lighthouse?" against the title "The Lighthouse")
        body = [p.role in ("body", "table") for p in judged]
        if scorer is not None:
            # the scorer's vectors of the sentences, where the index keeps those this scorer makes
            stored = index.scorer_rows(getattr(scorer, "fingerprint", None))
            bounds = index.sentence_rows
            kept = None if stored is None else (
                lambda p: np.asarray(stored[int(bounds[p.id]) : int(bounds[p.id + 1])]))
            probs = judge.probabilities(scorer, query if rules.scorer_reads_query else question, judged, kept)
            weighed = [pr if b else np.zeros_like(pr) for b, pr in zip(body, probs, strict=True)]
        if reader is not None and reading:
            # the reader reads the body sentences the answer step ranks best before it
            prior = [own(c, weighed[j] if weighed else None) for j, c in enumerate(chosen[: len(judged)])]
            prior = [pr if b else np.full_like(pr, -np.inf) for b, pr in zip(body, prior, strict=True)]
            # the span model reads the sentence most likely to be quoted while the reader reads (on a
            # core the reader's last readings leave idle): judge.spot reads the quote the reader ranks
            # first, and shortanswer.mark marks its words; most often it is this one
            guess = judge.best(prior, [p.role == "body" for p in judged]) if span is not None else None
            if span is not None and guess is not None:
                span.begin(question, judged[guess[0]].sentence_text(guess[1]))
            reads = judge.read(reader, query if rules.reader_reads_query else question, judged, prior, rules.reader_candidates,
                               lambda r, i: sentence_before(index.passages, chosen[r].row, i, rules.reader_reads_heading),
                               rules.reader_within)
        if reranks:
            bonus = [0.0] * len(judged)
            for use, weight in ((weighed, rules.scorer_rerank), (reads, rules.reader_rerank)):
                if use and weight:
                    bonus = [b + x for b, x in zip(bonus, judge.lift(use, weight), strict=True)]
            order = judge.rerank_order([c.score for c in chosen[: len(judged)]], bonus)
            chosen = [chosen[i] for i in order] + chosen[len(judged) :]
            probs, weighed, reads = ([x[i] for i in order] if x else x for x in (probs, weighed, reads))
            bonus = [bonus[i] for i in order]
        chosen = chosen[:k]
    asked = answertype.asked_role(question)  # "What is this paper called?", "Who wrote this paper?"
    if chosen and asked and _one_document(index, searched_docs):
        # a question about the document itself asks for its title (or byline, or affiliation) whatever
        # the search ranked first: in a search of one document, that passage, the answer, is placed
        # first (with a score none is above), from lower down or from outside the passages found
        title = (_title_row(index.passages, chosen[0].row) if asked == "title"
                 else _front_row(index.passages, chosen[0].row, asked))
        if title is not None and index.passages[chosen[0].row].role != asked:
            c = next((x for x in candidates if x.row == title), None) or Candidate(title, 0.0, 0.0, 0.0)
            top = chosen[0].score + (bonus[0] if bonus else 0.0)
            keep = [i for i, x in enumerate(chosen) if x.row != title]
            none = np.zeros(len(index.passages[title].sentences), np.float32)  # no model reads a title

            def placed(values: list[np.ndarray], own: np.ndarray) -> list[np.ndarray]:
                return [own] + [values[i] for i in keep if i < len(values)] if values else values

            if probs and scorer is not None:  # its confidence, as for a title the search ranked
                text = query if rules.scorer_reads_query else question
                probs = placed(probs, judge.probabilities(scorer, text, [index.passages[title]])[0])
            weighed, reads = placed(weighed, none), placed(reads, none)
            bonus = [max(0.0, top - c.score)] + [bonus[i] if i < len(bonus) else 0.0 for i in keep]
            chosen = ([c] + [chosen[i] for i in keep])[:k]
    best_sentence: list[tuple[int, int, float]] = []  # (rank, sentence, score)
    all_scores: list[np.ndarray] = []
    for rank, c in enumerate(chosen):
        if rank < rules.answer_depth:
            scores = own(c, weighed[rank] if rank < len(weighed) else None)
            if rank < len(reads) and rules.reader_answer:
                scores = scores + rules.reader_answer * reads[rank]
        else:  # only highlighted: its own evidence is enough
            scores = np.asarray(c.sentences or (c.score,), dtype=np.float32)
        all_scores.append(scores)
    plain = list(all_scores)  # before the span model's share: what the abstention model was fitted on
    if span is not None and rules.span_answer and reads:
        bodies = [index.passages[c.row] for c in chosen[: rules.answer_depth]]
        all_scores[: len(bodies)] = judge.spot(span, question, bodies, all_scores[: len(bodies)], reads,
                                               rules.span_candidates, rules.span_answer, rules.span_center,
                                               rules.span_scale)
    for rank, scores in enumerate(all_scores):
        i = int(np.argmax(scores))
        best_sentence.append((rank, i, float(scores[i])))

    answer_rank, answer_span = -1, (0, 0)
    confidence: float | None = None
    reason: str | None = NOTHING_ABOUT_IT
    evidence: abstain.Evidence | None = None  # what the abstention model read (issue 25 part 4)
    if chosen:
        pick = max(best_sentence[: rules.answer_depth], key=lambda t: (t[2], -t[0]))
        if asked:  # "What is the title of this paper?": its title (or byline), where it ranks
            pick = next((t for t in best_sentence[: rules.answer_depth] if index.passages[chosen[t[0]].row].role == asked), pick)
        rank, i, _score = pick
        p = index.passages[chosen[rank].row]
        if p.role == "table":  # "Which pump was the cheapest in 2021?": the column's figures choose the row
            whole = _whole_table(index.passages, chosen[rank].row)
            row = tables.extreme_row(question, p, whole)
            if row is not None:
                i, lines = row, (row, row)
                best_sentence[rank] = (rank, i, float(all_scores[rank][i]))
            else:  # the caption or header picked ("What were the running costs in 2021?"): the table
                lines = tables.quoted_rows(p, i, whole)
        else:
            lines = _span(p, all_scores[rank], i, rules)
        quoted = p.text[p.sentences[lines[0]].start : p.sentences[lines[1]].end]
        typed = wanted is None or answertype.holds(wanted, quoted, query)
        # a title (or byline) asked for answers whatever the search scored: the question is about the document itself
        titled = asked is not None and p.role == asked
        reason = ruled = None if titled else _unanswered(chosen[0], wanted, typed, query, rules)
        if (reason is None and p.role == "title" and answertype.asks_person(question)
                and not _title_names(index.passages, chosen[rank].row, query)):
            # a title scores high on the question's own names without answering it ("Who finished
            # the Varrow dam?" against "Pumps, Eels and Channels of the Lower Varrow Estuary"), and no
            # model judges it: it answers a "who" only with a name the question does not already say
            reason = ruled = f"The best match gives no {_KIND_WORDS['name']} for this."
        confidence = float(probs[rank][lines[0] : lines[1] + 1].max()) if rank < len(probs) else None
        if reason is None and confidence is not None and confidence < rules.scorer_abstain:
            reason = NOT_ANSWERED
        if reads:  # the reader's word, where it read the quote: it saw the question and the sentence together
            read = reads[rank][lines[0] : lines[1] + 1] if rank < len(reads) else np.zeros(0)
            confidence = float(read.max()) if len(read) and read.max() > 0 else confidence
            if reason is None and max(float(r.max()) if len(r) else 0.0 for r in reads) < rules.reader_abstain:
                reason = NOT_ANSWERED
        # -- issue 25 part 4: the learned abstention (qa/answer/abstain.py) ----------------------
        if reads and probs:
            s0, s1 = p.sentences[lines[0]], p.sentences[lines[1]]
            evidence = abstain.Evidence(abstain.signals(question, index, candidates, chosen, rank, lines,
                                                        float(plain[rank][i]), wanted, typed, probs, reads),
                                        p.doc, s0.raw_start, s1.raw_end)
            # it judges a quote the reader read (body text, what it was fitted on); the hand-set rules
            # judge a title or byline quoted. Its verdict stands in for them (they still say why), but a
            # strict kind quoted without its kind (a count with no figure) and a threshold set on the
            # models' probabilities (off by default) still refuse
            if rules.learned_abstention and evidence.signals["reader_quote"] > -abstain.CLIP:
                verdict = shipped_abstainer().judge(evidence.signals)
                vetoed = reason is not None and (ruled is None or rules.overrule_model(evidence.signals))
                reason = reason if vetoed else (ruled or NOT_ANSWERED) if verdict.abstain else None
                confidence = verdict.confidence
            elif rules.learned_abstention:  # no model read the quote: no calibrated confidence to show
                confidence = None
        # -- end of issue 25 part 4 ----------------------------------------------------------------
        if reason is None:
            answer_rank, answer_span = rank, lines

    hits = []
    for rank, c in enumerate(chosen):
        p = index.passages[c.row]
        if rank == answer_rank:
            first, last = answer_span
        else:
            first = last = best_sentence[rank][1]
        s, e = p.sentences[first], p.sentences[last]
        citation = Citation(rank + 1, p.doc, p.title, p.paragraph, p.start, p.end, p.id, p.page, p.section)
        shown = c.score + (bonus[rank] if rank < len(bonus) else 0.0)  # the score the passages are ordered by
        hits.append(Hit(rank + 1, shown, c.dense, c.lexical, p, ((s.start, e.end),), citation))

    answer = None
    if answer_rank >= 0:
        hit = hits[answer_rank]
        p = hit.passage
        first, last = answer_span
        s, e = p.sentences[first], p.sentences[last]
        citation = Citation(hit.rank, p.doc, p.title, p.paragraph, s.raw_start, e.raw_end, p.id,
                            p.page_at(s.raw_start), p.section)
        answer = Answer(p.text[s.start : e.end], citation, best_sentence[answer_rank][2], confidence)
    return Result(question, query, answer, tuple(hits), reason, evidence=evidence)


def _span(p: Passage, scores: np.ndarray, i: int, rules: Rules) -> tuple[int, int]:
    """The sentences quoted: the best one, with a neighbour when the answer seems to run across both.
    A table's row is quoted alone: its neighbours are other rows read under the same caption and
    header, so they score alike without the answer running across them."""
    if p.role == "table":
        return i, i
    size = [len(p.sentence_text(j).split()) for j in range(len(scores))]
    if i > 0 and _POINTS_BACK.match(p.sentence_text(i)) and size[i - 1] + size[i] <= rules.pair_words:
        return i - 1, i
    for j in (i + 1, i - 1):
        if 0 <= j < len(scores) and scores[j] >= rules.pair_ratio * scores[i] and size[i] + size[j] <= rules.pair_words:
            return min(i, j), max(i, j)
    return i, i


#: why there is no answer, in the reader's words
NOTHING_ABOUT_IT = "Nothing in them seems to be about this question."
NOT_ANSWERED = "The closest sentences do not seem to answer it."
_KIND_WORDS = {"date": "date", "number": "figure", "name": "name"}


def _title_names(passages: Sequence[Passage], row: int, query: str, reach: int = 200) -> bool:
    """Does the title passages[row] hold a name the query does not say? Names told from the body text
    of its document (the next `reach` passages: answertype.heading_names)."""
    p = passages[row]
    body = []
    for r in range(row + 1, min(len(passages), row + 1 + reach)):
        q = passages[r]
        if q.doc != p.doc:
            break
        if q.role == "body":
            body.append(q.text)
    return bool(answertype.heading_names(p.text, "\n".join(body), query))


def _whole_table(passages: Sequence[Passage], row: int) -> bool:
    """Does the table passage passages[row] end its table (no later part of it follows)?"""
    if row + 1 >= len(passages):
        return True
    p, q = passages[row], passages[row + 1]
    return not (q.doc == p.doc and q.section == p.section and q.continues_table())


def _one_document(index: Index, searched_docs: int | None) -> bool:
    """Is the search limited to one document, or does the index hold only one?"""
    return searched_docs == 1 or (searched_docs is None and len(index.manifest.get("documents", ())) == 1)


def _doc_start(passages: Sequence[Passage], row: int) -> int:
    """The first passage of passages[row]'s document (its passages are consecutive)."""
    doc, first = passages[row].doc, row
    while first > 0 and passages[first - 1].doc == doc:
        first -= 1
    return first


def _title_row(passages: Sequence[Passage], row: int) -> int | None:
    """The title passage of passages[row]'s document, or None."""
    return next((r for r in range(_doc_start(passages, row), row + 1) if passages[r].role == "title"), None)


def _front_row(passages: Sequence[Passage], row: int, role: str, near: int = 8) -> int | None:
    """The byline (or affiliation) passage of passages[row]'s document, among its first `near`
    passages, or None."""
    first = _doc_start(passages, row)
    return next((r for r in range(first, min(len(passages), first + near)) if passages[r].doc == passages[row].doc
                 and passages[r].role == role), None)


def _unanswered(top: Candidate, wanted: str | None, typed: bool, query: str, rules: Rules) -> str | None:
    """Why the corpus does not seem to answer, or None when it does. Judged from the best passage's
    score and three warning signs."""
    if top.score < rules.min_score:
        return NOTHING_ABOUT_IT
    if top.unknown and top.score < rules.unknown_name_score:
        return f"They never mention {_listed(_phrases(top.unknown, query))}."
    missing = f"The best match gives no {_KIND_WORDS.get(wanted or '', 'answer')} for this."
    if wanted in rules.strict_kinds and not typed:  # "how many" quoted without any figure
        return missing
    return None if typed or top.score >= rules.untyped_score else missing


def _phrases(names: tuple[str, ...], query: str) -> list[str]:
    """The unknown names with the capitalised words around them, as the query has them:
    ("FIFA", "Cup") in "Who won the 2018 FIFA World Cup?" -> ["FIFA World Cup"]."""
    unknown, out, run, has_unknown = set(names), [], [], False
    for n, word in enumerate([*query.split(), ""]):
        bare = word.strip(".,;:!?\"'“”‘’()")
        capital = n > 0 and bare[:1].isupper()
        if capital:
            run.append(bare)
            has_unknown = has_unknown or bare in unknown
        if not capital or bare != word:  # a lower-case word or a punctuation mark ends the name
            if run and has_unknown:
                out.append(" ".join(run))
            run, has_unknown = [], False
    return list(dict.fromkeys(out)) or list(dict.fromkeys(names))


def _listed(phrases: list[str]) -> str:
    quoted = [f"“{p}”" for p in phrases]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
