"""Synthetic music videos with known structure, for tests, benchmarks and demos.

The generative story
====================
A clip is drawn in four steps; every random choice comes from the clip's
seed, so a seed names a clip exactly.

1. **Clip style.** Pick a genre (electronic, rock, ambient, hip-hop,
   classical, folk, metal, pop). Each genre is a prototype point in a
   five-dimensional latent space with named axes -- ``energy``, ``valence``,
   ``brightness``, ``density``, ``acoustic`` -- and the clip's latent point is
   the prototype plus Gaussian noise (``clip_spread``), clipped to [-1, 1].
   The clip also draws a tempo (from its energy), a meter (3/4 is likelier for
   acoustic music), and two *nuisances* that link nothing across modalities:
   a key and a colour-grading hue offset.

2. **Form.** Draw a target duration, a number of sections (so that sections
   last 4-25 s) and a song form such as ``A B A C B`` or ``I A B A B O``
   (intro, verse-, chorus-, bridge-like sections, outro; neighbours always
   differ). Every *label* draws its own latent point around the clip's
   (``section_spread``), so sections that share a label share a style: the
   form is audible and visible. Section lengths are whole bars; repeated
   labels have equal lengths. When whole bars cannot fit the duration range,
   section tempi are nudged (by at most a factor 1.5, equal labels alike);
   very short, narrow ranges (say 8-9 s) may still be missed by a bar.

3. **Two decoders of one latent.** Each label's latent point is decoded
   twice, independently, with noise (``noise``) -- see
   :mod:`ml.synth.style`:

   * music: tempo (drifting around the clip's with energy), mode (major for
     positive valence), chord progression, instrument (piano, strings,
     pluck, organ, bell, saw synth, square lead, sine pad; chosen by
     brightness and acousticness), harmonic roll-off (brightness), notes per
     beat (density), loudness (energy) and drum pattern (energy and density);
   * picture: hue (warm for positive valence, cold for negative, shifted by
     brightness and the grading nuisance), saturation and value, motion speed
     (energy), texture kind (organic blobs for acoustic, stripes or checkers
     otherwise) and its spatial frequency (brightness) and contrast
     (density), number of moving objects (density), how much they pulse on
     the beat (energy), and how often the editor cuts (energy).

   The decoders were written from common sense about music and pictures and
   were not tuned to favour any ranking cost.

4. **Rendering.** Music: per section, drums on a step grid with accented
   downbeats and a crash at the section start, a bass on the chord roots,
   chords held for a bar, and an arpeggiated lead, mixed to the section's
   loudness; notes stop at the section end, so timbre and energy change
   there. Picture: a hard cut at every section start and further cuts on
   downbeats inside sections every 1, 2 or 4 bars (each kept with
   probability 0.85), so shots are finer than music segments. Every shot
   redraws the texture, motion direction and objects, and nudges hue and
   brightness, so cuts inside a section are visible but smaller than cuts
   between sections.

The ground truth of a clip (:class:`~ml.synth.clip.ClipTruth`) holds the
music segment boundaries and labels, shot boundaries (on the frame grid),
beats and downbeats, tempo and meter, both levels of style, and weighted tags
derived from the style (genre, mood, tempo class, mode, meter, instruments)
for a tag-based music similarity.

Modules
=======
- :mod:`ml.synth.style`: latent space, decoders, tags (``TAG_CATEGORIES``).
- :mod:`ml.synth.audio`: tones, timbres, drums, click tracks, beat grids,
  sections in different timbres and tempi.
- :mod:`ml.synth.video`: textures, shots with motion, hard cuts.
- :mod:`ml.synth.io`: ``write_audio`` and ``write_video`` through ffmpeg pipes.
- :mod:`ml.synth.clip`: ``generate_clip``.
- :mod:`ml.synth.corpus`: ``generate_corpus`` and the JSON manifest.
- ``python -m ml.synth OUT_DIR --clips N``: the same from a shell.

Cost: about 0.5 s of CPU per 10 s of clip at 192x108, 25 fps, 22.05 kHz,
three quarters of it in ffmpeg's H.264 and AAC encoders
(``python -m bench.bench_synth``).
"""

from ml.synth.audio import beat_grid, click_track, timbre_sections, tone
from ml.synth.clip import ClipSpec, ClipTruth, SynthClip, generate_clip
from ml.synth.corpus import ClipRecord, Manifest, generate_corpus
from ml.synth.errors import MediaWriteError, SynthSpecError
from ml.synth.io import write_audio, write_video
from ml.synth.video import ShotLook, render_shot, shots_video

__all__ = [
    "ClipRecord",
    "ClipSpec",
    "ClipTruth",
    "Manifest",
    "MediaWriteError",
    "ShotLook",
    "SynthClip",
    "SynthSpecError",
    "beat_grid",
    "click_track",
    "generate_clip",
    "generate_corpus",
    "render_shot",
    "shots_video",
    "timbre_sections",
    "tone",
    "write_audio",
    "write_video",
]
