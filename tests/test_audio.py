"""Tests for polyasr.audio.decode on real files in real formats, generated here with PyAV."""

from __future__ import annotations

import io
import pathlib
import wave

import av
import numpy as np
import pytest

from audio_factory import AAC, MP3, OPUS, VIDEO, VORBIS, make_signal, tone, write_audio
from polyasr.audio.decode import SAMPLE_RATE, load_audio, resample, stream_audio
from polyasr.audio.sources import source_name
from polyasr.audio.resample import StreamResampler
from polyasr.errors import (
    AudioError,
    AudioNotFoundError,
    CorruptAudioError,
    EmptyAudioError,
    LanguageError,
    UnsupportedAudioError,
)


def magnitude(y: np.ndarray, freq: float) -> float:
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(spectrum[round(freq * len(y) / SAMPLE_RATE)])


def peak_hz(y: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(np.argmax(spectrum) * SAMPLE_RATE / len(y))


def check_decoded(y: np.ndarray, channels: int, seconds: float, tol_s: float, lossless: bool) -> None:
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) / SAMPLE_RATE - seconds) <= tol_s
    expected_hz = 440 if channels == 1 else 660
    assert abs(peak_hz(y) - expected_hz) <= 2
    if channels == 2:  # the +/-440 Hz parts cancel only if channels are averaged
        assert magnitude(y, 440) < (0.01 if lossless else 0.2) * magnitude(y, 660)
    if lossless:
        rms = float(np.sqrt(np.mean(y**2)))
        assert rms == pytest.approx((0.5 if channels == 1 else 0.25) / np.sqrt(2), rel=0.03)


# --- lossless files -----------------------------------------------------------------------------

LOSSLESS = ["pcm_u8", "pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le", "pcm_f64le", "flac"]


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
@pytest.mark.parametrize("codec", LOSSLESS)
def test_lossless(tmp_path, codec, rate, channels):
    path = write_audio(tmp_path / ("a.flac" if codec == "flac" else "a.wav"), codec, rate,
                       make_signal(rate, channels))
    check_decoded(load_audio(path), channels, 1.0, 2 / SAMPLE_RATE, lossless=True)


# --- lossy files --------------------------------------------------------------------------------

def _lossy_cases():
    cases = []
    for rate in (8000, 22050, 44100, 48000):
        for ch in (1, 2):
            cases.append(("a.mp3", MP3, rate, ch, None))
            cases.append(("a.m4a", AAC, rate, ch, None))
            if VORBIS == "libvorbis" or ch == 2:
                cases.append(("a.ogg", VORBIS, rate, ch, None))
    for rate, ch in ((8000, 1), (8000, 2), (48000, 1), (48000, 2)):
        cases.append(("a.opus", OPUS, rate, ch, "ogg"))
    for rate, ch in ((16000, 1), (48000, 2)):
        cases.append(("a.webm", OPUS, rate, ch, None))
    for rate, ch in ((44100, 1), (48000, 2)):
        cases.append(("v.mp4", AAC, rate, ch, "video"))
    return [pytest.param(*c, id=f"{c[0]}-{c[1]}-{c[2]}-{c[3]}ch") for c in cases]


@pytest.mark.parametrize("name, codec, rate, channels, extra", _lossy_cases())
def test_lossy(tmp_path, name, codec, rate, channels, extra):
    if codec is None or (extra == "video" and VIDEO is None):
        pytest.skip("encoder not available in this PyAV build")
    path = write_audio(tmp_path / name, codec, rate, make_signal(rate, channels),
                       video=VIDEO if extra == "video" else None, fmt="ogg" if extra == "ogg" else None)
    if extra == "video":
        with av.open(str(path)) as c:
            assert len(c.streams.video) == 1 and len(c.streams.audio) == 1
    check_decoded(load_audio(path), channels, 1.0, 0.1, lossless=False)


@pytest.mark.parametrize("name, codec", [("a.wav", "pcm_s16le"), ("a.mp3", MP3)])
def test_real_sample_rate_is_used(tmp_path, name, codec):
    if codec is None:
        pytest.skip("encoder not available")
    path = write_audio(tmp_path / name, codec, 44100, tone(1000, 44100, 2.0)[None])
    y = load_audio(path)  # assuming 48 kHz would put the peak at 1088 Hz, 16 kHz at 363 Hz
    assert abs(peak_hz(y) - 1000) <= 2
    assert abs(len(y) / SAMPLE_RATE - 2.0) <= 0.1


