"""Real recorded music shipped in Debian packages: where it is, what it may be used for.

Each :class:`SourcePackage` names a Debian package of game music, the folder of its
recordings, and the licence stated in its ``/usr/share/doc/<package>/copyright``.
:func:`find_recordings` lists the installed recordings (from ``dpkg-query -L``, or the
package's known folder where dpkg is absent) and says which package is missing and how
to install it. Recordings are read with libsndfile (:func:`read_excerpt`), which is
sample-accurate when seeking and also reads the few Vorbis files that ffmpeg rejects,
and the tracks that ``nexuiz-music`` ships inside a zip archive (``music.pk3``).

Conventions: times in seconds; audio ``float32`` in [-1, 1], shape
``(n_samples, n_channels)``.
"""

from __future__ import annotations

import fnmatch
import glob
import io
import os
import subprocess
import zipfile
from dataclasses import dataclass

import numpy as np
import soundfile as sf

__all__ = [
    "AUDIO_EXTENSIONS",
    "PACKAGES",
    "MissingPackageError",
    "Recording",
    "SourcePackage",
    "find_recordings",
    "installed_files",
    "missing_packages",
    "read_excerpt",
]

#: File endings of recordings (libsndfile reads all of them).
AUDIO_EXTENSIONS = (".ogg", ".opus", ".mp3", ".flac", ".wav")


class MissingPackageError(RuntimeError):
    """A Debian package of recordings is not installed (the message says how to install it)."""


@dataclass(frozen=True)
class SourcePackage:
    """A Debian package of recorded music.

    Attributes
    ----------
    name : str
        The package to install (``apt-get install <name>``).
    file_packages : str
        Glob over the names of the packages that hold the files (the metapackage
        ``wesnoth-music`` pulls in ``wesnoth-1.16-music``); usually ``name``.
    music_glob : str
        Glob, relative to the file system root, that a recording's path matches.
    archive_member_glob : str
        For recordings inside a zip archive (``music_glob`` then matches the
        archive): glob over the archive's member names; empty otherwise.
    licence : str
        The licence of the recordings, per the package's copyright file.
    """

    name: str
    file_packages: str
    music_glob: str
    licence: str
    archive_member_glob: str = ""


#: The packages of real recordings the corpora draw from (Debian 12 names).
PACKAGES: dict[str, SourcePackage] = {
    p.name: p
    for p in (
        SourcePackage(
            "wesnoth-music",
            "wesnoth-*-music",
            "/usr/share/*/wesnoth/*/data/core/music/*",
            "GPL-2+ (Battle for Wesnoth, per the package's copyright file)",
        ),
        SourcePackage(
            "singularity-music",
            "singularity-music",
            "/usr/share/games/singularity/music/*",
            "CC-BY-SA-3.0 (Max McCracken)",
        ),
        SourcePackage(
            "hyperrogue-music",
            "hyperrogue-music",
            "/usr/share/hyperrogue/music/*",
            "CC-BY-SA-3.0 (Shawn Parrotte, Lincoln Domina, Will Savino)",
        ),
        SourcePackage(
            "warzone2100-music",
            "warzone2100-music",
            "/usr/share/games/warzone2100/music/albums/*/*",
            "GPL-2+; the legacy and aftermath albums (LupusMechanicus) also CC-BY-SA-3.0+",
        ),
        SourcePackage(
            "drascula-music",
            "drascula-music",
            "/usr/share/scummvm/drascula/audio/*",
            "Drascula-License (BSD-like freeware licence of Alcachofa Soft S.L.)",
        ),
        SourcePackage(
            "planetblupi-music-ogg",
            "planetblupi-music-ogg",
            "/usr/share/planetblupi/music/*",
            "GPL-3+ (Planet Blupi, EPSITEC SA / Mathieu Schroeter)",
        ),
        SourcePackage(
            "asc-music",
            "asc-music",
            "/usr/share/games/asc/music/*",
            "GPL-2+ (Michael Kievernagel)",
        ),
        SourcePackage(
            "nexuiz-music",
            "nexuiz-music",
            "/usr/share/games/nexuiz/data/music.pk3",
            "GPL-2+ (Nexuiz, Alientrap)",
            archive_member_glob="sound/cdtracks/*",
        ),
    )
}


@dataclass(frozen=True)
class Recording:
    """One recording: a file of a package, or a member of a zip archive in it.

    Attributes
    ----------
    package : str
        The package that installs the file (e.g. ``wesnoth-1.16-music``).
    source : str
        The key of its :class:`SourcePackage` in :data:`PACKAGES` (e.g. ``wesnoth-music``).
    path : str
        Absolute path of the file (of the archive for an archive member).
    member : str
        Name inside the archive; empty for a plain file.
    licence : str
        From :attr:`SourcePackage.licence`.
    duration_s : float
        Length of the recording in seconds.
    sample_rate : int
        Its native sample rate in Hz.
    """

    package: str
    source: str
    path: str
    member: str
    licence: str
    duration_s: float
    sample_rate: int

    @property
    def id(self) -> str:
        """A stable name: ``<source>/<file name>`` (``<source>/<album>/<file>`` for Warzone)."""
        name = self.member or self.path
        parts = name.split("/")
        keep = 2 if self.source == "warzone2100-music" else 1  # albums repeat file names
        return f"{self.source}/{'/'.join(parts[-keep:])}"


def _dpkg(*args: str) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(
            ["dpkg-query", *args], check=False, capture_output=True, text=True, timeout=60
        )
    except FileNotFoundError:
        return None


