"""Quality against cost: every model's and baseline's mean SSIM beside its parameters and forward FLOPs.

A model is on the Pareto front of a cost when no other point has both a lower (or equal) cost
and a higher mean SSIM. The front is drawn from the point estimates; each point carries its
95% interval over test images, so a reader can see where the front is within noise.
"""

from __future__ import annotations

from typing import Any

from genreport.pipeline.scoring.baselines import baseline_cost

COSTS = ("params", "flops")


def cost_points(variants: dict[str, Any], baselines: dict[str, Any], entries: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One point per model and baseline: its mean SSIM and interval, parameters and forward FLOPs per image (None where unknown)."""
    points = []
    for name, summary in variants.items():
        entry = entries.get(name) or {}
        points.append({"name": name, "baseline": False, "mean": summary["ssim"]["mean"], "ci95": summary["ssim"].get("ci95"),
                       "params": entry.get("params"), "flops": entry.get("forward_flops")})
    for name, summary in baselines.items():
        points.append({"name": name, "baseline": True, "mean": summary["ssim"]["mean"], "ci95": summary["ssim"].get("ci95"),
                       **baseline_cost(name)})
    return points


def dominates(q: dict[str, Any], p: dict[str, Any], cost: str) -> bool:
    """Whether ``q`` is at least as cheap and as good as ``p`` and strictly better in one of the two."""
    return q[cost] <= p[cost] and q["mean"] >= p["mean"] and (q[cost] < p[cost] or q["mean"] > p["mean"])


def pareto_front(points: list[dict[str, Any]], cost: str) -> list[str]:
    """Names of the points (with a known ``cost``) that no other dominates, cheapest first; ties all stay on the front."""
    known = [p for p in points if p.get(cost) is not None]
    front = [p for p in known if not any(dominates(q, p, cost) for q in known)]
    return [p["name"] for p in sorted(front, key=lambda p: (p[cost], -p["mean"]))]


def quality_cost(variants: dict[str, Any], baselines: dict[str, Any], entries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The points and each cost's Pareto front, for ``metrics.json``."""
    points = cost_points(variants, baselines, entries)
    return {"points": points, "front": {cost: pareto_front(points, cost) for cost in COSTS},
            "costs": {"params": "weights (model.count_params(); a baseline's stored numbers)",
                      "flops": "forward FLOPs per image, counted from the layer shapes (pipeline/training/budget.py)"}}
