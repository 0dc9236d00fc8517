"""The three models, in one place below the stages that use them.

- the embedder (`embedder`): the bundled all-MiniLM-L6-v2, checked against `model_check.json`
  (`bundled`), run through an ONNX export built on this machine (`export`, `prepare`) by
  onnxruntime (`ortmodel`); the index (`qa.index`) embeds passages with it, the search the question;
- the scorer (`scorer`, `scorer_model/`) and the reader (`reader`, `reader_model/`): trained in this
  project (`training/`), shipped as int8 ONNX with their tokenizer, card, SHA-256 and canary,
  opened and checked by `checked`; the answer stage (`qa.answer`) asks them about sentences;
- the span model (`span`, `span_model/`), trained and shipped the same way: it marks the short
  answer inside the quoted sentence (`qa.answer.shortanswer`), judged by `spanscore`.
`wordpieces` tokenizes for all of them without transformers.
"""
