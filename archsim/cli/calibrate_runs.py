"""``archsim calibrate --runs RUNS.csv --out OVERLAY.yaml``: fit in-situ parameters to measured
runs and write the overlay, its cross-validated error and per-run tables."""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

from archsim.cli.common import check_outputs, plural
from archsim.spec.errors import SpecError


def check_cv(value: str) -> str:
    if value in ("source", "run", "none"):
        return value
    if value.isdigit() and int(value) >= 2:
        return value
    raise SpecError([f"--cv {value!r}: expected source (leave one source out), run (leave "
                     "one run out), none, or a number of folds ≥ 2"])


def check_workers(workers: int) -> None:
    """``--workers`` as ``archsim sweep`` bounds it: at least 1, at most the machine's cap of
    local worker processes; the folds never get more workers than there are folds."""
    from archsim.cli.sweep import too_many_workers

    if workers < 1:
        raise SpecError([f"--workers {workers}: expected at least 1"])
    too_many = too_many_workers(workers)
    if too_many:
        raise SpecError([too_many])


REPORT_TITLES = ("# Check these rows and values", "# Cross-validated error",
                 "# In-sample error")
"""The first line of every report ``calibrate --runs`` writes (``OUT.md``)."""
TABLE_HEADER = "run,source,device,kind,group,metric,"
"""The start of the per-run table's header (``OUT.cv.csv``; archsim/insitu/tables.py)."""


def check_not_foreign(out: Path, report: Path, table: Path) -> None:
    """SpecError where a file calibrate would replace exists and is not one it wrote: the user
    names ``--out``, and the report and table beside it are derived from it (``notes.yaml``
    had replaced the user's ``notes.md``; ``--out`` naming a device profile had replaced
    the profile). A file calibrate wrote before is replaced, as a rerun expects."""
    from archsim.spec.calibration import KIND

    def first_line(path: Path) -> str:
        try:
            with path.open(encoding="utf-8", errors="replace") as f:
                return f.readline().rstrip("\n")
        except OSError:
            return ""

    def is_overlay(path: Path) -> bool:
        import yaml

        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            return False
        return isinstance(data, dict) and data.get("kind") == KIND

    checks = [(out, "--out", is_overlay, f"a calibration overlay (kind: {KIND})"),
              (report, "the report", lambda p: first_line(p).startswith(REPORT_TITLES),
               "a report calibrate wrote"),
              (table, "the table", lambda p: first_line(p).startswith(TABLE_HEADER),
               "a table calibrate wrote")]
    for path, what, ours, expected in checks:
        if path.is_file() and not ours(path):
            raise SpecError([f"{what} {path} exists and is not {expected}; calibrate replaces "
                             "only its own outputs: move the file or choose another --out"])


