"""Where a checkpoint's files come from, and whether its tokenizer fits its CTC head.

A model is named by a local folder or a Hugging Face Hub id. `ModelFiles` fetches what the loader
needs (the folder; else the Hub cache; else the Hub) and turns each failure into one sentence: a
folder that does not exist, a Hub that cannot be reached, a file the checkpoint does not have.
Before the first request that must go online, one request without retries asks whether the Hub
answers at all (huggingface_hub retries a failed connection for about 23 s per file); when it does
not, or HF_HUB_OFFLINE is set, every file comes from the cache only and a missing one is an error
that says the Hub cannot be reached.

`fit_vocabulary` matches the tokenizer to the head: Wav2Vec2CTCTokenizer appends <s> and </s> after
a vocab.json that lacks them (the Hugging Face XLSR recipe's layout), so the tokenizer can be
longer than the head. Tokens beyond the head can never be emitted; that is harmless for special and
added tokens, and an error only for real characters of vocab.json.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable

from ..decoding.ctc import Vocabulary
from ..errors import HubUnreachableError, ModelLoadError

MODEL_ENV = "POLYASR_MODEL"  # environment variable naming the model (Hub id or folder)
HUB_UNREACHABLE = "the Hugging Face Hub cannot be reached"


def first_line(error: BaseException) -> str:
    """The first line of an exception's message, or its type's name when it has none."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def is_hub_id(name: str) -> bool:
    """True when `name` is spelled like a Hub repository id ("owner/name" or "name")."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def _hub_unreachable(error: BaseException) -> bool:
    """True when an online Hub request failed for want of a connection (or HF_HUB_OFFLINE is set)."""
    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, (LocalEntryNotFoundError, OfflineModeIsEnabled, ConnectionError, TimeoutError)):
            return True
        if any(word in type(seen).__name__ for word in ("ConnectError", "Timeout", "ProxyError", "NetworkError")):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _hub_answers() -> bool:
    """One request to the Hub's endpoint, without retries: False when it cannot be connected to."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    try:
        from huggingface_hub.utils import get_session
    except ImportError:  # an older huggingface_hub: let the real requests find out
        return True
    try:
        get_session().head(constants.ENDPOINT, timeout=10)
    except Exception as error:
        return not _hub_unreachable(error)
    return True


class ModelFiles:
    """The files of one checkpoint: a local folder, or a Hub repository (its local cache first)."""

    def __init__(self, model: str) -> None:
        self.model = model
        path = Path(model).expanduser()
        self.folder: Path | None = path if path.is_dir() else None
        if self.folder is None:
            if path.exists():
                raise ModelLoadError(f"'{model}' is a file; a model is a checkpoint folder or a Hugging Face Hub id")
            if not is_hub_id(model):
                raise ModelLoadError(f"model folder '{model}' does not exist")
        self._hub: bool | None = None  # whether the Hub answers; asked before the first online request

    def _online(self) -> bool:
        if self._hub is None:
            self._hub = _hub_answers()
        return self._hub

    def _offline(self, what: str) -> HubUnreachableError:
        self._hub = False
        return HubUnreachableError(
            f"could not load model '{self.model}': {HUB_UNREACHABLE} and the local cache does not have {what}; "
            f"download the model where the Hub can be reached (hf download {self.model} --local-dir DIR) and pass "
            f"--model DIR, or set {MODEL_ENV}=DIR"
        )

    def load(self, loader: Any, what: str, **kwargs: Any) -> Any:
        """`loader.from_pretrained(...)` for this checkpoint; `what` names the part in errors ("its tokenizer")."""
        if self.folder is not None:
            try:
                return loader.from_pretrained(str(self.folder), **kwargs)
            except Exception as error:  # transformers raises many types for broken files
                raise ModelLoadError(f"could not load model folder '{self.model}': reading {what} failed: {first_line(error)}") from error
        try:
            return loader.from_pretrained(self.model, local_files_only=True, **kwargs)
        except Exception:  # not (completely) in the cache: ask the Hub
            if not self._online():
                raise self._offline(what) from None
        try:
            return loader.from_pretrained(self.model, **kwargs)
        except Exception as error:
            if _hub_unreachable(error):
                raise self._offline(what) from error
            raise ModelLoadError(
                f"could not load model '{self.model}' from the Hugging Face Hub: reading {what} failed: {first_line(error)}"
            ) from error

    def file(self, names: Iterable[str]) -> Path | None:
        """The first of `names` the checkpoint has, as a local path; None when it has none of them.

        Raises HubUnreachableError when the Hub would have to be asked and cannot be, so that "the
        model has no such file" is never said when it is not known.
        """
        names = list(names)
        if self.folder is not None:
            return next((self.folder / n for n in names if (self.folder / n).is_file()), None)
        from huggingface_hub import hf_hub_download, try_to_load_from_cache
        from huggingface_hub.errors import RemoteEntryNotFoundError, RepositoryNotFoundError

        cached = [try_to_load_from_cache(self.model, n) for n in names]
        for found in cached:
            if isinstance(found, str):
                return Path(found)
        if all(found is not None for found in cached):  # the cache records that none of them exists
            return None
        if not self._online():
            raise self._offline(" or ".join(names))
        for name in names:
            try:
                return Path(hf_hub_download(self.model, name))
            except RemoteEntryNotFoundError:  # the repository has no such file (LocalEntryNotFoundError: offline)
                continue
            except RepositoryNotFoundError as error:
                raise ModelLoadError(
                    f"model '{self.model}' is not a model on the Hugging Face Hub, or it is private or gated "
                    f"({first_line(error)})"
                ) from error
            except Exception as error:
                if _hub_unreachable(error):
                    raise self._offline(name) from error
                raise ModelLoadError(f"could not fetch {name} of model '{self.model}': {first_line(error)}") from error
        return None


