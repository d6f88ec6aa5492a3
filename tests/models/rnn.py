# rnn.py — RNN, GRU and LSTM cases the ONNX node tests do not cover: reverse and
# bidirectional directions, both layouts, sequence_lens, initial states, every output,
# activations with alpha/beta, clip, input_forget, linear_before_reset, double and float16.
# Cases with constant weights (initializers, as exported models have them) run the products on
# the GEMM engine; their sizes cross its tile and panel edges.
import numpy as np
from onnx import helper

from casegen import save

rng = np.random.default_rng(7)

ACTS = {
    "relu": lambda x, a, b: np.maximum(x, 0),
    "tanh": lambda x, a, b: np.tanh(x),
    "sigmoid": lambda x, a, b: 1 / (1 + np.exp(-x)),
    "affine": lambda x, a, b: a * x + b,
    "leakyrelu": lambda x, a, b: np.where(x < 0, a * x, x),
    "thresholdedrelu": lambda x, a, b: np.where(x > a, x, 0),
    "scaledtanh": lambda x, a, b: a * np.tanh(b * x),
    "hardsigmoid": lambda x, a, b: np.clip(a * x + b, 0, 1),
    "elu": lambda x, a, b: np.where(x < 0, a * (np.exp(x) - 1), x),
    "softsign": lambda x, a, b: x / (1 + np.abs(x)),
    "softplus": lambda x, a, b: np.log(1 + np.exp(x)),
}
USES = {"affine": (1, 1), "leakyrelu": (1, 0), "thresholdedrelu": (1, 0), "scaledtanh": (1, 1),
        "hardsigmoid": (1, 1), "elu": (1, 0)}
DEFAULTS = {"affine": (1.0, 0.0), "leakyrelu": (0.01, 0), "thresholdedrelu": (1.0, 0),
            "scaledtanh": (1.0, 1.0), "hardsigmoid": (0.2, 0.5), "elu": (1.0, 0)}


def activations(names, alphas, betas):
    """Functions with alpha/beta consumed in order by the activations that take them."""
    ia = ib = 0
    fns = []
    for name in names:
        key = name.lower()
        a, b = DEFAULTS.get(key, (0, 0))
        ua, ub = USES.get(key, (0, 0))
        if ua and ia < len(alphas):
            a, ia = alphas[ia], ia + 1
        if ub and ib < len(betas):
            b, ib = betas[ib], ib + 1
        fns.append(lambda x, f=ACTS[key], a=a, b=b: f(x, a, b))
    return fns


def reference(kind, X, W, R, B, lens, h0, c0, P, direction, layout, acts, clip, input_forget, lbr):
    G = {"RNN": 1, "GRU": 3, "LSTM": 4}[kind]
    if layout:
        X = X.swapaxes(0, 1)
        h0 = None if h0 is None else h0.swapaxes(0, 1)
        c0 = None if c0 is None else c0.swapaxes(0, 1)
    T, N, _ = X.shape
    D = W.shape[0]
    H = R.shape[2]
    nact = {1: 1, 3: 2, 4: 3}[G]
    Y = np.zeros((T, D, N, H))
    Yh = np.zeros((D, N, H))
    Yc = np.zeros((D, N, H))
    cl = (lambda x: np.clip(x, -clip, clip)) if clip else (lambda x: x)
    for d in range(D):
        f = acts[d * nact:(d + 1) * nact]
        back = direction == "reverse" or d == 1
        Wb, Rb = (B[d, :G * H], B[d, G * H:]) if B is not None else (np.zeros(G * H), np.zeros(G * H))
        for n in range(N):
            L = T if lens is None else int(lens[n])
            h = np.zeros(H) if h0 is None else h0[d, n].astype(np.float64)
            c = np.zeros(H) if c0 is None else c0[d, n].astype(np.float64)
            for s in range(L):
                t = L - 1 - s if back else s
                x = X[t, n].astype(np.float64)
                gx = W[d] @ x + Wb
                gh = R[d] @ h + Rb
                if G == 1:
                    h = f[0](cl(gx + gh))
                elif G == 3:
                    z = f[0](cl(gx[:H] + gh[:H]))
                    r = f[0](cl(gx[H:2 * H] + gh[H:2 * H]))
                    if lbr:
                        hh = f[1](cl(gx[2 * H:] + r * gh[2 * H:]))
                    else:
                        hh = f[1](cl(gx[2 * H:] + R[d, 2 * H:] @ (r * h) + Rb[2 * H:]))
                    h = (1 - z) * hh + z * h
                else:
                    p = np.zeros(3 * H) if P is None else P[d]
                    i = f[0](cl(gx[:H] + gh[:H] + p[:H] * c))
                    fg = 1 - i if input_forget else f[0](cl(gx[2 * H:3 * H] + gh[2 * H:3 * H] + p[2 * H:] * c))
                    c = fg * c + i * f[1](cl(gx[3 * H:] + gh[3 * H:]))
                    o = f[0](cl(gx[H:2 * H] + gh[H:2 * H] + p[H:2 * H] * c))
                    h = o * f[2](c)
                Y[t, d, n] = h
            Yh[d, n] = h
            Yc[d, n] = c
    if layout:
        Y = Y.transpose(2, 0, 1, 3)
        Yh = Yh.swapaxes(0, 1)
        Yc = Yc.swapaxes(0, 1)
    return Y, Yh, Yc


