"""Inputs shared by the report tests (a module of its own: test modules import it)."""

SMALL_TRAINING = """\
name: gpt3-1.7b-16xa100
model: gpt3-1.7b
hardware: {device: a100-sxm4-80gb, count: 16, devices_per_node: 8,
           intra_node: nvlink3-nvswitch, inter_node: ib-hdr-200g}
workload: {kind: training, seq_len: 2048, global_batch: 64, micro_batch: 2, dtype: bf16}
plan: {tp: 2, pp: 2, recompute: selective, schedule: 1f1b}
"""

TRAINING_SECTIONS = ["answer", "inputs", "sources", "step-time", "memory", "timeline",
                     "roofline", "scaling", "capacity", "validation"]
