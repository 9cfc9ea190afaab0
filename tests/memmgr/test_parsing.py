"""Where the JSON answer is in a model output: first complete answer wins, two different answers are refused."""

import json

from memmgr.parsing import load_json, parse_facts, parse_ops

NOOP_0 = json.dumps({"memory": [{"id": "0", "event": "NOOP"}]})
DELETE_1 = json.dumps({"memory": [{"id": "1", "event": "DELETE"}]})


def test_two_different_update_answers_are_refused():
    # json-repair alone would keep the *last* object and delete memory 1
    po = parse_ops(NOOP_0 + DELETE_1, ["0", "1"])
    assert not po.valid and not po.ops
    assert [r.reason for r in po.rejected] == ["multiple_answers"]
    po = parse_ops("Sure! " + DELETE_1 + " or maybe " + json.dumps([{"id": "0", "event": "DELETE"}]), ["0", "1"])
    assert [r.reason for r in po.rejected] == ["multiple_answers"]


def test_two_different_fact_answers_are_refused():
    pf = parse_facts('{"facts": ["Maya lives in Lisbon"]} {"facts": ["Maya lives in Rome"]}')
    assert not pf.valid and pf.rejected[0].reason == "multiple_answers"


def test_repeated_or_truncated_answer_after_the_first_is_ignored():
    for tail in (NOOP_0, NOOP_0[:25], "\nI kept memory 0 because {it} is unchanged.", '\nExample: {"x": 1}'):
        po = parse_ops(NOOP_0 + tail, ["0", "1"])
        assert po.valid and [(o.event, o.id) for o in po.ops] == [("NOOP", "0")], tail


def test_junk_after_the_answer_is_bounded():
    for tail in ("[" * 30_000, "[ " * 15_000, '{"a":' * 6_000, "[1," * 10_000):
        pf = parse_facts('{"facts": ["Maya lives in Lisbon"]}' + tail)
        assert pf.valid and pf.facts == ["Maya lives in Lisbon"]


def test_broken_json_still_goes_to_json_repair():
    obj, rej = load_json('{"facts": ["Maya lives in Lisbon"', "extract")
    assert rej is None and obj == {"facts": ["Maya lives in Lisbon"]}
    assert parse_ops('{"memory": [{"id": "0", "event": "NOOP"}]', ["0"]).valid


def test_bracketed_words_in_prose_are_not_facts():
    # json-repair reads `[world]` as ["world"]: prose with a bracketed word used to be a valid extraction
    for raw in ("hello [world]", "Sure! [note] here", "[note] here", "hello [world", "see [1]", "x [1, 2]",
                "[Maya likes tea]", "hello {world}", "I kept memory 0 because {it} is unchanged."):
        pf = parse_facts(raw)
        assert not pf.valid and not pf.facts and [r.reason for r in pf.rejected] == ["invalid_json"], raw
        po = parse_ops(raw, ["0", "1"])
        assert not po.valid and not po.ops, raw


def test_wrapped_answers_still_parse():
    facts = {"facts": ["Maya lives in Lisbon"]}
    for raw in ("Sure! Here are the facts: " + json.dumps(facts), "```json\n" + json.dumps(facts) + "\n```",
                "Sure! [note] " + json.dumps(facts), json.dumps(facts) + " Hope it helps [1].",
                json.dumps(facts) + " see [1]",  # a bracketed reference after the answer is not a second answer
                json.dumps(["Maya lives in Lisbon"]), "Facts: " + json.dumps(["Maya lives in Lisbon"]),
                "Facts: ['Maya lives in Lisbon']", 'Facts: ["Maya lives in Lisbon"'):
        pf = parse_facts(raw)
        assert pf.valid and pf.facts == ["Maya lives in Lisbon"], raw
    po = parse_ops("Sure! " + json.dumps([{"id": "1", "event": "DELETE"}]), ["0", "1"])
    assert po.valid and [(o.event, o.id) for o in po.ops] == [("DELETE", "1")]
    assert parse_ops("Ops: " + NOOP_0 + " [done]", ["0"]).valid