def run_calibration(args: argparse.Namespace) -> int:
    from archsim.cli.progress import ProgressBar
    from archsim.insitu.crossval import folds
    from archsim.insitu.overlay import (
        NEVER_FITTED,
        calibrate_runs,
        overlay,
        provenance_of,
        write_overlay,
    )
    from archsim.insitu.predict import load_runs
    from archsim.insitu.runs import read_runs
    from archsim.insitu.tables import csv_rows, markdown, text_table

    cv = check_cv(args.cv)
    if args.out.suffix.lower() not in (".yaml", ".yml"):
        raise SpecError([f"--out {args.out}: expected a .yaml file for the calibration overlay"])
    report, table = args.out.with_suffix(".md"), args.out.with_suffix(".cv.csv")
    # all three outputs checked before the fit, written together after it
    check_outputs({"--out": args.out, "the report": report, "the table": table},
                  {"the runs file": args.runs})
    check_not_foreign(args.out, report, table)
    check_workers(args.workers)
    runs = read_runs(args.runs)
    loaded = load_runs(runs)
    if args.devices:
        wanted = {d.strip() for d in args.devices.split(",") if d.strip()}
        unknown = wanted - {ld.device.name for ld in loaded}
        if unknown:
            raise SpecError([f"--devices: {', '.join(sorted(unknown))} has no run in "
                             f"{args.runs}"])
        loaded = [ld for ld in loaded if ld.device.name in wanted]
    if cv.isdigit() and int(cv) > len(loaded):
        raise SpecError([f"--cv {cv}: more folds than the {plural(len(loaded), 'run')} to "
                         f"calibrate; expected at most {len(loaded)} (or run: one run out)"])
    by_device: dict[str, list] = {}
    for ld in loaded:
        by_device.setdefault(ld.device.name, []).append(ld)
    steps = len(by_device) + (len(folds(loaded, cv)) if cv != "none" else 0)
    bar = ProgressBar("calibrate")
    done = [0]

    def progress(what: str) -> None:
        bar(done[0], steps, what)
        done[0] += 1

    prov = provenance_of(args.runs, len(runs))
    cals = calibrate_runs(loaded, cv, progress, prov, args.workers)
    bar(steps, steps, "done")
    bar.finish()
    if not any(c.insitu.provenance["runs_used"] for c in cals):
        raise SpecError([f"{args.runs}: no run could be fitted ({_unfitted(cals)}); nothing "
                         "written"])
    held = [h.prediction for c in cals for h in c.held]
    # weight-0 rows are predicted, not fitted: apart from the in-sample error
    fitted = [p for c in cals for p in c.fit.predictions if p.run.weight > 0]
    unweighted = [p for c in cals for p in c.fit.predictions if p.run.weight <= 0]
    how = [f"Runs: `{args.runs}` ({plural(len(runs), 'row')}, sha256 "
           f"{prov['runs_sha256'][:12]}…); overlay `{args.out}`; {prov['date']}, "
           f"archsim {prov['archsim_version']}.", "",
           "Fitted values per device:", ""]
    for c in cals:
        vals = ", ".join(f"{n} {_fmt(c.fit.values[n])} (default {_fmt(c.fit.defaults[n])})"
                         for n in c.fit.fitted)
        rows, used = len(by_device[c.device]), c.insitu.provenance["runs_used"]
        count = plural(rows, "run") + (f", {used} of them fitted" if used != rows else "")
        how.append(f"- **{c.device}** ({count}): {vals or 'nothing'}")
    never = any(h.fold == NEVER_FITTED for c in cals for h in c.held)
    note = [f"Each run predicted by a fit that did not see it (cross-validation: {cv}"
            + ("; a run of weight 0 by the fit on all the others, which never saw it"
               if never else "") + ")."]
    prior = _from_defaults(cals, cv)
    note += ([""] + [f"- {line}" for line in prior]) if prior else []
    warned = [f"- {c.device}: {line}" for c in cals for line in warnings(c)]
    body = ("# Check these rows and values\n\n" + "\n".join(warned) + "\n\n") if warned \
        else ""
    body += markdown(held, "Cross-validated error", [*how, "", *note]) if held else ""
    # without cross-validation the fitted values head the in-sample tables
    body += "\n" + markdown(fitted, "In-sample error (the fit written to the overlay)",
                            () if held else how)
    if unweighted:
        body += "\n" + markdown(unweighted, "Runs of weight 0 (predicted by the fit, not in it)",
                                ())
    buf = io.StringIO()
    rows = csv_rows(held or fitted)
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    from archsim.io import replace_together, write_text_atomic

    with replace_together([args.out, report, table]) as (out_tmp, report_tmp, table_tmp):
        write_overlay(out_tmp, overlay(cals, prov))
        write_text_atomic(report_tmp, body)
        write_text_atomic(table_tmp, buf.getvalue())
    print(f"wrote {args.out} ({plural(len(cals), 'device')}), {report}, {table}")
    for c in cals:
        vals = ", ".join(f"{n} {_fmt(c.fit.values[n])}" for n in c.fit.fitted)
        print(f"  {c.device}: {vals}")
        for line in warnings(c):
            print(f"    {line}")
    if held:
        print(f"cross-validated error ({cv}):")
        print(text_table(held))
        for line in _from_defaults(cals, cv):
            print(f"  note: {line}")
    else:
        print("in-sample error (no cross-validation):")
        print(text_table(fitted))
    if unweighted:
        print("runs of weight 0 (predicted by the fit, not in it):")
        print(text_table(unweighted))
    return 0