def _installed_packages(pattern: str) -> list[str] | None:
    """Installed packages whose name matches ``pattern``; ``None`` without dpkg."""
    done = _dpkg("-W", "-f", "${Package}\t${db:Status-Status}\n", pattern)
    if done is None:
        return None
    rows = (line.split("\t") for line in done.stdout.splitlines())
    return sorted(name for name, *status in rows if status and status[0] == "installed")


def installed_files(source: SourcePackage) -> list[tuple[str, str]] | None:
    """Files of an installed source package that match its ``music_glob``.

    Returns
    -------
    list of (package, path), or None
        ``None`` when the package is not installed. Without dpkg (not a Debian
        system), the files found at ``music_glob`` are returned, attributed to
        ``source.name``, or ``None`` if there are none.
    """
    packages = _installed_packages(source.file_packages)
    if packages is None:
        found = sorted(glob.glob(source.music_glob))
        return [(source.name, p) for p in found] or None
    if not packages:
        return None
    files = []
    for package in packages:
        listing = _dpkg("-L", package)
        for path in listing.stdout.splitlines() if listing else ():
            if fnmatch.fnmatch(path, source.music_glob):
                files.append((package, path))
    return sorted(files)


def missing_packages(names: list[str] | None = None) -> list[str]:
    """The packages of ``names`` (default: all of :data:`PACKAGES`) that are not installed."""
    return [n for n in (names or list(PACKAGES)) if installed_files(PACKAGES[n]) is None]


def _install_hint(names: list[str]) -> str:
    return "apt-get install -y --no-install-recommends " + " ".join(names)


def _open(path: str, member: str) -> str | io.BytesIO:
    if not member:
        return path
    # A fresh handle each time: a cached one shared with forked workers would share
    # its file offset with them, and their reads would interleave.
    with zipfile.ZipFile(path) as archive:
        return io.BytesIO(archive.read(member))


def _recordings_of(source: SourcePackage, files: list[tuple[str, str]]) -> list[Recording]:
    found = []
    for package, path in files:
        if os.path.islink(path) or not os.path.isfile(path):
            continue  # e.g. drascula's per-language folders only link to audio/
        if source.archive_member_glob:
            with zipfile.ZipFile(path) as archive:
                names = [
                    m for m in archive.namelist() if fnmatch.fnmatch(m, source.archive_member_glob)
                ]
        elif path.lower().endswith(AUDIO_EXTENSIONS):
            names = [""]
        else:
            continue
        for member in names:
            if member and not member.lower().endswith(AUDIO_EXTENSIONS):
                continue
            try:
                info = sf.info(_open(path, member))
            except (RuntimeError, sf.LibsndfileError):
                continue  # unreadable: never planned
            if info.frames <= 0 or info.samplerate <= 0:
                continue
            found.append(
                Recording(
                    package,
                    source.name,
                    path,
                    member,
                    source.licence,
                    info.frames / info.samplerate,
                    int(info.samplerate),
                )
            )
    return found


def find_recordings(packages: list[str | SourcePackage] | None = None) -> list[Recording]:
    """The installed recordings of the given source packages, sorted by :attr:`Recording.id`.

    Parameters
    ----------
    packages : list of str or SourcePackage, or None
        Keys of :data:`PACKAGES` (or package descriptions of one's own). ``None``
        means every installed one of :data:`PACKAGES` (those not installed are
        skipped: :func:`missing_packages` names them).

    Raises
    ------
    KeyError
        A name that is not in :data:`PACKAGES`.
    MissingPackageError
        A named package is not installed, or (``packages=None``) none is.
    """
    chosen = list(PACKAGES) if packages is None else list(packages)
    unknown = [n for n in chosen if isinstance(n, str) and n not in PACKAGES]
    if unknown:
        raise KeyError(f"unknown source packages {unknown}; known: {sorted(PACKAGES)}")
    sources = [PACKAGES[n] if isinstance(n, str) else n for n in chosen]
    recordings: list[Recording] = []
    missing = []
    for source in sources:
        files = installed_files(source)
        if files is None:
            missing.append(source.name)
            continue
        recordings += _recordings_of(source, files)
    if packages is not None and missing:
        raise MissingPackageError(
            f"Debian package(s) {missing} not installed; install them with: "
            f"{_install_hint(missing)}"
        )
    if not recordings:
        names = [s.name for s in sources]
        raise MissingPackageError(
            "no recordings installed: none of the Debian packages "
            f"{names} is installed; install one or more with: {_install_hint(names)}"
        )
    unique: dict[str, Recording] = {}
    for rec in recordings:
        unique.setdefault(rec.id, rec)
    return sorted(unique.values(), key=lambda r: r.id)


def read_excerpt(rec: Recording, start_s: float, duration_s: float) -> tuple[np.ndarray, int]:
    """Read ``duration_s`` seconds of a recording from ``start_s``, sample-accurately.

    Returns
    -------
    audio : np.ndarray
        Shape ``(n_samples, n_channels)``, ``float32``, at the native rate; exactly
        ``round(duration_s * sr)`` samples (zero-padded past the recording's end).
    sr : int
        The recording's sample rate in Hz.
    """
    if start_s < 0 or duration_s <= 0:
        raise ValueError(f"bad excerpt: start {start_s} s, duration {duration_s} s")
    with sf.SoundFile(_open(rec.path, rec.member)) as f:
        sr = int(f.samplerate)
        first = round(start_s * sr)
        n = round(duration_s * sr)
        f.seek(min(first, f.frames))
        audio = f.read(n, dtype="float32", always_2d=True)
    if len(audio) < n:
        audio = np.concatenate([audio, np.zeros((n - len(audio), audio.shape[1]), "float32")])
    return np.clip(audio, -1.0, 1.0), sr
