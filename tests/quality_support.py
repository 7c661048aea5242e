"""Helpers for the quality tests: render ``reason_parts`` through the i18n catalogs."""

from defectlab.i18n import t


def render_reason(parts, lang="en", class_name=str, feature=str):
    """``reason_parts`` as text in ``lang``; class names through ``class_name`` (default: as given,
    the library's own words), feature column ids through ``feature`` (the UI shows them as code).

    The rule the UI follows too (``defectlab.ui.reviewing.reason_text``): ``classes`` is joined with
    " / ", an arg holding a list of parts is rendered part by part and joined with
    ``quality.reason.list_join``, and the parts with ``quality.reason.join``.
    """
    def part(p):
        args = {}
        for name, value in p["args"].items():
            if name == "cls":
                value = class_name(value)
            elif name == "classes":
                value = " / ".join(class_name(v) for v in value)
            elif name == "feature":
                value = feature(value)
            elif isinstance(value, list):
                value = joined("quality.reason.list_join", [part(v) for v in value])
            args[name] = value
        return t(p["key"], lang=lang, **args)

    def joined(key, texts):
        out = texts[0]
        for text in texts[1:]:
            out = t(key, lang=lang, first=out, rest=text)
        return out

    return joined("quality.reason.join", [part(p) for p in parts])
