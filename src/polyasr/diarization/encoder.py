"""The GE2E speaker encoder whose weights ship inside the `resemblyzer` wheel (Apache-2.0, 17 MB).

The network is small: a 3-layer LSTM (40 mel bands in, 256 units) whose last hidden state goes
through a linear layer and a ReLU to a 256-dimensional embedding, scaled to unit length. It was
trained (generalised end-to-end loss, Wan et al. 2018) on 1.6 s excerpts: 160 mel frames.

resemblyzer itself imports librosa and webrtcvad at import time, which pull numba, llvmlite and a C
build, so polyasr defines the network here and only reads the weights file from the installed
package (`pip install --no-deps resemblyzer`), without importing it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from ..errors import PolyasrError
from .features import N_MELS

PARTIAL_FRAMES = 160  # mel frames per embedding (1.6 s), as the encoder was trained
HIDDEN = 256  # LSTM units and embedding size


def weights_path() -> Path:
    """Where the installed resemblyzer package keeps pretrained.pt; PolyasrError saying how to install it."""
    spec = importlib.util.find_spec("resemblyzer")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in locations:
        path = Path(folder) / "pretrained.pt"
        if path.is_file():
            return path
    raise PolyasrError(
        "diarization needs the speaker encoder that ships in the resemblyzer wheel: "
        "pip install --no-deps resemblyzer (its other dependencies are not used)"
    )


class SpeakerEncoder:
    """Speaker embeddings of mel-spectrogram excerpts, on the CPU."""

    def __init__(self, path: str | Path | None = None) -> None:
        import torch

        checkpoint = torch.load(path or weights_path(), map_location="cpu", weights_only=True)
        state = checkpoint.get("model_state", checkpoint) if isinstance(checkpoint, dict) else None
        if not isinstance(state, dict):
            raise PolyasrError(f"{path or weights_path()}: not a resemblyzer speaker-encoder checkpoint")
        self._lstm = torch.nn.LSTM(N_MELS, HIDDEN, num_layers=3, batch_first=True)
        self._linear = torch.nn.Linear(HIDDEN, HIDDEN)
        try:
            self._lstm.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("lstm.")})
            self._linear.load_state_dict({k[7:]: v for k, v in state.items() if k.startswith("linear.")})
        except RuntimeError as error:
            raise PolyasrError(f"{path or weights_path()}: the speaker-encoder weights do not fit ({error})") from None
        self._lstm.eval()
        self._linear.eval()

    def embed(self, mels: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """(n, 256) unit-length float32 embeddings of n excerpts given as (n, frames, 40) mels."""
        import torch

        out = np.zeros((len(mels), HIDDEN), np.float32)
        with torch.inference_mode():
            for start in range(0, len(mels), batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(mels[start : start + batch_size], dtype=np.float32))
                _, (hidden, _) = self._lstm(batch)
                raw = torch.relu(self._linear(hidden[-1]))
                out[start : start + len(batch)] = (raw / raw.norm(dim=1, keepdim=True).clamp_min(1e-12)).numpy()
        return out
