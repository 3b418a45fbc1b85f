"""Strict YAML reading: duplicate keys are errors, and every node remembers its line.

Every failure is a `YamlError` whose message is one line, `FILE:LINE: path: what is wrong; expected what`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class YamlError(Exception):
    """A YAML problem, already phrased for the user as `file:line: path: what; expected what`."""


class _Loader(yaml.SafeLoader):
    """A SafeLoader whose value errors (a date like 2024-02-30, `!!int abc`) carry the node's line."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError) as exc:
            tag = str(node.tag).replace("tag:yaml.org,2002:", "!!")
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value!r} is not a valid {tag} ({_one_line(str(exc))}); expected a valid {tag}, "
                "or quotes around it to keep it as text", node.start_mark) from None


Lines = dict[tuple[str, ...], int]

# PyYAML's wording of a syntax error -> what the user should write instead.
_HINTS = (
    ("'\\t'", "spaces for indentation (YAML does not allow tabs)"),
    ("<block end>", "keys of one mapping indented by the same number of spaces"),
    ("<block mapping start>", "keys of one mapping indented by the same number of spaces"),
    ("',' or ']'", "every '[' closed by a ']' and items separated by ','"),
    ("',' or '}'", "every '{' closed by a '}' and entries separated by ','"),
    ("mapping values are not allowed", "one `key: value` per line; quote a value that contains ': '"),
    ("quoted scalar", "every quoted string closed by its quote"),
    ("single document", "one YAML document (remove the `---` separator)"),
    ("alias", "an anchor (&name) defined, once, before its alias (*name)"),
    ("anchor", "an anchor (&name) defined, once, before its alias (*name)"),
)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _read(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise YamlError(f"{path}: file not found; expected an inventory file (copy inventory.yaml)") from None
    except IsADirectoryError:
        raise YamlError(f"{path}: is a directory; expected a YAML file") from None
    except OSError as exc:
        reason = _one_line(exc.strerror or str(exc))
        raise YamlError(f"{path}: cannot read: {reason}; expected a readable file") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise YamlError(f"{path}:{line}: byte 0x{raw[exc.start]:02x} is not UTF-8; "
                        "expected a UTF-8 text file (re-save it as UTF-8)") from None


def dotted(path: tuple[str, ...]) -> str:
    """`hosts.unraid.address`; a segment that is empty or holds a dot or a space is quoted."""
    return ".".join(p if p and not any(c in p for c in ". ") else repr(p) for p in path) or "(top level)"


def _path_at_error(text: str, stop: int) -> str:
    """The path the parser had reached at character `stop` (or where it failed): where a syntax error sits."""
    frames: list[list[Any]] = []  # [is_mapping, key or index, awaiting_key]
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if event.end_mark is not None and event.end_mark.index > stop:
                break
            if isinstance(event, yaml.CollectionEndEvent):
                frames.pop()
                if frames and frames[-1][0]:
                    frames[-1][2] = not frames[-1][2]
            elif isinstance(event, yaml.NodeEvent):
                if frames and frames[-1][0]:
                    if frames[-1][2]:
                        frames[-1][1] = str(getattr(event, "value", "?"))
                elif frames:
                    frames[-1][1] += 1
                if isinstance(event, yaml.CollectionStartEvent):
                    frames.append([isinstance(event, yaml.MappingStartEvent), -1, True])
                elif frames and frames[-1][0]:
                    frames[-1][2] = not frames[-1][2]
    except yaml.YAMLError:
        pass
    parts = [str(f[1]) for f in frames[:-1]]
    if frames and frames[-1][0] and not frames[-1][2]:
        parts.append(str(frames[-1][1]))
    return dotted(tuple(parts))


def _syntax_error(path: Path, text: str, exc: yaml.MarkedYAMLError) -> YamlError:
    mark = exc.problem_mark or exc.context_mark
    where = f"{path}:{mark.line + 1}" if mark else str(path)
    problem = _one_line(exc.problem or exc.context or "cannot parse")
    if "end of stream" in problem and exc.context and exc.context_mark:
        mark = exc.context_mark  # where the unclosed thing starts, not the end of the file
        where = f"{path}:{mark.line + 1}"
        problem = f"the file ends {_one_line(exc.context).replace('while ', 'while still ')} that starts here"
    elif exc.context == "expected a single document in the stream":
        problem = "a second YAML document starts here"
    elif exc.problem and exc.context and exc.context_mark and mark and exc.context_mark.line != mark.line:
        problem += f" ({_one_line(exc.context)} from line {exc.context_mark.line + 1})"
    words = f"{exc.context} {exc.problem}"
    hint = next((h for pattern, h in _HINTS if pattern in words), "valid YAML (check indentation and quoting)")
    at = _path_at_error(text, mark.index if mark else len(text))
    return YamlError(f"{where}: {at}: YAML syntax error: {problem}; expected {hint}")


def _path_on_line(lines: Lines, line: int) -> str:
    return dotted(max((p for p, n in lines.items() if n == line), key=len, default=()))


def _reader_error(path: Path, text: str, exc: yaml.reader.ReaderError) -> YamlError:
    """A character YAML refuses (a control character): name its line and, if the rest parses, its key."""
    line = text[: exc.position].count("\n") + 1
    char = exc.character if isinstance(exc.character, int) else ord(exc.character)
    lines: Lines = {}
    try:
        node = yaml.compose(yaml.reader.Reader.NON_PRINTABLE.sub(" ", text), Loader=yaml.SafeLoader)
        if node is not None:
            _walk(path, node, (), lines, set())
    except (yaml.YAMLError, YamlError):
        pass
    return YamlError(f"{path}:{line}: {_path_on_line(lines, line)}: character U+{char:04X} is not allowed in YAML; "
                     "expected printable text (remove it, or write it as an escape in a double-quoted string)")


def _value_error(path: Path, lines: Lines, exc: yaml.MarkedYAMLError) -> YamlError:
    """A value YAML parsed but cannot build (a bad date, a bad `!!tag`): name the key on its line."""
    line = exc.problem_mark.line + 1 if exc.problem_mark else 0
    where = f"{path}:{line}" if line else str(path)
    return YamlError(f"{where}: {_path_on_line(lines, line)}: {_one_line(exc.problem or str(exc))}")


def _walk(path: Path, node: yaml.Node, at: tuple[str, ...], lines: Lines, walked: set[int]) -> None:
    """Record the line of every mapping key and list item by its path; refuse duplicate and non-scalar keys.

    A node reached again through an alias is walked once: that also ends recursion and alias bombs.
    """
    if id(node) in walked:
        return
    walked.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first: dict[tuple[str, str], int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlError(f"{path}:{line}: {dotted(at)}: a key is a list or mapping; expected a plain name")
            sub = (*at, str(key_node.value))
            if (key_node.tag, key_node.value) in first:
                raise YamlError(
                    f"{path}:{line}: {dotted(sub)}: duplicate key (first on line {first[key_node.tag, key_node.value]})"
                    "; YAML would silently keep only the last one; expected each key once (remove or rename one)")
            first[key_node.tag, key_node.value] = line
            lines.setdefault(sub, line)
            _walk(path, value_node, sub, lines, walked)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            sub = (*at, str(index))
            lines.setdefault(sub, item.start_mark.line + 1)
            _walk(path, item, sub, lines, walked)


def load_yaml(path: Path) -> tuple[Any, Lines]:
    """Parse `path` strictly; return the data and the line of each key path (None for an empty document)."""
    text = _read(path)
    lines: Lines = {}
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:
        raise _reader_error(path, text, exc) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None, lines
        lines[()] = node.start_mark.line + 1
        _walk(path, node, (), lines, set())
        return loader.construct_document(node), lines
    except yaml.constructor.ConstructorError as exc:
        raise _value_error(path, lines, exc) from None
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(path, text, exc) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"{path}: invalid YAML: {_one_line(str(exc))}; expected valid YAML") from None
    except RecursionError:
        raise YamlError(f"{path}: nested too deeply to read; expected an inventory, not a deep structure") from None
    finally:
        loader.dispose()
