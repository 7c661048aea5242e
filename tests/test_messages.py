"""Message: the English str itself, plus the catalog key and args to say it in another language."""

import copy
import json

import numpy as np
import pytest

from defectlab.messages import Message, message_fields, msg


def test_a_message_is_its_english_text():
    m = msg("ingest.reason.csv_missing", "listed in {name} row {row} but the file does not exist",
            name="labels.csv", row=7)
    assert m == "listed in labels.csv row 7 but the file does not exist"
    assert isinstance(m, str) and str(m) == m and type(str(m)) is str
    assert m.key == "ingest.reason.csv_missing" and m.args == {"name": "labels.csv", "row": 7}
    assert json.dumps({"reason": m}) == json.dumps({"reason": str(m)})
    assert repr(m) == repr(str(m))
    assert f"x: {m}" == "x: " + str(m)
    assert {m: 1}[str(m)] == 1  # hashes like the plain string


def test_copies_keep_the_key_and_args():
    m = msg("imaging.reason.bad_size", "corrupt {format} (the header says {w}x{h} pixels)", format="PNG", w=0, h=5)
    for c in (copy.copy(m), copy.deepcopy(m)):
        assert c == m and c.key == m.key and c.args == m.args and isinstance(c, Message)


@pytest.mark.parametrize("value,expected", [
    (np.int64(3), 3), (np.float32(0.5), 0.5), (2.5, 2.5), ("a", "a"), (True, "True"),
    (float("nan"), "nan"), (OSError("disk full"), "disk full"),
])
def test_args_become_json_friendly(value, expected):
    m = msg("k.x", "{v}", v=value)
    assert m.args == {"v": expected} and type(m.args["v"]) is type(expected)
    json.dumps(m.args)


def test_message_fields():
    m = msg("imaging.reason.empty", "empty file (0 bytes)")
    assert message_fields(m) == {"reason_key": "imaging.reason.empty", "reason_args": {}}
    assert message_fields(m, prefix="error") == {"error_key": "imaging.reason.empty", "error_args": {}}
    assert message_fields("plain") == {}
    assert message_fields(str(m)) == {}


def test_a_template_missing_an_argument_fails_at_the_call_site():
    with pytest.raises(KeyError):
        msg("k.x", "needs {n}")
