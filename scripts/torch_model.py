#!/usr/bin/python3
"""torch_model.py — mhc's language model written again in PyTorch, to check mhc against.

The model is defined from docs/design.md and layers/ (not translated from mhc's
autograd): token embedding, n replicated streams, per block an attention site and
a feed-forward site (plain residual, Hyper-Connections dynamic or static, or mHC
with Sinkhorn-Knopp), the stream collapse (sum or learned), the final RMSNorm and
the head (tied or not). It loads the weights from a safetensors file that
`mhc export` or a run's checkpoint wrote (config from its __metadata__ "config"),
runs the batch that `mhc eval --dump-batch FILE` wrote, and compares logits, loss
and (with --grads) the gradient of every parameter with mhc's.

    /usr/bin/python3 scripts/torch_model.py --weights RUN/model.safetensors --batch dump.safetensors --grads

Exit status: 0 when everything agrees within the tolerances below, 1 on a mismatch,
2 for bad input. `--write-weights FILE` writes the twin's weights (an f32 "mhc export"
file) that `mhc train --init-from FILE` starts a new run from; `Twin` is an ordinary
torch.nn.Module whose parameters() are the "model.*" tensors.

Tolerances, and why. mhc and the twin sum in different orders (BLAS kernels, threads,
PyTorch's own), so only rounding-sized agreement can be asked for, never equal digits.
With u the unit roundoff of f32 (2⁻²⁴ ≈ 6e-8):

  logits  max |diff| ≤ 1e-4 · max(1, max |logit|)   (--logit-tol; a logit's error scales with it)
  loss    |diff| ≤ 1e-5                              (--loss-tol; a mean of log-softmaxes, O(1))
  grads   per tensor, max |g_torch − g_mhc| ≤ max(1e-3 · max |g_mhc|,  k · u · √M · G)

with the maxima over the tensor's entries, G the largest |g_mhc| entry of any parameter, M
the batch's tokens and k = 4 (--grad-tol, --grad-k). The first term is the tensor's own
scale: its worst element against its largest entry (an elementwise ratio would blow up at
entries that are zero up to rounding). The second is the model's: every gradient entry is a
sum over the M tokens of products that flow back from the loss, whose size is set by the
model's gradients (G), not by the entry's result. Where these terms cancel, as for mHC's
alpha_pre, H_res and H_pre parameters (Sinkhorn's last row normalisation removes the
row-constant part of ∂L/∂H_res, F's pre-norm the common scale of H_pre; after training
their gradients are 1e-7 of G and less), the result keeps the terms' absolute rounding:
about u · G per product, growing like √M over M roughly independent roundings; k covers
the depth of the chain and the twin's own rounding. (The twin in f64 differs from mhc by
as much: it is mhc's f32 rounding, not the twin's.)

A bf16 export (its metadata says dtype bf16) is another question: the twin runs on weights
rounded by up to 2⁻⁹ of themselves while mhc's batch dump came from the f32 ones, so the
difference is the model's sensitivity to that perturbation, not rounding. Every limit then
becomes k_bf16 · 2⁻⁹ (--bf16-k, default 16): logits per unit of max(1, max |logit|), the loss
absolutely, gradients relative to max(max |g_mhc| of the tensor, G). That sensitivity
depends on the batch and the build: the largest seen, a trained tiny mHC model's embedding
gradient on its first validation windows in the sanitizer build, was 8.6 · 2⁻⁹; 16 leaves
twice that, while a wrong op misses by orders of magnitude more. The script prints which
tolerances it applied.

Debian's PyTorch 1.13 predates the `safetensors` package, so the file is read by a
small reader here (8-byte little-endian header size, JSON header, numpy). Where
`safetensors.torch.load_file` is importable it is used too and must give the same
tensors.
"""
import argparse
import json
import math
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------
# safetensors


_NP_DTYPES = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64, "F16": np.float16}


