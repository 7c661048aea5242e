"""Translatable messages: English text that also knows its i18n catalog key and arguments.

A :class:`Message` *is* the English string (a ``str`` subclass), so it prints, compares, joins and
dumps to JSON exactly like the plain text it replaces; in addition it carries ``key`` (a dotted key
of the message catalogs, :mod:`defectlab.i18n`) and ``args`` (the values of the placeholders), so a
user interface can show the same message in another language with ``t(m.key, **m.args)``.

The library builds its user-facing rejection reasons with :func:`msg` at their source; the import
report passes ``reason_key`` / ``reason_args`` on next to the English ``reason`` (see
:func:`message_fields`). String operations (``+``, ``replace``, f-strings) give a plain ``str``:
the result has no key any more, and is shown in English. An argument may itself be a Message (a role or
an action named inside a sentence): the UI translates it before it fills the sentence in.

Examples
--------
>>> from defectlab.messages import msg, message_fields
>>> m = msg("imaging.reason.empty", "empty file (0 bytes)")
>>> m == "empty file (0 bytes)", m.key, m.args
(True, 'imaging.reason.empty', {})
>>> m = msg("ingest.reason.csv_missing", "listed in {name} row {row} but the file does not exist",
...         name="labels.csv", row=7)
>>> str(m)
'listed in labels.csv row 7 but the file does not exist'
>>> message_fields(m)
{'reason_key': 'ingest.reason.csv_missing', 'reason_args': {'name': 'labels.csv', 'row': 7}}
>>> message_fields("plain text")
{}
"""

from __future__ import annotations

import math
import numbers

__all__ = ["Message", "message_fields", "msg"]


def _json_value(value):
    """An argument as a JSON-friendly str / int / float (anything else becomes its str)."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else str(value)
    if isinstance(value, numbers.Integral):  # numpy integers
        return int(value)
    if isinstance(value, numbers.Real) and math.isfinite(float(value)):
        return float(value)
    return str(value)


class Message(str):
    """English text (the ``str`` value) plus the catalog ``key`` and ``args`` to translate it.

    Parameters
    ----------
    text : str
        The English text, already formatted.
    key : str
        Dotted catalog key whose English template, formatted with ``args``, gives ``text``.
    args : dict of str to (str, int or float), optional
        The placeholder values.

    Notes
    -----
    Build it with :func:`msg`, which formats the English template itself.
    """

    def __new__(cls, text, key, args=None):
        self = super().__new__(cls, text)
        self.key = str(key)
        self.args = dict(args or {})
        return self

    def __getnewargs__(self):  # copy / pickle keep the key and args
        return (str(self), self.key, self.args)

    def __repr__(self):
        return str.__repr__(self)


def msg(key, template, /, **args):
    """Build a :class:`Message`: ``template.format(**args)`` that also remembers ``key`` and ``args``.

    Parameters
    ----------
    key : str
        Dotted catalog key (``"imaging.reason.empty"``); the English catalog has ``template`` under it
        and the Chinese catalog the same placeholders.
    template : str
        The English ``str.format`` template.
    **args
        Placeholder values; converted to JSON-friendly str / int / float. A :class:`Message` value stays a
        Message (a word of the sentence that has its own key, e.g. a role or an action), so the user
        interface translates it too.

    Returns
    -------
    Message
        Equal to the formatted English text.
    """
    clean = {name: value if isinstance(value, Message) else _json_value(value) for name, value in args.items()}
    return Message(template.format(**clean), key, clean)


def message_fields(text, prefix="reason"):
    """The structured form of ``text`` for a report row: ``{"<prefix>_key", "<prefix>_args"}``.

    Parameters
    ----------
    text : str
        A :class:`Message`, or a plain string (which has no structured form).
    prefix : str, default "reason"

    Returns
    -------
    fields : dict
        ``{prefix + "_key": key, prefix + "_args": args}`` for a Message; ``{}`` for a plain str.
    """
    if isinstance(text, Message):
        return {f"{prefix}_key": text.key, f"{prefix}_args": dict(text.args)}
    return {}
