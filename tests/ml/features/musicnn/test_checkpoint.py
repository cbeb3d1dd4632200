"""The TensorFlow-free checkpoint reader, on the checkpoints shipped in the musicnn wheel."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from ml.features.musicnn.checkpoint import (
    CheckpointFormatError,
    CheckpointNotFoundError,
    list_variables,
    read_checkpoint,
    read_index,
)
from ml.features.musicnn.extractor import musicnn_checkpoint_prefix


def model_variables(shapes: dict) -> dict:
    """Leave out Adam's slot variables (``<var>/Adam``, ``<var>/Adam_1``)."""
    return {k: v for k, v in shapes.items() if not k.endswith(("/Adam", "/Adam_1"))}


def test_msd_musicnn_holds_66_variables_with_the_architecture_shapes(msd_prefix):
    shapes = model_variables(list_variables(msd_prefix))
    assert len(shapes) == 66
    expected = {
        "batch_normalization/moving_mean": (1,),
        "conv2d/kernel": (7, 38, 1, 204),  # timbral, 40 % of 96 bands
        "conv2d_1/kernel": (7, 67, 1, 204),  # timbral, 70 %
        "conv2d_2/kernel": (128, 1, 1, 51),  # temporal
        "conv2d_3/kernel": (64, 1, 1, 51),
        "conv2d_4/kernel": (32, 1, 1, 51),
        "conv2d_5/kernel": (7, 561, 1, 64),  # mid-end over 2 x 204 + 3 x 51 maps
        "conv2d_7/kernel": (7, 64, 1, 64),
        "batch_normalization_9/gamma": (1506,),  # max and mean of 753 maps
        "dense/kernel": (1506, 200),
        "batch_normalization_10/moving_variance": (200,),
        "dense_1/kernel": (200, 50),
        "beta1_power": (),
    }
    assert {k: shapes[k] for k in expected} == expected
    assert sum(k.endswith("/kernel") for k in shapes) == 10
    assert sum(k.endswith("/moving_variance") for k in shapes) == 11


def test_values_are_finite_and_plausible(msd_prefix):
    weights = read_checkpoint(msd_prefix)
    assert all(a.dtype == np.float32 and np.isfinite(a).all() for a in weights.values())
    assert all((weights[k] > 0).all() for k in weights if k.endswith("/moving_variance"))
    kernel = weights["conv2d/kernel"]
    assert 1e-4 < kernel.std() < 10 and kernel.flags.writeable
    # Two distinct tensors are not aliases of the same bytes.
    assert not np.array_equal(weights["conv2d_6/kernel"], weights["conv2d_7/kernel"])


def test_both_musicnn_models_share_one_structure_and_differ_in_values(msd_prefix):
    mtt = musicnn_checkpoint_prefix("MTT_musicnn")
    assert list_variables(mtt) == list_variables(msd_prefix)
    assert not np.array_equal(
        read_checkpoint(mtt)["dense_1/kernel"], read_checkpoint(msd_prefix)["dense_1/kernel"]
    )


def test_index_entries_tile_the_data_file(msd_prefix):
    entries = sorted(read_index(msd_prefix).values(), key=lambda e: e.offset)
    ends = [e.offset + e.size for e in entries]
    assert entries[0].offset == 0
    assert all(e.offset == end for e, end in zip(entries[1:], ends[:-1], strict=True))
    assert ends[-1] == Path(msd_prefix + ".data-00000-of-00001").stat().st_size


def copy_checkpoint(prefix: str, folder: Path) -> str:
    folder.mkdir()
    for suffix in (".index", ".data-00000-of-00001"):
        shutil.copyfile(prefix + suffix, folder / suffix)
    return str(folder) + "/"


def test_missing_files_raise_checkpoint_not_found(tmp_path, msd_prefix):
    with pytest.raises(CheckpointNotFoundError, match=r"\.index"):
        list_variables(tmp_path / "nothing")
    copy = copy_checkpoint(msd_prefix, tmp_path / "ckpt")
    Path(copy + ".data-00000-of-00001").unlink()
    with pytest.raises(CheckpointNotFoundError, match="data-00000-of-00001"):
        read_checkpoint(copy)
    assert issubclass(CheckpointNotFoundError, FileNotFoundError)


def test_a_file_that_is_not_a_table_raises_format_error(tmp_path, msd_prefix):
    copy = copy_checkpoint(msd_prefix, tmp_path / "ckpt")
    Path(copy + ".index").write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointFormatError, match="magic"):
        read_index(copy)
    Path(copy + ".index").write_bytes(b"short")
    with pytest.raises(CheckpointFormatError, match="footer"):
        read_index(copy)


def test_a_truncated_data_file_raises_format_error(tmp_path, msd_prefix):
    copy = copy_checkpoint(msd_prefix, tmp_path / "ckpt")
    data = Path(copy + ".data-00000-of-00001")
    data.write_bytes(data.read_bytes()[:1000])
    with pytest.raises(CheckpointFormatError, match="outside"):
        read_checkpoint(copy)


def test_a_corrupt_index_block_raises_format_error(tmp_path, msd_prefix):
    copy = copy_checkpoint(msd_prefix, tmp_path / "ckpt")
    index = Path(copy + ".index")
    table = bytearray(index.read_bytes())
    table[:64] = b"\xff" * 64  # varints that never end, inside the first data block
    index.write_bytes(bytes(table))
    with pytest.raises(CheckpointFormatError):
        read_index(copy)
