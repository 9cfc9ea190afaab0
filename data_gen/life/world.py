"""A whole life world: the two speakers and their people, dated sessions of message pairs from
`dialogue.session_pairs`, each pair's gold checked as the pipeline will check it, the final state and QA probes."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from data_gen.life import talk
from data_gen.life.dialogue import session_pairs
from data_gen.life.generator import MIN_SUPPORT, Life, Person
from data_gen.life.qa import qa_probes
from data_gen.life.schema import Family
from data_gen.synthetic.models import GoldPair, SessionInfo, World, replay
from memmgr.pipeline import fact_sources
from memmgr.sanitize import check_grounded, check_memory_text
from memmgr.types import Message, human_date


def _person(rng: random.Random, name: str, gender: str, taken: set[str]) -> Person:
    kins = [rng.choice(["sister", "brother"]), rng.choice(["mom", "dad"]),
            rng.choice(["friend", "coworker", "neighbor"]), rng.choice(["cousin", "aunt", "uncle", "grandma"])]
    if rng.random() < 0.7:
        kins.append(rng.choice(["wife", "husband", "girlfriend", "boyfriend", "partner"]))
    if rng.random() < 0.5:
        kins += rng.sample(["son", "daughter"], rng.randint(1, 2))
    people = []
    for kin in kins:
        g = talk.KIN[kin] if talk.KIN[kin] != "x" else rng.choice("fm")
        pool = [n for n in (talk.KIN_NAMES_F if g == "f" else talk.KIN_NAMES_M) if n not in taken]
        taken.add(kname := rng.choice(pool))
        people.append((kin, kname, g))
    return Person(name, gender, people)


def _check(pair: GoldPair) -> None:
    """Each gold fact passes the checks the pipeline's extraction applies (raises: a generator bug)."""
    sources = fact_sources(pair.messages, human_date(pair.messages[0].timestamp))
    for op in pair.ops:
        check_grounded(check_memory_text(op.fact), sources, min_support=MIN_SUPPORT)


def generate_world(seed: int, index: int, split: str, families: list[Family],
                   n_sessions: tuple[int, int] = (3, 30)) -> World:
    rng = random.Random(f"life:{seed}:{split}:{index}")
    world_id = f"life-{split}-{seed}-{index:05d}"
    gm, gf = rng.choice("fm"), rng.choice("fm")
    main_name = rng.choice(talk.NAMES_F if gm == "f" else talk.NAMES_M)
    friend_name = rng.choice([n for n in (talk.NAMES_F if gf == "f" else talk.NAMES_M) if n != main_name])
    taken = {main_name, friend_name}
    main, friend = _person(rng, main_name, gm, taken), _person(rng, friend_name, gf, taken)
    life = Life(rng, families)
    date = datetime(2022, 1, 1) + timedelta(days=rng.randint(0, 500), hours=rng.randint(8, 20),
                                              minutes=rng.choice([0, 15, 30, 45]))
    pairs, sessions = [], []
    for s in range(1, rng.randint(*n_sessions) + 1):
        date += timedelta(days=rng.randint(3, 21))
        info = SessionInfo(index=s, date_time=date)
        for p, (a, b, ops) in enumerate(session_pairs(life, main, friend, date, rng.randint(3, 8))):
            pid = f"{world_id}:s{s}:p{p}"  # message ids unique across worlds: the oracle finds the pair by them
            msgs = [Message(role="user", name=main.name, content=a, id=f"{pid}:a", timestamp=date),
                    Message(role="assistant", name=friend.name, content=b, id=f"{pid}:b", timestamp=date)]
            pair = GoldPair(pair_id=pid, session=s, messages=msgs, facts=[o.fact for o in ops], ops=ops)
            _check(pair)
            pairs.append(pair)
            info.pair_ids.append(pid)
        sessions.append(info)
    world = World(world_id=world_id, split=split, speakers=[main.name, friend.name], user_id=world_id,
                  sessions=sessions, pairs=pairs, final_state=[], qa=[])
    world.final_state = replay(world)  # the main speaker's scope; the friend's is replay(world, friend.name)
    world.qa = qa_probes(life, main, set(world.final_state))
    return world