def read_safetensors(path):
    """Returns ({name: torch.Tensor}, metadata dict). BF16 is widened exactly to f32."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: not a safetensors file (shorter than 8 bytes)")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise ValueError(f"{path}: header of {n} bytes overruns the file ({len(raw)} bytes)")
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = memoryview(raw)[8 + n:]
    meta = header.pop("__metadata__", {}) or {}
    out = {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        if not 0 <= begin <= end <= len(data):
            raise ValueError(f"{path}: tensor {name} lies outside the data section")
        shape = tuple(int(d) for d in e["shape"])
        dt = e["dtype"]
        if dt == "BF16":
            bits = np.frombuffer(data[begin:end], dtype="<u2").astype(np.uint32) << 16
            arr = bits.view(np.float32)
        elif dt in _NP_DTYPES:
            arr = np.frombuffer(data[begin:end], dtype=np.dtype(_NP_DTYPES[dt]).newbyteorder("<"))
        else:
            raise ValueError(f"{path}: tensor {name} has dtype {dt}, which this reader does not know")
        if arr.size != int(np.prod(shape, dtype=np.int64)):
            raise ValueError(f"{path}: tensor {name}: {arr.size} values for shape {shape}")
        out[name] = torch.from_numpy(arr.astype(arr.dtype.newbyteorder("="), copy=True).reshape(shape))
    return out, meta


def load_weights(path):
    """Own reader, cross-checked against safetensors.torch.load_file where that package exists."""
    tensors, meta = read_safetensors(path)
    try:
        from safetensors.torch import load_file  # not in Debian's PyTorch 1.13 set
    except ImportError:
        return tensors, meta, "own reader (safetensors package not installed)"
    ref = load_file(path)
    if set(ref) != set(tensors):
        raise ValueError(f"{path}: safetensors.torch.load_file sees other tensors than this reader")
    for name, t in ref.items():
        if not torch.equal(t.to(torch.float32 if t.dtype == torch.bfloat16 else t.dtype), tensors[name]):
            raise ValueError(f"{path}: tensor {name} differs between safetensors.torch.load_file and this reader")
    return tensors, meta, "own reader, equal to safetensors.torch.load_file"


def write_safetensors(path, tensors, meta):
    """Writes {name: tensor} (f32 or i32 on the way out) with __metadata__ meta (strings), in name order."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().cpu()
        arr = t.numpy().astype("<f4" if t.is_floating_point() else "<i4")
        header[name] = {"dtype": "F32" if t.is_floating_point() else "I32", "shape": list(arr.shape),
                        "data_offsets": [off, off + arr.nbytes]}
        blobs.append(arr.tobytes())
        off += arr.nbytes
    header["__metadata__"] = meta
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data section starts 8-byte aligned
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for b in blobs:
            f.write(b)
    import os
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# the model (docs/design.md §1-§7). Shapes: B batch, T time, n streams, C width.


def rms_norm(x, eps, weight=None):
    """x / sqrt(mean(x²) + eps) over the last axis, times the gain if given."""
    y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return y * weight if weight is not None else y


def sinkhorn(logits, iters):
    """design.md §4: P⁰ = exp(max(L − max L, −80)); t_max times columns, then rows."""  # (…, n, n)
    m = logits.detach().amax(dim=(-2, -1), keepdim=True)  # the shift is a constant (it divides out)
    p = torch.exp(torch.clamp(logits - m, min=-80.0))
    for _ in range(iters):
        p = p * (1.0 / p.sum(-2, keepdim=True))  # T_c: every column by its sum
        p = p * (1.0 / p.sum(-1, keepdim=True))  # T_r: every row by its sum
    return p


