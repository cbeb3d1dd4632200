"""Full float32 on CUDA: the switch is turned only for CUDA devices."""

from __future__ import annotations

import pytest
import torch

from ml.precision import use_full_float32


@pytest.fixture
def tf32_allowed():
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def test_cpu_leaves_the_switches_alone(tf32_allowed):
    use_full_float32(torch.device("cpu"))
    assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32


@pytest.mark.parametrize("name", ["cuda", "cuda:1"])
def test_cuda_turns_tf32_off(tf32_allowed, name):
    use_full_float32(torch.device(name))
    assert not torch.backends.cudnn.allow_tf32
    assert not torch.backends.cuda.matmul.allow_tf32