def load_tokenizer(files: ModelFiles, **kwargs: Any) -> Any:
    """The checkpoint's Wav2Vec2CTCTokenizer, with the word delimiter its tokenizer_config.json names.

    transformers 5 reloads a saved tokenizer with the default delimiter "|" even when its
    tokenizer_config.json says otherwise (it keeps the configured one in special_tokens_map only),
    which would print the delimiter as a character and never as a space.
    """
    from transformers import Wav2Vec2CTCTokenizer

    tokenizer = files.load(Wav2Vec2CTCTokenizer, "its tokenizer", **kwargs)
    configured = (getattr(tokenizer, "special_tokens_map", None) or {}).get("word_delimiter_token")
    if configured is not None and str(configured) != tokenizer.word_delimiter_token:
        tokenizer._word_delimiter_token = str(configured)  # the property's setter is bypassed in transformers 5
    return tokenizer


def load_vocabulary(files: ModelFiles, config: Any) -> Vocabulary:
    """The CTC vocabulary of a checkpoint, covering exactly its head's `config.vocab_size` classes.

    Characters (vocab.json, Wav2Vec2CTCTokenizer: XLSR, MMS, w2v-BERT fine-tunes) or subwords
    (tokenizer.json, SentencePiece pieces with `▁` word starts: omniASR, Parakeet, LASR). The
    blank is the config's `blank_token_id` where it names one (omniASR), else the pad token. A
    subword vocabulary keeps the tokenizer's encoder, so alignment tokenises transcripts as the
    model was trained.
    """
    if files.file(["vocab.json"]) is not None:
        return fit_vocabulary(load_tokenizer(files), config.vocab_size, files.model)
    from transformers import AutoTokenizer

    tokenizer = files.load(AutoTokenizer, "its tokenizer")
    blank = getattr(config, "blank_token_id", None)
    vocabulary = Vocabulary.from_tokenizer(tokenizer, blank_id=blank)
    pad = getattr(config, "pad_token_id", None)
    if blank is not None and pad is not None:  # omniASR: a pad token besides the blank, never emitted
        vocabulary = replace(vocabulary, hidden_ids=vocabulary.hidden_ids | {int(pad)})
    return replace(fit_vocabulary(tokenizer, config.vocab_size, files.model, vocabulary), encode=_encoder(tokenizer))


def _encoder(tokenizer: Any) -> Any:
    """The tokenizer's text -> ids, without special tokens (LASR's appends </s> otherwise)."""
    return lambda text: list(tokenizer.encode(text, add_special_tokens=False))


def fit_vocabulary(tokenizer: Any, classes: int, model: str, vocabulary: Vocabulary | None = None) -> Vocabulary:
    """The tokenizer's vocabulary covering exactly the head's `classes` outputs.

    Tokens beyond the head that are special or added (the <s> and </s> the tokenizer appends) can
    never be emitted and are dropped; real characters of vocab.json beyond it, or a blank beyond
    it, are a ModelLoadError naming them. Classes without a token are never printed.
    """
    vocabulary = vocabulary or Vocabulary.from_tokenizer(tokenizer)
    if len(vocabulary) <= classes:
        return vocabulary.padded_to(classes)
    base = set(getattr(tokenizer, "encoder", {}) or {})  # vocab.json's own entries
    special = set(tokenizer.all_special_tokens) - {getattr(tokenizer, "word_delimiter_token", None)}
    beyond = {i: t for i, t in enumerate(vocabulary.tokens) if i >= classes and t}
    if vocabulary.blank_id >= classes:
        raise ModelLoadError(
            f"model '{model}': its blank (the pad token {vocabulary.tokens[vocabulary.blank_id]!r}, id "
            f"{vocabulary.blank_id}) lies outside the model's {classes} output classes"
        )
    characters = {i: t for i, t in beyond.items() if t in base and t not in special}
    if characters:
        listed = ", ".join(f"{t!r} ({i})" for i, t in sorted(characters.items())[:10])
        more = f" and {len(characters) - 10} more" if len(characters) > 10 else ""
        raise ModelLoadError(
            f"model '{model}' outputs {classes} classes, but vocab.json has characters with ids beyond them: "
            f"{listed}{more}; the tokenizer does not belong to this model"
        )
    delimiter = vocabulary.word_delimiter_id  # beyond the head only when vocab.json lacks it (then it is added)
    return replace(
        vocabulary,
        tokens=vocabulary.tokens[:classes],
        word_delimiter_id=delimiter if delimiter is not None and delimiter < classes else None,
        hidden_ids=frozenset(i for i in vocabulary.hidden_ids if i < classes),
    )


def not_a_saved_model(files: ModelFiles) -> str:
    """Why a local folder without config.json is no model; a `polyasr train` run folder names its best/ model."""
    folder = Path(files.folder or files.model)
    saved = [p.parent for p in sorted(folder.glob("*/config.json"))
             if (p.parent / "vocab.json").exists() or (p.parent / "tokenizer.json").exists()]
    if not saved:
        return f"model folder '{files.model}' has no config.json, so it is not a saved model"
    named = folder / "best" if folder / "best" in saved else saved[-1]
    listed = ", ".join(p.name for p in saved[:6]) + (", ..." if len(saved) > 6 else "")
    return f"model folder '{files.model}' holds saved models, not one: use --model {named} (it has {listed})"


__all__ = ["HUB_UNREACHABLE", "MODEL_ENV", "ModelFiles", "first_line", "fit_vocabulary", "is_hub_id", "load_tokenizer",
           "load_vocabulary", "not_a_saved_model"]
