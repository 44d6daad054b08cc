"""Glob -> regular expression source.

*      any run of characters except '/'
?      one character except '/'
[abc]  a character class; [!abc] negates it
{a,b}  alternatives
**     any number of whole path segments
"""

import re


def _braces(body):
    return "(?:" + "|".join(translate(part) for part in body.split(",")) + ")"


def translate(glob):
    out = []
    i = 0
    while i < len(glob):
        c = glob[i]
        if glob.startswith("**/", i):
            out.append(".*/")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            end = glob.find("]", i + 1)
            if end == -1:
                out.append(re.escape(c))
                i += 1
            else:
                body = glob[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end + 1
        elif c == "{":
            end = glob.find("}", i + 1)
            if end == -1:
                out.append(re.escape(c))
                i += 1
            else:
                out.append(_braces(glob[i + 1 : end]))
                i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)
