"""Pure number functions for reports (same result compiled or from source)."""

import math

GRADES = ((90, "A"), (75, "B"), (60, "C"), (40, "D"))


def pass_rate(passed, total):
    """Integer percent of passed checks, rounded down (100 only when all pass)."""
    if total <= 0:
        return 0
    return passed * 100 // total


def grade(rate):
    """A letter for a pass rate: A (>= 90) down to F."""
    for floor, letter in GRADES:
        if rate >= floor:
            return letter
    return "F"


def mean(values):
    """Arithmetic mean, 0.0 for no values."""
    values = list(values)
    return sum(values) / len(values) if values else 0.0


def percentile(values, q):
    """The q-th percentile (0..100) with linear interpolation, 0.0 for no values."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    position = (len(ordered) - 1) * q / 100.0
    low = int(math.floor(position))
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def weighted_score(values, weights):
    """Sum of value*weight divided by the sum of weights, 0.0 when weights sum to 0."""
    values, weights = list(values), list(weights)
    if len(values) != len(weights):
        raise ValueError("%d values but %d weights" % (len(values), len(weights)))
    total = sum(weights)
    if not total:
        return 0.0
    return sum(values[i] * weights[i] for i in range(len(values))) / total


def histogram(values, bins, low, high):
    """Counts of `values` in `bins` equal bins over [low, high]; outliers clamp to the ends."""
    counts = [0] * bins
    span = (high - low) or 1
    for value in values:
        index = int((value - low) * bins / span)
        counts[min(max(index, 0), bins - 1)] += 1
    return counts


def cosine(left, right):
    """Cosine similarity of two sparse vectors given as {key: count} mappings."""
    dot = sum(count * right.get(key, 0) for key, count in left.items())
    norm = math.sqrt(sum(c * c for c in left.values())) * math.sqrt(
        sum(c * c for c in right.values()))
    return dot / norm if norm else 0.0