def case(name, kind, T=4, N=3, I=5, H=4, direction="forward", layout=0, lens=None, initial=False,
         bias=True, peep=False, act_names=None, alphas=(), betas=(), clip=None, input_forget=0, lbr=0,
         dtype=np.float32, outputs=("Y", "Y_h", "Y_c"), opset=14, const=False):
    G = {"RNN": 1, "GRU": 3, "LSTM": 4}[kind]
    D = 2 if direction == "bidirectional" else 1
    X = rng.uniform(-1, 1, (N, T, I) if layout else (T, N, I)).astype(dtype)
    W = rng.uniform(-0.6, 0.6, (D, G * H, I)).astype(dtype)
    R = rng.uniform(-0.6, 0.6, (D, G * H, H)).astype(dtype)
    B = rng.uniform(-0.5, 0.5, (D, 2 * G * H)).astype(dtype) if bias else None
    st = (N, D, H) if layout else (D, N, H)
    h0 = rng.uniform(-1, 1, st).astype(dtype) if initial else None
    c0 = rng.uniform(-1, 1, st).astype(dtype) if initial and kind == "LSTM" else None
    P = rng.uniform(-0.5, 0.5, (D, 3 * H)).astype(dtype) if peep else None
    seq = np.array(lens, dtype=np.int32) if lens is not None else None
    defaults = {"RNN": ["Tanh"], "GRU": ["Sigmoid", "Tanh"], "LSTM": ["Sigmoid", "Tanh", "Tanh"]}[kind]
    names = act_names or defaults * D
    acts = activations(names, list(alphas), list(betas))
    f = lambda v: None if v is None else v.astype(np.float64)
    Y, Yh, Yc = reference(kind, f(X), f(W), f(R), f(B), seq, h0, c0, f(P), direction, layout, acts,
                          clip, input_forget, lbr)
    ins = [("X", X), ("W", W), ("R", R), ("B", B), ("sequence_lens", seq), ("initial_h", h0),
           ("initial_c", c0), ("P", P)][:{1: 6, 3: 6, 4: 8}[G]]
    while ins[-1][1] is None:
        ins.pop()
    attrs = {"hidden_size": H, "direction": direction}
    if layout:
        attrs["layout"] = layout
    if act_names:
        attrs["activations"] = act_names
    if alphas:
        attrs["activation_alpha"] = list(alphas)
    if betas:
        attrs["activation_beta"] = list(betas)
    if clip:
        attrs["clip"] = clip
    if input_forget:
        attrs["input_forget"] = input_forget
    if lbr:
        attrs["linear_before_reset"] = lbr
    all_outs = {"Y": Y, "Y_h": Yh, "Y_c": Yc}
    out_names = [o for o in ("Y", "Y_h", "Y_c")[:3 if kind == "LSTM" else 2]]
    node = helper.make_node(kind, [n if v is not None else "" for n, v in ins],
                            [o if o in outputs else "" for o in out_names], **attrs)
    weights = ("W", "R", "B") if const else ()
    save(name, [node], [(n, v) for n, v in ins if v is not None and n not in weights],
         [(o, all_outs[o].astype(dtype)) for o in out_names if o in outputs], opset,
         initializers=[(n, v) for n, v in ins if v is not None and n in weights])


