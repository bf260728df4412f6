"""Write reports/validation/megatron.md: archsim vs Megatron-LM SC21 Table 1 (no fitting)."""

from pathlib import Path

from archsim.io import write_text_atomic
from archsim.published.megatron import markdown_table, run_cases

HEADER = """# Training validation: Megatron-LM weak scaling (SC21 Table 1)

Source: Narayanan et al. 2021 (SC21), Table 1, via `reference/megatron_weak_scaling.csv`;
`measured step` is the csv's `implied_step_time_s` = flops_per_step / (measured TFLOP/s × GPUs).
Every case is simulated with the shipped profiles (A100 GEMM curve from `reference/a100_gemm.csv`,
link efficiencies from nccl-tests) — nothing was fitted to these rows. Regenerate with
`python scripts/megatron_validation.py`.

"""


def main() -> None:
    text = HEADER + markdown_table(run_cases()) + "\n"
    out = Path(__file__).resolve().parents[1] / "reports" / "validation" / "megatron.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, text)
    print(text)


if __name__ == "__main__":
    main()
