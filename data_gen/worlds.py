"""Compatibility alias: the synthetic gold worlds live in `data_gen.synthetic` (eval and train import this name)."""

from data_gen.synthetic import (  # noqa: F401
    EVENTS,
    FAMILIES,
    FAMILY_SPLITS,
    NAMES,
    SLOTS,
    GoldOp,
    GoldPair,
    SessionInfo,
    World,
    generate_world,
    generate_worlds,
    load_worlds,
    replay,
    save_worlds,
    templates,
)
