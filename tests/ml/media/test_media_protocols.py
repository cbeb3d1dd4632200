"""FFmpeg reads only the file it is given, and only as a real audio/video container.

A playlist (HLS, DASH), an ffconcat list or an image-sequence name would make
FFmpeg open *other* local files: each is refused with a typed error, and a
tripwire (a named pipe standing where the referenced file would be) proves that
nothing else was opened. Real media in the usual containers still decodes.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ml.media.decode import (
    ALLOWED_CONTAINERS,
    _ffmpeg_input,
    _media_info,
    load_audio,
    load_video_frames,
    probe,
)
from ml.media.errors import CorruptMediaError, NotMediaError, UnsupportedContainerError
from tests.tripwire import BINARY_TAIL, Tripwire


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


@pytest.fixture
def tripwire() -> Iterator:
    made: list[Tripwire] = []

    def make(path: Path, payload: bytes) -> Tripwire:
        made.append(Tripwire(path, payload))
        return made[-1]

    yield make
    for wire in made:
        wire.release()


@pytest.fixture(scope="module")
def sources(tmp_path_factory, media) -> dict[str, bytes]:
    """Bytes of real files that a playlist or list could point at."""
    d = tmp_path_factory.mktemp("sources")
    ffmpeg("-i", str(media.tone_wav), "-c:a", "libmp3lame", str(d / "tone.mp3"))
    return {
        "mp3": (d / "tone.mp3").read_bytes(),
        "m4a": media.audio_m4a.read_bytes(),
        "png": media.png.read_bytes(),
    }


def assert_refused(path: Path, *wires: Tripwire, video: bool = False) -> None:
    """Probing and decoding ``path`` raise UnsupportedContainerError; no wire tripped."""
    with pytest.raises(UnsupportedContainerError) as probed:
        probe(path, timeout_s=20)
    with pytest.raises(UnsupportedContainerError):
        if video:
            load_video_frames(path, None, 32, 24, timeout_s=20)
        else:
            load_audio(path, timeout_s=20)
    assert probed.value.reason == "unsupported_container"
    assert isinstance(probed.value, NotMediaError)  # callers that catch "not media" still do
    assert [w.path.name for w in wires if w.release()] == [], "FFmpeg opened a referenced file"


# --------------------------------------------------------------------------- #
# Lists and patterns that name other files
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    "name, prefix, tail",
    [
        ("playlist.m3u8", b"", b""),
        ("playlist.m3u8", b"", BINARY_TAIL),
        ("upload", b"", BINARY_TAIL),  # no extension, as stored by the service
        ("track.mp3", b"\xef\xbb\xbf\n", BINARY_TAIL),  # byte order mark, blank line
    ],
    ids=["m3u8", "m3u8+binary", "no-extension", "named-mp3+bom"],
)
def test_hls_playlist_pointing_at_a_local_file(tmp_path, tripwire, sources, name, prefix, tail):
    target = tripwire(tmp_path / "secret.mp3", sources["mp3"])
    playlist = tmp_path / name
    playlist.write_bytes(
        prefix
        + b"#EXTM3U\n#EXT-X-TARGETDURATION:60\n#EXTINF:3.0,\n"
        + os.fsencode(target.path)
        + b"\n#EXT-X-ENDLIST\n"
        + tail
    )
    assert_refused(playlist, target)


def test_ffconcat_list_naming_a_local_file(tmp_path, tripwire, sources):
    target = tripwire(tmp_path / "secret.mp3", sources["mp3"])
    concat = tmp_path / "list.mp4"
    concat.write_bytes(b"ffconcat version 1.0\nfile secret.mp3\n" + BINARY_TAIL)
    assert_refused(concat, target)


def test_image_sequence_pattern_as_a_file_name(tmp_path, tripwire, sources):
    first = tripwire(tmp_path / "img001.png", sources["png"])
    for i in (2, 3):
        (tmp_path / f"img{i:03d}.png").write_bytes(sources["png"])
    pattern = tmp_path / "img%03d.png"
    pattern.write_bytes(sources["png"])
    assert_refused(pattern, first, video=True)


def test_dash_manifest_is_refused_by_the_demuxer_allow_list(tmp_path, tripwire, sources):
    # No playlist marker at the start: only ffmpeg's -format_whitelist stops it.
    target = tripwire(tmp_path / "secret.m4a", sources["m4a"])
    manifest = tmp_path / "manifest"
    manifest.write_bytes(
        b'<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" '
        b'profiles="urn:mpeg:dash:profile:isoff-on-demand:2011" type="static" '
        b'mediaPresentationDuration="PT3S" minBufferTime="PT1S"><Period>'
        b'<AdaptationSet mimeType="audio/mp4"><Representation id="a" bandwidth="128000">'
        b"<BaseURL>secret.m4a</BaseURL></Representation></AdaptationSet></Period></MPD>"
        + BINARY_TAIL
    )
    with pytest.raises(UnsupportedContainerError, match=r"DASH manifest \(dash\)"):
        probe(manifest, timeout_s=20)
    assert not target.release()


def test_the_decode_command_itself_refuses_other_demuxers(tmp_path, tripwire, sources):
    # Decoding does not rely on the probe alone (the file could change in between).
    target = tripwire(tmp_path / "secret.mp3", sources["mp3"])
    playlist = tmp_path / "upload"
    playlist.write_bytes(
        b"#EXTM3U\n#EXT-X-TARGETDURATION:60\n#EXTINF:3.0,\n"
        + os.fsencode(target.path)
        + b"\n#EXT-X-ENDLIST\n"
        + BINARY_TAIL
    )
    result = subprocess.run([*_ffmpeg_input(str(playlist)), "-f", "null", "-"],
                            capture_output=True, timeout=20, check=False)  # fmt: skip
    assert result.returncode != 0
    assert b"not on whitelist" in result.stderr
    assert not target.release()


@pytest.mark.parametrize("format_name", ["hls", "concat", "image2", "dash", "lavfi", "tty"])
def test_a_probed_format_outside_the_allow_list_is_refused(format_name):
    data = {
        "format": {"format_name": format_name, "duration": "3.0"},
        "streams": [{"codec_type": "audio", "codec_name": "mp3", "duration": "3.0"}],
    }
    with pytest.raises(UnsupportedContainerError, match=re.escape(f"({format_name})")):
        _media_info(data, 200, "/data/upload")


def test_the_allow_list_names_only_real_demuxers_and_none_that_open_other_files():
    listing = subprocess.run(["ffmpeg", "-hide_banner", "-demuxers"], capture_output=True,
                             check=True).stdout.decode()  # fmt: skip
    demuxers = {
        name
        for line in listing.partition("--")[2].splitlines()
        if line.split()
        for name in line.split()[1].split(",")
    }
    assert ALLOWED_CONTAINERS <= demuxers, ALLOWED_CONTAINERS - demuxers
    refused = {
        "hls",
        "dash",
        "imf",
        "concat",
        "image2",
        "image2pipe",
        "lavfi",
        "sdp",
        "rtp",
        "rtsp",
        "data",
        "ffmetadata",
        "bin",
        "tty",
        "srt",
        "webvtt",
    }
    assert not ALLOWED_CONTAINERS & refused


# --------------------------------------------------------------------------- #
# Real media still decodes
# --------------------------------------------------------------------------- #


AUDIO_FORMATS = [
    ("tone.wav", []),
    ("tone.mp3", ["-c:a", "libmp3lame"]),
    ("tone.flac", []),
    ("tone.ogg", ["-c:a", "libvorbis"]),
    ("tone.opus", ["-c:a", "libopus", "-ar", "48000"]),
    ("tone.m4a", ["-c:a", "aac"]),
    ("tone.aac", ["-c:a", "aac"]),
    ("tone.aiff", []),
    ("tone.mka", []),
    ("tone.wma", []),
]


@pytest.mark.parametrize("name, codec", AUDIO_FORMATS, ids=[n for n, _ in AUDIO_FORMATS])
def test_audio_containers_still_decode(media, tmp_path, name, codec):
    path = tmp_path / name
    ffmpeg("-i", str(media.tone_wav), *codec, str(path))
    y = load_audio(path, 22050)
    assert y.size / 22050 == pytest.approx(3.0, abs=0.1)
    spectrum = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    assert np.argmax(spectrum) * 22050 / y.size == pytest.approx(440.0, abs=2.0)


VIDEO_FORMATS = [
    ("clip.mp4", ["-c", "copy"]),
    ("clip.mov", ["-c", "copy"]),
    ("clip.mkv", ["-c", "copy"]),
    ("clip.ts", ["-c", "copy"]),
    ("clip.avi", ["-c:v", "mpeg4", "-q:v", "2", "-c:a", "mp3"]),
    ("clip.webm", ["-c:v", "libvpx", "-b:v", "1M", "-c:a", "libopus"]),
    ("clip.flv", ["-c:v", "flv", "-q:v", "2", "-c:a", "mp3", "-ar", "44100"]),
]


@pytest.mark.parametrize("name, codec", VIDEO_FORMATS, ids=[n for n, _ in VIDEO_FORMATS])
def test_video_containers_still_decode(media, tmp_path, name, codec):
    path = tmp_path / name
    ffmpeg("-i", str(media.colour_video), *codec, str(path))
    frames = load_video_frames(path, 1, 16, 12)
    assert frames.shape == (3, 12, 16, 3)
    for frame, colour in zip(frames, media.colours):
        np.testing.assert_allclose(frame.reshape(-1, 3).mean(0), colour, atol=12)
    assert load_audio(path, 22050).size / 22050 == pytest.approx(3.0, abs=0.15)


def test_a_wav_whose_name_looks_like_a_pattern_still_decodes(media, tmp_path):
    # Only image names are patterns to FFmpeg; the image2 demuxer is refused anyway.
    path = tmp_path / "take%03d.wav"
    path.write_bytes(media.tone_wav.read_bytes())
    np.testing.assert_array_equal(load_audio(path), load_audio(media.tone_wav))


# --------------------------------------------------------------------------- #
# Messages carry no memory addresses
# --------------------------------------------------------------------------- #


def test_ffmpeg_messages_lose_their_memory_addresses(media, tmp_path):
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(media.video_moov_last.read_bytes()[:20000])
    with pytest.raises(CorruptMediaError) as caught:
        probe(truncated)
    message = str(caught.value)
    assert "moov atom not found" in message and "[mov,mp4" in message
    assert not re.search(r"0x[0-9a-f]{6,}", message), message
