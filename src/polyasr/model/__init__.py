"""The acoustic model: a CTC checkpoint's files, loading it, and turning prepared 16 kHz audio into
logits (frames x vocabulary). Knows nothing about text beyond the vocabulary it is loaded with.

Modules:
    ctc_model.py      CTCModel (normalise, pad to a bucket, mask, forward passes per padded length
                      (on a CPU at most CPU_PASS_SAMPLES each);
                      or the model's own feature extractor per window), load_ctc_model, DEFAULT_MODEL, default_model,
                      load_language_table, list_languages
    checkpoint.py     ModelFiles (a checkpoint's files from its folder, the Hub cache or the Hub, one
                      sentence per failure), load_tokenizer, load_vocabulary (characters or subwords),
                      fit_vocabulary (tokenizer cut to the head)
    frontends.py      FrontEnd: raw audio or log-mel input, frame geometry from the config (20 ms for
                      wav2vec2 and omniASR, 80 ms Parakeet, 40 ms LASR, 20 ms w2v-BERT)
    network.py        which transformers CTC class runs a config (network_class, load_network, a
                      trained head), wav2vec2_inference's network where it applies (native_weights,
                      load_native_network), the files a model folder must have (require_model_files)
    wav2vec2_inference.py  Wav2Vec2ForCTC's inference forward in plain PyTorch, same parameters
                      and logits, without importing transformers' model code (wav2vec2 checkpoints
                      with a layer-norm front end and no adapters: XLSR, the card's model)
    backends.py       TorchBackend (transformers) and OnnxBackend (ONNX Runtime): inputs -> logits
    runtime.py        RuntimeOptions -> device, dtype and threads; the CPU flags of the fast bf16 path
    buckets.py        bucket_length (a padded length from an input's own length), plan_batches
    adapters.py       AdapterSet: MMS per-language adapters and vocabularies
    languages.py      what a language choice means for one model: its code, adapter and token ids
                      (language_target, choice_target, resolve_code, identification_table)
    facts.py          ModelFacts (what a loaded model supports) and the languages its card declares
    fast_frontend.py  the same convolutional feature encoder computed time-major, where it applies,
                      a bounded number of frames at a time
    int8.py           dtype "int8": the transformer's linear layers as int8 products (Int8Linear,
                      quantise_linears; per-row input scales, so batching stays bit-for-bit)
    weights.py        weights read straight into the compute dtype (read_weights: safetensors, or a
                      pytorch_model.bin without running its pickle's code; read_safetensors),
                      the modules kept in fp32 (FP32_MODULES, HEADS)
    export.py         `polyasr export`: ExportOptions, export_onnx (model.onnx + processor files)

Used by other folders: CTCModel, load_ctc_model, DEFAULT_MODEL, default_model, load_language_table,
list_languages; ModelFiles, load_tokenizer, fit_vocabulary; RuntimeOptions, cpu_has_fast_bf16;
plan_batches; ModelFacts; language_target, choice_target, resolve_code, identification_table;
ExportOptions, export_onnx.
"""
