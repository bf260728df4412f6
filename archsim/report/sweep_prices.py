"""How the cheapest point of a sweep moves when device prices change.

Cost per million tokens is linear in a device's price (devices × price per hour / (3600 ×
tokens/s) × 10⁶), so a price change scales every point of that device and no other. Per
device: the price change (of that device alone) at which the cheapest point changes — the
cheapest device gets dearer until the best point of another device is cheaper, any other device
gets cheaper until its best point beats the cheapest. Changing all prices together rescales
every cost and changes no ranking. A device without a price gets the break-even price at which
its best point (most tokens per device-second) would cost as little as the cheapest point.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archsim.report import fmt, plots_sweep
from archsim.report.document import Plot, Section

COST = "cost_per_million_tokens_usd"
SWING = 0.30
"""The price change the report asks about (±30%)."""


@dataclass(frozen=True)
class DevicePrice:
    device: str
    price_per_hour: float | None
    cheapest: float | None
    """Its cheapest point's $ per M tokens (None: no price)."""
    flip: float | None
    """Relative price change of this device alone that changes the cheapest point (+ for the
    cheapest device, − for the others); None when no change can."""
    break_even: float | None = None
    """No price: the price per device-hour at which it would match the cheapest point."""


def device_prices(feasible: Any, category: str = "hardware.device") -> list[DevicePrice]:
    """Per device in the table: price, cheapest point and the flip or break-even price."""
    from archsim.report.evidence import device_profile

    names = sorted(feasible[category].dropna().astype(str).unique())
    best: dict[str, float | None] = {}
    for name in names:
        costs = feasible.loc[feasible[category].astype(str) == name, COST].dropna()
        best[name] = float(costs.min()) if len(costs) else None
    priced = {n: c for n, c in best.items() if c is not None}
    if not priced:
        return []
    top = min(priced, key=lambda n: priced[n])
    out = []
    for name in names:
        profile = device_profile(name)
        price = profile.price_per_hour if profile is not None else None
        cost = best[name]
        if cost is None:
            out.append(DevicePrice(name, price, None, None, _break_even(feasible, category,
                                                                         name, priced[top])))
            continue
        if name == top:
            rivals = [c for n, c in priced.items() if n != name]
            flip = min(rivals) / cost - 1 if rivals else None
        else:
            flip = priced[top] / cost - 1
        out.append(DevicePrice(name, price, cost, flip))
    return out


def _break_even(feasible: Any, category: str, name: str, cheapest: float) -> float | None:
    """Price per device-hour at which ``name``'s best point costs ``cheapest`` per M tokens."""
    if not {"devices", "tokens_per_s"} <= set(feasible.columns):
        return None
    rows = feasible[feasible[category].astype(str) == name]
    per = (rows["tokens_per_s"].astype(float) / rows["devices"].astype(float)).dropna()
    if per.empty or not per.max() > 0:
        return None
    return cheapest * 3600.0 * float(per.max()) / 1e6


def price_section(feasible: Any, category: str = "hardware.device") -> Section | None:
    """The price-sensitivity section, or None when the table has no costs to move."""
    if COST not in feasible.columns or category not in feasible.columns:
        return None
    prices = device_prices(feasible, category)
    if not prices:
        return None
    top = min((p for p in prices if p.cheapest is not None), key=lambda p: p.cheapest or 0.0)
    sec = Section("prices", f"If prices change ±{SWING:.0%}")
    rows, notes, moves = [], [], []
    for p in prices:
        if p.cheapest is None:
            change = (f"none known; it matches the cheapest point at "
                      f"{fmt.money(p.break_even)} per device-hour" if p.break_even is not None
                      else "none known")
            rows.append((p.device, fmt.NO_PRICE, fmt.NO_PRICE, change, "-"))
            notes.append(f"no price; break-even {fmt.money(p.break_even)}/h"
                         if p.break_even is not None else "no price")
            continue
        notes.append("")
        if p.flip is None:
            change = "none (no other device has a price)"
        elif p.device == top.device:
            change = f"{p.flip:+.1%}: another device's best point becomes cheaper"
        else:
            change = f"{p.flip:+.1%}: its best point becomes the cheapest"
        within = p.flip is not None and abs(p.flip) <= SWING
        if within:
            moves.append(p.device)
        rows.append((p.device, fmt.money(p.price_per_hour), fmt.money(p.cheapest), change,
                     "yes" if within else "no"))
    sec.text(f"The cheapest point costs {fmt.money(top.cheapest)} per million tokens on "
             f"{top.device}. Costs are proportional to each device's price, so changing all "
             f"prices together by ±{SWING:.0%} moves every cost by ±{SWING:.0%} "
             f"({fmt.money((top.cheapest or 0) * (1 - SWING))} to "
             f"{fmt.money((top.cheapest or 0) * (1 + SWING))}) and changes no ranking. "
             + (f"Changing one device's price by up to ±{SWING:.0%} changes the cheapest point "
                f"for: {', '.join(moves)}." if moves else
                f"No single device's price change within ±{SWING:.0%} changes the cheapest "
                "point."))
    sec.add(Plot("prices", f"Cheapest point of each device with its price ±{SWING:.0%}",
                 plots_sweep.price_range_plot([p.device for p in prices],
                                              [p.cheapest for p in prices], SWING,
                                              top.cheapest or 0.0, notes,
                                              "cost per million tokens (USD)")))
    sec.table(["device", "price per device-hour", "its cheapest $ per M tokens",
               "price change (this device alone) that changes the cheapest point",
               f"within ±{SWING:.0%}"], rows,
              caption="Prices are the device profiles' (their sources are listed above); "
                      "a break-even price uses the point with the most tokens per "
                      "device-second.")
    return sec
