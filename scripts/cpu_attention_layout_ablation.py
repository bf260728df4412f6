"""Write reports/validation/cpu-m167/attention_layout_ablation.md: the CPU validation with the
prompt attention records timed as they are now (q, k, v views of a packed qkv tensor, the
output transposed back and reshaped: archsim/validate/bench.py ``bench_attention``) and as
before (contiguous q, k, v), on the same measurements and the same calibrations.

As in scripts/cpu_output_rotation_ablation.py, records are scaled rather than two
calibrations compared (two calibrations minutes apart differ by more than the effect on a
shared VM): every prompt attention shape of the kept calibrations (all taken with contiguous
tensors) is timed now both ways, forward and forward + backward, alternating; its forward
record is scaled by the forward ratio and its forward + backward time by that ratio (the
backward record is their difference, as the benchmark takes it). Both profiles are fitted
from their records with the current code and predict the calibration's own measurement set
again. Nothing is fitted to the measurements.

Needs torch; about two minutes on 2 cores.
"""

from __future__ import annotations

import copy
import statistics
import time
from pathlib import Path

from alternating import alternate
from cpu_output_rotation_ablation import M167, score_row

from archsim.io import write_text_atomic
from archsim.validate.suite import load_profile

ROOT = Path(__file__).resolve().parents[1]
OUT = M167 / "attention_layout_ablation.md"
SETS = [("2026-12-06 04:22 (its own calibration of 04:17)", M167 / "output-rotation-pair"),
        ("2026-12-06 04:35 (its own calibration of 04:27)", M167 / "output-rotation-second"),
        ("2026-12-06 04:56 (its own calibration of 04:50)", M167 / "output-rotation-final")]
ROUNDS = 3
MIN_S = 0.05
"""Each way of a shape is timed for at least this long per round (at least one call)."""
ATTENTION = frozenset({"attn", "attn.bwd"})


def ratios(shapes: list[tuple]) -> dict[tuple, tuple[float, float]]:
    """(batch, heads, tokens, head_dim, causal) → (packed / contiguous forward time, packed /
    contiguous forward + backward time), each the median of ``ROUNDS`` alternating rounds."""
    import torch
    import torch.nn.functional as F

    from archsim.validate.bench import _packed_attention

    torch.set_num_threads(2)
    out = {}
    for b, h, s, d, causal in shapes:
        q, k, v = (torch.randn(b, h, s, d, requires_grad=True) for _ in range(3))
        packed = torch.randn(b, s, 3 * h * d, requires_grad=True)
        packed_fn = _packed_attention(packed, h, d, causal)

        def contiguous(q=q, k=k, v=v, causal=causal):
            return F.scaled_dot_product_attention(q, k, v, is_causal=causal)

        def forward(fn):
            def run():
                with torch.no_grad():
                    return fn()
            return run

        def both(fn, leaves):
            grad = torch.ones_like(fn().detach())
            return lambda: torch.autograd.grad(fn(), leaves, grad)

        ways = {"fwd contiguous": forward(contiguous), "fwd packed": forward(packed_fn),
                "both contiguous": both(contiguous, [q, k, v]),
                "both packed": both(packed_fn, [packed])}
        times = alternate(ways, ROUNDS, min_s=MIN_S)
        med = {name: statistics.median(t) for name, t in times.items()}
        out[(b, h, s, d, causal)] = (med["fwd packed"] / med["fwd contiguous"],
                                     med["both packed"] / med["both contiguous"])
    return out


def _key(r: dict) -> tuple:
    return (r["batch"], r["heads"], r["q"], r["head_dim"], bool(r["causal"]))


def as_packed(kept: dict, got: dict[tuple, tuple[float, float]]) -> dict:
    """``kept`` with its prompt attention records scaled to the packed layout."""
    out = copy.deepcopy(kept)
    records = out["calibration"]["raw"]["attention"]
    fwd = {(_key(r), r["dtype"]): r for r in records if r["phase"] == "fwd"}
    for r in records:
        if r["q"] <= 1 or r["q"] != r["kv"]:
            continue
        f, fb = got[_key(r)]
        if r["phase"] == "fwd":
            r["time_s"] *= f
        else:  # backward = (forward + backward) − forward, both in the packed layout
            r["fwd_bwd_time_s"] *= fb
            r["time_s"] = max(r["fwd_bwd_time_s"] - fwd[(_key(r), r["dtype"])]["time_s"], 0.0)
    return out


def main() -> None:
    rows = []
    got: dict[tuple, tuple[float, float]] = {}
    for label, folder in SETS:
        kept = load_profile(folder / "cpu-local-m167-example.yaml")
        shapes = sorted({_key(r) for r in kept["calibration"]["raw"]["attention"]
                         if r["q"] > 1 and r["q"] == r["kv"]} - set(got))
        got.update(ratios(shapes))  # the sets share their grid: each shape timed once
        rows += [score_row(label, name, folder, profile, ATTENTION)
                 for name, profile in (("packed (now)", as_packed(kept, got)),
                                       ("contiguous (before)", kept))]
    shapes = ["| batch × heads × tokens × head_dim | causal | forward | forward + backward |",
              "|---|---|---:|---:|"]
    shapes += [f"| {b} × {h} × {s} × {d} | {'yes' if c else 'no'} | {f:.2f} | {fb:.2f} |"
               for (b, h, s, d, c), (f, fb) in sorted(got.items())]
    lines = ["# Prompt attention records in the models' packed layout or contiguous (CPU)", "",
             f"Written by `python scripts/cpu_attention_layout_ablation.py` on "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} (its docstring says how): "
             "each calibration's prompt attention records (measured on contiguous tensors) "
             "as measured and scaled to the packed layout by ratios timed now, alternating; "
             "both fitted with the current code and predicting that calibration's own "
             "measurement set again. Columns: validation MAPEs in %; `attention` is Σ "
             "predicted / Σ measured − 1 of the training cases' attention, forward and "
             "backward (negative: predicted too fast).", "",
             "| measured | attention records | end-to-end | training | inference | TTFT | "
             "TPOT | attention | per-op, matmul-class |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|", *rows, "",
             "## Packed / contiguous time per shape", "", *shapes, ""]
    write_text_atomic(OUT, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