class Twin(torch.nn.Module):
    def __init__(self, cfg, tensors, dtype):
        super().__init__()
        self.cfg = cfg
        self.kind = cfg["residual"]
        if self.kind not in ("residual", "hc", "mhc"):
            raise ValueError(f"config: unknown residual variant {self.kind!r}")
        self.n = int(cfg["streams"])
        self.L = int(cfg["model.blocks"])
        self.C = int(cfg["model.width"])
        self.heads = int(cfg["model.heads"])
        self.eps = float(cfg["model.norm_eps"])
        self.ffn = cfg["model.ffn"]
        self.dense_layers = int(cfg.get("moe.dense_layers", 0))
        self.top_k = int(cfg.get("moe.top_k", 0))
        self.router = cfg.get("moe.router", "softmax")
        self.iters = int(cfg["hc.sinkhorn_iters"])
        self.gate = cfg.get("hc.gate", "sigmoid")
        self.hc_static = bool(cfg.get("hc.static", False))
        self.collapse = cfg.get("hc.collapse", "sum")
        self.tied = bool(cfg.get("model.tie_embeddings", False))
        if self.gate not in ("sigmoid", "fixed"):
            raise ValueError(f"config: unknown hc.gate {self.gate!r}")
        if self.collapse not in ("sum", "learned"):
            raise ValueError(f"config: unknown hc.collapse {self.collapse!r}")
        # An ordinary nn.Module: every "model.<name>" tensor is a registered nn.Parameter (module
        # attribute names cannot hold dots, so "." becomes "__"), and parameters() returns them.
        self.p = {}  # "model.<name>" -> the registered nn.Parameter
        self.buf = {}
        for name, t in tensors.items():
            if name.startswith("model."):
                self.p[name] = torch.nn.Parameter(t.to(dtype).clone())
                self.register_parameter(name[len("model."):].replace(".", "__"), self.p[name])
            elif name.startswith("buffer."):
                self.buf[name] = t.to(dtype if t.is_floating_point() else t.dtype)
        if self.tied == ("model.head.weight" in self.p):
            raise ValueError("weights: model.head.weight must be present exactly when embeddings are untied")

    def write_weights(self, path, step):
        """The weights as an f32 "mhc export" file (no checksums) that `mhc train --init-from` reads."""
        tensors = {name: p for name, p in self.p.items()}
        tensors.update(self.buf)
        write_safetensors(path, tensors, {"format": "mhc export", "format_version": "1", "dtype": "f32",
                                          "step": str(step), "config": json.dumps(self.cfg)})

    def w(self, name):
        key = "model." + name
        if key not in self.p:
            raise ValueError(f"weights: missing tensor {key}")
        return self.p[key]

    # ---- sub-blocks ----

    def attention(self, x, l):  # (B, T, C) -> (B, T, C)
        B, T, C = x.shape
        H, D = self.heads, C // self.heads
        pre = f"blocks.{l}.attn."
        cos = self.buf[f"buffer.blocks.{l}.attn.rope_cos"][:T]  # (T, D/2)
        sin = self.buf[f"buffer.blocks.{l}.attn.rope_sin"][:T]

        def rope(z):  # (B, T, H, D): rotate the pairs (i, i + D/2) by angle t·θ_i
            a, b = z[..., : D // 2], z[..., D // 2:]
            c, s = cos[None, :, None, :], sin[None, :, None, :]
            return torch.cat([a * c - b * s, a * s + b * c], dim=-1)

        q = rope((x @ self.w(pre + "wq.weight")).reshape(B, T, H, D)).transpose(1, 2)  # (B, H, T, D)
        k = rope((x @ self.w(pre + "wk.weight")).reshape(B, T, H, D)).transpose(1, 2)
        v = (x @ self.w(pre + "wv.weight")).reshape(B, T, H, D).transpose(1, 2)
        att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(D))  # (B, H, T, T)
        mask = torch.ones(T, T, dtype=torch.bool).tril()
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        return y @ self.w(pre + "proj.weight")

    def mlp(self, x, pre, swiglu):  # (…, C) -> (…, C)
        h = x @ self.w(pre + "w1.weight")
        h = F.silu(h) * (x @ self.w(pre + "w3.weight")) if swiglu else F.gelu(h)  # exact (erf) GELU
        return h @ self.w(pre + "w2.weight")

    def moe(self, x, l):  # (B, T, C) -> (B, T, C); design.md §7
        B, T, C = x.shape
        pre = f"blocks.{l}.moe."
        xf = x.reshape(B * T, C)
        logits = xf @ self.w(pre + "router.weight")  # (N, E)
        s = logits.softmax(-1) if self.router == "softmax" else torch.sigmoid(logits)
        bias = self.buf[f"buffer.blocks.{l}.moe.router_bias"]
        biased = s.detach() + bias  # selection by s + b, no gradient through the choice
        chosen = biased.topk(self.top_k, dim=-1).indices  # (N, k)
        srt = biased.sort(dim=-1, descending=True).values
        if srt.shape[-1] > self.top_k:  # how close the choice came to flipping (for the report)
            gap = (srt[:, self.top_k - 1] - srt[:, self.top_k]).min().item()
            self.min_route_gap = min(getattr(self, "min_route_gap", math.inf), gap)
        g = s.gather(-1, chosen)  # unbiased scores of the chosen experts
        if self.router == "sigmoid":
            g = g / g.sum(-1, keepdim=True)
        out = torch.zeros_like(xf)
        E = s.shape[-1]
        for e in range(E):
            rows, slot = (chosen == e).nonzero(as_tuple=True)
            if rows.numel() == 0:
                continue
            ye = self.mlp(xf[rows], f"{pre}experts.{e}.", True)
            out = out.index_add(0, rows, ye * g[rows, slot].unsqueeze(-1))
        i = 0
        while f"model.{pre}shared.{i}.w1.weight" in self.p:
            out = out + self.mlp(xf, f"{pre}shared.{i}.", True)
            i += 1
        return out.reshape(B, T, C)

    def ffn_block(self, x, l):
        if self.ffn == "moe" and l >= self.dense_layers:
            return self.moe(x, l)
        return self.mlp(x, f"blocks.{l}.ffn.", self.ffn != "gelu")

    # ---- residual sites: x_{l+1} = H_res x + H_postᵀ F(H_pre x)   (mHC Eq. 3) ----

    def site(self, x, name, F_):  # x (B, T, n, C)
        B, T, n, C = x.shape
        if self.kind == "residual":
            h = x.reshape(B, T, C)
            return (h + F_(h)).reshape(B, T, 1, C)
        if self.kind == "hc":  # design.md §3, HC Eq. 10-14
            A_m, A_r, Bs = self.w(name + "A_m"), self.w(name + "A_r"), self.w(name + "B")
            if self.hc_static:
                a_m, a_r, b = A_m.expand(B, T, n), A_r.expand(B, T, n, n), Bs.expand(B, T, n)
            else:
                xbar = rms_norm(x, self.eps)  # per stream, over C
                d = torch.tanh(xbar @ self.w(name + "W"))  # (B, T, n, n + 2)
                sa, sb = self.w(name + "s_alpha"), self.w(name + "s_beta")
                a_m = d[..., 0] * sa + A_m
                b = d[..., 1] * sb + Bs
                a_r = d[..., 2:] * sa + A_r  # row j: from stream j
            h_pre, h_res, h_post = a_m, a_r.transpose(-1, -2), b
        else:  # mHC, design.md §4, mHC Eq. 7-9
            v = rms_norm(x.reshape(B, T, n * C), self.eps)  # flattened RMSNorm over nC (Eq. 7)
            proj = v @ self.w(name + "phi")  # (B, T, 2n + n²)   (Eq. 8)
            pre = proj[..., :n] * self.w(name + "alpha_pre") + self.w(name + "b_pre")
            post = proj[..., n:2 * n] * self.w(name + "alpha_post") + self.w(name + "b_post")
            res = proj[..., 2 * n:].reshape(B, T, n, n) * self.w(name + "alpha_res") + self.w(name + "b_res")
            if self.gate == "sigmoid":
                h_pre, h_post = torch.sigmoid(pre), 2.0 * torch.sigmoid(post)
            else:
                h_pre = h_post = torch.ones(B, T, n, dtype=x.dtype)
            h_res = sinkhorn(res, self.iters)  # (Eq. 9)
        h_in = (h_pre.unsqueeze(-1) * x).sum(-2)  # H_pre x      (B, T, C)
        y = F_(h_in)
        # rows of H_res are output streams: (H_res x)_i = Σ_j H_res[i, j] x_j
        return h_res @ x + h_post.unsqueeze(-1) * y.unsqueeze(-2)

    # ---- the whole model ----

    def forward(self, tokens):  # (B, T) -> (B, T, V)
        wte = self.w("wte")
        x = wte[tokens]  # (B, T, C)
        B, T, C = x.shape
        h = x.unsqueeze(2).expand(B, T, self.n, C)  # design.md §1: replicated once
        for l in range(self.L):
            pre = f"blocks.{l}."
            h = self.site(h, pre + "attn_site.",
                          lambda z: self.attention(rms_norm(z, self.eps, self.w(pre + "attn_norm.weight")), l))
            h = self.site(h, pre + "ffn_site.",
                          lambda z: self.ffn_block(rms_norm(z, self.eps, self.w(pre + "ffn_norm.weight")), l))
        if self.n == 1:
            x = h.reshape(B, T, C)
        elif self.collapse == "sum":
            x = h.sum(2)
        else:  # learned: w = σ(s · (RMSNorm(vec x) φ_head) + b_head), h = Σ_j w_j x_j
            v = rms_norm(h.reshape(B, T, self.n * C), self.eps)
            wts = torch.sigmoid((v @ self.w("collapse.phi_head")) * self.w("collapse.s") + self.w("collapse.b_head"))
            x = (wts.unsqueeze(-1) * h).sum(2)
        x = rms_norm(x, self.eps, self.w("final_norm.weight"))
        return x @ (wte.t() if self.tied else self.w("head.weight"))


