#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The API of libhugelink, read from its public headers.

usage: api_symbols.py --map OUT HEADER...    write the linker version script
       api_symbols.py --list HEADER...       print one symbol a line
       api_symbols.py --undocumented HEADER...
                                             print each declaration that has
                                             no comment above it

The API is every hl_ function declared (not defined inline) at file scope in
include/hugelink/, and every object declared extern there. Everything else in
the library is local to it: the map ends with `local: *;`.
"""
import re
import sys


def strip_comments(text):
    """Comments and string literals blanked, keeping line breaks, so positions still map to lines."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text[i] == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('"' + " " * (j - i - 1) + '"')
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def strip_preprocessor(text):
    """Directives blanked, and whatever only a C++ compiler sees (the
    extern "C" guard)."""
    lines, cont, cplusplus = [], False, 0
    for line in text.split("\n"):
        t = line.strip()
        directive = cont or t.startswith("#")
        cont = directive and line.rstrip().endswith("\\")
        if re.match(r"#\s*ifdef\s+__cplusplus\b", t):
            cplusplus = 1
        elif cplusplus and re.match(r"#\s*endif\b", t):
            cplusplus = 0
        lines.append("" if directive or cplusplus else line)
    return "\n".join(lines)


def declarations(path):
    """(name, kind, line) for each file-scope declaration of an hl_ symbol."""
    text = strip_preprocessor(strip_comments(open(path).read()))
    found, depth, start, opened = [], 0, 0, 0
    for i, c in enumerate(text):
        if c == "{":
            if depth == 0:
                opened = i
            depth += 1
        elif c == "}":
            depth -= 1
            head = " ".join(text[start:opened].split())
            if depth == 0 and head.endswith(")") and not re.match(r"(typedef|struct|union|enum)\b", head):
                start = i + 1  # the end of a function defined here (static inline): not exported
        elif c == ";" and depth == 0:
            stmt = text[start:i]
            line = text.count("\n", 0, start + len(stmt) - len(stmt.lstrip())) + 1
            start = i + 1
            s = " ".join(stmt.split())
            if not s or re.match(r"(typedef|static)\b", s):
                continue
            if re.match(r"(struct|union|enum)\b[^(]*(\{|$)", s):
                continue
            m = re.search(r"\b(hl_\w+)\s*\(", s)
            if m and not re.search(r"\(\s*\*\s*hl_\w+\s*\)", s):
                found.append((m.group(1), "function", line))
                continue
            m = re.match(r"extern\b.*?\b(hl_\w+)\s*(\[[^\]]*\])?$", s)
            if m:
                found.append((m.group(1), "object", line))
    return found


def documented(path, line):
    """True if a comment ends on the line before the declaration, or the
    declaration is one of a block of declarations a comment opens."""
    lines = open(path).read().split("\n")
    i = line - 2
    while i >= 0:
        t = lines[i].strip()
        if t.endswith("*/") or t.startswith("//"):
            return True
        if not t:
            return False
        i -= 1  # another declaration of the same block, or a continued one
    return False


def main(argv):
    mode, out = argv[1], None
    args = argv[2:]
    if mode == "--map":
        out, args = args[0], args[1:]
    decls = []
    for h in args:
        decls += [(n, k, h, l) for n, k, l in declarations(h)]
    names = sorted({d[0] for d in decls})
    if mode == "--list":
        print("\n".join(names))
    elif mode == "--undocumented":
        for n, k, h, l in decls:
            if not documented(h, l):
                print(f"{h}:{l}: {n}")
    elif mode == "--map":
        with open(out, "w") as f:
            f.write("HUGELINK_0 {\n  global:\n")
            f.writelines(f"    {n};\n" for n in names)
            f.write("  local: *;\n};\n")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
