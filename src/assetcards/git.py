"""The only module that runs git.

Every call strips the repository variables a git hook exports (``GIT_DIR``, ``GIT_INDEX_FILE``,
``GIT_WORK_TREE``, ...), never prompts for credentials, refuses the ``ext``/``fd`` transports,
and is bounded by a timeout. Output parsers are small pure functions.

Git refuses to work in a repository another user owns ("dubious ownership"): that user's
configuration (``core.fsmonitor``, ``core.sshCommand``, ...) would run commands as us. That guard
is lifted only for our own store repositories, ROOT/.assetcards/git/NAME.git (so a root-owned
system store can be read by any user); anywhere else it stands, and its refusal becomes an
UntrustedRepoError that says what to do.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import re
import signal
import subprocess
import threading
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NamedTuple

from .errors import GitError, UnsafeInputError
from .fsutil import printable_name
from .locations import STATE_DIR
from .settings import Range, SettingError, parse_float

LOCAL_TIMEOUT = 120.0
NETWORK_TIMEOUT_DEFAULT = 60.0
NETWORK_TIMEOUT_RANGE = (1.0, 86400.0)
NETWORK_TIMEOUT_VAR = "ASSETCARDS_GIT_TIMEOUT"
_NULL_OID = "0" * 40
_OID_RE = re.compile(r"[0-9a-f]{40}")
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_ALLOWED_SCHEMES = {"https", "http", "ssh", "git", "file", "git+ssh", "ssh+git"}
_REF_BAD_CHARS = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")

# Variables that point git at another repository, set by hooks and by `git -C`-style callers.
_REPO_ENV = (
    "GIT_DIR", "GIT_INDEX_FILE", "GIT_WORK_TREE", "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_NAMESPACE", "GIT_PREFIX",
    "GIT_QUARANTINE_PATH", "GIT_CEILING_DIRECTORIES", "GIT_CONFIG", "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT", "GIT_EXEC_PATH",
)


class UntrustedRepoError(GitError):
    """Git refused a repository another user owns (its configuration could run commands)."""


def network_timeout(environ: Mapping[str, str] | None = None) -> float:
    """The bound of every network call, in seconds: ASSETCARDS_GIT_TIMEOUT, default 60. A value
    that is not a number in the accepted range raises UnsafeInputError naming the variable."""
    text = (os.environ if environ is None else environ).get(NETWORK_TIMEOUT_VAR, "").strip()
    if not text:
        return NETWORK_TIMEOUT_DEFAULT
    low, high = NETWORK_TIMEOUT_RANGE
    try:
        return parse_float(NETWORK_TIMEOUT_VAR, text, Range(low, high, unit="of seconds"))
    except SettingError as exc:
        raise UnsafeInputError(f"{exc} Unset it for the default, "
                               f"{NETWORK_TIMEOUT_DEFAULT:g}.") from None


def is_store_repo_path(path: Path) -> bool:
    """Whether PATH is ROOT/.assetcards/git/NAME.git with no symbolic link below ROOT: the only
    repositories trusted whoever owns them."""
    parts = (path, path.parent, path.parent.parent)
    if not (path.name.endswith(".git") and path.parent.name == "git"
            and path.parent.parent.name == STATE_DIR):
        return False
    return not any(os.path.islink(p) for p in parts)


def no_git_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if environ is None else environ)
    for key in list(env):
        if key in _REPO_ENV or key.startswith("GIT_CONFIG_KEY_") or key.startswith(
            "GIT_CONFIG_VALUE_"
        ):
            del env[key]
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GCM_INTERACTIVE="never",
        GIT_ASKPASS="true",
        SSH_ASKPASS="true",
        GIT_SSH_COMMAND=env.get("GIT_SSH_COMMAND", "ssh")
        + " -o BatchMode=yes -o ConnectTimeout=20",
        LC_ALL="C",
        LANGUAGE="C",
    )
    return env


def check_url(url: str) -> None:
    """Refuse URLs git would treat as commands or options, before git runs."""
    if not url or url != url.strip():
        raise UnsafeInputError(f"URL {url!r} is empty or has leading or trailing spaces")
    if url.startswith("-"):
        raise UnsafeInputError(f"URL {url!r} starts with '-' and would be read as an option")
    if any(ord(c) < 32 or ord(c) == 127 for c in url):
        raise UnsafeInputError(f"URL {url!r} contains control characters")
    if "::" in url.split("/", 1)[0] or url.lower().startswith(("ext::", "fd::")):
        raise UnsafeInputError(
            f"URL {url!r} uses git's '<transport>::<address>' syntax (such as ext:: or fd::), "
            "which can run commands; use an https, ssh, git or file URL or a local path"
        )
    match = _SCHEME_RE.match(url)
    if match and match.group(1).lower() not in _ALLOWED_SCHEMES:
        raise UnsafeInputError(
            f"URL scheme {match.group(1)!r} is not allowed; use https, ssh, git or file"
        )


def check_ref(ref: str) -> None:
    """Refuse ref names git would not accept or could read as an option."""
    problem = None
    if not ref:
        problem = "is empty"
    elif ref.startswith("-"):
        problem = "starts with '-'"
    elif _REF_BAD_CHARS.search(ref):
        problem = "contains a space, a control character or one of ~ ^ : ? * [ \\"
    elif ".." in ref or "@{" in ref or ref == "@" or "//" in ref:
        problem = "contains '..', '@{' or '//', or is '@'"
    elif ref.endswith(("/", ".", ".lock")) or ref.startswith("/"):
        problem = "starts with '/' or ends with '/', '.' or '.lock'"
    elif any(part.startswith(".") for part in ref.split("/")):
        problem = "has a component starting with '.'"
    if problem:
        raise UnsafeInputError(f"{ref!r} is not a valid git ref name: it {problem}")


def is_oid(text: str) -> bool:
    return bool(_OID_RE.fullmatch(text))


def blob_id(data: bytes, length: int = 40) -> str:
    """The id git gives a blob holding DATA (SHA-1, or SHA-256 for a 64-digit LENGTH)."""
    digest = hashlib.sha256() if length == 64 else hashlib.sha1()  # noqa: S324 - git's ids
    digest.update(b"blob %d\0" % len(data))
    digest.update(data)
    return digest.hexdigest()


class TreeEntry(NamedTuple):  # a tuple: a tree lists thousands, built fast
    mode: str
    kind: str
    oid: str
    size: int
    path: str


@dataclass(frozen=True)
class CommitInfo:
    oid: str
    tree: str
    author: str
    date: str
    subject: str


class Repo:
    """A git repository on disk (bare or with a work tree)."""

    def __init__(self, path: Path | str, hook_env: Mapping[str, str] | None = None, *,
                 store: bool = False) -> None:
        """HOOK_ENV: variables a hook running in THIS repository must keep (GIT_INDEX_FILE of a
        pre-commit hook, the object quarantine of a pre-receive hook); added back to every git
        call on this repository only, after the inherited ones are stripped. STORE: this is one
        of our store repositories, trusted whoever owns it if its path is one (see
        is_store_repo_path); any other repository owned by another user is refused by git."""
        self.path = Path(path)
        self.hook_env = dict(hook_env or {})
        self.store = store
        self._trusted: bool | None = None

    def __repr__(self) -> str:
        return f"Repo({str(self.path)!r})"

    def _trust_args(self) -> list[str]:
        if self._trusted is None:
            self._trusted = self.store and is_store_repo_path(self.path)
        if not self._trusted:
            return []
        paths = dict.fromkeys([str(self.path), os.path.realpath(self.path)])
        return [arg for p in paths for arg in ("-c", f"safe.directory={p}")]

    def _base_args(self) -> list[str]:
        return [
            "git",
            *self._trust_args(),
            "-c", "protocol.ext.allow=never",
            "-c", "protocol.fd.allow=never",
            "-c", "core.askPass=true",
            "-c", "credential.interactive=false",
            "-c", "http.lowSpeedLimit=1000",
            "-c", "http.lowSpeedTime=20",
            "-c", "gc.auto=0",
            "-C", str(self.path),
        ]

    def run(
        self,
        *args: str,
        input: bytes | None = None,
        timeout: float = LOCAL_TIMEOUT,
        check: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        if any("\0" in arg for arg in args):
            raise UnsafeInputError(f"git {args[0]}: an argument contains a NUL character")
        cmd = self._base_args() + list(args)
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env) if env is not None else {**no_git_env(), **self.hook_env},
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise GitError(
                f"git {args[0]} in {self.path} did not finish within {timeout:g} s "
                "(the remote may be unreachable or hanging)"
            ) from None
        except BaseException:
            _kill_group(proc)
            raise
        result = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
        if proc.returncode != 0 and (check or _DUBIOUS in err):
            raise self._failure(args[0], err)
        return result

    def _failure(self, command: str, err: bytes) -> GitError:
        if _DUBIOUS in err:
            return UntrustedRepoError(
                f"git refuses to work in {self.path}: the repository belongs to "
                f"{_owner(self.path)}, not to you, and its configuration could run commands as "
                "you. Run this as its owner; or, if you trust that user, mark it safe with "
                f"`git config --global --add safe.directory {self.path}`")
        return GitError(f"git {command} failed in {self.path}: {_last_lines(err)}"
                        + _signal_hint(err))

    def out(self, *args: str, timeout: float = LOCAL_TIMEOUT) -> str:
        return self.run(*args, timeout=timeout).stdout.decode("utf-8", "replace").strip()

    # -- repository setup ---------------------------------------------------------------------

    @classmethod
    def init_bare(cls, path: Path, store: bool = False) -> Repo:
        path.mkdir(parents=True, exist_ok=True)
        repo = cls(path, store=store)
        repo.run("init", "--quiet", "--bare")
        return repo

    def exists(self) -> bool:
        result = self.run("rev-parse", "--git-dir", check=False)
        return result.returncode == 0

    # -- refs and commits ---------------------------------------------------------------------

    def symbolic_ref(self, name: str = "HEAD") -> str:
        """The ref NAME points at, or "" if NAME is not a symbolic ref."""
        result = self.run("symbolic-ref", "--quiet", name, check=False)
        return result.stdout.decode().strip()

    def set_symbolic_ref(self, target: str, name: str = "HEAD") -> None:
        """Point the symbolic ref NAME at the ref TARGET."""
        self.run("symbolic-ref", name, target)

    def has_path(self, commit: str, path: str) -> bool:
        """Whether COMMIT's tree holds PATH (a file or a directory)."""
        return self.run("cat-file", "-e", f"{commit}:{path}", check=False).returncode == 0

    def file_at(self, commit: str, path: str) -> bytes | None:
        """The content of the file PATH in COMMIT's tree, or None if it has none."""
        result = self.run("cat-file", "blob", f"{commit}:{path}", check=False)
        return result.stdout if result.returncode == 0 else None

    def config_values(self, key: str) -> list[str]:
        """Every non-blank value of the configuration KEY, in order."""
        result = self.run("config", "--get-all", key, check=False)
        return [line.strip() for line in result.stdout.decode("utf-8", "replace").splitlines()
                if line.strip()]

    def remote_urls(self) -> list[str]:
        """The URLs of the repository's remotes (`remote.NAME.url`), as configured."""
        result = self.run("config", "--get-regexp", r"^remote\..*\.url$", check=False)
        return parse_config_values(result.stdout.decode("utf-8", "replace"))

    def git_path(self, name: str) -> Path:
        """Where the repository keeps NAME (`hooks`, ...), as `git rev-parse --git-path`."""
        path = Path(self.out("rev-parse", "--git-path", name))
        return path if path.is_absolute() else self.path / path

    def remote_default_branch(self, url: str) -> str:
        """The branch the HEAD of the remote at URL points at (main, master, ...); "HEAD" if
        it names none."""
        text = self.out("ls-remote", "--symref", "--end-of-options", url, "HEAD",
                        timeout=network_timeout())
        return parse_symref_head(text)

    def resolve(self, rev: str) -> str | None:
        """The full commit id REV names here, or None."""
        if rev.startswith("-"):
            raise UnsafeInputError(f"revision {rev!r} starts with '-'")
        result = self.run("rev-parse", "--verify", "--quiet", "--end-of-options",
                          f"{rev}^{{commit}}", check=False)
        text = result.stdout.decode().strip()
        return text if result.returncode == 0 and is_oid(text) else None

    def has_commit(self, oid: str) -> bool:
        result = self.run("cat-file", "-e", f"{oid}^{{commit}}", check=False)
        return result.returncode == 0

    def tree_of(self, commit: str) -> str:
        return self.out("rev-parse", "--verify", "--end-of-options", f"{commit}^{{tree}}")

    def update_ref(self, ref: str, new: str, old: str | None = None) -> None:
        args = ["update-ref", "--no-deref", ref, new]
        if old is not None:
            args.append(old or _NULL_OID)
        self.run(*args)

    def is_ancestor(self, old: str, new: str) -> bool:
        result = self.run("merge-base", "--is-ancestor", old, new, check=False)
        if result.returncode not in (0, 1):
            raise GitError(f"git merge-base failed in {self.path}: {_last_lines(result.stderr)}")
        return result.returncode == 0

    def log(self, rev: str, paths: Sequence[str] = (), max_count: int = 0) -> list[CommitInfo]:
        args = ["log", "--format=%H%x00%T%x00%an%x00%aI%x00%s%x1e"]
        if max_count:
            args.append(f"--max-count={max_count}")
        args += ["--end-of-options", rev, "--", *paths]
        text = self.out(*args)
        return [parse_commit_info(chunk.strip()) for chunk in text.split("\x1e") if chunk.strip()]

    def new_commits(self, tip: str, limit: int = 10_000) -> list[tuple[str, str | None]]:
        """(commit, first parent or None) for each commit reachable from TIP but from no ref,
        oldest first: in a pre-receive hook, the commits a push brings."""
        text = self.out("rev-list", "--topo-order", "--reverse", "--parents",
                        f"--max-count={limit}", tip, "--not", "--all")
        result: list[tuple[str, str | None]] = []
        for line in text.splitlines():
            parts = line.split()
            if parts:
                result.append((parts[0], parts[1] if len(parts) > 1 else None))
        return result

    # -- trees and blobs ----------------------------------------------------------------------

    def ls_tree(self, rev: str, subdir: str = "") -> list[TreeEntry]:
        args = ["ls-tree", "-r", "-z", "--long", "--end-of-options", rev]
        if subdir:
            args += ["--", subdir.rstrip("/") + "/"]
        return parse_ls_tree(self.run(*args).stdout)

    def ls_staged(self) -> list[TreeEntry]:
        """The entries of the index (stage 0 only: a file mid-merge is not a card yet)."""
        return parse_ls_files(self.run("ls-files", "--stage", "-z").stdout)

    def staged_changes(self, commit: str) -> list[tuple[str, str]]:
        """(blob id in COMMIT, or 40 zeros for a new file; path) of every path whose staged
        entry differs from COMMIT: what a commit would change."""
        data = self.run("diff-index", "--cached", "--no-renames", "-z", "--end-of-options",
                        commit).stdout
        parts = data.decode("utf-8", "surrogateescape").split("\0")
        changes = []
        for i in range(0, len(parts) - 1, 2):
            meta = parts[i].split()  # ":old_mode new_mode old_oid new_oid status"
            if len(meta) >= 4:
                changes.append((meta[2], _path_text(parts[i + 1])))
        return changes

    def read_blobs(self, oids: Iterable[str],
                   timeout: float = LOCAL_TIMEOUT) -> Generator[tuple[str, bytes], None, None]:
        """Read many objects through one `git cat-file --batch`, each handed over as soon as
        git has written it: the caller works on one blob while git reads the next (on another
        core), and the whole output is never held at once. A missing object raises GitError.
        Closing the iterator early stops git."""
        ids = list(dict.fromkeys(oids))
        if ids:
            yield from self._stream_batch(ids, timeout)

    def _stream_batch(self, ids: list[str],
                      timeout: float) -> Generator[tuple[str, bytes], None, None]:
        proc = subprocess.Popen(
            [*self._base_args(), "cat-file", "--batch"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**no_git_env(), **self.hook_env}, start_new_session=True,
        )
        stdin, stdout, stderr = proc.stdin, proc.stdout, proc.stderr
        assert stdin is not None and stdout is not None and stderr is not None
        err: list[bytes] = []
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)

        # Git answers each line as it reads it: feed it from a thread, or both sides block
        # once the pipes are full. Its errors are drained the same way.
        helpers = [threading.Thread(target=_feed, args=(stdin, ids), daemon=True),
                   threading.Thread(target=lambda: err.append(stderr.read()), daemon=True)]
        timer = threading.Timer(timeout, expire)
        timer.daemon = True
        for thread in helpers:
            thread.start()
        timer.start()
        try:
            complete = True
            for oid in ids:
                header = stdout.readline()
                parts = header.split()
                if len(parts) != 3 or not parts[2].isdigit():
                    if not header:  # git stopped early
                        complete = False
                        break
                    raise GitError(f"git object {oid} is missing in {self.path}")
                size = int(parts[2])
                data = stdout.read(size)
                if len(data) != size or stdout.read(1) != b"\n":
                    complete = False
                    break
                yield oid, data
            code = proc.wait()
            for thread in helpers:
                thread.join()  # git has exited: its pipes are at their end
            if complete and code == 0:
                return
            if expired.is_set():
                raise GitError(f"git cat-file in {self.path} did not finish within {timeout:g} s")
            raise self._failure("cat-file", b"".join(err))
        finally:  # also when the caller stops early or fails: git must not outlive us
            timer.cancel()
            if proc.poll() is None:
                _kill_group(proc)
            for thread in helpers:
                thread.join(timeout=10)
            stdout.close()
            stderr.close()

    def read_objects(self, names: Iterable[str]) -> dict[str, bytes | None]:
        """Read objects named like `<rev>:<path>` in one batch; a missing one maps to None."""
        wanted = list(dict.fromkeys(names))
        if not wanted:
            return {}
        data = self.run("cat-file", "--batch", input=("\n".join(wanted) + "\n").encode()).stdout
        return dict(zip(wanted, parse_cat_file_batch_tolerant(data), strict=True))

    # -- network ------------------------------------------------------------------------------

    def fetch(self, url: str, refspecs: Sequence[str], timeout: float | None = None) -> None:
        check_url(url)
        timeout = network_timeout() if timeout is None else timeout
        self.run("fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--force",
                 "--no-recurse-submodules", "--end-of-options", url, *refspecs, timeout=timeout)