# ---------------------------------------------------------------------------------------------


# Tolerances (derived in the module docstring). u: the relative rounding of the weights the twin
# reads — f32's unit roundoff 2⁻²⁴ for an f32 export or checkpoint, bf16's 2⁻⁹ for a bf16 export.
U_F32, U_BF16 = 2.0 ** -24, 2.0 ** -9


def tolerances(a, bf16, tokens):
    """{logit, loss, grad_rel, grad_abs_per_G, what}: the limits for weights of this precision."""
    if bf16:  # the twin runs on rounded weights, mhc ran on f32 ones: a perturbation of 2⁻⁹ per weight
        return {"logit": a.bf16_k * U_BF16, "loss": a.bf16_k * U_BF16, "grad_rel": a.bf16_k * U_BF16,
                "grad_abs": a.bf16_k * U_BF16, "what": f"bf16 weights: {a.bf16_k:g}·2⁻⁹ for logits (× max(1, max |logit|)), "
                f"loss, and gradients (relative to max(|grad of the tensor|, G))"}
    return {"logit": a.logit_tol, "loss": a.loss_tol, "grad_rel": a.grad_tol,
            "grad_abs": a.grad_k * U_F32 * math.sqrt(tokens),
            "what": f"f32: logits {a.logit_tol:g} × max(1, max |logit|), loss {a.loss_tol:g}, gradients "
                    f"{a.grad_tol:g} relative or {a.grad_k:g}·2⁻²⁴·√M·G absolute (M = {tokens} tokens)"}


