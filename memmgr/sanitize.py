"""Checks every text a manager proposes before it can be embedded or stored.

The manager is a small model and its output is untrusted: texts are normalised, stripped of control/bidi/surrogate
characters, capped in length, and rejected (with a stable reason code) when they are degenerate loops, markup,
prompt-injection or chat-template text, secrets, copies of the prompt's own examples, not grounded in the
messages they were extracted from, or (extraction) about another speaker than the memory's owner, or read from
another speaker's turn rather than the owner's (`check_own_turn`, off by default).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

from memmgr.prompts import PROMPT_EXAMPLE_TEXTS

# Unicode categories dropped outright: controls, format chars (bidi overrides, zero-width), surrogates,
# private use, unassigned.
_DROP_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn"}
_WORD_RE = re.compile(r"[\w']+", re.UNICODE)
_MARKUP_RES = [
    re.compile(r"```"),  # code fences
    re.compile(r"\|\s*-{3,}"),  # markdown table rule
    re.compile(r"(\|[^|\n]*){3,}\|"),  # table row
    re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(\s[^>]*)?>"),  # html/xml tags
    re.compile(r"^\s*[\[{]"),  # JSON / list literal
    re.compile(r"[{}]"),  # braces anywhere (JSON fragments, templates)
    re.compile(r"^\s*#{1,6}\s"),  # markdown heading
]
_INJECTION_RES = [
    re.compile(r"<\|[^|>]{1,40}\|>"),  # chat template tokens: <|im_start|>, <|eot_id|> ...
    re.compile(r"\[/?INST\]|<</?SYS>>|<start_of_turn>|<end_of_turn>", re.I),
    re.compile(r"\b(ignore|disregard|forget)\b.{0,40}\b(previous|prior|above|earlier|all)\b.{0,40}"
               r"\b(instructions?|prompts?|rules?|memories|messages)\b", re.I),
    re.compile(r"\b(delete|erase|wipe|remove|clear)\b.{0,20}\b(all|every|everything)\b.{0,20}\b(memor(y|ies)|data)",
               re.I),
    re.compile(r"^\s*(system|assistant)\s*:", re.I),
    re.compile(r"\byou are (now )?(an? )?(ai|assistant|language model|chatgpt)\b", re.I),
]
_SECRET_RES = [
    re.compile(r"\b(password|passcode|passwd|pin code|api[_ -]?key|secret key|access token)\b\s*(is|:|=)", re.I),
    re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\b(?:\d[ -]?){13,19}\b"),  # card-number-like digit runs
]
# Function words and generic fact verbs: they need no support from the source messages.
STOPWORDS = frozenset(
    """a an the and or but if then than so to of in on at by for with from about into over after before during
    since until up down out off as is are was were be been being am has have had having do does did done not no
    nor this that these those it its it's he she they them his her their hers theirs him i me my mine we us our
    you your yours who whom whose which what when where why how all any both each few more most other some such
    only own same too very can will just should would could may might must shall also still now ever never really
    user user's likes like liked enjoys enjoy loves love wants want plans plan planning going got get gets started
    start starts stopped stop recently currently new old one two first last next week weeks month months year years
    day days today yesterday tomorrow ago early late mid around time times lot lots many much named called
    name weekend morning evening night january february march april may june july august september october
    november december monday tuesday wednesday thursday friday saturday sunday spring summer autumn fall winter""".split()
)
_MONTHS = frozenset("january february march april may june july august september october november december".split())
_NUMBER_WORDS = {w: i for i, w in enumerate(
    """zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen
    eighteen nineteen twenty""".split())} | {w: 10 * i for i, w in enumerate(
        "thirty forty fifty sixty seventy eighty ninety".split(), start=3)}
_DIGITS_RE = re.compile(r"\d+")
_THOUSANDS_SEP_RE = re.compile(r"(?<=\d),(?=\d{3}\b)")
# all-digit dates: 2023-04-25, 2023/4/25, 25/04/2023, 4-25-23 (dots are left out: they are versions and decimals)
_NUMERIC_DATE_RE = re.compile(r"(?<![\w/-])(?:\d{4}([-/])\d{1,2}\1\d{1,2}|\d{1,2}([-/])\d{1,2}\2(?:\d{4}|\d{2}))(?![\d/-])")


class Rejected(ValueError):
    """A text failed a check; `reason` is the stable code counted in reports."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def clean_text(text: str) -> str:
    """NFKC, drop control/format/surrogate chars, collapse whitespace. Never raises on odd code points."""
    if not isinstance(text, str):
        raise Rejected("not_text", type(text).__name__)
    # Lone surrogates cannot be NFKC-normalised or UTF-8 encoded: drop them first.
    text = "".join(ch for ch in text if not 0xD800 <= ord(ch) <= 0xDFFF)
    text = unicodedata.normalize("NFKC", text)
    text = "".join(" " if ch in "\t\n\r\x0b\x0c" else ch for ch in text)
    text = "".join(ch for ch in text if unicodedata.category(ch) not in _DROP_CATEGORIES)
    return " ".join(text.split())


