"""Every example in README.md and docs/ is run here against the tiny model, or marked illustrative.

The marker is an HTML comment on the last non-blank line before a fenced block: `<!-- run -->` or
`<!-- illustrative -->` (docs/development.md, "The documentation"). A `run` block is run in a
fresh copy of a folder holding every file the examples name (short speech-like audio in each
format, a transcript, subtitles, a manifest, a text corpus), with $POLYASR_MODEL naming a tiny
random model whose language table has the languages the examples use: a bash block's `polyasr ...`
lines through the CLI's `main` (each must exit 0), a python block with `exec` after
`import polyasr` and `rec = polyasr.load()`.
"""

from __future__ import annotations

import json
import pickle
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from audio_factory import AAC, MP3, VORBIS, voiced, write_audio
from tiny_model import build_tiny_model, language_ids

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKER = re.compile(r"^\s*<!-- (run|illustrative) -->\s*$")
FENCE = re.compile(r"^(\s*)(`{3,})\s*([\w+-]*)")
# Languages the examples name, each given the Latin letters of the tiny model (its own table has en, de, ru, ja, rw)
EXAMPLE_LANGUAGES = ("es", "fr", "it", "pt", "nl", "pl", "ca")


@dataclass(frozen=True)
class Block:
    """One fenced block of a page: where it starts, its language, its marker (None: unmarked) and text."""

    page: str
    line: int
    language: str
    marker: str | None
    text: str

    @property
    def name(self) -> str:
        return f"{self.page}:{self.line}"


def fenced_blocks(text: str, page: str) -> list[Block]:
    """The fenced blocks of a Markdown text, each with the marker on the last non-blank line before it."""
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, fence, language = opening.groups()
        before = [line for line in lines[:i] if line.strip()]
        marker = MARKER.match(before[-1]) if before else None
        end = i + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        body = "\n".join(line[len(indent):] if line.startswith(indent) else line for line in lines[i + 1:end])
        blocks.append(Block(page, i + 1, language, marker.group(1) if marker else None, body))
        i = end + 1
    return blocks


def all_blocks() -> list[Block]:
    return [block for path in PAGES for block in fenced_blocks(path.read_text(encoding="utf-8"), path.name)]


def shell_commands(text: str) -> list[list[str]]:
    """The commands of a bash block: `\\` joins lines, `# ...` comments are dropped."""
    joined = re.sub(r"\\\n", " ", text)
    return [words for line in joined.splitlines() if (words := shlex.split(line, comments=True))]


def test_fenced_blocks_finds_markers_and_unmarked_blocks() -> None:
    text = "<!-- run -->\n```bash\npolyasr languages\n```\n\nSome text.\n\n```python\nx = 1\n```\n" \
           "<!-- illustrative -->\n\n  ```\n  ray stop\n  ```\n"
    blocks = fenced_blocks(text, "page.md")
    assert [(b.line, b.language, b.marker, b.text) for b in blocks] == [
        (2, "bash", "run", "polyasr languages"), (8, "python", None, "x = 1"), (13, "", "illustrative", "ray stop")]
    assert shell_commands("polyasr a b \\\n  --c 'd e'   # note\n\n# only a comment\npolyasr x") == [
        ["polyasr", "a", "b", "--c", "d e"], ["polyasr", "x"]]


def test_every_example_is_run_or_marked_illustrative() -> None:
    blocks = all_blocks()
    assert len(blocks) > 30 and {b.page for b in blocks} >= {"README.md", "cli.md", "python.md"}
    unmarked = [b.name for b in blocks if b.marker is None]
    assert unmarked == [], "put <!-- run --> or <!-- illustrative --> on the line before each of these blocks"
    assert [b.name for b in blocks if b.marker == "run" and b.language not in ("bash", "python")] == []
    # a run block's shell lines are polyasr commands (pip, ray, scripts/... are illustrative)
    assert [b.name for b in blocks if b.marker == "run" and b.language == "bash"
            and any(words[0] != "polyasr" for words in shell_commands(b.text))] == []


