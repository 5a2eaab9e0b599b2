"""cd, pwd, umask."""

from __future__ import annotations

import errno
import os

from onesh.builtins.api import IO


def _logical_join(base: str, target: str, *, check: bool = False) -> str:
    """`cd`'s logical path: `..` removes the previous component.  With
    `check`, like bash, what `..` removes must be a directory (`cd BAD/..`
    fails with ENOENT instead of landing in the parent); $PWD and its
    parents are known to be (a namespace directory may not be a local one)."""
    path = target if target.startswith("/") else base.rstrip("/") + "/" + target
    # POSIX lets exactly two leading slashes mean something else; bash keeps them
    root = "//" if path.startswith("//") and not path.startswith("///") else "/"
    parts: list[str] = []
    for p in path.split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            if parts:
                prefix = root + "/".join(parts)
                if check and not (base.rstrip("/") + "/").startswith(prefix + "/") and not os.path.isdir(prefix):
                    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
                parts.pop()
            continue
        parts.append(p)
    return root + "/".join(parts)


def cd(argv: list[str], io: IO) -> int:
    args = argv[1:]
    physical = False
    while args and args[0].startswith("-") and len(args[0]) > 1 and args[0] != "-":
        a = args.pop(0)
        if a == "--":
            break
        for c in a[1:]:
            if c == "P":
                physical = True
            elif c == "L":
                physical = False
            elif c not in "e@":
                io.error("cd", f"-{c}: invalid option")
                io.err("cd: usage: cd [-L|[-P [-e]] [-@]] [dir]\n")
                return 2
    st = io.state
    if len(args) > 1:
        io.error("cd", "too many arguments")
        return 1
    print_dir = False
    if not args:
        target = st.get("HOME")
        if target is None:
            io.error("cd", "HOME not set")
            return 1
    elif args[0] == "-":
        target = st.get("OLDPWD")
        if target is None:
            io.error("cd", "OLDPWD not set")
            return 1
        print_dir = True
    else:
        target = args[0]
    if target == "":
        if print_dir:
            io.out("\n")
        return 0
    cur = st.get("PWD") or os.getcwd()
    candidates = [target]
    if not target.startswith(("/", "./", "../")) and target not in (".", ".."):
        cdpath = st.get("CDPATH")
        if cdpath:
            candidates = [os.path.join(d or ".", target) for d in cdpath.split(":")] + [target]
    err: OSError | None = None
    for cand in candidates:
        try:
            new = os.path.realpath(cand) if physical else _logical_join(cur, cand, check=True)
            os.chdir(new)
        except OSError as e:
            if err is None:
                err = e
            continue
        if cand != target:
            print_dir = True
        st.set("OLDPWD", cur)
        st.set("PWD", os.getcwd() if physical else new)
        if print_dir:
            io.out((st.get("PWD") or new) + "\n")
        return 0
    assert err is not None
    new = _logical_join(cur, target)
    if err.errno == errno.ENOENT and not physical and io.shell.namespace_dir(new):
        # A directory only the cluster namespace has (/net/r2, /home/...
        # written by pipelines): $PWD goes there, so relative names, ls,
        # globbing and pipelines resolve against it; programs run here
        # keep the last local directory as their working directory.
        st.set("OLDPWD", cur)
        st.set("PWD", new)
        if print_dir:
            io.out(new + "\n")
        return 0
    io.error("cd", f"{target}: {err.strerror}")
    return 1


def pwd(argv: list[str], io: IO) -> int:
    physical = "-P" in argv[1:]
    for a in argv[1:]:
        if a not in ("-P", "-L"):
            io.error("pwd", f"{a}: invalid option")
            return 2
    logical = io.state.get("PWD")
    if physical or not logical or not os.path.isabs(logical):
        try:
            io.out(os.path.realpath(os.getcwd()) + "\n")
        except OSError as e:
            io.error("pwd", e.strerror or "error")
            return 1
        return 0
    try:
        if os.path.samefile(logical, "."):
            io.out(logical + "\n")
            return 0
    except FileNotFoundError:
        if not os.path.exists(logical):
            io.out(logical + "\n")  # a namespace directory (see cd)
            return 0
    except OSError:
        pass
    io.out(os.getcwd() + "\n")
    return 0


def _symbolic(mask: int) -> str:
    perm = 0o777 & ~mask
    out = []
    for who, shift in (("u", 6), ("g", 3), ("o", 0)):
        bits = (perm >> shift) & 7
        out.append(who + "=" + ("r" if bits & 4 else "") + ("w" if bits & 2 else "") + ("x" if bits & 1 else ""))
    return ",".join(out)


def _apply_symbolic(mask: int, spec: str) -> int | None:
    perm = 0o777 & ~mask
    for clause in spec.split(","):
        i = 0
        who = ""
        while i < len(clause) and clause[i] in "ugoa":
            who += clause[i]
            i += 1
        if not who or "a" in who:
            who = "ugo"
        if i >= len(clause) or clause[i] not in "+-=":
            return None
        op = clause[i]
        bits = 0
        for c in clause[i + 1:]:
            if c not in "rwx":
                return None
            bits |= {"r": 4, "w": 2, "x": 1}[c]
        for w in who:
            shift = {"u": 6, "g": 3, "o": 0}[w]
            if op == "+":
                perm |= bits << shift
            elif op == "-":
                perm &= ~(bits << shift)
            else:
                perm = (perm & ~(7 << shift)) | (bits << shift)
    return 0o777 & ~perm


def umask(argv: list[str], io: IO) -> int:
    args = argv[1:]
    symbolic = preserve = False
    while args and args[0].startswith("-") and len(args[0]) > 1:
        a = args.pop(0)
        for c in a[1:]:
            if c == "S":
                symbolic = True
            elif c == "p":
                preserve = True
            else:
                io.error("umask", f"-{c}: invalid option")
                return 2
    cur = os.umask(0)
    os.umask(cur)
    if not args:
        if symbolic:
            io.out(("umask -S " if preserve else "") + _symbolic(cur) + "\n")
        else:
            io.out(("umask " if preserve else "") + f"{cur:04o}\n")
        return 0
    spec = args[0]
    if spec.isdigit():
        try:
            new = int(spec, 8)
        except ValueError:
            io.error("umask", f"{spec}: octal number out of range")
            return 1
    else:
        got = _apply_symbolic(cur, spec)
        if got is None:
            io.error("umask", f"`{spec[-1:]}': invalid symbolic mode operator")
            return 1
        new = got
    os.umask(new & 0o777)
    if symbolic:
        # bash echoes the new mask when -S is given with a mode
        io.out(_symbolic(new & 0o777) + "\n")
    return 0
