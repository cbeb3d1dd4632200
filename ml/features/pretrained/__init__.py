"""Pretrained frame-feature extractors whose weights the deployment provides.

The project never downloads weights. These extractors run widely used networks
whose weight files an operator obtains under their licence terms and puts on
disk, pointing environment variables at them:

=========  ========  ====================================  =================================
name       modality  variables                             weights
=========  ========  ====================================  =================================
vggish     audio     ``V2M_VGGISH_WEIGHTS``,               torchvggish's ``vggish-10086976.pth``
                     ``V2M_VGGISH_PCA`` (optional)         and ``vggish_pca_params-970ea276.pth``
imagenet   video     ``V2M_IMAGENET_WEIGHTS``,             a torchvision ResNet-18/50 ImageNet
                     ``V2M_IMAGENET_ARCH`` (resnet50)      state_dict, saved with ``torch.save``
=========  ========  ====================================  =================================

Both produce 1 Hz frame features like every extractor of
:mod:`ml.features.registry` (details in :mod:`~ml.features.pretrained.vggish`
and :mod:`~ml.features.pretrained.image`); the architectures are written here
in PyTorch (:mod:`~ml.features.pretrained.vggish_net`,
:mod:`~ml.features.pretrained.resnet`), so neither TensorFlow nor torchvision
is needed.

Registry behaviour. ``available_extractors()`` lists ``audio/vggish`` and
``video/imagenet`` whether or not they are configured: the names are part of
the project, and a model trained with one of them must resolve it by name.
Getting an unconfigured one, ``get_extractor("vggish", "audio")``, raises
:class:`PretrainedWeightsError` naming the variable and the expected format;
so does a missing file, a file that is not a PyTorch state_dict, or one whose
keys or shapes do not match. :func:`pretrained_status` says which are usable
without loading them. Each extractor's ``version`` carries a digest of its
weight file, since two files give incomparable features.

Upgrade path, and why it matters. With the same clip-level model, replacing the
handcrafted audio features by pretrained embeddings moved the published
video-to-music mean rank (1,000 test clips, lower is better) from **209**
(handcrafted) to **148** (MusiCNN, shipped with the project as ``musicnn``)
and **116** (AudioSet VGGish-like embeddings, ``vggish`` here); the segment-level
results were obtained with AudioSet audio and ImageNet video features. A
deployment that can license VGGish and ImageNet weights therefore moves from
the handcrafted baseline towards the published setting by setting
``V2M_VGGISH_WEIGHTS`` (+ ``V2M_VGGISH_PCA``) and ``V2M_IMAGENET_WEIGHTS``, then
training a model with ``vggish`` / ``imagenet`` as its extractors.

Not done yet: CLIP's ViT-B/32 image tower (OpenAI's ``visual.*`` state_dict
layout, ``V2M_CLIP_WEIGHTS``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ml.features.pretrained import image, vggish
from ml.features.pretrained.image import ImageNetVideo
from ml.features.pretrained.vggish import VGGishAudio
from ml.features.pretrained.weights import PretrainedWeightsError, configured_path

__all__ = [
    "ImageNetVideo",
    "PretrainedStatus",
    "PretrainedWeightsError",
    "VGGishAudio",
    "pretrained_status",
]


@dataclass(frozen=True)
class PretrainedStatus:
    """Whether a pretrained extractor's weight file is configured and present.

    ``configured`` does not guarantee the file's content is right; only
    loading checks that (``get_extractor`` raises then).
    """

    name: str
    modality: str
    variable: str
    configured: bool
    problem: str | None


def pretrained_status() -> list[PretrainedStatus]:
    """The configuration state of each pretrained extractor, without loading weights."""
    statuses = []
    for extractor, variable, expected in (
        (VGGishAudio, vggish.WEIGHTS_VARIABLE, vggish.WEIGHTS_FORMAT),
        (ImageNetVideo, image.WEIGHTS_VARIABLE, image.weights_format("resnet18 or resnet50")),
    ):
        try:
            configured_path(variable, expected)
            problem = None
        except PretrainedWeightsError as err:
            problem = str(err)
        statuses.append(PretrainedStatus(extractor.name, extractor.modality, variable,
                                         problem is None, problem))  # fmt: skip
    return statuses
