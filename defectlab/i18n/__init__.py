"""Message catalogs for every user-visible string: English and Simplified Chinese.

The catalogs are flat JSON files shipped as package data (``en.json``, ``zh_CN.json``), one dotted key
per message (``"nav.projects"``, ``"import.n_imported"``), with ``str.format`` placeholders
(``"Imported {n} images."``). Both files have exactly the same keys and placeholders (a test checks
it); add a key to both when you add a string to the UI or the CLI.

Looking a key up never raises: a key missing from the chosen language falls back to English, a key
missing everywhere is returned as-is (and logged once), and a template whose placeholders are not
all given is returned with those placeholders left in place.

The current language is held in a :class:`contextvars.ContextVar`, so each thread (each Streamlit
script run) has its own; concurrent browser sessions never switch each other's language. The UI
sets it at the top of every script run (or passes ``lang=`` explicitly).

Examples
--------
>>> from defectlab.i18n import t, class_label, normalize_language
>>> t("import.n_imported", lang="en", n=12)
'Imported 12 images.'
>>> t("import.n_imported", lang="zh_CN", n=12)
'已导入 12 张图像。'
>>> class_label("scratches", lang="zh_CN"), class_label("my_own_class", lang="zh_CN")
('划痕', 'my_own_class')
>>> normalize_language("zh-Hans-CN"), normalize_language("de-DE")
('zh_CN', 'en')
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib.resources
import json
import logging
import types

from defectlab.errors import DefectlabError, InputError

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "available_languages",
    "catalog",
    "class_label",
    "get_language",
    "normalize_language",
    "set_language",
    "t",
    "translate",
    "use_language",
]

LANGUAGES = {"en": "English", "zh_CN": "简体中文"}
"""Supported language codes and their names, each written in its own language."""

DEFAULT_LANGUAGE = "en"
"""The fallback language: every key exists in it."""

_logger = logging.getLogger(__name__)
_current = contextvars.ContextVar("defectlab_language", default=DEFAULT_LANGUAGE)
_reported_missing = set()


# ----------------------------------------------------------------------------------------------
# catalogs
# ----------------------------------------------------------------------------------------------
def _check_code(lang, func):
    """Return ``lang`` if it is a supported code, else raise InputError listing the choices."""
    if isinstance(lang, str) and lang in LANGUAGES:
        return lang
    choices = ", ".join(f"{code!r} ({name})" for code, name in LANGUAGES.items())
    raise InputError(
        f"The 'lang' parameter of {func} must be one of {choices}. Got {lang!r}. "
        "For a browser or system locale such as 'zh-CN', use normalize_language(locale) first."
    )


@functools.cache
def _read_catalog(code):
    """Parse ``<code>.json`` from the package; raise DefectlabError if it is missing or malformed."""
    resource = importlib.resources.files(__name__).joinpath(f"{code}.json")
    try:
        data = json.loads(resource.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DefectlabError(
            f"The message catalog defectlab/i18n/{code}.json could not be read ({exc}). "
            "Reinstall defectlab or fix the JSON file."
        ) from exc
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise DefectlabError(
            f"The message catalog defectlab/i18n/{code}.json must be one flat JSON object of "
            "string keys to string messages. Fix the file."
        )
    return types.MappingProxyType(data)


def _messages(code):
    """The catalog of ``code`` for lookups: an unreadable catalog is logged and treated as empty."""
    try:
        return _read_catalog(code)
    except DefectlabError as exc:
        if ("catalog", code) not in _reported_missing:
            _reported_missing.add(("catalog", code))
            _logger.error("%s", exc)
        return types.MappingProxyType({})


def catalog(lang):
    """Return the whole message catalog of one language.

    Parameters
    ----------
    lang : str
        A code of :data:`LANGUAGES` (``"en"`` or ``"zh_CN"``).

    Returns
    -------
    messages : Mapping[str, str]
        Read-only mapping of dotted key to message template.

    Raises
    ------
    InputError
        If ``lang`` is not a supported code.
    DefectlabError
        If the catalog file is missing or is not a flat JSON object of strings.

    Examples
    --------
    >>> catalog("zh_CN")["nav.projects"]
    '项目'
    """
    return _read_catalog(_check_code(lang, "catalog"))


def available_languages():
    """Return the codes of :data:`LANGUAGES` whose catalog ships with this installation.

    Returns
    -------
    codes : list of str
        In the order of :data:`LANGUAGES`, e.g. ``["en", "zh_CN"]``.

    Examples
    --------
    >>> available_languages()
    ['en', 'zh_CN']
    """
    package = importlib.resources.files(__name__)
    return [code for code in LANGUAGES if package.joinpath(f"{code}.json").is_file()]


# ----------------------------------------------------------------------------------------------
# current language
# ----------------------------------------------------------------------------------------------
def set_language(lang):
    """Set the current language of this thread / context (what ``t(key)`` uses without ``lang=``).

    Parameters
    ----------
    lang : str
        A code of :data:`LANGUAGES`. A locale such as ``"zh-CN"`` is rejected: pass it through
        :func:`normalize_language` first.

    Returns
    -------
    lang : str
        The language now current.

    Raises
    ------
    InputError
        If ``lang`` is not a supported code.
    """
    code = _check_code(lang, "set_language")
    _current.set(code)
    return code


def get_language():
    """Return the current language code of this thread / context (default ``"en"``)."""
    return _current.get()


@contextlib.contextmanager
def use_language(lang):
    """Context manager: make ``lang`` current inside the ``with`` block, then restore the previous one.

    Examples
    --------
    >>> with use_language("zh_CN"):
    ...     t("action.save")
    '保存'
    >>> t("action.save", lang="en")
    'Save'
    """
    token = _current.set(_check_code(lang, "use_language"))
    try:
        yield lang
    finally:
        _current.reset(token)


def normalize_language(locale):
    """Map a browser or system locale to a supported language code.

    Any Chinese locale (``"zh"``, ``"zh-CN"``, ``"zh_Hans"``, ``"zh-Hans-CN"``, ``"zh_CN.UTF-8"``,
    and also ``"zh-TW"``: Simplified Chinese is the closest catalog there is) gives ``"zh_CN"``;
    anything else (``None``, ``""``, ``"C"``, ``"de-DE"``...) gives ``"en"``. An HTTP
    ``Accept-Language`` list (``"fr-FR,zh;q=0.8,en;q=0.5"``) is read in order of preference and the
    first supported language wins.

    Parameters
    ----------
    locale : str or None
        E.g. ``st.context.locale``, ``$LANG``, or an Accept-Language header.

    Returns
    -------
    lang : str
        A code of :data:`LANGUAGES`.

    Raises
    ------
    InputError
        If ``locale`` is neither a string nor None.

    Examples
    --------
    >>> [normalize_language(x) for x in ("zh-CN", "zh_Hans", "zh", "en-US", None)]
    ['zh_CN', 'zh_CN', 'zh_CN', 'en', 'en']
    """
    if locale is None:
        return DEFAULT_LANGUAGE
    if not isinstance(locale, str):
        raise InputError(
            "The 'locale' parameter of normalize_language must be a string such as 'zh-CN' or None. "
            f"Got {type(locale).__name__}."
        )
    entries = []
    for position, part in enumerate(locale.split(",")):
        tag, _, params = part.partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        entries.append((-quality, position, tag))
    for negative_quality, _, tag in sorted(entries):
        if negative_quality >= 0:  # q=0 means "not acceptable"
            continue
        # POSIX form zh_CN.UTF-8 / sr_RS@latin -> zh-cn; BCP 47 is case-insensitive
        tag = tag.strip().split(".")[0].split("@")[0].replace("_", "-").lower()
        primary = tag.split("-")[0]
        if not primary or primary == "*":
            continue
        for code in LANGUAGES:
            if code.replace("_", "-").lower() == tag:
                return code
        for code in LANGUAGES:
            if code.split("_")[0].lower() == primary:
                return code
    return DEFAULT_LANGUAGE


# ----------------------------------------------------------------------------------------------
# lookups
# ----------------------------------------------------------------------------------------------
class _KeepMissing(dict):
    """format_map mapping that leaves unknown placeholders as ``{name}``."""

    def __missing__(self, name):
        return "{" + name + "}"


def _resolve_lang(lang):
    if lang is None:
        return _current.get()
    if isinstance(lang, str) and lang in LANGUAGES:
        return lang
    return normalize_language(lang) if isinstance(lang, str) else DEFAULT_LANGUAGE


def _lookup(key, code):
    """The template of ``key`` in ``code``, else in English, else None."""
    template = _messages(code).get(key)
    if template is None and code != DEFAULT_LANGUAGE:
        template = _messages(DEFAULT_LANGUAGE).get(key)
    return template


def t(key, lang=None, **kwargs):
    """Translate ``key`` and fill in its placeholders.

    Parameters
    ----------
    key : str
        Dotted catalog key, e.g. ``"nav.projects"``.
    lang : str, optional
        A language code or locale (``"zh-CN"`` is normalised); default: the current language
        (:func:`set_language`). An unsupported language falls back to English.
    **kwargs
        Values for the ``{placeholders}`` of the message (``str.format`` syntax, e.g. ``{pct:.0%}``).

    Returns
    -------
    text : str
        The message in ``lang``; the English message when ``lang`` lacks the key; ``key`` itself
        when no catalog has it. Without ``kwargs`` the template is returned unformatted;
        placeholders without a value are left as written. Never raises.

    Examples
    --------
    >>> t("label.key_hint", lang="en", n=6)
    'Press 1-6 to assign a class, S to skip, Z to undo'
    >>> t("predict.accepted", lang="zh_CN", n=93, pct=0.93)
    '93 张自动通过（93%）'
    >>> t("no.such.key")
    'no.such.key'
    """
    code = _resolve_lang(lang)
    template = _lookup(key, code)
    if template is None:
        if key not in _reported_missing:
            _reported_missing.add(key)
            _logger.warning("Message key %r is in no catalog (language %s); showing the key.", key, code)
        return str(key)
    if not kwargs:  # the raw template: callers may format it themselves (catalogs use no {{ }})
        return template
    if kwargs.get("n") == 1:  # plural forms: "<key>.one" of the same language, when it has one
        template = catalog(code).get(f"{key}.one", template)
    try:
        return template.format_map(_KeepMissing(kwargs))
    except (ValueError, TypeError, IndexError, KeyError, AttributeError) as exc:
        _logger.warning(
            "Message %r could not be formatted with %s (%s); showing the template.", key, sorted(kwargs), exc
        )
        return template


def translate(text, lang=None):
    """A library message in ``lang``: ``t(text.key, **text.args)`` for a :class:`~defectlab.messages.Message`
    whose key the catalogs know, its nested Messages (a role, an OS error phrase) translated first; any other
    text as it is.

    Parameters
    ----------
    text : str
        A :class:`~defectlab.messages.Message` or a plain string.
    lang : str, optional
        As for :func:`t`.

    Returns
    -------
    str

    Examples
    --------
    >>> from defectlab.messages import msg
    >>> m = msg("imaging.reason.unreadable", "cannot read the file ({detail})",
    ...         detail=msg("error.os.permission", "permission denied ({detail})", detail="EACCES"))
    >>> translate(m, lang="zh_CN")
    '无法读取文件（没有权限（EACCES））'
    >>> translate("plain", lang="zh_CN")
    'plain'
    """
    key = getattr(text, "key", None)
    args = getattr(text, "args", None)
    if not isinstance(key, str) or not isinstance(args, dict) or key not in _messages(DEFAULT_LANGUAGE):
        return str(text)
    return t(key, lang=lang, **{k: translate(v, lang) if hasattr(v, "key") else v for k, v in args.items()})


def class_label(name, lang=None, classes=None):
    """Display name of a class: the catalog's ``class.<name>`` if there is one, else ``name`` as typed.

    Parameters
    ----------
    name : str
        Class name as stored in the project (``"rolled-in_scale"``, or anything a user defined).
    lang : str, optional
        Language code or locale; default: the current language.
    classes : sequence of str, optional
        The project's classes: the catalog's name is used only when every one of them has one (the demo's,
        NEU's six), so a user's own ``light`` among their own classes is shown as typed.

    Returns
    -------
    label : str

    Examples
    --------
    >>> class_label("rolled-in_scale", lang="zh_CN"), class_label("heavy", lang="en")
    ('压入氧化铁皮', 'Heavy scrap')
    >>> class_label("边裂", lang="en")
    '边裂'
    >>> class_label("light", lang="en", classes=["重废", "中废", "light"])
    'light'
    """
    name = str(name)
    code = _resolve_lang(lang)
    if classes is not None and any(_lookup(f"class.{c}", code) is None for c in classes):
        return name
    template = _lookup(f"class.{name}", code)
    return name if template is None else template
