"""The time-major feature encoder equals transformers' own, and is the one the backend runs."""

from __future__ import annotations

import numpy as np
import torch
from transformers import Wav2Vec2Config, Wav2Vec2ForCTC

from polyasr.model.fast_frontend import install_time_major_features, time_major_features


def test_equals_transformers_feature_encoder(recognizer) -> None:
    network = recognizer.model.backend.network
    encoder = network.wav2vec2.feature_extractor
    samples = torch.from_numpy(np.random.default_rng(0).standard_normal((2, 23_456)).astype(np.float32))
    with torch.inference_mode():
        ours = time_major_features(encoder.conv_layers, samples)
        theirs = type(encoder).forward(encoder, samples)  # transformers' implementation, unpatched
    assert ours.shape == theirs.shape == (2, 16, 73)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_the_backend_uses_it_and_group_norm_models_keep_theirs() -> None:
    layer_norm = Wav2Vec2ForCTC(Wav2Vec2Config(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                                intermediate_size=16, conv_dim=(8,) * 7, feat_extract_norm="layer",
                                                num_conv_pos_embeddings=4, num_conv_pos_embedding_groups=2, vocab_size=10))
    group_norm = Wav2Vec2ForCTC(Wav2Vec2Config(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                                intermediate_size=16, conv_dim=(8,) * 7, feat_extract_norm="group",
                                                num_conv_pos_embeddings=4, num_conv_pos_embedding_groups=2, vocab_size=10))
    assert install_time_major_features(layer_norm) is True
    assert install_time_major_features(group_norm) is False


def test_recognizer_backend_installed_it(recognizer) -> None:
    assert recognizer.model.backend.time_major_features is True


def test_only_layers_it_computes_exactly_get_it() -> None:
    from polyasr.model.fast_frontend import time_major_applies

    def network():
        return Wav2Vec2ForCTC(Wav2Vec2Config(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                             intermediate_size=16, conv_dim=(8,) * 7, feat_extract_norm="layer",
                                             num_conv_pos_embeddings=4, num_conv_pos_embedding_groups=2, vocab_size=10))

    assert time_major_applies(network())
    padded = network()
    padded.wav2vec2.feature_extractor.conv_layers[3].conv.padding = (1,)  # a conv it does not implement
    assert not time_major_applies(padded) and install_time_major_features(padded) is False
    renamed = network()
    layer = renamed.wav2vec2.feature_extractor.conv_layers[0]
    layer.__class__ = type("CustomConvLayer", (type(layer),), {})  # same attributes, a forward it does not know
    assert not time_major_applies(renamed)