def test_extraction_prompt_names_the_memory_owner_and_parses_back():
    from memmgr.prompts import memory_owner, parse_extraction_input, render_extraction
    from memmgr.types import Message

    jon = Message(role="user", name="Jon", content="I lost my job", id="D1:1")
    gina = Message(role="assistant", name="Gina", content="I lost mine too", id="D1:2")
    assert memory_owner([gina, jon]) == ["Jon"]  # the user-role speaker, wherever in the pair
    assert memory_owner([gina]) == ["Gina"]  # no user turn: every speaker
    assert memory_owner([Message(role="user", content="hi"), Message(role="assistant", content="hey")]) == ["User"]
    for style in ("teacher", "student"):
        p = render_extraction("", [gina], [jon], "8 May 2023", style)
        assert "Memory of: Jon\n" in p[1]["content"]  # from the roles of recent + new
        got = parse_extraction_input(p)
        assert got["owner"] == ["Jon"] and got["today"] == "8 May 2023" and got["new"][0]["id"] == "D1:1"
        # the owner's turns carry the mark, the other speaker's do not; parsing gives the bare names back
        assert "[D1:1] Jon (owner): I lost my job" in p[1]["content"] and "[D1:2] Gina: I lost" in p[1]["content"]
        assert got["new"][0]["name"] == "Jon" and got["recent"][0]["name"] == "Gina"
    anon = render_extraction("", [], [Message(role="user", content="hi")], "8 May 2023")
    assert "[] user (owner): hi" in anon[1]["content"] and parse_extraction_input(anon)["new"][0]["name"] == "user"
    both = render_extraction("", [], [jon, gina], "8 May 2023", owner=["Jon", "Gina"])
    assert parse_extraction_input(both)["owner"] == ["Jon", "Gina"]
    old = [{"role": "user", "content": "Today's date: 1 May 2023\n### Summary\n(none)\n### Recent messages\n(none)\n"
            "### New messages\n[1] Sam: hi"}]
    assert parse_extraction_input(old)["owner"] == []  # prompts v1 had no owner line


def test_a_noop_that_rewrites_its_memory_is_read_as_an_update():
    shown = {"0": "Yusuf lives in Quito", "1": "Yusuf plays the drums"}
    raw = json.dumps({"memory": [{"id": "0", "text": "Yusuf lives in Denver", "event": "NOOP"},
                                 {"id": "1", "text": "yusuf plays the drums.", "event": "NOOP"},
                                 {"id": "new", "text": "Yusuf adopted a cat", "event": "ADD"}]})
    po = parse_ops(raw, shown)
    assert [(o.event, o.id, o.text) for o in po.ops] == [
        ("UPDATE", "0", "Yusuf lives in Denver"), ("NOOP", "1", "yusuf plays the drums."),
        ("ADD", None, "Yusuf adopted a cat")]
    assert po.ops[0].old_memory == "Yusuf lives in Quito" and not po.rejected
    assert [(r.reason, r.item["event"], r.item["id"]) for r in po.repaired] == [("noop_new_text", "NOOP", "0")]
    # ids only (no texts to compare with), or a NOOP without text: the event as written
    assert [o.event for o in parse_ops(raw, list(shown)).ops] == ["NOOP", "NOOP", "ADD"]
    assert [o.event for o in parse_ops(NOOP_0, shown).ops] == ["NOOP"]
    # a rewrite of a memory the same answer already updates is a duplicate, not a second update
    twice = json.dumps({"memory": [{"id": "0", "text": "Yusuf lives in Denver", "event": "UPDATE"},
                                   {"id": "0", "text": "Yusuf lives in Oslo", "event": "NOOP"}]})
    po = parse_ops(twice, shown)
    assert [o.text for o in po.ops] == ["Yusuf lives in Denver"] and [r.reason for r in po.rejected] == ["duplicate_id"]
    assert not po.repaired