def _feed(pipe: IO[bytes], ids: Sequence[str]) -> None:
    with contextlib.suppress(OSError), pipe:  # OSError: git has gone; the reader says why
        for start in range(0, len(ids), 1024):
            pipe.write(("\n".join(ids[start:start + 1024]) + "\n").encode())


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


_DUBIOUS = b"detected dubious ownership"


def _owner(path: Path) -> str:
    """"user NAME (uid N)" owning PATH (or its .git), as git checks it."""
    for candidate in (path / ".git", path):
        try:
            uid = candidate.stat().st_uid
        except OSError:
            continue
        try:
            return f"user {pwd.getpwuid(uid).pw_name} (uid {uid})"
        except KeyError:
            return f"uid {uid}"
    return "another user"


def _signal_hint(err: bytes) -> str:
    """Git says a helper "died of signal N"; name the one a full disk quota sends."""
    if b"died of signal 25" in err:
        return " (signal 25, SIGXFSZ: a file grew past the size limit, ulimit -f)"
    return ""


def _last_lines(err: bytes, count: int = 3) -> str:
    """What went wrong: from git's first "fatal:"/"error:" line to the end of its paragraph
    (git prints advice after a blank line, which would otherwise hide the error), else the
    last lines."""
    text = err.decode("utf-8", "replace")
    for paragraph in re.split(r"\n\s*\n", text):
        lines = [ln for ln in paragraph.splitlines() if ln.strip()]
        first = next((i for i, ln in enumerate(lines) if ln.startswith(("fatal:", "error:"))),
                     None)
        if first is not None:
            return " / ".join(lines[first:first + count])
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return " / ".join(lines[-count:]) or "no message"


