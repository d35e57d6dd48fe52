"""The slowest regular expressions a rule still accepts, on MAX_REGEX_TEXT characters.

A rule's regular expression runs on the logging call's thread. ``rule.slow_construct``
refuses the shapes that backtrack exponentially or by a high power; this measures the
worst of what it lets through, each on texts that never match (the slow case), and shows
what it refuses.

    python -m benchmarks.regex_worst_case
"""

from __future__ import annotations

import time

from incidentio_logging.rule import MAX_REGEX_TEXT, parse

#: Texts without "=", so every pattern below backtracks through all of them.
TEXTS = {"letters": "a" * MAX_REGEX_TEXT, "words": ("word " * MAX_REGEX_TEXT)[:MAX_REGEX_TEXT],
         "spaces": " " * MAX_REGEX_TEXT, "pairs": ("ab" * MAX_REGEX_TEXT)[:MAX_REGEX_TEXT]}

#: Adversarial shapes: two unbounded repeats with everything the check allows beside them,
#: and the shapes it refuses.
PATTERNS = [
    r".*.*=", r".+.+=", r".*\s?.*=", r"(?i).*\s?.*=", r"[\s\S]*[\s\S]*=", r"\w*\s?\w*=",
    r".*[^=]*=", r".*(?:a|b).*=", r"a{0,250}a{0,250}=", r"(?=.*.*=)", r"(.)*=",
    r".*(.*)=", r"(.)*(.)*=", r".*?.*?=", r".*.*.*=", r"(.|\s)*timeout", r"(.*).*\1=",
    r"(a+)+$", r".{0,31}.{0,31}.{0,31}.{0,31}=",
]


def worst_ms(pattern: str) -> tuple[float, str] | None:
    """The slowest search over TEXTS in milliseconds and its text, or None if refused."""
    try:
        (term,) = parse('message:~"' + pattern.replace("\\", "\\\\") + '"')
    except ValueError:
        return None
    results = []
    for name, text in TEXTS.items():
        started = time.perf_counter()
        term.value.search(text[:MAX_REGEX_TEXT])
        results.append(((time.perf_counter() - started) * 1e3, name))
    return max(results)


def main() -> None:
    """Print one markdown row per pattern, slowest accepted first."""
    accepted, refused = [], []
    for pattern in PATTERNS:
        worst = worst_ms(pattern)
        if worst is None:
            refused.append(pattern)
        else:
            accepted.append((worst[0], pattern, worst[1]))
    print(f"| accepted pattern | slowest search of {MAX_REGEX_TEXT} characters |")
    print("|---|---|")
    for ms, pattern, text in sorted(accepted, reverse=True):
        cell = pattern.replace("|", "\\|")  # a | inside a markdown table cell
        print(f"| `{cell}` | {ms:.1f} ms ({text}) |")
    print()
    print("Refused when the handler is built: " + ", ".join(f"`{p}`" for p in refused))


if __name__ == "__main__":
    main()