def _unfitted(cals) -> str:
    """Why no run of ``cals`` was fitted: the runs that do not run in archsim (the first one's
    reason) and those of weight 0."""
    out = [p for c in cals for p in c.fit.infeasible if p.run.weight > 0]
    zero = sum(p.run.weight <= 0 for c in cals for p in c.fit.predictions)
    parts = []
    if out:
        first = out[0]
        parts.append(f"{plural(len(out), 'run')} {'does' if len(out) == 1 else 'do'} not run "
                     f"in archsim, e.g. run {first.run.id} (row {first.run.line}): "
                     + "; ".join(first.reasons))
    if zero:
        parts.append(f"{plural(zero, 'run')} of weight 0 (predicted, never fitted)")
    return "; ".join(parts)


def _from_defaults(cals, cv: str) -> list[str]:
    """A line for each device whose held-out runs were predicted from the micro-benchmark
    defaults (archsim/insitu/crossval.py: no run of it was left to fit once their fold was
    out), so that their error is not read as the fit's."""
    out = []
    for c in cals:
        prior = [h for h in c.held if h.prior_only]
        if not prior:
            continue
        share = (f"all {len(prior)} of its held-out runs were" if len(prior) == len(c.held)
                 else f"{len(prior)} of its {len(c.held)} held-out runs were")
        names = sorted({h.fold for h in prior})
        left_out = (f"its one source, {names[0]}," if cv == "source" and len(names) == 1
                    else f"fold{'s' if len(names) > 1 else ''} {', '.join(names)}")
        hint = (" Runs from a second source would measure the fit's error; --cv run "
                "measures it within this source." if cv == "source" else "")
        out.append(f"{c.device}: {share} predicted from the micro-benchmark defaults of "
                   f"their kind's parameters, not from a fitted value (leaving out {left_out} "
                   "left no run of their kind to fit), so their error is the defaults', not "
                   "the fit's; results on this profile widen their error bar "
                   f"(archsim/accuracy.py).{hint}")
    return out


def warnings(c) -> list[str]:
    """What the user should check after a device's fit, printed and written to the report:
    runs left out (they do not run in archsim), runs far off after the fit, and parameters
    that stopped at an end of their physical range (the overlay records the last two in its
    provenance)."""
    out = [f"run {p.run.id} (row {p.run.line}) left out: does not run in archsim: "
           f"{'; '.join(p.reasons)}" for p in c.fit.infeasible]
    out += [f"run {p.run.id} (row {p.run.line}) is {100 * p.error:+.0f}% off after the fit: "
            "check its row. It stays in the fit (the robust loss bounds its pull, it does not "
            "remove it) and in the error bars; if the row is wrong, drop it and refit"
            for p in c.far_off]
    out += at_bounds(c)
    return out


def at_bounds(c) -> list[str]:
    """Fitted parameters that stopped at an end of their physical range: the runs asked for
    more than the model can give with them, so the error left is the model's or the runs'."""
    from archsim.insitu.fit import bounds_for
    from archsim.insitu.overlay import at_range_ends

    bounds = bounds_for(c.insitu, c.fit.defaults)
    out = []
    for name in at_range_ends(c.fit, c.insitu):
        b, v = bounds[name], c.fit.values[name]
        word = "lower" if abs(v - b.lo) <= abs(v - b.hi) else "upper"
        out.append(f"{name} {_fmt(v)} stopped at the {word} end of its physical "
                   "range: the runs ask for more than any value in range gives, so "
                   "what is left of their error is the model's or theirs")
    return out


def _fmt(value: float) -> str:
    if value != 0 and abs(value) < 1e-3:
        return f"{value * 1e6:.2f} us"
    return f"{value:.4g}"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs", type=Path, metavar="RUNS.csv",
                   help="measured runs (format: archsim/insitu/runs.py, README "
                        "'Calibrating from measured runs'): fit each device's in-situ "
                        "parameters to them and write an overlay YAML (no torch needed)")
    p.add_argument("--cv", default="source",
                   help="with --runs: cross-validation: source (leave one source out, the "
                        "default), run (leave one run out), a number of folds, or none")
    p.add_argument("--devices", help="with --runs: calibrate only these devices (a,b)")
    p.add_argument("--workers", type=int, default=1,
                   help="with --runs: processes for the cross-validation folds (default 1; at "
                        "most 4 per CPU, or 64 on a small machine; never more than the folds)")
