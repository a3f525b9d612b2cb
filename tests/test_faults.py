"""PROWZI_FAULTS, the switch for rehearsing failure."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from research.exceptions import TransientStageError
from research.faults import Fault, inject, parse_faults


def test_fault_list_parses_every_kind():
    assert parse_faults("search:fail:2, verify:crash,writing:delay:0.5") == [
        Fault("search", "fail", 2.0),
        Fault("verify", "crash"),
        Fault("writing", "delay", 0.5),
    ]


def test_empty_setting_means_no_faults():
    assert parse_faults("") == []


@pytest.mark.parametrize(
    "spec", ["nosuchstage:crash", "search:explode", "search:fail", "search:fail:x"]
)
def test_malformed_fault_is_refused_with_its_text(spec):
    with pytest.raises(ImproperlyConfigured, match="PROWZI_FAULTS"):
        parse_faults(spec)


def test_fail_fault_raises_only_on_its_first_attempts():
    faults = parse_faults("search:fail:2")

    for attempt in (1, 2):
        with pytest.raises(TransientStageError):
            inject(faults, "search", attempt, lambda: None)
    inject(faults, "search", 3, lambda: None)
    inject(faults, "intent", 1, lambda: None)