def test_readme_keeps_the_two_commands_and_stays_a_front_door() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.encode("utf-8")) <= 15_000
    assert "scripts/polyasr transcribe talk.mp3 --language auto" in readme
    assert "\nscripts/test " in readme  # the command .ci/run runs
    linked = set(re.findall(r"\]\(docs/([\w-]+\.md)", readme))
    assert linked >= {path.name for path in (ROOT / "docs").glob("*.md")} - {"index.md"}
    # the site's build checks the pages' own links; the README's anchors are checked here, as the site names them
    from markdown.extensions.toc import slugify

    for page, anchor in re.findall(r"\]\(docs/([\w-]+\.md)#([\w-]+)\)", readme):
        headings = re.findall(r"^#+ (.+)$", (ROOT / "docs" / page).read_text(encoding="utf-8"), flags=re.MULTILINE)
        assert anchor in {slugify(heading, "-") for heading in headings}, f"README links {page}#{anchor}"


@pytest.fixture(scope="module")
def example_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a tiny model with the examples' languages, a folder holding every file the examples name)."""
    model = build_tiny_model(tmp_path_factory.mktemp("docs-model"))
    table = {code: list(ids) for code, ids in language_ids().items()}
    table.update({code: list(table["en"]) for code in EXAMPLE_LANGUAGES})
    with open(model / "lang_ids.pk", "wb") as handle:
        pickle.dump(table, handle)
    folder = tmp_path_factory.mktemp("docs-examples")
    speech = voiced(3.0)[None].astype(np.float64)
    formats = {".wav": "pcm_s16le", ".flac": "flac", ".mp3": MP3, ".ogg": VORBIS, ".m4a": AAC}
    names = ["talk.mp3", "interview.m4a", "interview.mp3", "clip.ogg", "clip.mp3", "lecture.mp3", "podcast.m4a",
             "meeting.mp3", "meeting.m4a", "speech.wav", "a.wav", "b.flac", "a.mp3"]
    for name in names:
        codec = formats[Path(name).suffix]
        if codec is None:
            pytest.skip(f"this PyAV cannot encode {Path(name).suffix}")
        channels = 2 if name.endswith(".ogg") else 1  # ffmpeg's own vorbis encoder is stereo-only
        write_audio(folder / name, codec, 16_000, np.repeat(speech, channels, axis=0))
    (folder / "transcript.txt").write_text("hola amigo\n", encoding="utf-8")
    (folder / "interview.srt").write_text("1\n00:00:00,200 --> 00:00:01,400\nhallo\n\n2\n00:00:01,600 --> "
                                          "00:00:02,800\nwelt\n", encoding="utf-8")
    whisper = {"language": "de", "text": "hallo welt", "segments": [{"id": 0, "start": 0.2, "end": 1.4, "text": "hallo"},
                                                                    {"id": 1, "start": 1.6, "end": 2.8, "text": "welt"}]}
    (folder / "whisper_output.json").write_text(json.dumps(whisper), encoding="utf-8")
    rows = [{"audio": "clip.ogg", "text": "hallo welt", "language": "de"},
            {"audio": "talk.mp3", "text": "guten tag", "language": "de"}]
    (folder / "my_test.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    corpus = "Herr Müller fährt nach Zwickau.\nDer Zug nach Zwickau ist pünktlich.\nFrau Müller wohnt in Zwickau.\n" * 3
    for name in ("corpus.txt", "corpus_de.txt"):
        (folder / name).write_text(corpus, encoding="utf-8")
    shutil.copy(model / "lang_ids.pk", folder / "lang_ids.pk")
    return model, folder


RUN_BLOCKS = [block for block in all_blocks() if block.marker == "run"]


@pytest.mark.parametrize("block", RUN_BLOCKS, ids=[block.name for block in RUN_BLOCKS])
def test_run_example(block: Block, example_folder: tuple[Path, Path], tmp_path: Path,
                     monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    model, files = example_folder
    folder = shutil.copytree(files, tmp_path / "examples")  # each block starts from the same files
    monkeypatch.chdir(folder)
    monkeypatch.setenv("POLYASR_MODEL", str(model))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    if block.language == "bash":
        from polyasr.cli.main import main

        for words in shell_commands(block.text):
            try:
                code = main(words[1:])
            except SystemExit as stop:  # the parser's exit
                code = stop.code
            assert code == 0, f"{block.name}: {shlex.join(words)} exited {code}:\n{capsys.readouterr().err[-2000:]}"
    else:
        import polyasr

        namespace = {"polyasr": polyasr, "rec": polyasr.load(), "paths": ["a.wav", "b.flac", "a.mp3"],
                     "samples": np.resize(voiced(1.0, rate=44_100), 88_200)}
        exec(compile(block.text, block.name, "exec"), namespace)
