"""Weight files that a deployment provides on disk: where they are, and whether
they hold what a model expects.

Nothing here downloads anything. Each pretrained extractor reads the path of its
weights from an environment variable (``V2M_VGGISH_WEIGHTS``...) through
:func:`configured_path`, loads the file with :func:`load_state_dict` (PyTorch's
``weights_only`` loader: a weight file cannot run code), and checks it against
the architecture with :func:`load_into`. Every failure is a
:class:`PretrainedWeightsError` whose message names the variable, the file and
the expected format, and whose ``reason`` says which step failed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # torch is imported only when weights are actually loaded
    import torch

__all__ = [
    "PretrainedWeightsError",
    "configured_path",
    "file_digest",
    "load_into",
    "load_state_dict",
]

#: Key prefixes added by training wrappers (``nn.DataParallel``, Lightning) and stripped on load.
_WRAPPER_PREFIXES = ("module.", "model.")


class PretrainedWeightsError(RuntimeError):
    """Pretrained weights are not configured, missing, unreadable or of the wrong format.

    A deployment problem rather than bad input, hence not a ``ValueError``.

    Attributes
    ----------
    reason : str
        ``"not_configured"`` (the variable is unset or empty), ``"missing"`` (no
        such file), ``"unreadable"`` (not a PyTorch weight file) or
        ``"wrong_format"`` (keys or shapes do not match the architecture).
    variable : str
        The environment variable that names the file.
    path : str or None
        The file, when one was configured.
    """

    def __init__(self, message: str, *, reason: str, variable: str, path: str | None = None):
        super().__init__(message)
        self.reason = reason
        self.variable = variable
        self.path = path


def configured_path(variable: str, expected: str, *, required: bool = True) -> Path | None:
    """The existing file named by the environment variable ``variable``.

    Parameters
    ----------
    variable : str
        E.g. ``"V2M_VGGISH_WEIGHTS"``.
    expected : str
        A description of the expected file, quoted in error messages.
    required : bool
        When false, an unset or empty variable gives ``None`` instead of an error
        (optional files such as VGGish's PCA parameters).

    Raises
    ------
    PretrainedWeightsError
        The variable is unset or empty (``reason="not_configured"``, only when
        ``required``) or names no existing file (``reason="missing"``).
    """
    value = os.environ.get(variable, "").strip()
    if not value:
        if not required:
            return None
        raise PretrainedWeightsError(
            f"{variable} is not set: point it to {expected} (weights are never downloaded)",
            reason="not_configured", variable=variable,
        )  # fmt: skip
    path = Path(value).expanduser()
    if not path.is_file():
        raise PretrainedWeightsError(
            f"{variable}={value} names no file: expected {expected}",
            reason="missing", variable=variable, path=value,
        )  # fmt: skip
    return path


def load_state_dict(path: Path, variable: str, expected: str) -> dict[str, torch.Tensor]:
    """Read a PyTorch state_dict (``torch.save`` of a mapping name -> tensor).

    NumPy arrays in place of tensors are accepted (some published parameter
    files, such as VGGish's PCA, hold them): their reconstruction functions are
    allowed through the ``weights_only`` loader, which still refuses any code.

    A checkpoint that wraps it under ``"state_dict"`` or ``"model"``, and keys
    prefixed by ``module.`` or ``model.``, are accepted too.

    Raises
    ------
    PretrainedWeightsError
        ``reason="unreadable"``: the file is not a PyTorch weight file, or does
        not hold a mapping of tensors.
    """
    import torch

    try:
        with torch.serialization.safe_globals(_numpy_array_globals()):
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle, zip and torch errors alike: the file is unusable
        raise PretrainedWeightsError(
            f"{variable}={path} is not a readable PyTorch weight file ({err.__class__.__name__}: "
            f"{err}); expected {expected}",
            reason="unreadable", variable=variable, path=str(path),
        ) from err  # fmt: skip
    if isinstance(loaded, Mapping):
        loaded = {
            k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in loaded.items()
        }
        for wrapper in ("state_dict", "model"):
            if isinstance(loaded.get(wrapper), Mapping):
                loaded = loaded[wrapper]
                break
    if not isinstance(loaded, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in loaded.items()
    ):
        raise PretrainedWeightsError(
            f"{variable}={path} does not hold a state_dict (a mapping of names to tensors); "
            f"expected {expected}",
            reason="unreadable", variable=variable, path=str(path),
        )  # fmt: skip
    return {_strip_wrapper_prefix(k): v for k, v in loaded.items()}


def load_into(
    module: torch.nn.Module,
    state: Mapping[str, torch.Tensor],
    variable: str,
    path: Path,
    expected: str,
    *,
    ignore: Iterable[str] = (),
) -> torch.nn.Module:
    """Load ``state`` into ``module`` after checking every key and shape; eval mode.

    ``module`` may be built on the ``"meta"`` device (``with torch.device("meta"):``):
    its parameters are replaced by the file's tensors, cast to the module's dtypes.

    Unlike ``module.load_state_dict(strict=True)``, which stops at the first
    mismatch with a long traceback, this lists what is missing, unexpected and
    mis-shaped in one message.

    Parameters
    ----------
    ignore : iterable of str
        Key prefixes of ``module`` that the file may lack and of the file that
        the module does not use (a classifier head, say).

    Raises
    ------
    PretrainedWeightsError
        ``reason="wrong_format"``: keys or shapes differ from the architecture's.
    """
    ignore = tuple(ignore)
    wanted = {k: v for k, v in module.state_dict().items() if not k.startswith(ignore)}
    given = {k: v for k, v in state.items() if not k.startswith(ignore)}
    missing = sorted(set(wanted) - set(given))
    unexpected = sorted(set(given) - set(wanted))
    misshaped = sorted(
        f"{k} {tuple(given[k].shape)} instead of {tuple(wanted[k].shape)}"
        for k in set(wanted) & set(given)
        if given[k].shape != wanted[k].shape
    )
    if missing or unexpected or misshaped:
        problems = [
            f"{label}: {_few(items)}"
            for label, items in (("missing keys", missing), ("unexpected keys", unexpected),
                                 ("wrong shapes", misshaped)) if items
        ]  # fmt: skip
        raise PretrainedWeightsError(
            f"{variable}={path} does not match the architecture ({'; '.join(problems)}); "
            f"expected {expected}",
            reason="wrong_format", variable=variable, path=str(path),
        )  # fmt: skip
    # Assigning (rather than copying into) the parameters lets callers build the
    # module on the "meta" device and skip a useless random initialisation; the
    # cast keeps a float16 file from turning the network into float16.
    given = {k: v.to(wanted[k].dtype) for k, v in given.items()}
    module.load_state_dict(given, strict=False, assign=True)
    return module.eval()


def file_digest(path: Path, n_hex: int = 12) -> str:
    """A short SHA-256 of a file's bytes: different weights give different features,
    so an extractor's version carries this digest."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:n_hex]


def _numpy_array_globals() -> list:
    """What unpickling a NumPy array needs, under the names NumPy 1 and 2 save."""
    reconstruct = np._core.multiarray._reconstruct
    dtypes = [type(np.dtype(code)) for code in "efdbBhHiIlLq?"]
    return [
        (reconstruct, "numpy.core.multiarray._reconstruct"),
        (reconstruct, "numpy._core.multiarray._reconstruct"),
        np.ndarray, np.dtype, *dtypes,
    ]  # fmt: skip


def _strip_wrapper_prefix(key: str) -> str:
    for prefix in _WRAPPER_PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


def _few(items: list[Any], limit: int = 5) -> str:
    shown = ", ".join(map(str, items[:limit]))
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")
