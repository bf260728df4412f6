"""Design-space sweeps: many scenarios from one sweep file, run locally or on Dask.

``load_sweep(path)`` → :class:`Sweep`; ``run_sweep(sweep, out, executor)`` writes one row per
point to a CSV or Parquet table as points finish (resumable); ``read_results(out)`` reads it
back; ``summarize(sweep, frame)`` gives the best points and the Pareto front.
"""

from archsim.sweep.executors import DaskCluster, InProcess, LocalProcesses, default_workers
from archsim.sweep.pareto import pareto_mask, summarize
from archsim.sweep.runner import Progress, SweepRun, run_sweep
from archsim.sweep.space import enumerate_points
from archsim.sweep.spec import Sweep, load_sweep
from archsim.sweep.store import read_results

__all__ = ["DaskCluster", "InProcess", "LocalProcesses", "Progress", "Sweep", "SweepRun",
           "default_workers", "enumerate_points", "load_sweep", "pareto_mask", "read_results",
           "run_sweep", "summarize"]
