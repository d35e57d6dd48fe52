"""Grouping accuracy of message parameterization on a labelled corpus of real log templates.

    python -m benchmarks.grouping_accuracy                      # ours from incidentio_logging
    python -m benchmarks.grouping_accuracy --mask pkg.mod:func  # any str -> str masker

Three groupers see the same messages, in the corpus order, in one run:

- exact text: one group per distinct message, which is what a record logged with an
  f-string gets without parameterization;
- ours: one group per ``mask(message)``, stateless;
- Drain3's ``TemplateMiner`` with its default settings, an online miner that learns
  templates from the messages it has seen (one group per cluster it assigns).

Grouping Accuracy (GA) is the metric of Zhu et al., "Tools and Benchmarks for Automated
Log Parsing" (ICSE-SEIP 2019): a message is grouped correctly when the set of messages in
its predicted group is exactly the set of messages of its true group; GA is the share of
messages grouped correctly. Splitting a template in two, or merging two templates, makes
every message of the groups involved wrong.

The corpus and how it was built: ``benchmarks/build_grouping_corpus.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import logging
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any, TypeVar

from .build_grouping_corpus import CORPUS, INSTANCES, PER_PACKAGE, WORD_GENERATORS, load

DEFAULT_MASK = "incidentio_logging._identity:mask"
SPLITS = ("tuning", "held out")


def split_of(package: str) -> str:
    """Which half of the corpus a package is in: the masking may be tuned on "tuning"
    only, so "held out" shows how it does on calls it was never adjusted to. Fixed by
    a hash of the package name, chosen before any tuning."""
    return SPLITS[int(hashlib.sha256(package.encode()).hexdigest(), 16) % 2]
Masker = Callable[[str], str]
T = TypeVar("T")


def grouping_accuracy(truth: Sequence[Hashable], predicted: Sequence[Hashable]) -> list[bool]:
    """Per message, whether its predicted group holds exactly the messages of its true group."""
    true_members: dict[Hashable, set[int]] = defaultdict(set)
    predicted_members: dict[Hashable, set[int]] = defaultdict(set)
    for index, (true, guess) in enumerate(zip(truth, predicted, strict=True)):
        true_members[true].add(index)
        predicted_members[guess].add(index)
    return [predicted_members[guess] == true_members[true]
            for true, guess in zip(truth, predicted, strict=True)]


def merged_templates(truth: Sequence[Hashable], predicted: Sequence[Hashable]) -> int:
    """How many true groups share a predicted group with another: problems that would
    arrive inside another problem's alert."""
    mixed: dict[Hashable, set[Hashable]] = defaultdict(set)
    for true, guess in zip(truth, predicted, strict=True):
        mixed[guess].add(true)
    return len(set().union(*(trues for trues in mixed.values() if len(trues) > 1)))


@dataclass(frozen=True)
class Outcome:
    """One grouper's result over the corpus."""

    name: str
    correct: list[bool]  # per message, in corpus order
    groups: int
    merged: int  # true groups sharing a predicted group with another
    micros: float | None  # µs per message, best of the timed passes; None when not timed

    @property
    def accuracy(self) -> float:
        return sum(self.correct) / len(self.correct)


def drain3_groups(messages: Sequence[str]) -> list[int]:
    """Drain3's cluster per message, fed in order to a fresh miner with default settings."""
    from drain3 import TemplateMiner
    from drain3.template_miner_config import TemplateMinerConfig

    # An explicit default config: TemplateMiner() would read a drain3.ini from the cwd.
    miner = TemplateMiner(config=TemplateMinerConfig())
    return [miner.add_log_message(message)["cluster_id"] for message in messages]


def timed(run: Callable[[], list[T]], passes: int) -> tuple[list[T], float]:
    """The run's groups, and microseconds per message of the fastest of ``passes`` runs."""
    best, groups = float("inf"), []
    for _ in range(max(passes, 1)):
        started = time.perf_counter()
        groups = run()
        best = min(best, time.perf_counter() - started)
    return groups, best / max(len(groups), 1) * 1e6


def load_mask(path: str) -> Masker:
    """``module:function`` to the function."""
    module, _, name = path.partition(":")
    function: Masker = getattr(importlib.import_module(module), name or "mask")
    return function


def compare(lines: list[dict[str, Any]], mask: Masker | None, passes: int = 3) -> list[Outcome]:
    """Exact text, ours (when ``mask`` is given) and Drain3, over the corpus lines."""
    messages = [line["message"] for line in lines]
    truth = [line["template_id"] for line in lines]
    outcomes = [Outcome("exact text (f-strings today)", grouping_accuracy(truth, messages),
                        len(set(messages)), merged_templates(truth, messages), None)]
    if mask is not None:
        keys, micros = timed(lambda: [mask(m) for m in messages], passes)
        outcomes.append(Outcome("ours (`mask`, stateless)", grouping_accuracy(truth, keys),
                                len(set(keys)), merged_templates(truth, keys), micros))
    # Drain3 logs its progress through the stdlib; that is not what is measured.
    logging.getLogger("drain3").setLevel(logging.WARNING)
    clusters, micros = timed(lambda: drain3_groups(messages), passes)
    outcomes.append(Outcome(f"Drain3 {metadata.version('drain3')} (default settings, online)",
                            grouping_accuracy(truth, clusters), len(set(clusters)),
                            merged_templates(truth, clusters), micros))
    return outcomes


