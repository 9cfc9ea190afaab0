"""Token grounding (`support` / `check_grounded`): numbers must appear in the source turns or the session date."""

import pytest

from memmgr.sanitize import Rejected, check_grounded, check_own_turn, check_owner, norm_text, numbers, support

TURNS = ["Maya: I ran 10 km this morning, my best time yet!", "8 May 2023"]


def test_wrong_number_is_not_grounded():
    assert support("Maya ran 10 km", TURNS) == 1.0
    assert support("Maya ran 42 km", TURNS) == 0.0
    assert support("Maya ran 42km", TURNS) == 0.0
    with pytest.raises(Rejected) as e:
        check_grounded("Maya ran 42 km", TURNS, min_support=0.5)
    assert e.value.reason == "ungrounded"


def test_same_number_is_grounded_however_written():
    check_grounded("Maya ran 10 km", TURNS, min_support=0.5)
    check_grounded("Maya ran 10km", TURNS, min_support=0.5)
    assert support("Maya has 2 cats", ["Maya: I have two cats"]) == 1.0
    assert support("Maya earns 10000 a month", ["Maya: I earn 10,000 a month"]) == 1.0


def test_date_numbers_from_the_session_date_are_grounded():
    assert support("Maya ran 10 km on 8 May 2023", TURNS) == 1.0
    check_grounded("Maya ran 10 km on 8 May 2023", TURNS, min_support=0.5)


def test_resolved_relative_date_is_partly_supported_not_rejected():
    # "yesterday" on 8 May 2023 is resolved to 7 May 2023, as the extraction prompt asks
    sources = ["Maya: I went hiking yesterday.", "8 May 2023"]
    score = support("Maya went hiking on 7 May 2023", sources)
    assert 0.5 <= score < 1.0
    check_grounded("Maya went hiking on 7 May 2023", sources, min_support=0.5)


def test_numbers_marks_dates():
    assert numbers("Sam ran 21 km on 12-13 March 2022") == [(21, False), (12, True), (13, True), (2022, True)]
    assert numbers("May 7th, at 3pm") == [(7, True), (3, False)]
    assert numbers("on 2023-04-25 and 25/04/2023") == [(2023, True), (4, True), (25, True),
                                                       (25, True), (4, True), (2023, True)]
    assert numbers("version 3.10.12, part 1-2-3-4") == [(3, False), (10, False), (12, False),
                                                        (1, False), (2, False), (3, False), (4, False)]


def test_an_all_digit_date_from_the_session_date_is_grounded():
    # a student writes "on 2023-04-25" for a thing said on 25 April 2023: its 04 is a month, not a made-up number
    sources = ["Gina: I started my own online clothing store not so long ago", "11:24 am on 25 April, 2023"]
    check_grounded("Gina started her own online clothing store on 2023-04-25", sources, min_support=0.5)
    assert support("Gina sold 40 dresses on 2023-04-25", sources) == 0.0  # the 40 is still checked


def test_norm_text():
    assert norm_text("  Maya\tLIVES \n in Lisbon ") == "maya lives in lisbon"


@pytest.mark.parametrize("fact, owner, speakers, rejected", [
    ("Jon lost his job as a banker", ["Gina"], ["Gina", "Jon"], True),
    ("Jon's dance studio opened in May", ["Gina"], ["Gina", "Jon"], True),
    ('"Jon plans a trip to Rome"', ["Gina"], ["Gina", "Jon"], True),
    ("Jon told Gina he lost his job", ["Gina"], ["Gina", "Jon"], False),  # names the owner
    ("Gina's friend Jon is a dancer", ["Gina"], ["Gina", "Jon"], False),
    ("Gina lost her job", ["Gina"], ["Gina", "Jon"], False),
    ("Jonathan likes tea", ["Gina"], ["Gina", "Jon"], False),  # not the speaker's name
    ("Assistant recommended a novel", ["User"], ["user", "assistant"], True),  # unnamed speakers: their roles
    ("User likes pizza", ["User"], ["user", "assistant"], False),
    ("Maya's sister Anna lives in Oslo", ["Maya"], ["Maya", "Leo"], False),
])
def test_facts_about_another_speaker_are_not_the_owners(fact, owner, speakers, rejected):
    if rejected:
        with pytest.raises(Rejected, match="not_owner"):
            check_owner(fact, owner, speakers)
    else:
        check_owner(fact, owner, speakers)


GINA = "Hey Jon! I found a place with great natural light in Paris for the store."
JON = "Wow, congrats! My dance studio finally got its Marley flooring."


@pytest.mark.parametrize("fact,rejected", [
    ("Jon found a place with great natural light in Paris", True),  # Gina's news under the owner's name
    ("Jon's store is in Paris and has great natural light", True),
    ("Jon's dance studio got Marley flooring", False),  # the owner's own turn
    ("Jon got Marley flooring for his studio in Paris", False),  # mostly the owner's words
    ("Jon congratulated Gina", False),  # "Gina" is a word of neither turn: no support either side
])
def test_a_fact_read_from_the_other_speakers_turn(fact, rejected):
    if rejected:
        with pytest.raises(Rejected, match="other_speakers_turn"):
            check_own_turn(fact, ["Jon"], [JON], [GINA], margin=0.5)
    else:
        check_own_turn(fact, ["Jon"], [JON], [GINA], margin=0.5)
    # off, or nothing to compare with: never rejects
    check_own_turn(fact, ["Jon"], [JON], [GINA], margin=None)
    check_own_turn(fact, ["Jon"], [], [GINA], margin=0.5)
    check_own_turn(fact, ["Jon"], [JON], [], margin=0.5)


def test_a_year_far_from_the_messages_and_the_date_is_ungrounded():
    # a small student writes its training data's year (2023) into a fact said on a 2026 session date
    sources = ["maya: We just moved from Denver to Portland last month.", "1 December 2026"]
    with pytest.raises(Rejected) as e:
        check_grounded("Maya moved from Denver to Portland in March 2023", sources, min_support=0.5)
    assert e.value.reason == "ungrounded" and "2023" in e.value.detail
    check_grounded("Maya moved from Denver to Portland in November 2026", sources, min_support=0.5)
    # resolved "last year" / "next year", and a year said in the turn, stay grounded
    check_grounded("Maya moved to Portland in 2025", sources, min_support=0.5)
    check_grounded("Maya will move to Seattle in 2027", ["maya: We move to Seattle next year.", "1 December 2026"],
                   min_support=0.5)
    check_grounded("Maya lived in Denver from 2015", ["maya: I lived in Denver from 2015.", "1 December 2026"],
                   min_support=0.5)
    check_grounded("Maya moved in March 2023", sources, min_support=0)  # grounding off: no year check either