def norm_text(text: str) -> str:
    """Lower-cased, whitespace collapsed: the key under which two texts count as the same (dedup, hashes)."""
    return " ".join(text.lower().split())


def words(text: str) -> list[str]:
    return [w.lower().strip("'") for w in _WORD_RE.findall(text) if w.strip("'")]


def _looping(tokens: Sequence[str]) -> bool:
    if len(tokens) < 8:
        return False
    if len(set(tokens)) / len(tokens) < 0.35:
        return True
    # any 1-3-gram repeated back to back 4+ times ("is is is is", "la la la la")
    for n in (1, 2, 3):
        for i in range(len(tokens) - 4 * n + 1):
            gram = tokens[i : i + n]
            if all(tokens[i + k * n : i + (k + 1) * n] == gram for k in range(1, 4)):
                return True
    return False


def check_memory_text(text: str, *, max_chars: int = 400, min_chars: int = 3) -> str:
    """Return the cleaned text or raise Rejected. Does not check grounding (see `check_grounded`)."""
    cleaned = clean_text(text)
    if len(cleaned) < min_chars or not any(ch.isalpha() for ch in cleaned):
        raise Rejected("empty_text", repr(text[:40]))
    if len(cleaned) > max_chars:
        raise Rejected("too_long", f"{len(cleaned)} > {max_chars} chars")
    for rx in _INJECTION_RES:
        if rx.search(cleaned):
            raise Rejected("injection", cleaned[:80])
    for rx in _SECRET_RES:
        if rx.search(cleaned):
            raise Rejected("secret", "looks like a credential")
    for rx in _MARKUP_RES:
        if rx.search(cleaned):
            raise Rejected("markup", cleaned[:80])
    if _looping(words(cleaned)):
        raise Rejected("repetition", cleaned[:80])
    return cleaned