def section(path: str = CORPUS, mask_path: str = DEFAULT_MASK, passes: int = 3,
            only: str | None = None) -> Iterator[str]:
    """The markdown section for BENCHMARKS.md; ``only`` measures one split alone."""
    lines = [line for line in load(path) if only is None or split_of(line["package"]) == only]
    try:
        mask: Masker | None = load_mask(mask_path)
    except (ImportError, AttributeError) as error:
        mask, missing = None, f"{mask_path} could not be loaded ({error})"
    else:
        missing = ""
    outcomes = compare(lines, mask, passes)
    templates = {line["template_id"] for line in lines}
    packages = Counter(line["package"] for line in lines)
    yield "## Grouping accuracy"
    yield ""
    yield (f"How well messages whose values are already in the text (f-strings, `.format`, "
           f"loguru) group into one alert per template. The corpus, "
           f"`benchmarks/data/grouping_corpus.jsonl`, has {len(lines):,} messages from "
           f"{len(templates)} templates of real logging calls, taken with `ast` from the "
           f"sources of {len(packages)} open-source packages ({', '.join(sorted(packages))}; "
           f"at most {PER_PACKAGE} per package; calls whose message has `%`-placeholders, "
           f"`{{}}` fields or is an f-string; templates with no literal word dropped; one "
           f"group per distinct template). Each template is filled in {INSTANCES[0]} to "
           f"{INSTANCES[1]} times with values chosen per placeholder from its conversion, "
           f"its argument's name and the words around it: numbers, durations, hosts, IPs and "
           f"ports, URLs, paths, e-mails, UUIDs, hex ids, timestamps, exception texts, object "
           f"reprs, and plain words (task, queue, module and state names) where the code "
           f"puts words, which no stateless masker can group. Some generators vary the shape "
           f"of a value between instances (an address as `ip:port` or as a tuple, three "
           f"kinds of object repr, four timestamp formats), which is harder for every "
           f"grouper than most real call sites. The messages are shuffled and given to each "
           f"grouper in that order. The corpus was built and committed before the masking "
           f"was tuned; "
           f"`benchmarks/build_grouping_corpus.py` says how, in full.")
    yield ""
    yield ("Grouping Accuracy as in Zhu et al., *Tools and Benchmarks for Automated Log "
           "Parsing* (ICSE-SEIP 2019): a message counts as right when the set of messages "
           "in its predicted group is exactly the set in its true group. *Merged* counts "
           "the templates that share a group with another template: a problem that would "
           "arrive inside another problem's alert. Cost is the "
           "worker's, per message, best of "
           f"{passes} passes (Drain3's includes learning its templates).")
    yield ""
    yield (f"| grouper | grouping accuracy | groups (true: {len(templates)}) | merged "
           f"templates | µs per message |")
    yield "|---|---|---|---|---|"
    for o in outcomes:
        cost = "" if o.micros is None else f"{o.micros:.1f}"
        yield f"| {o.name} | {o.accuracy:.3f} | {o.groups:,} | {o.merged} | {cost} |"
    if missing:
        yield ""
        yield f"(Ours not measured: {missing}.)"
    yield ""
    yield ("Split by what fills the placeholders: a plain word (a task, queue, module, "
           "class, state, user, method, signal or header name), which a stateless masker "
           "leaves as it is by design (\"rejected the refund\" and \"rejected the capture\" "
           "stay two alerts), or only values with digits, punctuation or free text "
           "(numbers, ids, hosts, paths, URLs, timestamps, exception texts, object reprs).")
    yield ""
    names = [outcome.name.split(" (")[0] for outcome in outcomes]
    yield f"| templates whose values are | templates | messages | {' | '.join(names)} |"
    yield "|---|---|---|" + "---|" * len(outcomes)
    yield from breakdown(lines, outcomes, lambda line: (
        "plain words, in part" if WORD_GENERATORS.intersection(line["generators"])
        else "never plain words"))
    yield ""
    yield ("Split by package, fixed by a hash of its name before any tuning: the masking "
           "was adjusted while looking only at the *tuning* half; the *held out* half shows "
           "how it does on calls it was never fitted to.")
    yield ""
    yield f"| packages | templates | messages | {' | '.join(names)} |"
    yield "|---|---|---|" + "---|" * len(outcomes)
    yield from breakdown(lines, outcomes, lambda line: split_of(line["package"]))
    yield ""
    yield "Per package:"
    yield ""
    yield f"| package | templates | messages | {' | '.join(names)} |"
    yield "|---|---|---|" + "---|" * len(outcomes)
    yield from breakdown(lines, outcomes, lambda line: str(line["package"]))
    yield ""


def breakdown(lines: list[dict[str, Any]], outcomes: list[Outcome],
              label: Callable[[dict[str, Any]], str]) -> Iterator[str]:
    """Table rows: per label, its templates, its messages and each grouper's accuracy over
    those messages."""
    members: dict[str, list[int]] = defaultdict(list)
    templates: dict[str, set[str]] = defaultdict(set)
    for index, line in enumerate(lines):
        members[label(line)].append(index)
        templates[label(line)].add(line["template_id"])
    for name in sorted(members):
        rows = members[name]
        cells = [f"{sum(o.correct[i] for i in rows) / len(rows):.2f}" for o in outcomes]
        yield f"| {name} | {len(templates[name])} | {len(rows)} | {' | '.join(cells)} |"


def main(argv: list[str] | None = None) -> int:
    """Print the section."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.grouping_accuracy")
    parser.add_argument("--mask", default=DEFAULT_MASK,
                        help=f"module:function of the masker (default {DEFAULT_MASK})")
    parser.add_argument("--corpus", default=CORPUS)
    parser.add_argument("--passes", type=int, default=3, help="timed passes per grouper")
    parser.add_argument("--split", choices=SPLITS,
                        help="measure one half of the corpus only (tune on 'tuning')")
    args = parser.parse_args(argv)
    for line in section(args.corpus, args.mask, args.passes, args.split):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
