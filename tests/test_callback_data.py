"""Every callback-data format: builds what it parses, refuses everything else."""

from __future__ import annotations

import pytest

from handlers import callback_data as cb


@pytest.mark.parametrize("fmt", cb.ALL_FORMATS)
def test_every_format_is_anchored_and_fits_telegrams_limit(fmt: cb.CallbackFormat) -> None:
    examples = {
        "code": "E05013806",
        "key": "7K2FQ9AB",
        "category": "noise",
        "step": "photo",
        "ref": "WV-7K2FQ",
        "page": "3",
        "id": "42",
        "status": "closed",
        "priority": "7",
        "mode": "weekly",
        "score": "4",
        "position": "10",
        "chosen": "1",
        "setting": "audience",
        "value": "borough_youth",
        "lang": "pl",
    }
    values = {name: value for name, value in examples.items() if "{" + name + "}" in fmt.template}
    if fmt is cb.CONCERN_CHANGE:
        values["step"] = "text"
    data = fmt.build(**values)
    assert fmt.parse(data) is not None
    assert len(data.encode()) <= cb.MAX_BYTES
    assert fmt.parse(data + "!") is None and fmt.parse("x" + data) is None
    assert fmt.parse(data + "\n") is None
    assert not cb.is_unknown(data)


@pytest.mark.parametrize(
    "forged",
    [
        "",
        "ward:pick:",
        "ward:pick:E05013806:1",
        "WARD:CHANGE",
        None,
        42,
        "vote:1:11:1",
        "vote:1:0:1",
        "vote:1:3:2",
        "vote:-1:3:1",
        "vt:set:1:audience:everyone",
        "vt:set:1:owner:7",
        "forget:yes:",
        "forget:yes:1001",
        "forget:yes:7K2FQ9AB:1001",
        "forget:no:7k2fq9ab",
        "lang:PL",
        "lang:polski",
    ],
)
def test_forged_data_matches_no_format(forged: object) -> None:
    assert cb.is_unknown(forged)


def test_a_button_cannot_be_built_from_a_value_its_format_refuses() -> None:
    with pytest.raises(ValueError):
        cb.WARD_PICK.build(code="E05013806; DROP TABLE")
