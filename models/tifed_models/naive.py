"""The same arithmetic as network.py with plain Python loops over samples,
units and weights, the way the original TIFeD code reads. It is an
independent check of the vectorized reference in the unit tests and the
baseline of the speed-up benchmark; never use it for real work."""
from __future__ import annotations


def _pla(s: int) -> tuple[int, int]:
    if s >= 128:
        return 128, 128
    if s >= 75:
        return s // 4 + 88, 8
    if s >= 32:
        return s + 32, 2
    if s >= -31:
        return 2 * s, 1
    if s >= -74:
        return s - 32, 2
    if s >= -127:
        return s // 4 - 88, 8
    return -127, 128


def _sat(v: int, bits: int = 32) -> int:
    return min(max(v, -(1 << (bits - 1))), (1 << (bits - 1)) - 1)


def forward(weights, biases, x):
    """weights[l][i][j], biases[l][j], x: list of ints -> (acts, slopes) per layer."""
    acts, slopes = [], []
    a = list(x)
    for w, b in zip(weights, biases):
        n_in, n_out = len(w), len(b)
        nxt, g = [], []
        for j in range(n_out):
            z = b[j]
            for i in range(n_in):
                z += a[i] * w[i][j]
            aj, gj = _pla(z // (256 * n_in))
            nxt.append(aj)
            g.append(gj)
        acts.append(nxt)
        slopes.append(g)
        a = nxt
    return acts, slopes


def train(weights, biases, feedback, xs, ts, lr_inv, batch, epochs, layer=-1, weight_bits=32):
    """Lists in, new lists out; mirrors network.train."""
    w = [[list(row) for row in wl] for wl in weights]
    b = [list(bl) for bl in biases]
    last = len(w) - 1
    for _ in range(epochs):
        for start in range(0, len(xs) - batch + 1, batch):
            rows = []
            for n in range(start, start + batch):
                acts, slopes = forward(w, b, xs[n])
                e = [acts[-1][k] - ts[n][k] for k in range(len(ts[n]))]
                rows.append((xs[n], acts, slopes, e))
            for l in range(len(w)):
                if layer not in (-1, l):
                    continue
                n_in, n_out = len(w[l]), len(b[l])
                dsum = [[0] * n_out for _ in range(n_in)]
                bsum = [0] * n_out
                for x, acts, slopes, e in rows:
                    a_prev = x if l == 0 else acts[l - 1]
                    for j in range(n_out):
                        if l == last:
                            err = e[j]
                        else:
                            err = sum(e[k] * feedback[l][k][j] for k in range(len(e)))
                        d = err // slopes[l][j]
                        bsum[j] += d
                        for i in range(n_in):
                            dsum[i][j] += a_prev[i] * d
                for i in range(n_in):
                    for j in range(n_out):
                        w[l][i][j] = _sat(w[l][i][j] - dsum[i][j] // lr_inv, weight_bits)
                for j in range(n_out):
                    b[l][j] = _sat(b[l][j] - bsum[j] // lr_inv, weight_bits)
    return w, b


def predict(weights, biases, xs):
    out = []
    for x in xs:
        a = forward(weights, biases, x)[0][-1]
        out.append(a.index(max(a)))
    return out
