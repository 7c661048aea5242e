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

import errno
import math
import numbers

__all__ = ["Message", "message_fields", "message_from_fields", "msg", "os_reason"]


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
        return {f"{prefix}_key": text.key, f"{prefix}_args": {k: _arg_to_json(v) for k, v in text.args.items()}}
    return {}


def _arg_to_json(value):
    """An argument for JSON: a nested Message as ``{"key", "args", "text"}`` (recursively), else as it is."""
    if isinstance(value, Message):
        return {"key": value.key, "args": {k: _arg_to_json(v) for k, v in value.args.items()}, "text": str(value)}
    return value


def _arg_from_json(value):
    """The inverse of :func:`_arg_to_json`: a ``{"key", "args", "text"}`` dict becomes a Message again."""
    if isinstance(value, dict) and isinstance(value.get("key"), str) and "text" in value:
        args = value.get("args") if isinstance(value.get("args"), dict) else {}
        return Message(str(value["text"]), value["key"], {str(k): _arg_from_json(v) for k, v in args.items()})
    if isinstance(value, dict):  # not ours: its text, never a dict inside a sentence
        return str(value.get("text", value))
    return value


def message_from_fields(text, key=None, args=None):
    """Rebuild the :class:`Message` of a report row read back from JSON (the inverse of :func:`message_fields`).

    Parameters
    ----------
    text : str
        The English text (a row's ``reason``).
    key : str or None
        The row's ``<prefix>_key``; None (or empty) gives ``text`` back as it is.
    args : dict or None
        The row's ``<prefix>_args``; a nested word stored as ``{"key", "args", "text"}`` becomes a Message
        again, so it is translated too.

    Returns
    -------
    Message or str

    Examples
    --------
    >>> import json
    >>> inner = msg("error.os.permission", "permission denied ({detail})", detail="EACCES")
    >>> row = {"reason": msg("imaging.reason.unreadable", "cannot read the file ({detail})", detail=inner)}
    >>> row.update(message_fields(row["reason"]))
    >>> back = json.loads(json.dumps(row))
    >>> m = message_from_fields(back["reason"], back["reason_key"], back["reason_args"])
    >>> m.args["detail"].key, str(m)
    ('error.os.permission', 'cannot read the file (permission denied (EACCES))')
    """
    if not key:
        return text
    return Message(str(text), key, {str(k): _arg_from_json(v) for k, v in (args or {}).items()})


#: errno -> (catalog key, English phrase) of the operating-system errors a person meets with files.
_OS_PHRASES = {
    errno.ENOENT: ("error.os.not_found", "file or folder not found"),
    errno.EACCES: ("error.os.permission", "permission denied"),
    errno.EPERM: ("error.os.permission", "permission denied"),
    errno.ENOSPC: ("error.os.disk_full", "the disk is full"),
    errno.EDQUOT: ("error.os.quota", "the disk quota is used up"),
    errno.EISDIR: ("error.os.is_a_folder", "is a folder"),
    errno.ENOTDIR: ("error.os.not_a_folder", "a part of the path is not a folder"),
    errno.EROFS: ("error.os.read_only", "the file system is read-only"),
    errno.ENAMETOOLONG: ("error.os.name_too_long", "the name is too long"),
    errno.EIO: ("error.os.io", "input/output error (the disk or network share failed)"),
    errno.EMFILE: ("error.os.too_many_open", "too many open files"),
    errno.EBUSY: ("error.os.busy", "the file is in use"),
}


def os_reason(exc):
    """An operating-system error as a translatable phrase with the raw detail after it.

    Parameters
    ----------
    exc : OSError
        The error met reading or writing a file.

    Returns
    -------
    Message or str
        For a common errno (file not found, permission denied, disk full, ...) a :class:`Message`
        ``"<phrase> (<ERRNO name>)"`` the UI shows in the user's language; otherwise the system's own
        text (``strerror``, else ``str(exc)``).

    Examples
    --------
    >>> str(os_reason(PermissionError(errno.EACCES, "Permission denied")))
    'permission denied (EACCES)'
    >>> os_reason(OSError("odd"))
    'odd'
    """
    known = _OS_PHRASES.get(getattr(exc, "errno", None))
    if known is None:
        return str(getattr(exc, "strerror", None) or exc)
    key, phrase = known
    return msg(key, phrase + " ({detail})", detail=errno.errorcode.get(exc.errno, str(exc.errno)))
