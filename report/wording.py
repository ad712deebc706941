"""The report's sentences and short verdicts, built from the numbers (no markup): comparisons, published figures, classes, settings."""

from __future__ import annotations

from typing import Any

from genreport.pipeline.results.schema import ClassExtremes, Comparison, ReplicatedComparison, SeedFigures
from genreport.pipeline.scoring.verdicts import MIN_CLASS_IMAGES, NARROW_UP_TO_IMAGES, model_comparison_verdict, published_verdict, seed_spread_note


VERDICT_WORDS = {"beats": "beats it (the whole interval is above it)", "within": "the figure is within the interval",
                 "below": "below it (the whole interval is under it)", "no interval": "no interval recorded, so no verdict"}


def published_words(uniform: tuple[float, Any], gaussian: tuple[float, Any], reference: float) -> str:
    """The verdict against a published figure under each SSIM definition, judged on each definition's interval."""
    verdicts = {name: published_verdict(mean, interval, reference) for name, (mean, interval) in
                (("uniform window", uniform), ("Gaussian window", gaussian))}
    if len(set(verdicts.values())) == 1:
        return f"{VERDICT_WORDS[next(iter(verdicts.values()))]}, under both definitions"
    return "; ".join(f"{name}: {VERDICT_WORDS[v]}" for name, v in verdicts.items())


def retrain_note(preset: str, variants: list[str]) -> str:
    """How far a retrain may move a one-seed report's figures: the seed spread measured at its preset, or that it is unknown."""
    notes = {v: seed_spread_note(preset, v) for v in variants}
    if not all(notes.values()):
        return ("How far a retrain with another seed would move these figures was not measured at this preset; "
                "run with --seeds to measure it.")
    spreads = ", ".join(f"{v} {notes[v]['std']:.4f}" for v in variants)
    record = next(iter(notes.values()))["record"]
    return (f"A retrain with another seed moves a variant's mean SSIM by about its seed-to-seed standard deviation, "
            f"measured at the {preset} preset as {spreads} ({record}).")


def signed(value: float) -> str:
    """A difference with four decimals and an explicit sign (a true minus sign)."""
    return f"{value:+.4f}".replace("-", "\u2212")


RETRAIN_CLAUSE = ("One trained model per variant, so this does not say whether the design is better: "
                  "a retrain could reverse it (add seeds: --seeds 42,7,1).")


def single_seed_clause(first_seed: int | None) -> str:
    """What a single-seed sentence adds about the designs: the retrain clause, or, in a merged report (``first_seed`` given),
    where the verdicts on them are."""
    if first_seed is not None:
        return f"These are seed {first_seed}'s models; the verdicts on the designs are the across-seed ones above."
    return RETRAIN_CLAUSE


def comparison_sentence(c: Comparison, test_images: int, clause: str = RETRAIN_CLAUSE) -> str:
    """A plain sentence for one single-seed comparison, from its numbers: about these trained models, never the designs."""
    judged = model_comparison_verdict(c.to_json())
    verdict = judged["verdict"]
    adjusted = c.wilcoxon_p_holm if c.wilcoxon_p_holm is not None else c.wilcoxon_p
    p = "p < 0.001" if adjusted < 0.001 else f"p = {adjusted:.3f}"
    first, second = c.first, c.second
    interval = f"95% CI [{signed(c.ci_low)}, {signed(c.ci_high)}]"
    ranks = (f"the rank test favours {second if judged['rank_direction'] > 0 else first} (Wilcoxon, Holm-adjusted {p}; "
             f"{second} higher on {100 * c.second_wins:.1f}% of images)")
    if verdict in ("higher", "lower"):  # said with the model that scores higher first, so the interval is positive
        winner, loser = (second, first) if verdict == "higher" else (first, second)
        low, high = (c.ci_low, c.ci_high) if verdict == "higher" else (-c.ci_high, -c.ci_low)
        text = (f"On these {test_images:,} test images, {winner} scores higher than {loser} by {abs(c.mean_difference):.4f} SSIM, "
                f"95% CI [{signed(low)}, {signed(high)}]; {ranks}.")
    else:
        mean = (f"the mean favours {second if c.mean_difference > 0 else first} ({signed(c.mean_difference)}, {interval})"
                if judged["interval_direction"] else f"the mean difference's interval includes zero ({signed(c.mean_difference)}, {interval})")
        reason = {"skewed": f"{ranks}, but {mean}: the differences are skewed",
                  "interval only": f"{mean}, but the rank test does not confirm it (Holm-adjusted {p})",
                  "rank test only": f"{ranks}, but {mean}",
                  "no clear difference": f"{mean} and the rank test finds no direction (Holm-adjusted {p})"}[verdict]
        text = f"{second} vs {first} on these {test_images:,} test images: no winner is called: {reason}."
    return f"{text} {clause}"


