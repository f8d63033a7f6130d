"""An independent numpy simulator of NIR graphs (node by node, float64), the reference of the NIR tests.

It knows nothing of spikejet: it reads the NIR nodes and edges and applies NIR's equations under the
forward-Euler convention the graphs state (``dt`` metadata). Shared by tests/test_nir_deepsets.py and
tests/test_nir_cnn.py.
"""

from __future__ import annotations

import nir
import numpy as np


def _conv2d(node, x: np.ndarray) -> np.ndarray:
    """``nir.Conv2d`` on ``x [B, Cin, H, W]``: cross-correlation tap by tap, zero padding, any stride."""
    w = np.asarray(node.weight, np.float64)
    co, ci, kh, kw = w.shape
    sy, sx = (int(v) for v in np.broadcast_to(np.asarray(node.stride), (2,)))
    py, px = (int(v) for v in np.broadcast_to(np.asarray(node.padding), (2,)))
    assert np.all(np.asarray(node.dilation) == 1) and int(node.groups) == 1
    B, _, H, W = x.shape
    xp = np.zeros((B, ci, H + 2 * py, W + 2 * px))
    xp[:, :, py:py + H, px:px + W] = x
    Ho, Wo = (H + 2 * py - kh) // sy + 1, (W + 2 * px - kw) // sx + 1
    y = np.zeros((B, co, Ho, Wo))
    for dy in range(kh):
        for dx in range(kw):
            patch = xp[:, :, dy:dy + sy * (Ho - 1) + 1:sy, dx:dx + sx * (Wo - 1) + 1:sx]  # [B, ci, Ho, Wo]
            y += np.einsum("oi,bihw->bohw", w[:, :, dy, dx], patch)
    return y + np.asarray(node.bias, np.float64).reshape(1, co, 1, 1)


def _pool2d(node, x: np.ndarray, mean: bool) -> np.ndarray:
    """``nir.SumPool2d`` / ``nir.AvgPool2d`` on ``x [B, C, H, W]`` (windows = stride, no padding)."""
    k = tuple(int(v) for v in np.broadcast_to(np.asarray(node.kernel_size), (2,)))
    s = tuple(int(v) for v in np.broadcast_to(np.asarray(node.stride), (2,)))
    assert k == s and np.all(np.asarray(node.padding) == 0), "the reference pools non-overlapping windows"
    B, C, H, W = x.shape
    y = x[:, :, :H - H % k[0], :W - W % k[1]].reshape(B, C, H // k[0], k[0], W // k[1], k[1]).sum((3, 5))
    return y / (k[0] * k[1]) if mean else y


def _order(graph) -> tuple[list[str], set[tuple[str, str]]]:
    """(the nodes in topological order, the edges that close a cycle), by a depth-first search from the Inputs."""
    succ: dict[str, list[str]] = {}
    for a, b in graph.edges:
        succ.setdefault(a, []).append(b)
    state: dict[str, int] = {}
    back: set[tuple[str, str]] = set()
    post: list[str] = []

    def dfs(k: str) -> None:
        state[k] = 1
        for nb in succ.get(k, []):
            if state.get(nb) == 1:
                back.add((k, nb))
            elif nb not in state:
                dfs(nb)
        state[k] = 2
        post.append(k)

    for k in [k for k, n in graph.nodes.items() if isinstance(n, nir.Input)]:
        dfs(k)
    assert set(post) == set(graph.nodes), "every node is reachable from an Input"
    return post[::-1], back


def simulate_nir(graph, inputs: dict[str, np.ndarray], T: int) -> np.ndarray:
    """The ``Output`` node's value at each of ``T`` steps, ``[T, batch, ...]``, in float64 from the NIR
    nodes alone: one step evaluates the nodes in topological order, an edge that closes a cycle (found by
    a depth-first search from the Input nodes) delivers its source's value of the previous step (nothing
    at the first step); a node's input is the sum of its incoming edges; forward Euler with the graph's
    ``dt``; every state starts at 0."""
    dt = float(graph.metadata["dt"])
    preds: dict[str, list[str]] = {}
    for a, b in graph.edges:
        preds.setdefault(b, []).append(a)
    order, back = _order(graph)
    outputs = [k for k, n in graph.nodes.items() if isinstance(n, nir.Output)]
    assert len(outputs) == 1
    nb = next(iter(inputs.values())).shape[0]
    values: dict[str, np.ndarray] = {}
    membrane: dict[str, np.ndarray] = {}
    trace = []
    for _ in range(T):
        prev, values = values, {}
        for k in order:
            node = graph.nodes[k]
            if isinstance(node, nir.Input):
                values[k] = np.asarray(inputs[k], dtype=np.float64)
                continue
            terms = [prev[a] for a in preds[k] if (a, k) in back and a in prev]
            terms += [values[a] for a in preds[k] if (a, k) not in back]
            x = sum(terms[1:], terms[0])
            if isinstance(node, nir.Affine):
                w = np.asarray(node.weight, np.float64)
                y = np.matmul(w, x[..., None])[..., 0] + np.asarray(node.bias, np.float64)
            elif isinstance(node, nir.Scale):
                y = x * np.asarray(node.scale, np.float64)
            elif isinstance(node, nir.Conv2d):
                y = _conv2d(node, x)
            elif isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
                y = _pool2d(node, x, isinstance(node, nir.AvgPool2d))
            elif isinstance(node, nir.Flatten):
                dims = list(x.shape[1:])
                s, e = int(node.start_dim), int(node.end_dim) % len(dims)
                y = x.reshape(nb, *dims[:s], int(np.prod(dims[s:e + 1])), *dims[e + 1:])
            elif isinstance(node, nir.I):
                membrane[k] = membrane.get(k, 0.0) + dt * np.asarray(node.r, np.float64) * x
                y = membrane[k]
            elif isinstance(node, nir.Threshold):
                y = (x > np.asarray(node.threshold, np.float64)).astype(np.float64)
            elif isinstance(node, nir.IF):
                v = membrane.get(k, 0.0) + dt * np.asarray(node.r, np.float64) * x
                s = v > np.asarray(node.v_threshold, np.float64)
                membrane[k] = np.where(s, np.asarray(node.v_reset, np.float64), v)
                y = s.astype(np.float64)
            elif isinstance(node, nir.Output):
                y = x
            else:
                raise AssertionError(f"the reference simulator has no {type(node).__name__} node")
            values[k] = y
        trace.append(values[outputs[0]])
    return np.stack(trace)
