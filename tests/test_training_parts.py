"""The parts of `polyasr train` that need no model: batches, losses, CTC feasibility, vocabulary, audio cache."""

from __future__ import annotations

import math
import os
from collections import Counter

import numpy as np
import pytest
import torch

from audio_factory import tone, write_audio
from polyasr.audio.decode import load_audio
from polyasr.decoding.ctc import Vocabulary
from polyasr.language.table import LanguageTable
from polyasr.training.audio_cache import AudioCache, CachedClip
from polyasr.training.loss import CTCBatch, utterance_losses, utterance_nll
from polyasr.training.options import DataOptions
from polyasr.training.preflight import ctc_shortfall
from polyasr.training.sampler import EpochPlanner
from polyasr.training.vocabulary import encode, extend_ctc_head, plan_vocabulary

RATE = 16_000


def _lengths(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(RATE // 2, 10 * RATE, count)


def test_batches_are_capped_by_padded_seconds_and_every_clip_is_used_once() -> None:
    lengths = _lengths(200)
    options = DataOptions(batch_seconds=20, max_seconds=10)
    planner = EpochPlanner(lengths, ["en"] * 200, options, seed=1, batches_per_step=1)
    steps, left_out = planner.steps(0)
    batches = [batch for step in steps for batch in step]
    assert left_out == 0 and sorted(i for b in batches for i in b) == list(range(200))  # each clip once
    assert all(len(b) * lengths[b].max() <= 20 * RATE for b in batches)  # padded size within 20 s
    assert planner.steps(0) == (steps, 0)  # the same plan when computed again (resume, other processes)
    assert planner.steps(1)[0] != steps  # another order next epoch
    assert planner.total_steps(2.5) == len(steps) + len(planner.steps(1)[0]) + len(planner.steps(2)[0]) // 2
    grouped, rest = EpochPlanner(lengths, ["en"] * 200, options, seed=1, batches_per_step=3).steps(0)
    assert [b for step in grouped for b in step] == batches[: 3 * len(grouped)] and rest == len(batches) % 3


def test_language_balanced_draw_follows_alpha() -> None:
    languages = ["en"] * 180 + ["pl"] * 20
    lengths = _lengths(200)
    counts = {}
    for alpha in (0.0, 1.0):
        options = DataOptions(batch_seconds=20, max_seconds=10, balance_alpha=alpha)
        steps, _ = EpochPlanner(lengths, languages, options, seed=0, batches_per_step=1).steps(0)
        drawn = [i for step in steps for batch in step for i in batch]
        counts[alpha] = Counter(languages[i] for i in drawn)
        if alpha == 0.0:
            assert Counter(i for i in drawn if i >= 180) == {i: 5 for i in range(180, 200)}  # each Polish clip 5 times
    assert counts[0.0] == {"en": 100, "pl": 100}  # uniform over languages: 200 x 1/2 each
    assert counts[1.0] == {"en": 180, "pl": 20}  # as in the data


def test_ctc_shortfall_counts_a_blank_between_repeated_labels() -> None:
    assert ctc_shortfall([1, 1, 2], 3) == 1  # a, blank, a, b needs 4 frames
    assert ctc_shortfall([1, 1, 2], 4) == 0
    assert ctc_shortfall([1, 2, 3], 3) == 0


def test_ctc_nll_and_focal_weighting_per_utterance() -> None:
    # One frame, one label: the only CTC path emits the label, so NLL = -ln P(label) = -ln 0.5 = ln 2.
    logits = torch.log(torch.tensor([[[0.25, 0.5, 0.25]]]))
    batch = CTCBatch(torch.zeros(1, 400), None, torch.tensor([1]), torch.tensor([1]), torch.tensor([400]))
    assert float(utterance_nll(logits, torch.tensor([1]), batch, blank=0)[0]) == pytest.approx(math.log(2), rel=1e-6)
    nll, lengths = torch.tensor([0.1, 5.0]), torch.tensor([2, 4])
    assert utterance_losses(nll, lengths, "ctc", 2.0).tolist() == pytest.approx([0.05, 1.25])  # NLL per label
    # focal: (1 - e^-0.1)^2 x 0.05 = 0.0952^2 x 0.05 = 4.53e-4; (1 - e^-5)^2 x 1.25 = 0.9866 x 1.25 = 1.2332
    focal = utterance_losses(nll, lengths, "focal", 2.0).tolist()
    assert focal == pytest.approx([(1 - math.exp(-0.1)) ** 2 * 0.05, (1 - math.exp(-5)) ** 2 * 1.25])
    assert focal[0] / 0.05 < 0.01 < 0.9 < focal[1] / 1.25  # the confident utterance counts ~100x less


def test_vocabulary_plan_appends_after_every_row_and_grows_language_tables() -> None:
    base = Vocabulary(("[PAD]", "a", "b", "|", ""), blank_id=0, word_delimiter_id=3, hidden_ids=frozenset({0, 4}))
    table = LanguageTable.from_mapping({"xx": [1, 3]})  # class 4 of the head has no token
    plan = plan_vocabulary(base, table, {"xx": Counter("ab a"), "yy": Counter("cbc")}, extend=True)
    assert plan.added == ("c",) and plan.vocabulary.tokens[5] == "c" and len(plan.vocabulary) == 6
    assert dict(plan.table.ids) == {"xx": (1, 2, 3), "yy": (2, 5)}  # yy has no spaces: no delimiter
    assert plan.new_languages == ("yy",) and plan.table_additions == {"xx": ("b",), "yy": ("b", "c")}
    assert encode("ab c", plan.vocabulary) == ([1, 2, 3, 5], [])
    kept = plan_vocabulary(base, table, {"yy": Counter("cb")}, extend=False)
    assert kept.added == () and encode("cb", kept.vocabulary) == ([2], ["c"])


def test_new_head_rows_never_win_the_argmax() -> None:
    torch.manual_seed(0)
    model = torch.nn.Module()
    model.lm_head = torch.nn.Linear(16, 10)
    model.config = type("Config", (), {"vocab_size": 10})()
    old = model.lm_head.weight.detach().clone()
    hidden = torch.randn(5000, 16) * 3
    before = model.lm_head(hidden).argmax(-1)
    extend_ctc_head(model, 13)
    logits = model.lm_head(hidden)
    assert torch.equal(model.lm_head.weight[:10], old) and model.config.vocab_size == 13
    assert torch.equal(logits.argmax(-1), before)
    assert bool((logits[:, 10:].max(-1).values < logits[:, :10].max(-1).values).all())


def test_audio_cache_decodes_each_file_once_and_again_when_it_changes(tmp_path) -> None:
    a = write_audio(tmp_path / "a.flac", "flac", 44_100, tone(300, 44_100, 1.0)[None])
    b = write_audio(tmp_path / "b.wav", "pcm_s16le", 16_000, tone(500, 16_000, 0.5, 0.2)[None])
    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"ID3" + bytes(range(256)) * 4)
    calls: list[tuple[int, int]] = []
    AudioCache(tmp_path / "cache").fill([str(a), str(b), str(broken), str(a)], on_progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (3, 3)
    cache = AudioCache(tmp_path / "cache")  # read back from disk
    assert cache.missing([str(a), str(b), str(broken)]) == []
    clip = cache.lookup(str(a))
    assert isinstance(clip, CachedClip) and clip.length == RATE
    expected = load_audio(str(a))
    assert np.abs(cache.samples(clip) - expected).max() <= np.abs(expected).max() / 32767  # int16 of the peak
    assert isinstance(cache.lookup(str(broken)), str) and "broken.mp3" in cache.lookup(str(broken))
    write_audio(b, "pcm_s16le", 16_000, tone(500, 16_000, 0.75, 0.2)[None])
    os.utime(b, ns=(1, 1))  # a new modification time, whatever the file system's resolution
    assert cache.missing([str(a), str(b)]) == [str(b)]
    cache.fill([str(b)])
    assert cache.lookup(str(b)).length == 12_000


def test_a_run_shorter_than_its_warmup_and_a_finished_run_say_so(tmp_path, capsys) -> None:
    from polyasr.cli.train import _Display
    from polyasr.training.events import TrainingStarted

    display = _Display(tmp_path)
    display(TrainingStarted(0, 6, 1, "no", "cpu", 0, warmup_steps=500))
    err = capsys.readouterr().err
    assert "--warmup-steps 500 is not shorter than the run's 6 steps" in err and "use about 1" in err
    display.close()
    finished = _Display(tmp_path)
    finished(TrainingStarted(6, 6, 1, "no", "cpu", 0, warmup_steps=0))
    err = capsys.readouterr().err
    assert "all 6 steps of this run are done already" in err and "steps 7-6" not in err


def test_a_training_run_folder_given_as_model_names_its_best_model(tiny_model_dir, tmp_path) -> None:
    import shutil

    import polyasr

    run = tmp_path / "runs" / "x"
    shutil.copytree(tiny_model_dir, run / "best")
    shutil.copytree(tiny_model_dir, run / "checkpoint-0000010")
    with pytest.raises(polyasr.ModelLoadError, match=f"holds saved models, not one: use --model {run / 'best'}"):
        polyasr.load(str(run), device="cpu", dtype="fp32")
