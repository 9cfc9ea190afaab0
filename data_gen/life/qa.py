"""QA probes answerable from the gold: single-hop (what an event, a current state or an opinion holds),
temporal (resolved dates of events and of open plans) and multi-hop (the value a state or opinion had before it
changed), about the main speaker (the scope a world's eval fills); a question that would have two answers is
dropped."""

from __future__ import annotations

from data_gen.life.schema import State
from data_gen.life.talk import strip_in_on, tidy


def qa_probes(life, main, final: set[str]) -> list[dict[str, str]]:
    """Probes on `main`'s records; `final`: the main speaker's final gold memories."""
    out: list[tuple[str, str, str]] = []

    def vals_of(r):
        return {k: v.format(**r.fv) for k, v in r.vals.items()}

    for r in (r for r in life.events if r.person is main):
        if r.text in final:
            vals, subj = vals_of(r), r.fv["subj"]
            if r.item.ask:
                out.append((r.item.ask[0].format(S=subj, **{**r.fv, **vals}), vals[r.item.ask[1]], "single-hop"))
            base = tidy(r.item.base.format(**r.fv, **vals))
            out.append((f"When did {subj} {base}?", strip_in_on(r.when), "temporal"))
    for r in (r for r in life.plans if r.person is main):
        base = tidy(r.item.base.format(**r.fv, **vals_of(r)))
        out.append((f"When is {r.fv['subj']} planning to {base}?", strip_in_on(r.when), "temporal"))
    for r in (r for r in life.states.values() if r.person is main):
        out.append((r.item.ask.format(S=r.fv["subj"], **r.fv), vals_of(r)[r.item.key], "single-hop"))
    for r in (r for r in life.opinions.values() if r.person is main):
        out.append((f"How does {r.fv['subj']} feel about {r.vals['topic']}?", r.extra["feel"], "single-hop"))
    for r, old, new in life.changes:
        if r.person is not main or r.text not in final:
            continue
        if isinstance(r.item, State):
            out.append((r.item.before.format(S=r.fv["subj"], new=new), old, "multi-hop"))
        else:
            out.append((f"How did {r.fv['subj']} feel about {r.vals['topic']} before?", old, "multi-hop"))
    answers: dict[str, set[str]] = {}
    for q, a, _ in out:
        answers.setdefault(q, set()).add(a)
    seen, qa = set(), []
    for q, a, cat in out:
        if len(answers[q]) == 1 and q not in seen:
            seen.add(q)
            qa.append({"question": q, "answer": a, "category": cat})
    return qa
