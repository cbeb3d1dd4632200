"""madmom's downbeat network ensemble, its LSTM layers run in a compiled loop.

madmom's ``RNNDownBeatProcessor`` (Böck et al., ISMIR 2016) spends most of a track's
analysis stepping its LSTM layers through the frames in Python, a dozen small NumPy
calls per gate and frame: eight networks of three bidirectional layers are 48 passes
of 18,000 steps for a 3-minute track, about 25 s of CPU. :class:`DownbeatNetwork`
runs the same processor with the same weights, all loaded from madmom:

* the input (framing, STFT, filterbanks, logarithm, spectral differences), the
  feed-forward output layer and the ensemble average: madmom's own processors;
* the LSTM layers (:func:`lstm_layer`): madmom's equations (peephole LSTM, gates in
  the order input, forget, cell, output), in float32 like madmom's. The input weights
  of all frames are one matrix product; only the recurrence steps through the
  frames, in a compiled (Numba) loop. Its sums run in another order than NumPy's,
  so the activations differ from madmom's by float32 rounding carried through the
  recurrence (a few 1e-4 at most on generated music); the decoded beats and
  downbeats are the same (``tests/ml/test_downbeat_network.py``).

For 3 minutes of audio: about 4 s of CPU instead of about 30 s
(``python -m bench ingest``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

__all__ = ["DownbeatNetwork", "lstm_layer"]


class DownbeatNetwork:
    """The joint beat / downbeat activations of madmom's ``RNNDownBeatProcessor``.

    Parameters
    ----------
    processor : madmom.features.downbeats.RNNDownBeatProcessor
        A loaded processor: its input chain and its networks are used as they are.

    Raises
    ------
    ValueError
        The processor is not laid out as madmom 0.16's (input chain, an ensemble of
        networks, the non-beat column removed).
    """

    def __init__(self, processor: Any) -> None:
        from madmom.ml.nn import NeuralNetworkEnsemble

        try:
            self._input, ensemble, self._drop_non_beat = processor.processors
            networks, self._average = ensemble.processors
        except (AttributeError, TypeError, ValueError) as exc:
            raise ValueError(f"not a madmom RNNDownBeatProcessor: {processor!r}") from exc
        if not isinstance(ensemble, NeuralNetworkEnsemble):
            raise ValueError(f"not a madmom RNNDownBeatProcessor: {processor!r}")
        self._networks = list(networks.processors)

    def features(self, y: np.ndarray) -> np.ndarray:
        """The networks' input: ``(n_frames, 314)`` float32 at 100 frames per second
        (madmom's three log-filtered spectrograms and their positive differences) of a
        mono float signal at 44.1 kHz."""
        return np.asarray(self._input(y), dtype=np.float32)

    def activations(self, y: np.ndarray) -> np.ndarray:
        """``(n_frames, 2)`` float32 at 100 frames per second: the probability of a beat
        that is not a downbeat, and of a downbeat (madmom's output)."""
        data = self.features(y)
        predictions = [_run_network(network, data) for network in self._networks]
        return np.asarray(self._drop_non_beat(self._average(predictions)), dtype=np.float32)


def _run_network(network: Any, data: np.ndarray) -> np.ndarray:
    from madmom.ml.nn.layers import BidirectionalLayer, LSTMLayer

    for layer in network.layers:
        if isinstance(layer, BidirectionalLayer):
            if not isinstance(layer.fwd_layer, LSTMLayer):
                raise ValueError(f"unexpected recurrent layer {layer.fwd_layer!r}")
            forward = lstm_layer(layer.fwd_layer, data)
            backward = lstm_layer(layer.bwd_layer, data[::-1])
            data = np.hstack((forward, backward[::-1]))
        else:
            data = layer.activate(data)  # madmom's feed-forward layer
    return data


def lstm_layer(layer: Any, data: np.ndarray) -> np.ndarray:
    """madmom's ``LSTMLayer.activate(data)`` (from its initial state).

    Parameters
    ----------
    layer : madmom.ml.nn.layers.LSTMLayer
        Gates with ``(n_inputs, H)`` weights, ``(H,)`` biases, ``(H, H)`` recurrent
        weights and ``(H,)`` peepholes (input, forget and output gates); sigmoid gates,
        tanh cell and output.
    data : np.ndarray, shape (n_frames, n_inputs)

    Returns
    -------
    np.ndarray, shape (n_frames, H), float32
    """
    from madmom.ml.nn.activations import sigmoid, tanh

    gates = (layer.input_gate, layer.forget_gate, layer.cell, layer.output_gate)
    expected = (sigmoid, sigmoid, tanh, sigmoid)
    if (
        any(g.activation_fn is not f for g, f in zip(gates, expected))
        or layer.activation_fn is not tanh
    ):
        raise ValueError("only madmom's standard LSTM (sigmoid gates, tanh cell) is supported")
    if layer.cell.peephole_weights is not None:
        raise ValueError("madmom's LSTM cell has no peephole connections")
    weights = np.concatenate([g.weights for g in gates], axis=1).astype(np.float32)
    bias = np.concatenate([np.broadcast_to(g.bias, g.weights.shape[1]) for g in gates])
    inputs = np.dot(np.asarray(data, dtype=np.float32), weights) + bias.astype(np.float32)
    hidden = gates[0].weights.shape[1]
    recurrent = np.stack([g.recurrent_weights for g in gates]).astype(np.float32)
    zeros = np.zeros(hidden, np.float32)
    peepholes = np.stack(
        [zeros if g.peephole_weights is None else g.peephole_weights for g in gates]
    ).astype(np.float32)
    return _lstm_recurrence(
        np.ascontiguousarray(inputs.reshape(len(inputs), 4, hidden)),
        recurrent,
        peepholes,
        np.asarray(layer.init, dtype=np.float32),
        np.asarray(layer.cell_init, dtype=np.float32),
    )


@njit(cache=True)
def _sigmoid(x: np.float32) -> np.float32:
    return np.float32(1.0) / (np.float32(1.0) + np.exp(-x))


@njit(cache=True)
def _lstm_recurrence(inputs, recurrent, peepholes, init, cell_init):
    """The recurrence of a peephole LSTM, madmom's equations and order of operations.

    ``inputs`` ``(T, 4, H)``: ``x_t W_g + b_g`` per gate (input, forget, cell, output);
    ``recurrent`` ``(4, H, H)`` ``[gate, from, to]``; ``peepholes`` ``(4, H)`` (the
    cell's row unused); ``init``, ``cell_init`` ``(H,)``. Returns ``(T, H)`` float32.
    """
    n_frames, _, hidden = inputs.shape
    out = np.empty((n_frames, hidden), np.float32)
    prev = init.copy()
    state = cell_init.copy()
    acc = np.empty((4, hidden), np.float32)
    for t in range(n_frames):
        for g in range(4):
            for j in range(hidden):
                acc[g, j] = 0.0
            for k in range(hidden):
                p = prev[k]
                for j in range(hidden):
                    acc[g, j] += p * recurrent[g, k, j]
        for j in range(hidden):
            gate_in = _sigmoid(inputs[t, 0, j] + state[j] * peepholes[0, j] + acc[0, j])
            gate_forget = _sigmoid(inputs[t, 1, j] + state[j] * peepholes[1, j] + acc[1, j])
            cell = np.tanh(inputs[t, 2, j] + acc[2, j])
            state[j] = cell * gate_in + state[j] * gate_forget
            gate_out = _sigmoid(inputs[t, 3, j] + state[j] * peepholes[3, j] + acc[3, j])
            out[t, j] = np.tanh(state[j]) * gate_out
        for j in range(hidden):
            prev[j] = out[t, j]
    return out