# -- parsers ----------------------------------------------------------------------------------


def parse_symref_head(text: str) -> str:
    """The branch of `git ls-remote --symref URL HEAD` output's "ref: refs/heads/B\tHEAD" line
    (B without refs/heads/), or "HEAD" if there is none."""
    for line in text.splitlines():
        if line.startswith("ref: ") and line.endswith("\tHEAD"):
            return line[5:-5].strip().removeprefix("refs/heads/")
    return "HEAD"


def parse_config_values(text: str) -> list[str]:
    """The values of `git config --get-regexp` output ("KEY VALUE" lines); keys without a
    value left out."""
    values = []
    for line in text.splitlines():
        value = line.split(None, 1)[1].strip() if " " in line else ""
        if value:
            values.append(value)
    return values


def has_git_dir(path: Path) -> bool:
    """Whether PATH is the top of a work tree (holds `.git`, a directory or a file)."""
    return (path / ".git").exists()


def worktree_root(path: Path) -> Path | None:
    """The nearest directory from PATH upwards that is the top of a work tree, or None."""
    return next((c for c in [path, *path.parents] if has_git_dir(c)), None)


def is_bare_repo(path: Path) -> bool:
    """Whether PATH looks like a bare repository (HEAD and objects/ at its top)."""
    return (path / "HEAD").is_file() and (path / "objects").is_dir()