def _stem(word: str) -> str:
    for suffix in ("'s", "ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def content_words(text: str, ignore: Iterable[str] = ()) -> list[str]:
    """Stemmed words that need support; words with digits are left to `numbers`. `ignore`: texts (speakers' names)
    whose own content words are left out."""
    drop = {w for name in ignore for w in content_words(name)}
    return [cw for cw in (_stem(w) for w in words(text) if w not in STOPWORDS and not any(ch.isdigit() for ch in w))
            if cw not in drop]


def numbers(text: str) -> list[tuple[int, bool]]:
    """The numbers written with digits in `text` ("10,000" is one number, "3pm" holds 3, "7th" holds 7), each with
    whether it is part of a date: next to a month name ("7 May", "May 7th"), next to such a number ("12-13 March
    2022"), in an all-digit date ("2023-04-25", "25/04/2023"), or a year from 1900 to 2099."""
    text = _THOUSANDS_SEP_RE.sub("", text)
    toks: list[str] = []
    dated: set[int] = set()
    pos = 0
    for m in _NUMERIC_DATE_RE.finditer(text):
        toks += words(text[pos:m.start()])
        parts = words(m.group())
        dated.update(range(len(toks), len(toks) + len(parts)))
        toks += parts
        pos = m.end()
    toks += words(text[pos:])
    found = [(i, int(d)) for i, t in enumerate(toks) for d in _DIGITS_RE.findall(t)]
    dated |= {i for i, t in enumerate(toks) if t in _MONTHS}
    for i, _ in found + found[::-1]:  # forwards then backwards, so chains ("12 13 march") are caught both ways
        if i - 1 in dated or i + 1 in dated:
            dated.add(i)
    return [(n, i in dated or 1900 <= n <= 2099) for i, n in found]


def support(text: str, sources: Iterable[str], ignore: Iterable[str] = ()) -> float:
    """Fraction of the text's content words (stemmed; those of `ignore` left out) and numbers that appear in the
    sources (1.0 when it has none).

    Numbers must match exactly (as digits in the sources, or as number words up to "ninety"). A date number counts
    like a content word, so "7 May 2023" resolved from "yesterday" on 8 May 2023 is supported by the session date
    except for the 7; any other number missing from the sources makes the text ungrounded (0.0): "ran 42 km" is not
    supported by "ran 10 km".
    """
    sources = list(sources)
    cw = content_words(text, ignore)
    nums = numbers(text)
    if not cw and not nums:
        return 1.0
    known = {n for s in sources for n, _ in numbers(s)} | {_NUMBER_WORDS[w] for s in sources for w in words(s)
                                                             if w in _NUMBER_WORDS}
    if any(n not in known and not is_date for n, is_date in nums):
        return 0.0
    vocab = {_stem(w) for s in sources for w in words(s)}
    hits = sum(1 for w in cw if w in vocab) + sum(1 for n, _ in nums if n in known)
    return hits / (len(cw) + len(nums))


def is_prompt_copy(text: str, sources: Iterable[str]) -> bool:
    """True when the text repeats one of the prompt's own examples that the messages do not support."""
    norm = " ".join(words(text))
    for example in PROMPT_EXAMPLE_TEXTS:
        if norm == " ".join(words(example)) or (
            _overlap(content_words(text), content_words(example)) >= 0.8
        ):
            return support(text, sources) < 0.99
    return False


def _overlap(a: Sequence[str], b: Sequence[str]) -> float:
    if not a or not b:
        return 0.0
    common = sum((Counter(a) & Counter(b)).values())
    return common / max(len(a), len(b))


def unsupported_year(text: str, sources: Iterable[str]) -> int | None:
    """A year (1900-2099) in `text` more than one away from every year in `sources`, or None. A resolved relative
    date stays within one of the session date's year ("last month" on 4 January 2023 is December 2022); a small
    student that writes a year from its training data (2023 on a 2026 session date) does not."""
    years = {n for s in sources for n, _ in numbers(s) if 1900 <= n <= 2099}
    return next((n for n, _ in numbers(text) if 1900 <= n <= 2099 and all(abs(n - y) > 1 for y in years)), None)


def check_grounded(text: str, sources: Sequence[str], *, min_support: float) -> None:
    """Raise Rejected unless enough of the text is supported by `sources` (the turns it came from, the session
    date) and every year in it is near one of theirs (`unsupported_year`)."""
    if is_prompt_copy(text, sources):
        raise Rejected("prompt_copy", text[:80])
    if min_support <= 0:
        return
    year = unsupported_year(text, sources)
    if year is not None:
        raise Rejected("ungrounded", f"{year} is not within a year of the messages or the date: {text[:80]}")
    score = support(text, sources)
    if score < min_support:
        raise Rejected("ungrounded", f"support {score:.2f} < {min_support:.2f}: {text[:80]}")


def _names_in(text: str, names: Iterable[str]) -> bool:
    return any(re.search(rf"(?<!\w){re.escape(n)}(?!\w)", text, re.IGNORECASE) for n in names if n)


def check_owner(text: str, owner: Sequence[str], speakers: Sequence[str]) -> None:
    """Raise Rejected("not_owner") for a fact about another of the conversation's `speakers` than the memory's
    `owner`: it opens with their name (or possessive) and never names the owner. A scope keeps its owner's facts (Mem0
    extracts from the user's messages); what the other speaker says about themselves belongs to their own scope."""
    others = [o for o in speakers if o and o.lower() not in {w.lower() for w in owner}]
    head = text.lstrip("\"'“ ")
    subject = next((o for o in others if re.match(rf"{re.escape(o)}(?!\w)", head, re.IGNORECASE)), None)
    if subject and not _names_in(text, owner):
        raise Rejected("not_owner", f"about {subject}, not {', '.join(owner)}: {text[:80]}")


def check_own_turn(text: str, owner: Sequence[str], own: Sequence[str], others: Sequence[str], *,
                   margin: float | None) -> None:
    """Raise Rejected("other_speakers_turn") when the fact's words come from another speaker's new turn rather than
    the owner's: `support` in the other turns minus `support` in the owner's turns >= `margin` (the owner's names
    left out of the fact; every fact of the scope names them). A small student made to open its fact with the
    owner's name (pipeline.open_with_owner) writes the other speaker's news under it: "Jon found a place with great
    natural light in Paris" in Jon's scope, from Gina's turn (docs/real_dialogue.md). No-op when `margin` is None or
    the pair lacks either side."""
    if margin is None or not own or not others:
        return
    gap = support(text, others, ignore=owner) - support(text, own, ignore=owner)
    if gap >= margin:
        raise Rejected("other_speakers_turn", f"support in the other speaker's turn exceeds the owner's by "
                                              f"{gap:.2f} >= {margin}: {text[:80]}")
