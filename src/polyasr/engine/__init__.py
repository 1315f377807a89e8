"""The one inference engine between audio and decoding: inputs -> windows -> batched forward passes
-> each input's FrameReducer, which keeps only what its task needs (so memory does not grow with
the audio's length). Transcription, alignment, language identification, evaluation, the server and
batch jobs all get their logits here.

Modules:
    inference.py  run_inference (a level pass, then windows of many inputs batched by padded length,
                  kept logits to each input's reducer, results in input order); BatchOptions,
                  FrameReducer, PairReducer (two reducers over one pass), InputResult, rereadable;
                  inference_steps (the same, handing control back after every forward pass)
    windows.py    WindowOptions, iter_windows: frame-aligned overlapping windows whose kept centres
                  tile the input
    spans.py      run_over_spans: run_inference over chosen spans of one input only

Used by other folders: run_inference, inference_steps, BatchOptions, PairReducer, InputResult, ProgressCallback,
rereadable; WindowOptions; run_over_spans.
"""
