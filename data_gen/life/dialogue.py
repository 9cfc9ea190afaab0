"""One session as message pairs (speaker's turn, friend's turn): greetings and goodbyes, small talk with no facts
(short chit-chat, or long thanks and encouragement as LOCOMO's fact-free turns are),
fact turns realised as a plain statement, a story with details (companion, feelings, colour), a mention inside
small talk, an answer to the friend's question (asked in the previous pair) or a shared photo with its caption;
the friend reacts, asks back, or talks about their own life (the friend's facts: each op names its speaker, whose memory
scope keeps it)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from data_gen.life import talk
from data_gen.life.talk import cap, decap, tidy
from data_gen.synthetic.models import GoldOp, said_by

PHOTO_KINDS = {"event", "happen", "state", "restate"}


def _main_turn(life, p, date: datetime, pending: str | None) -> tuple[str, list[GoldOp], str, bool] | None:
    """(text, ops, the friend's reaction mood, whether the turn ends with a question back)."""
    rng = life.rng
    first = life.fact(p, date, prefer=pending)
    if first is None:
        return None
    styles = ["statement"] * 4 + ["smalltalk"] * 2
    if first.kind in ("event", "happen"):
        styles += ["story"] * 3
    if first.cap and first.kind in PHOTO_KINDS:
        styles += ["photo"] * 2
    style = "answer" if pending else rng.choice(styles)
    head, saids, tail = first.text, [first], ""
    if style == "story":  # the companion and the feeling in sentences of their own, then some colour
        if first.comp:
            head = f"{first.bare} " + rng.choice(talk.COMPANION).format(comp=first.comp, Comp=cap(first.comp))
        if rng.random() < 0.6 and (feel := life.feeling(p, first)):
            saids.append(feel)
        tail = rng.choice(first.fam.colour + talk.STORY_GLUE)
    if rng.random() < 0.2 and (second := life.fact(p, date)):  # a multi-fact turn
        saids.append(second)
    body = " ".join([head] + [s.text for s in saids[1:]] + ([tail] if tail else []))
    if style == "smalltalk":
        body = f"{rng.choice(talk.SMALL_OPEN)} {rng.choice(talk.CONNECTOR)}{decap(body)}"
    elif style == "answer":
        opener = rng.choice(talk.ANSWER_OPENER)
        body = opener + (decap(body) if opener.endswith(", ") else body)
    elif style == "photo":
        body = f"{rng.choice(talk.PHOTO_INTRO)} {body} [shares a photo of {first.cap}]"
    asked = rng.random() < 0.25
    if asked:
        body += rng.choice(talk.CLOSER)
    mood = "photo" if style == "photo" else talk.REACT_OF.get(first.kind, "good")
    return tidy(body), [o for s in saids for o in s.ops], mood, asked


def _friend_turn(life, f, date: datetime, mood: str, want_fact: bool, can_ask: bool
                 ) -> tuple[str, list[GoldOp], str | None]:
    """(text, ops, the kind of question asked for the next pair to answer, or None)."""
    rng = life.rng
    react = rng.choice(talk.REACT[mood])
    if rng.random() < 0.7:  # a long fact-free reaction, as LOCOMO's are (talk.SUPPORT)
        react = f"{react} {rng.choice(talk.SUPPORT[mood])}"
    if want_fact and (said := life.fact(f, date)):
        intro = rng.choice(talk.FRIEND_INTRO)
        text = f"{react} {intro}{decap(said.text) if intro.endswith(', ') else said.text}"
        if said.cap and said.kind in PHOTO_KINDS and rng.random() < 0.25:
            text += f" [shares a photo of {said.cap}]"
        return tidy(text), said.ops, None
    if can_ask and rng.random() < 0.3:
        kind = rng.choice(list(talk.QUESTION))
        return f"{react} {rng.choice(talk.QUESTION[kind])}", [], kind
    return react, [], None


def session_pairs(life, main, friend, date: datetime, n: int) -> Iterator[tuple[str, str, list[GoldOp]]]:
    """The n pairs of one session: (main's text, friend's text, gold ops in the order they are said)."""
    rng = life.rng
    pending = None
    for i in range(n):
        life.locked.clear()
        life.pair_facts.clear()
        last = i == n - 1
        r = rng.random()
        turn = None
        if pending or not ((i == 0 and r < 0.6) or (last and r < 0.3) or r < 0.12):
            turn = _main_turn(life, main, date, pending)
        if turn is None:  # greeting, goodbye or small talk: no facts on this side
            if i == 0:
                a, b = rng.choice(talk.GREET).format(f=friend.name), rng.choice(talk.GREET_REPLY)
            elif last:
                a, b = rng.choice(talk.BYE), rng.choice(talk.BYE_REPLY)
            elif rng.random() < 0.6:  # long fact-free talk: thanks and encouragement (talk.PEP)
                a, b = rng.choice(talk.PEP), rng.choice(talk.PEP_REPLY)
            else:
                a, b = rng.choice(talk.CHIT), rng.choice(talk.CHIT_REPLY)
            ops: list[GoldOp] = []
            pending = None
            if i == 0 and rng.random() < 0.3:  # "how have you been?" answered with news
                news, ops, _ = _friend_turn(life, friend, date, "flat", True, False)
                b = f"Hi {{n}}! {news}" if ops else b
                ops = said_by(ops, friend.name)
            yield a, b.replace("{n}", main.name), ops
            continue
        a, ops, mood, asked = turn
        b, fops, pending = _friend_turn(life, friend, date, mood, rng.random() < (0.6 if asked else 0.2), not last)
        yield a, b, said_by(ops, main.name) + said_by(fops, friend.name)