def test_sample_rate_change_mid_stream(tmp_path):
    if MP3 is None:
        pytest.skip("no mp3 encoder")
    a = write_audio(tmp_path / "a.mp3", MP3, 44100, tone(440, 44100, 1.0)[None]).read_bytes()
    b = write_audio(tmp_path / "b.mp3", MP3, 22050, tone(1000, 22050, 1.0)[None]).read_bytes()
    y = load_audio(a + b)  # two mp3s back to back, including b's ID3 tag in the middle
    assert abs(len(y) / SAMPLE_RATE - 2.0) <= 0.15
    assert abs(peak_hz(y[: SAMPLE_RATE * 3 // 4]) - 440) <= 2
    assert abs(peak_hz(y[-SAMPLE_RATE * 3 // 4 :]) - 1000) <= 2


# --- other input kinds --------------------------------------------------------------------------

@pytest.fixture
def flac_file(tmp_path):
    return write_audio(tmp_path / "clip.flac", "flac", 22050, make_signal(22050, 2))


def test_bytes_and_file_objects_match_path(flac_file):
    ref = load_audio(flac_file)
    data = flac_file.read_bytes()
    for source in (data, bytearray(data), memoryview(data), io.BytesIO(data)):
        np.testing.assert_array_equal(load_audio(source), ref)
    with open(flac_file, "rb") as fh:
        np.testing.assert_array_equal(load_audio(fh), ref)
    assert len(load_audio(str(flac_file), sampling_rate=8000)) == len(ref)  # ignored for files


def test_source_name(flac_file):
    assert source_name(str(flac_file)) == str(flac_file)
    assert source_name(flac_file) == str(flac_file)
    assert source_name(b"x") == source_name(memoryview(b"x")) == "<bytes>"
    assert source_name(io.BytesIO()) == "<file object>"
    assert source_name(np.zeros(3)) == "<array>"


def test_numpy_int16_and_uint8_scaling():
    x = np.array([0, 16384, -32768, 32767], np.int16)
    np.testing.assert_array_equal(load_audio(x, sampling_rate=16000), x / np.float32(32768))
    u = np.array([128, 0, 255], np.uint8)
    np.testing.assert_allclose(load_audio(u, sampling_rate=16000), [0, -1, 127 / 128])
    i32 = np.array([2**30, -(2**31)], np.int32)
    np.testing.assert_allclose(load_audio(i32, sampling_rate=16000), [0.5, -1.0])


def test_numpy_float_resampled_and_2d_orientations():
    sig = make_signal(8000, 2)
    y = load_audio(sig[0], sampling_rate=8000)
    assert y.dtype == np.float32 and len(y) == 2 * sig.shape[1] and abs(peak_hz(y) - 440) <= 2
    a = load_audio(sig, sampling_rate=8000)  # (channels, frames)
    b = load_audio(sig.T.copy(), sampling_rate=8000)  # (frames, channels)
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert abs(peak_hz(a) - 660) <= 2 and magnitude(a, 440) < 0.01 * magnitude(a, 660)
    np.testing.assert_allclose(load_audio(sig.astype(np.float32), sampling_rate=16000),
                               sig.mean(axis=0), atol=1e-6)


def test_numpy_errors():
    with pytest.raises(ValueError, match="sampling_rate") as exc:
        load_audio(np.zeros(100, np.float32))
    assert not isinstance(exc.value, LanguageError)
    for bad in (np.zeros((2, 2, 2)), np.zeros((32, 40)), np.zeros(4, np.complex64), np.zeros(4, bool)):
        with pytest.raises(UnsupportedAudioError, match="<array>"):
            load_audio(bad, sampling_rate=16000)
    for empty in (np.zeros(0), np.zeros((2, 0))):
        with pytest.raises(EmptyAudioError, match="<array>"):
            load_audio(empty, sampling_rate=16000)


@pytest.mark.parametrize("as_kind", ["path", "bytes", "array"])
def test_nan_and_inf_samples_become_silence_with_a_warning_in_every_channel(tmp_path, as_kind):
    """One NaN in a float WAV used to make the whole input NaN (and its transcript empty)."""
    from polyasr.audio.repairs import SampleRepairs

    signal = make_signal(16000, 2, seconds=2.0)
    signal[1, 16000] = np.nan  # second channel, at 1.00 s
    signal[0, 24000] = -np.inf  # first channel, at 1.50 s
    path = write_audio(tmp_path / "bad.wav", "pcm_f32le", 16000, signal)
    source = {"path": path, "bytes": path.read_bytes(), "array": signal}[as_kind]
    repairs = SampleRepairs()
    y = load_audio(source, sampling_rate=16000, repairs=repairs)
    repaired = np.nan_to_num(signal, nan=0.0, neginf=0.0).mean(axis=0)
    assert np.isfinite(y).all() and len(y) == 32000
    np.testing.assert_allclose(y, repaired, atol=1e-6)  # only the two bad samples changed
    assert repairs.warning("x.wav") == "x.wav: 2 NaN or infinite samples were replaced by silence (first at 1.00 s)"
    streamed = SampleRepairs()
    np.testing.assert_allclose(np.concatenate(list(stream_audio(source, 16000, 0.5, streamed))), y)
    assert (streamed.count, streamed.first_seconds) == (2, 1.0)
    assert SampleRepairs().warning("x.wav") is None


def test_resample():
    x = tone(440, 44100, 1.0)
    y = resample(x, 44100)
    assert y.dtype == np.float32 and abs(len(y) - 16000) <= 1 and abs(peak_hz(y) - 440) <= 2
    assert resample(x.astype(np.float32), 16000).dtype == np.float32
    with pytest.raises(ValueError):
        resample(x, 0)


def test_the_stream_resampler_gives_what_one_shot_resampling_gives():
    """One soxr setting for both: blocks of any size, then flush, equal resampling the whole array."""
    x = tone(440, 44100, 1.0).astype(np.float32)
    stream = StreamResampler(44100)
    pieces = [stream(x[i : i + 1001]) for i in range(0, len(x), 1001)] + [stream.flush()]
    assert np.allclose(np.concatenate(pieces), resample(x, 44100), atol=1e-6)
    same = StreamResampler(16000)
    assert np.array_equal(same(x[:100]), x[:100]) and len(same.flush()) == 0
    assert np.isfinite(StreamResampler(48000)(np.array([np.nan, np.inf] * 100, np.float32))).all()
    with pytest.raises(ValueError, match="unsupported sample rate 4000"):
        StreamResampler(4000)


# --- streaming ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def long_flac(tmp_path_factory):
    rate, seconds = 44100, 70
    t = np.arange(rate * seconds) / rate
    noise = 0.01 * np.random.default_rng(1).standard_normal(t.size)
    sig = 0.3 * np.sin(2 * np.pi * (200 + 5 * t) * t) + noise  # a chirp: every block differs
    return write_audio(tmp_path_factory.mktemp("long") / "long.flac", "flac", rate, sig[None], chunk=44100)


def test_stream_blocks_concatenate_to_load(long_flac):
    whole = load_audio(long_flac)
    blocks = list(stream_audio(long_flac, block_seconds=20))
    assert [len(b) for b in blocks[:-1]] == [20 * SAMPLE_RATE] * 3 and 0 < len(blocks[-1]) <= 20 * SAMPLE_RATE
    assert all(b.dtype == np.float32 and b.ndim == 1 for b in blocks)
    joined = np.concatenate(blocks)
    assert abs(len(joined) - len(whole)) <= 1 and abs(len(whole) / SAMPLE_RATE - 70) < 0.01
    n = min(len(joined), len(whole))
    np.testing.assert_allclose(joined[:n], whole[:n], atol=1e-4)


def test_stream_is_incremental(long_flac):
    class Tracked(io.BytesIO):
        furthest = 0

        def read(self, n=-1):
            data = super().read(n)
            Tracked.furthest = max(Tracked.furthest, self.tell())
            return data

    size = long_flac.stat().st_size
    first = next(iter(stream_audio(Tracked(long_flac.read_bytes()), block_seconds=10)))
    assert len(first) == 10 * SAMPLE_RATE and Tracked.furthest < 0.5 * size


def test_stream_numpy_and_errors(tmp_path):
    x = np.random.default_rng(0).uniform(-1, 1, 50_000).astype(np.float32)
    blocks = list(stream_audio(x, sampling_rate=16000, block_seconds=1))
    assert [len(b) for b in blocks] == [16000, 16000, 16000, 2000]
    np.testing.assert_array_equal(np.concatenate(blocks), load_audio(x, sampling_rate=16000))
    with pytest.raises(ValueError):
        stream_audio(x, sampling_rate=16000, block_seconds=0)
    with pytest.raises(AudioNotFoundError, match="nope.wav"):
        list(stream_audio(tmp_path / "nope.wav"))
    with pytest.raises(EmptyAudioError, match="silent.wav"):
        list(stream_audio(_empty_wav(tmp_path / "silent.wav")))


# --- errors -------------------------------------------------------------------------------------

def _empty_wav(path) -> pathlib.Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
    return pathlib.Path(path)


def test_not_found_and_directory(tmp_path):
    with pytest.raises(AudioNotFoundError, match="no such path") as exc:
        load_audio(tmp_path / "talk.mp3")
    assert str(tmp_path / "talk.mp3") in str(exc.value) and isinstance(exc.value, FileNotFoundError)
    with pytest.raises(AudioNotFoundError, match="not a file"):
        load_audio(str(tmp_path))


def test_empty_inputs(tmp_path):
    (tmp_path / "zero.wav").write_bytes(b"")
    with pytest.raises(EmptyAudioError, match="zero.wav"):
        load_audio(tmp_path / "zero.wav")
    with pytest.raises(EmptyAudioError, match="<bytes>"):
        load_audio(b"")
    with pytest.raises(EmptyAudioError, match=r"clip.wav: audio is empty \(0 samples\)"):
        load_audio(_empty_wav(tmp_path / "clip.wav"))


def test_not_audio(tmp_path):
    (tmp_path / "notes.txt").write_text("shopping list\n" * 200)
    with pytest.raises(UnsupportedAudioError, match="notes.txt"):
        load_audio(tmp_path / "notes.txt")
    noise = np.random.default_rng(0).bytes(20_000)
    (tmp_path / "noise.bin").write_bytes(noise)
    with pytest.raises(UnsupportedAudioError, match="noise.bin"):
        load_audio(tmp_path / "noise.bin")
    with pytest.raises(UnsupportedAudioError, match="<bytes>"):
        load_audio(noise)
    with open(tmp_path / "notes.txt") as text_mode:
        with pytest.raises(UnsupportedAudioError, match="<file object>"):
            load_audio(text_mode)


def test_video_only_file(tmp_path):
    if VIDEO is None:
        pytest.skip("no video encoder")
    path = tmp_path / "silent_film.mp4"
    with av.open(str(path), "w") as out:
        vs = out.add_stream(VIDEO, rate=10)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        for k in range(5):
            vf = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            vf.pts = k
            out.mux(vs.encode(vf))
        out.mux(vs.encode(None))
    with pytest.raises(UnsupportedAudioError, match="silent_film.mp4: no audio stream"):
        load_audio(path)


DAMAGE_FORMATS = [("a.wav", "pcm_s16le"), ("a.flac", "flac"), ("a.mp3", MP3), ("a.ogg", VORBIS),
                  ("a.opus", OPUS), ("a.m4a", AAC), ("a.webm", OPUS)]


def _damaged(tmp_path, name, codec, how):
    if codec is None:
        pytest.skip("encoder not available")
    fmt = "ogg" if name.endswith(".opus") else None
    data = write_audio(tmp_path / name, codec, 48000, make_signal(48000, 2, 3.0), fmt=fmt).read_bytes()
    noise = np.random.default_rng(2).bytes(30_000)
    damaged = data[: int(len(data) * 0.6)] if how == "truncated" else data[:200] + noise
    path = tmp_path / f"{how}_{name}"
    path.write_bytes(damaged)
    return path


@pytest.mark.parametrize("how", ["truncated", "garbage"])
@pytest.mark.parametrize("name, codec", DAMAGE_FORMATS)
def test_damaged_files_decode_partially_or_raise_corrupt(tmp_path, name, codec, how):
    path = _damaged(tmp_path, name, codec, how)
    try:
        y = load_audio(path)
    except CorruptAudioError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
    else:
        assert y.dtype == np.float32 and y.ndim == 1 and 0 < len(y) <= 3.1 * SAMPLE_RATE
        assert np.isfinite(y).all()


@pytest.mark.parametrize("name, codec", [("a.wav", "pcm_s16le"), ("a.mp3", MP3)])
def test_truncated_wav_and_mp3_decode_what_is_there(tmp_path, name, codec):
    y = load_audio(_damaged(tmp_path, name, codec, "truncated"))  # wav header claims 3 s
    assert abs(len(y) / SAMPLE_RATE - 1.8) < 0.1
    assert abs(peak_hz(y) - 660) <= 2


def test_errors_share_base_class_and_never_leak_av_errors(tmp_path):
    for source in (tmp_path / "missing.flac", b"\x00" * 1000, np.zeros(0)):
        with pytest.raises(AudioError) as exc:
            load_audio(source, sampling_rate=16000)
        assert not isinstance(exc.value, av.FFmpegError)