def comparison_words(c: Comparison) -> str:
    """The single-seed verdict in a table cell's few words."""
    verdict = model_comparison_verdict(c.to_json())["verdict"]
    return {"higher": f"{c.second} scores higher", "lower": f"{c.first} scores higher",
            "skewed": "no winner: skewed differences", "interval only": "no winner: the rank test disagrees",
            "rank test only": "no winner: the interval includes zero"}.get(verdict, "no winner: no clear difference")


def extremes_sentence(extremes: ClassExtremes | None, over: str = "test images", smallest_class: int | None = None) -> str:
    """The hardest and easiest class where an interval separates it from the next, else which classes tie; where
    there are none, why (``smallest_class``: the test images of the smallest class, when that is too few)."""
    if not extremes and smallest_class is not None and smallest_class < MIN_CLASS_IMAGES:
        return (f"The smallest class has {smallest_class} test image{'' if smallest_class == 1 else 's'}, fewer than the "
                f"{MIN_CLASS_IMAGES} a per-class interval needs, so no class is named hardest or easiest.")
    if not extremes:
        return "These results carry no per-class intervals (written by an older genreport), so no class is named hardest or easiest."
    parts = []
    for end, name, mean, ties in (("hardest", extremes.hardest, extremes.hardest_mean, extremes.hardest_ties),
                                  ("easiest", extremes.easiest, extremes.easiest_mean, extremes.easiest_ties)):
        if name:
            parts.append(f"{end}: {name} (mean SSIM over variants {mean:.4f}, its 95% interval over "
                         f"{over} apart from every other class's)")
        elif ties:
            parts.append(f"no single {end} class: the 95% intervals over {over} of {', '.join(ties[1:])} overlap that of {ties[0]}")
    if not parts:
        return "With one class there is no hardest or easiest class."
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def class_interval_note(smallest_class: int | None) -> str | None:
    """What the per-class intervals are worth when classes are small (``smallest_class`` images in the smallest); None otherwise."""
    if smallest_class is None or smallest_class > NARROW_UP_TO_IMAGES:
        return None
    short = f"A class of fewer than {MIN_CLASS_IMAGES} test images has no interval. " if smallest_class < MIN_CLASS_IMAGES else ""
    return (f"{short}With {MIN_CLASS_IMAGES} to {NARROW_UP_TO_IMAGES} test images a class, these percentile bootstrap intervals "
            f"are narrower than 95%: in simulation they covered the class mean for 82-84% of classes at 5 images, "
            f"92-93% at 20 and 93-94% at 50.")


def replicated_published_verdict(uniform: SeedFigures, gaussian: SeedFigures, reference: float | None) -> str:
    """The across-seed verdict against the published figure, per definition, judged on the across-seed interval."""
    if reference is None:
        return "–"
    return published_words((uniform.mean, uniform.ci95), (gaussian.mean, gaussian.ci95), reference)


def replicate_sentence(c: ReplicatedComparison) -> str:
    """A plain sentence for one across-seed comparison: a verdict on the designs, with its family-wide interval."""
    low = c.family_ci_low if c.family_ci_low is not None else c.ci_low
    high = c.family_ci_high if c.family_ci_high is not None else c.ci_high
    level = c.family_level if c.family_level is not None else 0.95
    direction = "scores higher" if c.mean_difference > 0 else "scores lower"
    verdict = {"better": f"the {c.second} design is better.", "worse": f"the {c.second} design is worse."}.get(
        c.verdict, "no clear difference between the designs: the interval includes zero.")
    text = (f"{c.second} vs {c.first}: {signed(c.mean_difference)} SSIM across {c.seeds} seeds, "
            f"{100 * level:.1f}% interval [{signed(low)}, {signed(high)}] over seeds and test images "
            f"(widened for {c.family_size or 1} comparisons); {c.second} {direction} in {c.seeds_same_order} of {c.seeds} seeds; {verdict}")
    if c.bimodal_seeds:
        text += " The per-seed differences fall into two groups, so the interval, which assumes normal seed effects, may be too narrow."
    return text


def readable_value(value: Any) -> str:
    """A setting as a person reads it: no None, brackets or quotes."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{k} {readable_value(v)}" for k, v in value.items()) or "–"
    if isinstance(value, (list, tuple)):
        return ", ".join(readable_value(v) for v in value) or "–"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def readable_settings(config: dict[str, Any]) -> list[tuple[str, str]]:
    """The run's settings as (name, value) text pairs; the command line is shown on its own."""
    return [(key.replace("_", " "), readable_value(value)) for key, value in config.items() if key != "command_line"]


def models_note(given: list[str], variants: list[str]) -> str:
    """What the report can and cannot say about models genreport did not train."""
    which = "Models scored as given" if len(given) == len(variants) else f"Scored as given: {', '.join(given)}"
    return (f"{which}: genreport did not train {'them' if len(given) > 1 else 'it'} and holds no record of how, so no "
            "interval in this report covers training randomness, and every comparison is about these trained models, never "
            "about their designs.")
