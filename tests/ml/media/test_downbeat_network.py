"""The compiled LSTM path against madmom's own RNNDownBeatProcessor, on generated songs."""

from __future__ import annotations

import numpy as np
import pytest

from ml.media.beats import _rnn_processor, decode_downbeats
from ml.media.downbeat_network import DownbeatNetwork, lstm_layer
from ml.synth.clip import ClipSpec, generate_clip

pytestmark = pytest.mark.slow

SR = 44100


@pytest.fixture(scope="module")
def madmom_processor():
    return _rnn_processor()


@pytest.fixture(scope="module", params=[3, 11])
def song(request) -> np.ndarray:
    """A generated song of about 20 s with drums, chords and sections, at 44.1 kHz."""
    return generate_clip(request.param, ClipSpec(min_duration_s=18, max_duration_s=22, sr=SR)).audio


def test_activations_and_beats_equal_madmoms(madmom_processor, song) -> None:
    ours = DownbeatNetwork(madmom_processor).activations(song)
    reference = np.asarray(madmom_processor(song), dtype=np.float32)
    assert ours.shape == reference.shape and ours.dtype == np.float32
    # float32 sums in another order, carried through the recurrence
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-3)
    found, expected = decode_downbeats(ours), decode_downbeats(reference)
    assert expected.n_beats > 20
    np.testing.assert_array_equal(found.beats_s, expected.beats_s)
    np.testing.assert_array_equal(found.beat_numbers, expected.beat_numbers)


def test_one_lstm_layer_equals_madmoms(madmom_processor) -> None:
    network = DownbeatNetwork(madmom_processor)._networks[5]
    layer = network.layers[0].bwd_layer
    data = np.random.default_rng(0).standard_normal((400, layer.input_gate.weights.shape[0]))
    data = data.astype(np.float32)
    ours = lstm_layer(layer, data)
    assert ours.shape == (400, layer.cell.bias.size) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, layer.activate(data), rtol=0, atol=2e-5)


def test_not_a_downbeat_processor_raises_value_error(madmom_processor) -> None:
    with pytest.raises(ValueError, match="RNNDownBeatProcessor"):
        DownbeatNetwork(object())
    with pytest.raises(ValueError, match="RNNDownBeatProcessor"):
        DownbeatNetwork(madmom_processor.processors[0])