def parse_commit_info(text: str) -> CommitInfo:
    oid, tree, author, date, subject = (text.split("\0") + [""] * 5)[:5]
    return CommitInfo(oid, tree, author, date, subject)


def _path_text(path: str) -> str:
    """A path from git (decoded with surrogate escapes) as printable text: bytes that are not
    UTF-8 and control characters escaped (see fsutil.printable_name). Objects are read by id,
    so the name is only a label: one that needed escapes is reported, never read as a card."""
    return path if path.isprintable() else printable_name(path)


def parse_ls_tree(data: bytes) -> list[TreeEntry]:
    entries = []
    for record in data.decode("utf-8", "surrogateescape").split("\0"):
        if not record:
            continue
        meta, _, path = record.partition("\t")
        mode, kind, oid, size = meta.split()
        entries.append(TreeEntry(mode, kind, oid, int(size) if size != "-" else 0,
                                 _path_text(path)))
    return entries


def parse_ls_files(data: bytes) -> list[TreeEntry]:
    entries = []
    for record in data.decode("utf-8", "surrogateescape").split("\0"):
        if not record:
            continue
        meta, _, path = record.partition("\t")
        mode, oid, stage = meta.split()
        if stage == "0":
            entries.append(TreeEntry(mode, "blob", oid, -1, _path_text(path)))
    return entries


def _batch_records(data: bytes) -> Iterator[tuple[str, bytes | None]]:
    """(name asked for, content or None when missing) for each record of `cat-file --batch`."""
    pos = 0
    end = len(data)
    while pos < end:
        newline = data.index(b"\n", pos)
        header = data[pos:newline].decode("utf-8", "replace").rsplit(" ", 2)
        pos = newline + 1
        if len(header) != 3 or not header[2].isdigit():  # "<name> missing" / "ambiguous"
            yield header[0], None
            continue
        size = int(header[2])
        yield header[0], data[pos : pos + size]
        pos += size + 1


def parse_cat_file_batch_tolerant(data: bytes) -> Iterator[bytes | None]:
    """The content of each record of `cat-file --batch` output, or None for a missing or
    ambiguous object."""
    return (content for _, content in _batch_records(data))
