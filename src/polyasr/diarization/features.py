"""The speaker encoder's input: resemblyzer's mel spectrogram, computed with numpy alone.

resemblyzer computes `librosa.feature.melspectrogram(y, sr=16000, n_fft=400, hop_length=160,
n_mels=40)`: a periodic Hann window of 25 ms every 10 ms, frames centred (the signal padded with
n_fft/2 zeros on each side, librosa >= 0.10), the power spectrum, 40 Slaney-normalised Slaney-scale
mel filters from 0 to 8 kHz. It is *not* logarithmic (the encoder was trained on power mels).
Before that it raises quiet audio to -30 dBFS (never lowers loud audio). The filters come from
`transformers.audio_utils.mel_filter_bank`, which reproduces librosa's; tests compare both
against values librosa 0.11 computed.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

SAMPLE_RATE = 16_000
N_FFT = 400  # 25 ms window
HOP = 160  # 10 ms between frames
N_MELS = 40
TARGET_DBFS = -30.0  # quiet audio is raised to this level first


@lru_cache(maxsize=1)
def mel_filters() -> np.ndarray:
    """(201 frequency bins, 40 mels) float32: librosa's default mel filters for 16 kHz and n_fft 400."""
    from transformers.audio_utils import mel_filter_bank

    filters = mel_filter_bank(
        num_frequency_bins=N_FFT // 2 + 1, num_mel_filters=N_MELS, min_frequency=0.0, max_frequency=SAMPLE_RATE / 2,
        sampling_rate=SAMPLE_RATE, norm="slaney", mel_scale="slaney",
    )
    return filters.astype(np.float32)


def raise_volume(samples: np.ndarray, target_dbfs: float = TARGET_DBFS) -> np.ndarray:
    """Quiet audio scaled up to `target_dbfs` RMS, as resemblyzer's `normalize_volume(increase_only=True)`."""
    x = np.asarray(samples, dtype=np.float32)
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0
    if rms <= 0:
        return x
    change = target_dbfs - 20 * np.log10(rms)
    return x if change < 0 else (x * 10 ** (change / 20)).astype(np.float32)


def mel_frames(samples: np.ndarray) -> np.ndarray:
    """(frames, 40) float32 power mel spectrogram of 16 kHz samples; 1 + len // 160 frames."""
    x = np.pad(np.asarray(samples, dtype=np.float32), N_FFT // 2)
    count = 1 + (len(x) - N_FFT) // HOP
    frames = np.lib.stride_tricks.as_strided(x, (count, N_FFT), (x.strides[0] * HOP, x.strides[0]), writeable=False)
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)  # periodic Hann
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    return (power.astype(np.float32) @ mel_filters()).astype(np.float32)