def main():
    for kind in ("RNN", "GRU", "LSTM"):
        k = kind.lower()
        case(f"{k}_reverse", kind, direction="reverse", initial=True)
        case(f"{k}_bidirectional", kind, direction="bidirectional", initial=True, peep=kind == "LSTM")
        case(f"{k}_bidirectional_layout1", kind, direction="bidirectional", layout=1, initial=True)
        case(f"{k}_seq_lens", kind, direction="bidirectional", lens=[4, 2, 3], initial=True)
        case(f"{k}_seq_lens_layout1", kind, direction="reverse", layout=1, lens=[1, 4, 3])
        case(f"{k}_clip", kind, clip=0.3, bias=True)
        case(f"{k}_double", kind, dtype=np.float64, direction="bidirectional", initial=True)
        case(f"{k}_float16", kind, dtype=np.float16, initial=True)
        case(f"{k}_no_bias_y_only", kind, bias=False, outputs=("Y",))

    case("rnn_activations", "RNN", direction="bidirectional", act_names=["Relu", "ScaledTanh"], alphas=[0.7], betas=[1.3])
    case("rnn_affine_hardsigmoid", "RNN", direction="bidirectional", act_names=["Affine", "HardSigmoid"],
         alphas=[0.5, 0.3], betas=[0.1, 0.4])
    case("gru_activations", "GRU", direction="bidirectional",
         act_names=["HardSigmoid", "LeakyRelu", "Sigmoid", "Softsign"], alphas=[0.25, 0.2], betas=[0.45])
    case("gru_linear_before_reset", "GRU", direction="bidirectional", lbr=1, initial=True)
    case("gru_opset7", "GRU", lbr=1, opset=7)
    case("lstm_activations", "LSTM", act_names=["Sigmoid", "Elu", "Softplus"], alphas=[0.8])
    case("lstm_thresholded_relu", "LSTM", act_names=["HardSigmoid", "ThresholdedRelu", "Tanh"], alphas=[0.3, 0.1])
    case("lstm_input_forget_peepholes", "LSTM", input_forget=1, peep=True, initial=True)
    case("lstm_y_c_only", "LSTM", direction="reverse", initial=True, peep=True, outputs=("Y_c",))

    # Constant weights: the GEMM engine path. Hidden sizes below, at and above a vector (16 lanes
    # on AVX-512, 4 on NEON), inputs of several lengths, batches of 1 and more.
    for kind in ("RNN", "GRU", "LSTM"):
        k = kind.lower()
        case(f"{k}_const", kind, T=5, N=1, I=7, H=19, const=True)
        case(f"{k}_const_bidirectional", kind, T=6, N=3, I=16, H=33, direction="bidirectional", initial=True,
             peep=kind == "LSTM", const=True)
        case(f"{k}_const_seq_lens_layout1", kind, T=5, N=3, I=4, H=8, direction="reverse", layout=1, lens=[2, 5, 0],
             initial=True, const=True)
        case(f"{k}_const_seq_lens", kind, T=4, N=3, I=6, H=5, direction="bidirectional", lens=[4, 1, 3], const=True)
        case(f"{k}_const_no_bias_clip", kind, T=3, N=2, I=3, H=16, bias=False, clip=0.4, const=True, outputs=("Y",))
    case("gru_const_linear_before_reset", "GRU", T=5, N=2, I=9, H=21, direction="bidirectional", lbr=1, initial=True,
         const=True)
    case("lstm_const_input_forget", "LSTM", T=4, N=2, I=5, H=12, input_forget=1, peep=True, const=True)
    case("lstm_const_large", "LSTM", T=12, N=1, I=40, H=64, const=True)


if __name__ == "__main__":  # branches.py imports the reference
    main()
