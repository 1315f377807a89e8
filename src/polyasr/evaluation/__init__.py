"""Evaluation: a model scored on a dataset (WER and CER per language, on normalised text), with
resumable cached hypotheses and reports beside the model card's numbers. `polyasr evaluate` and
training's dev scores run it; it transcribes through the Recognizer, repeating nothing of the pipeline.

Modules:
    run.py      evaluate, EvalOptions, EvalResult: audio prefetched in threads -> transcribe_iter per
                language -> the hypothesis cache -> scores
    data.py     Common Voice releases and JSONL/CSV manifests -> EvalDataset of Utterances, BadRow
                for each bad row (read_common_voice, read_manifest)
    cache.py    HypothesisCache (hypotheses.jsonl), RunFacts (what produced them; another run's
                cache is refused), EvalRecord keyed by clip, reference and language
    scoring.py  jiwer WER/CER per language, pooled and macro: score, LanguageScore, rules_language
    report.py   results.md / .csv / .json and cer.png: write_reports, markdown_table, plot_cer
    card.py     the model card's results table, as package data (card_results, CardResult)

Used by other folders: evaluate, EvalOptions; read_common_voice, read_manifest, EvalDataset, BadRow;
write_reports, markdown_table, plot_cer; LanguageScore, rules_language.
"""