def compare_grads(model, dump, dtype, tol, show):
    """Prints the worst gradients; returns (ok, None) or (None, message) for bad input."""
    G = max(dump["grad." + name].abs().max().item() for name in model.p if "grad." + name in dump)
    atol = tol["grad_abs"] * G
    rows = []
    for name, p in model.p.items():
        key = "grad." + name
        if key not in dump:
            return None, f"{key} is missing"
        ref = dump[key].to(dtype)
        g = p.grad if p.grad is not None else torch.zeros_like(p)
        scale = ref.abs().max().item()
        err = (g - ref).abs().max().item()
        # err ≤ max(grad_rel · scale, atol), written as one ratio that must stay ≤ 1
        rows.append((err / max(tol["grad_rel"] * scale, atol), name, scale, err))
    missing = [k for k in dump if k.startswith("grad.") and k[5:] not in model.p]
    if missing:
        return None, f"it has gradients of parameters the weights lack: {missing[:3]}"
    rows.sort(reverse=True)
    print(f"  grads:  {len(rows)} parameters, G = {G:.3e}, absolute floor {atol:.3e}; "
          f"worst (|diff| / allowed, ≤ 1 passes):")
    for ratio, name, scale, err in rows[:show]:
        print(f"    {ratio:.3e}  {name}  (max |grad| {scale:.3e}, max |diff| {err:.3e})")
    return rows[0][0] <= 1.0, None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", required=True, help="safetensors file from `mhc export` or a run's checkpoint")
    ap.add_argument("--batch", required=True, help="file from `mhc eval --dump-batch`")
    ap.add_argument("--grads", action="store_true", help="also compare every parameter's gradient")
    ap.add_argument("--dtype", choices=["f32", "f64"], default="f32", help="precision of the twin (default f32)")
    ap.add_argument("--logit-tol", type=float, default=1e-4, help="f32: max logit |diff| per unit of max(1, max |logit|)")
    ap.add_argument("--loss-tol", type=float, default=1e-5, help="f32: max abs loss difference allowed")
    ap.add_argument("--grad-tol", type=float, default=1e-3, help="f32: max gradient |diff| relative to the tensor's max |grad|")
    ap.add_argument("--grad-k", type=float, default=4.0,
                    help="f32: a gradient may also differ by k·2⁻²⁴·√M·G absolute (G: largest gradient, M: tokens)")
    ap.add_argument("--bf16-k", type=float, default=16.0, help="bf16 weights: every limit is k·2⁻⁹")
    ap.add_argument("--write-weights", metavar="FILE",
                    help="write the twin's weights as an f32 safetensors file (for `mhc train --init-from FILE`)")
    ap.add_argument("--show", type=int, default=5, help="worst gradients listed")
    a = ap.parse_args()
    torch.set_num_threads(1)
    dtype = torch.float64 if a.dtype == "f64" else torch.float32
    try:
        tensors, meta, how = load_weights(a.weights)
        dump, dmeta = read_safetensors(a.batch)
        if dmeta.get("format") != "mhc batch dump":
            raise ValueError(f"{a.batch}: not a file of `mhc eval --dump-batch` (format {dmeta.get('format')!r})")
        if "config" not in meta:
            raise ValueError(f"{a.weights}: no __metadata__ config")
        cfg = json.loads(meta["config"])
        model = Twin(cfg, tensors, dtype)
        for k in ("x", "y", "logits", "loss"):
            if k not in dump:
                raise ValueError(f"{a.batch}: missing tensor {k}")
    except (OSError, ValueError, KeyError) as e:
        print(f"torch_model.py: {e}", file=sys.stderr)
        return 2
    bf16 = meta.get("dtype") == "bf16"
    x, y = dump["x"].long(), dump["y"].long()
    tol = tolerances(a, bf16, x.numel())
    logits = model(x)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
    ref_logits = dump["logits"].to(dtype)
    logit_scale = max(1.0, ref_logits.abs().max().item())
    logit_diff = (logits.detach() - ref_logits).abs().max().item()
    loss_diff = abs(loss.item() - dump["loss"].double().item())
    print(f"{cfg['residual']} n={model.n} ffn={model.ffn} collapse={model.collapse} ({how}, twin in {a.dtype}, "
          f"{sum(p.numel() for p in model.parameters())} parameters)")
    print(f"  tolerances: {tol['what']}")
    print(f"  logits: max |diff| {logit_diff:.3e} (max |logit| {ref_logits.abs().max().item():.3f})")
    print(f"  loss:   torch {loss.item():.8f}  mhc {dump['loss'].item():.8f}  |diff| {loss_diff:.3e}")
    if hasattr(model, "min_route_gap"):
        print(f"  MoE: smallest margin between the k-th and (k+1)-th biased score {model.min_route_gap:.3e}")
    ok = logit_diff <= tol["logit"] * logit_scale and loss_diff <= tol["loss"]
    if a.grads:
        loss.backward()
        grads_ok, problem = compare_grads(model, dump, dtype, tol, a.show)
        if problem:
            print(f"torch_model.py: {a.batch}: {problem}", file=sys.stderr)
            return 2
        ok = ok and grads_ok
    if a.write_weights:
        model.write_weights(a.write_weights, int(meta.get("step", "0")))
        print(f"  weights written to {a.write_weights}")
    print("  MATCH" if ok else "  MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
