"""Run in a fresh interpreter by test_compat.py: apply every ml.compat patch except
the one named in argv[1] ("none" applies them all), then exercise the code that
needs the skipped patch (argv[2]) and print OK or the exception's type and message.
"""

from __future__ import annotations

import sys
import traceback


def _apply_all_but(skip: str) -> None:
    from ml import compat

    steps = {
        "collections_abc": compat._patch_collections_abc,
        "numpy_aliases": compat._patch_numpy_aliases,
        "scipy_inf": compat._patch_scipy_inf,
        "scipy_signal_gaussian": compat._patch_scipy_signal_gaussian,
    }
    for name, step in steps.items():
        if name != skip:
            step()
    if skip == "pkg_resources":
        import madmom  # noqa: F401
    else:
        with compat._pkg_resources_for_madmom():
            import madmom  # noqa: F401
    if skip != "madmom_dbn_ragged":
        compat._patch_madmom_dbn_ragged()
    import msaf  # noqa: F401

    if skip != "msaf_private_feature_cache":
        compat._patch_msaf_private_feature_cache()


def _exercise(what: str, arg: str | None) -> None:
    import numpy as np

    if what == "import":
        return
    if what == "dbn":
        from madmom.features.downbeats import DBNDownBeatTrackingProcessor

        # Activations at 100 fps: a beat every 0.5 s, every fourth one a downbeat.
        n = np.arange(1000)
        bumps = [np.exp(-0.5 * ((n - b) / 2.0) ** 2) for b in range(50, 1000, 50)]
        frames = np.full((1000, 2), 0.01)
        for k, bump in enumerate(bumps):
            frames[:, 1 if k % 4 == 0 else 0] += 0.8 * bump
        beats = DBNDownBeatTrackingProcessor(beats_per_bar=[3, 4], fps=100)(frames)
        assert beats.shape[1] == 2 and len(beats) > 10, beats
    elif what == "foote_kernel":
        from msaf.algorithms.foote.segmenter import compute_gaussian_krnl

        assert compute_gaussian_krnl(16).shape == (16, 16)
    elif what == "msaf_process":
        import os

        import msaf

        os.chdir(os.path.dirname(os.path.dirname(arg)))  # msaf caches in the cwd
        if os.path.exists(msaf.config.features_tmp_file):  # an unpatched run's leftover
            os.remove(msaf.config.features_tmp_file)
        msaf.process(arg, boundaries_id="foote")
        leftover = os.path.exists(msaf.config.features_tmp_file)
        assert not leftover, "msaf.process left a shared feature cache in the cwd"
    else:
        raise SystemExit(f"unknown exercise {what}")


if __name__ == "__main__":
    skip, what = sys.argv[1], sys.argv[2]
    try:
        _apply_all_but(skip)
        _exercise(what, sys.argv[3] if len(sys.argv) > 3 else None)
    except BaseException as exc:  # report any failure to the parent test
        print(f"FAILED {type(exc).__name__}: {exc}")
        traceback.print_exc()
    else:
        print("OK")
