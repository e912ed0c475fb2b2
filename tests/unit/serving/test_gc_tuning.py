"""The collector's settings of the serving processes."""

from __future__ import annotations

import gc

from serving.gc_tuning import YOUNG_THRESHOLD, tune_gc_after_startup


def test_startup_objects_are_frozen_and_the_young_generation_is_collected_less_often() -> None:
    threshold = gc.get_threshold()
    try:
        tune_gc_after_startup()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (YOUNG_THRESHOLD, *threshold[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
