"""The GE2E speaker encoder of Resemblyzer (Apache-2.0), whose weights ship inside polyasr.

The network is small: a 3-layer LSTM (40 mel bands in, 256 units) whose last hidden state goes
through a linear layer and a ReLU to a 256-dimensional embedding, scaled to unit length. It was
trained (generalised end-to-end loss, Wan et al. 2018) on 1.6 s excerpts: 160 mel frames.

Its weights (1.4 M parameters, 5.7 MB) are `polyasr/data/speaker_encoder.safetensors`: the lstm and
linear tensors of resemblyzer 0.1.4's pretrained.pt, unchanged (the 17 MB file also holds the
optimizer's state), with the licence beside them (speaker_encoder.LICENSE). Shipping them makes
`pip install 'polyasr[diarize]'` enough: the resemblyzer package itself imports librosa and
webrtcvad, which pull numba, llvmlite, a C build (webrtcvad has no wheels) and the obsolete
`typing` backport, none of which polyasr uses.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import PolyasrError
from .features import N_MELS

PARTIAL_FRAMES = 160  # mel frames per embedding (1.6 s), as the encoder was trained
HIDDEN = 256  # LSTM units and embedding size
WEIGHTS = Path(__file__).resolve().parents[1] / "data" / "speaker_encoder.safetensors"


def _state(path: Path) -> dict:
    """The tensors of a weights file: polyasr's safetensors, or a resemblyzer checkpoint (pretrained.pt)."""
    import torch

    if not path.is_file():
        raise PolyasrError(f"{path}: no speaker-encoder weights there")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    state = checkpoint.get("model_state", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise PolyasrError(f"{path}: not a resemblyzer speaker-encoder checkpoint")
    return state


class SpeakerEncoder:
    """Speaker embeddings of mel-spectrogram excerpts, on the CPU."""

    def __init__(self, path: str | Path = WEIGHTS) -> None:
        import torch

        path = Path(path)
        state = _state(path)
        self._lstm = torch.nn.LSTM(N_MELS, HIDDEN, num_layers=3, batch_first=True)
        self._linear = torch.nn.Linear(HIDDEN, HIDDEN)
        try:
            self._lstm.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("lstm.")})
            self._linear.load_state_dict({k[7:]: v for k, v in state.items() if k.startswith("linear.")})
        except RuntimeError as error:
            raise PolyasrError(f"{path}: the speaker-encoder weights do not fit ({error})") from None
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
