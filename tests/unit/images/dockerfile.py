"""Offline checks of the images' Dockerfiles, for build machines without a Docker engine.

A small parser for the instructions our Dockerfiles use (FROM with stage names, ARG, ENV, COPY/ADD with
--from and --chown, RUN with flags, USER, WORKDIR, EXPOSE, LABEL, ENTRYPOINT, CMD), a reader of
.dockerignore with Docker's matching rules, and the checks the tests run on them. Every check returns
a list of problems, each naming the Dockerfile's line, so a failing test says what to fix.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

PROJECT_PACKAGES = ("components", "pipelines", "cli")
COMPILERS = ("build-essential", "gcc", "g++", "cpp", "clang", "gfortran", "make", "cmake", "libc6-dev")
_EXACT_VERSION = re.compile(r"\d+\.\d+\.\d+")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction.

    Attributes:
        keyword: The instruction, upper case (``COPY``).
        flags: Its ``--name=value`` flags (``{"from": "builder"}``).
        args: The rest of the line, continuation lines joined.
        line: The line number where it starts.
    """

    keyword: str
    flags: Mapping[str, str]
    args: str
    line: int

    def words(self) -> list[str]:
        """The arguments as a list: the JSON array form as written, else split like a shell would."""
        if self.args.lstrip().startswith("["):
            try:
                return list(json.loads(self.args))
            except json.JSONDecodeError:
                pass
        return shlex.split(self.args)


@dataclass
class Stage:
    """A build stage: its base image, its name and its instructions after FROM."""

    index: int
    base: str
    name: str | None
    line: int
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        """The stage's instructions of one kind, in order."""
        return [i for i in self.instructions if i.keyword == keyword]

    def env(self) -> dict[str, str]:
        """The stage's environment after its last ENV (and ARG defaults), variables expanded in order."""
        values: dict[str, str] = {}
        for instruction in self.instructions:
            if instruction.keyword == "ENV":
                for key, value in parse_env(instruction.args):
                    values[key] = expand(value, values)
            elif instruction.keyword == "ARG":
                key, _, default = instruction.args.strip().partition("=")
                values.setdefault(key, expand(default, values))
        return values

    def workdir_at(self, position: int) -> PurePosixPath:
        """The working directory in effect before the instruction at ``position``."""
        workdir = PurePosixPath("/")
        for instruction in self.instructions[:position]:
            if instruction.keyword == "WORKDIR":
                workdir = workdir / expand(instruction.args.strip(), self.env())
        return workdir


@dataclass(frozen=True)
class Dockerfile:
    """A parsed Dockerfile: its stages, the last being the image that is shipped."""

    path: Path
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        """The last stage: what `docker build` tags."""
        return self.stages[-1]

    def stage(self, reference: str) -> Stage | None:
        """The earlier stage a FROM or ``--from`` names (by name or index), if it is one."""
        for stage in self.stages:
            if stage.name == reference or str(stage.index) == reference:
                return stage
        return None


def parse_dockerfile(path: Path) -> Dockerfile:
    """Parses a Dockerfile into stages.

    Raises:
        ValueError: On an instruction this parser does not know, or one before the first FROM other
            than ARG: the checks would otherwise pass over something they do not understand.
    """
    known = {"FROM", "ARG", "ENV", "COPY", "ADD", "RUN", "USER", "WORKDIR", "EXPOSE", "LABEL", "ENTRYPOINT", "CMD"}
    stages: list[Stage] = []
    global_args: dict[str, str] = {}
    for line, text in _logical_lines(path.read_text()):
        keyword, _, rest = text.partition(" ")
        keyword = keyword.upper()
        if keyword not in known:
            raise ValueError(f"{path.name}:{line}: instruction {keyword} is not understood by the offline checks")
        flags, args = _split_flags(rest.strip())
        if keyword == "FROM":
            words = args.split()
            base = expand(words[0], global_args)
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(index=len(stages), base=base, name=name, line=line))
        elif not stages:
            if keyword != "ARG":
                raise ValueError(f"{path.name}:{line}: {keyword} before the first FROM")
            key, _, default = args.partition("=")
            global_args[key.strip()] = default.strip()
        else:
            stages[-1].instructions.append(Instruction(keyword, flags, args, line))
    if not stages:
        raise ValueError(f"{path.name}: no FROM instruction")
    return Dockerfile(path, stages)


def _logical_lines(text: str) -> Iterable[tuple[int, str]]:
    """Yields (first line number, instruction text) with comments dropped and continuations joined."""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and pending):
            continue  # comments and blank lines may sit inside a continued instruction
        if not stripped:
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        yield start, " ".join(part for part in pending if part)
        pending = []
    if pending:
        yield start, " ".join(pending)


def _split_flags(rest: str) -> tuple[dict[str, str], str]:
    flags: dict[str, str] = {}
    while rest.startswith("--"):
        token, _, rest = rest.partition(" ")
        key, _, value = token[2:].partition("=")
        flags[key] = value
        rest = rest.lstrip()
    return flags, rest


def parse_env(args: str) -> list[tuple[str, str]]:
    """Parses ENV's ``KEY=value KEY2="value 2"`` form (and the legacy ``KEY value`` form)."""
    words = shlex.split(args, posix=True)
    if words and "=" not in words[0]:
        return [(words[0], " ".join(words[1:]))]
    return [(key, value) for key, _, value in (word.partition("=") for word in words)]


def expand(text: str, values: Mapping[str, str]) -> str:
    """Expands ``$NAME`` and ``${NAME}`` from ``values`` (unknown names stay as written)."""
    return _VARIABLE.sub(lambda m: values.get(m.group(1) or m.group(2), m.group(0)), text)


# --- .dockerignore ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DockerIgnore:
    """The patterns of a .dockerignore file, matched as Docker matches them.

    A pattern excludes a path when it matches the path or one of its parent folders; ``!`` makes an
    exception; the last matching pattern decides; ``**`` spans any number of folders.
    """

    rules: tuple[tuple[bool, re.Pattern[str]], ...]

    @classmethod
    def read(cls, path: Path) -> DockerIgnore:
        """Reads a .dockerignore file (a missing file excludes nothing)."""
        rules = []
        lines = path.read_text().splitlines() if path.exists() else []
        for line in lines:
            pattern = line.strip()
            if not pattern or pattern.startswith("#"):
                continue
            exception = pattern.startswith("!")
            pattern = pattern.lstrip("!").strip()
            pattern = str(PurePosixPath(pattern)).lstrip("/") if pattern not in (".", "/") else ""
            rules.append((exception, re.compile(_pattern_regex(pattern))))
        return cls(tuple(rules))

    def excludes(self, relative: str) -> bool:
        """Whether the path (relative to the build context, with ``/``) stays out of the context."""
        parts = PurePosixPath(relative).parts
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        excluded = False
        for exception, regex in self.rules:
            if any(regex.fullmatch(candidate) for candidate in candidates):
                excluded = not exception
        return excluded


def _pattern_regex(pattern: str) -> str:
    regex, i = "", 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            regex, i = regex + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            regex, i = regex + ".*", i + 2
        elif char == "*":
            regex, i = regex + "[^/]*", i + 1
        elif char == "?":
            regex, i = regex + "[^/]", i + 1
        elif char == "[":
            end = pattern.find("]", i)
            regex, i = (regex + pattern[i : end + 1], end + 1) if end > 0 else (regex + re.escape(char), i + 1)
        else:
            regex, i = regex + re.escape(char), i + 1
    return regex


# --- checks ----------------------------------------------------------------------------------------


def base_problems(dockerfile: Dockerfile) -> list[str]:
    """Base images that are not pinned to an exact version (a digest may be added, must be well formed)."""
    problems = []
    for stage in dockerfile.stages:
        if dockerfile.stage(stage.base) is not None and dockerfile.stage(stage.base).index < stage.index:
            continue
        image, _, digest = stage.base.partition("@")
        name, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "")
        where = f"{dockerfile.path.name}:{stage.line}"
        if not tag or tag == "latest":
            problems.append(f"{where}: {stage.base} has no exact tag (latest moves)")
        elif not _EXACT_VERSION.search(tag):
            problems.append(f"{where}: {stage.base} is not pinned to an exact version (x.y.z)")
        if digest and not _DIGEST.fullmatch(digest):
            problems.append(f"{where}: {stage.base} has a malformed digest")
    return problems


def copy_sources(dockerfile: Dockerfile) -> list[tuple[Stage, Instruction, list[str], str]]:
    """Every COPY/ADD that reads the build context: (stage, instruction, sources, destination)."""
    found = []
    for stage in dockerfile.stages:
        for instruction in stage.instructions:
            if instruction.keyword in ("COPY", "ADD") and "from" not in instruction.flags:
                *sources, destination = instruction.words()
                found.append((stage, instruction, sources, destination))
    return found


def source_problems(dockerfile: Dockerfile, context: Path, ignore: DockerIgnore) -> list[str]:
    """COPY/ADD sources that do not exist in the build context or that .dockerignore leaves out."""
    problems = []
    for _stage, instruction, sources, _destination in copy_sources(dockerfile):
        where = f"{dockerfile.path.name}:{instruction.line}"
        for source in sources:
            if re.match(r"https?://", source):
                problems.append(f"{where}: {source} is downloaded at build time (unpinned content)")
                continue
            matches = sorted(context.glob(source.rstrip("/"))) if source.rstrip("/") else [context]
            if not matches:
                problems.append(f"{where}: {source} does not exist in the repository")
                continue
            for match in matches:
                relative = match.relative_to(context).as_posix()
                if ignore.excludes(relative):
                    problems.append(f"{where}: {relative} is excluded by .dockerignore")
                elif match.is_dir():
                    files = [f for f in match.rglob("*") if f.is_file()]
                    kept = [f for f in files if not ignore.excludes(f.relative_to(context).as_posix())]
                    dropped = [f for f in files if f.suffix == ".py" and f not in kept]
                    if not kept:
                        problems.append(f"{where}: .dockerignore leaves nothing of {relative}")
                    problems.extend(f"{where}: {f.relative_to(context)} is excluded by .dockerignore" for f in dropped)
    return problems


def final_stage_problems(dockerfile: Dockerfile) -> list[str]:
    """The shipped stage must run as a numeric non-root user, from a slim base, with no compiler installed."""
    final = dockerfile.final
    name = dockerfile.path.name
    problems = []
    users = final.all("USER")
    if not users:
        problems.append(f"{name}: the final stage has no USER, so it runs as root")
    else:
        user = users[-1].args.strip().split(":")[0]
        if not user.isdigit():
            problems.append(
                f"{name}:{users[-1].line}: USER {user} is not numeric (Kubernetes cannot verify runAsNonRoot)"
            )
        elif int(user) == 0:
            problems.append(f"{name}:{users[-1].line}: USER 0 is root")
    if dockerfile.stage(final.base) is not None:
        problems.append(f"{name}:{final.line}: the final stage builds on stage {final.base}, inheriting its tools")
    elif "slim" not in final.base.split("@")[0].rsplit(":", 1)[-1]:
        problems.append(f"{name}:{final.line}: {final.base} is not a slim image (the full Python images ship gcc)")
    for run in final.all("RUN"):
        for tool in installed_packages(run.args):
            if tool in COMPILERS or tool.endswith("-dev"):
                problems.append(f"{name}:{run.line}: the final stage installs {tool}")
    return problems


def installed_packages(command: str) -> list[str]:
    """The package names a RUN command installs with apt-get, apt or apk."""
    packages = []
    for part in re.split(r"&&|;|\|\|", command):
        words = part.split()
        for manager, verb in (("apt-get", "install"), ("apt", "install"), ("apk", "add")):
            if manager in words and verb in words[words.index(manager) :]:
                after = words[words.index(verb, words.index(manager)) + 1 :]
                packages += [w.split("=")[0] for w in after if not w.startswith("-")]
    return packages


def layer_order_problems(dockerfile: Dockerfile) -> list[str]:
    """Code must be copied after the dependency layers, so a code change rebuilds no dependency."""
    problems = []
    for stage in dockerfile.stages:
        dependencies = [
            i
            for i, instruction in enumerate(stage.instructions)
            if (
                instruction.keyword == "RUN"
                and re.search(r"\b(uv sync|uv pip install|pip install)\b", instruction.args)
            )
            or (
                instruction.keyword == "COPY"
                and "from" in instruction.flags
                and dockerfile.stage(instruction.flags["from"])
            )
        ]
        code = [
            i
            for i, instruction in enumerate(stage.instructions)
            if instruction.keyword in ("COPY", "ADD")
            and "from" not in instruction.flags
            and any(source.split("/")[0] in PROJECT_PACKAGES for source in instruction.words()[:-1])
        ]
        if dependencies and code and min(code) < max(dependencies):
            first = stage.instructions[min(code)]
            problems.append(
                f"{dockerfile.path.name}:{first.line}: code is copied before the dependency layer, "
                "so every code change reinstalls the dependencies"
            )
    return problems


# --- what the image holds ---------------------------------------------------------------------------


def image_files(dockerfile: Dockerfile, context: Path, ignore: DockerIgnore) -> dict[str, Path]:
    """The files the final stage copies from the build context: image path -> repository file."""
    files: dict[str, Path] = {}
    final = dockerfile.final
    for position, instruction in enumerate(final.instructions):
        if instruction.keyword not in ("COPY", "ADD") or "from" in instruction.flags:
            continue
        *sources, destination = instruction.words()
        target = final.workdir_at(position) / destination
        for source in sources:
            for match in sorted(context.glob(source.rstrip("/"))):
                if match.is_dir():
                    for file in match.rglob("*"):
                        relative = file.relative_to(context).as_posix()
                        if file.is_file() and not ignore.excludes(relative):
                            files[str(target / file.relative_to(match).as_posix())] = file
                elif not ignore.excludes(match.relative_to(context).as_posix()):
                    into_folder = destination.endswith("/") or len(sources) > 1
                    files[str(target / match.name if into_folder else target)] = match
    return files


def importable(module: str, files: Mapping[str, Path], search_path: Iterable[str]) -> Path | None:
    """The repository file that provides a module in the image, through the image's search path."""
    relative = PurePosixPath(*module.split("."))
    for entry in search_path:
        for candidate in (f"{relative}.py", f"{relative}/__init__.py"):
            path = str(PurePosixPath(entry) / candidate)
            if path in files:
                return files[path]
    return None


def python_path(stage: Stage) -> list[str]:
    """Where the image's Python finds the project's code: PYTHONPATH, then the working directory."""
    env = stage.env()
    entries = [entry for entry in env.get("PYTHONPATH", "").split(":") if entry]
    return entries + [str(stage.workdir_at(len(stage.instructions)))]


# --- import graph ----------------------------------------------------------------------------------


@dataclass
class ImportGraph:
    """What a set of entry points imports: project modules (found or missing) and third-party tops."""

    project: dict[str, Path] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    third_party: dict[str, set[str]] = field(default_factory=dict)


def walk_imports(entries: Mapping[str, str], locate, skip: Mapping[str, set[str]] | None = None) -> ImportGraph:
    """Follows imports statically from entry sources through the project's modules.

    Every import counts, also inside functions (they run when called), except those under
    ``if TYPE_CHECKING:`` and those inside the functions ``skip`` names per module (functions the
    image never runs). An import in a ``try`` that handles ImportError is optional: a missing module
    is fine, but a project module the image ships is followed, since it runs when present.

    Args:
        entries: Entry sources by a name used in messages (module name or task).
        locate: ``module name -> Path | None``: where a project module's source is (None: absent).
        skip: Module name -> names of its top-level functions whose imports do not count.
    """
    skip = skip or {}
    graph = ImportGraph()
    queue: list[tuple[str, str, bool]] = []  # (module, importer, must exist) still to read

    def visit(importer: str, source: str, package: str) -> None:
        for found in imported_names(source, package, skip.get(importer, set())):
            parts = found.name.split(".")
            if parts[0] in PROJECT_PACKAGES:
                must = not found.optional
                queue.extend(
                    (".".join(parts[:end]), importer, must and (found.module or end < len(parts)))
                    for end in range(1, len(parts) + 1)
                )
            elif parts[0] not in sys.stdlib_module_names and not found.optional:
                graph.third_party.setdefault(parts[0], set()).add(importer)

    for name, source in entries.items():
        visit(name, source, "")
    while queue:
        module, importer, must = queue.pop()
        if module in graph.project or module in graph.missing:
            continue
        path = locate(module)
        if path is None:
            if must:  # not `from package import name`, which may name an attribute; not optional
                graph.missing[module] = importer
            continue
        graph.project[module] = path
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        visit(module, path.read_text(), package)
    return graph


@dataclass(frozen=True)
class ImportedName:
    """A name a source imports.

    Attributes:
        name: The absolute dotted name.
        module: Whether it is certainly a module (``from a import b`` gives ``a.b``, maybe an attribute).
        optional: Whether the import sits in a ``try`` that handles ImportError.
    """

    name: str
    module: bool
    optional: bool = False


def imported_names(source: str, package: str = "", skip_functions: Iterable[str] = ()) -> list[ImportedName]:
    """The absolute names a source imports: ``import a.b`` gives ``a.b``, ``from a import b`` ``a`` and ``a.b``.

    Imports under ``if TYPE_CHECKING:`` and in the top-level functions ``skip_functions`` are left out.
    """
    tree = ast.parse(source)
    never, optional = _guarded_imports(tree)
    for qualified, node in definitions(tree).items():
        if qualified in skip_functions:
            never.update(id(inner) for inner in ast.walk(node))
    names: list[ImportedName] = []
    for node in ast.walk(tree):
        if id(node) in never:
            continue
        maybe = id(node) in optional
        if isinstance(node, ast.Import):
            names += [ImportedName(alias.name, True, maybe) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)] if node.level > 1 else anchor
                base = ".".join([*anchor, base] if base else anchor)
            names.append(ImportedName(base, True, maybe))
            names += [ImportedName(f"{base}.{alias.name}", False, maybe) for alias in node.names if alias.name != "*"]
    return names


def definitions(tree: ast.Module) -> dict[str, ast.AST]:
    """The module's functions and its classes' methods by qualified name (``f``, ``Class.method``)."""
    found: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found[node.name] = node
        elif isinstance(node, ast.ClassDef):
            for inner in node.body:
                if isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    found[f"{node.name}.{inner.name}"] = inner
    return found


def references(source: str, name: str, outside: Iterable[str] = ()) -> bool:
    """Whether a source uses ``name`` (a call, an attribute, an import) outside the definitions ``outside``.

    A module's ``if __name__ == "__main__":`` block does not count: it runs only when that module is
    the program, and an image's programs are its command and the tasks' executor, whose own imports
    are the entries of the walk.
    """
    tree = ast.parse(source)
    bodies = definitions(tree)
    hidden = {id(n) for qualified in outside if qualified in bodies for n in ast.walk(bodies[qualified])}
    hidden |= {id(n) for block in tree.body if _is_main_block(block) for n in ast.walk(block)}
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if (isinstance(node, ast.Name) and node.id == name) or (isinstance(node, ast.Attribute) and node.attr == name):
            return True
        if isinstance(node, ast.ImportFrom) and any(alias.name == name for alias in node.names):
            return True
    return False


def _is_main_block(node: ast.stmt) -> bool:
    """Whether a top-level statement is ``if __name__ == "__main__":``."""
    test = getattr(node, "test", None)
    return (
        isinstance(node, ast.If)
        and isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and len(test.comparators) == 1
        and isinstance(test.ops[0], ast.Eq)
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value == "__main__"
    )


def exception_problems(graph: ImportGraph, exceptions: Mapping[str, set[str]]) -> list[str]:
    """Checks declared never-run functions: each exists and nothing else in the graph uses it.

    A function whose imports an image may lack must not be called from any module the image runs,
    except from other functions on the same list (a hook calling its helper).
    """
    problems = []
    for module, names in exceptions.items():
        if module not in graph.project:
            continue  # the image does not run that module: the entry has no effect here
        for qualified in sorted(names):
            if qualified not in definitions(ast.parse(graph.project[module].read_text())):
                problems.append(f"{module} defines no {qualified}")
                continue
            name = qualified.rsplit(".", 1)[-1]
            for other, path in graph.project.items():
                outside = exceptions.get(other, set()) | ({qualified} if other == module else set())
                if references(path.read_text(), name, outside=outside):
                    problems.append(f"{other} uses {qualified}, so its imports must be in the image")
    return problems


def _guarded_imports(tree: ast.AST) -> tuple[set[int], set[int]]:
    """Ids of import nodes never run (under TYPE_CHECKING) and of optional ones (try/except ImportError)."""
    never: set[int] = set()
    optional: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            target, body = never, node.body
        elif isinstance(node, ast.Try) and any(
            handler.type is not None and re.search(r"\b(ImportError|ModuleNotFoundError)\b", ast.unparse(handler.type))
            for handler in node.handlers
        ):
            target, body = optional, node.body
        else:
            continue
        for statement in body:
            target.update(id(inner) for inner in ast.walk(statement) if isinstance(inner, (ast.Import, ast.ImportFrom)))
    return never, optional


# --- what the lock installs --------------------------------------------------------------------------


def locked_distributions(uv: Path, project: Path, python_version: str) -> set[str]:
    """The distributions `uv sync --frozen --no-dev` installs from a project's lock, for Linux x86-64.

    Markers are evaluated for the image's Python (``python_version`` as x.y.z), not the test's.
    """
    from packaging.markers import Marker, default_environment

    exported = subprocess.run(
        [
            str(uv),
            "export",
            "--frozen",
            "--no-dev",
            "--no-emit-project",
            "--no-hashes",
            "--no-header",
            "--no-annotate",
            "--project",
            str(project),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    environment = default_environment()
    environment.update(
        python_full_version=python_version,
        python_version=".".join(python_version.split(".")[:2]),
        sys_platform="linux",
        platform_system="Linux",
        platform_machine="x86_64",
        implementation_name="cpython",
        platform_python_implementation="CPython",
    )
    names = set()
    for line in exported.splitlines():
        requirement, _, marker = line.partition(";")
        if not requirement.strip() or requirement.startswith(("#", "-")):
            continue
        if marker.strip() and not Marker(marker.strip()).evaluate(environment):
            continue
        names.add(normalize(requirement.split("==")[0]))
    return names


def module_providers(python: Path) -> dict[str, set[str]]:
    """Top-level module -> the distributions that install it, in the environment of ``python``."""
    script = "import importlib.metadata as m, json; print(json.dumps(m.packages_distributions()))"
    found = json.loads(subprocess.run([str(python), "-c", script], capture_output=True, text=True, check=True).stdout)
    return {module: {normalize(d) for d in dists} for module, dists in found.items()}


def console_scripts(python: Path) -> dict[str, tuple[str, str]]:
    """Console script -> (distribution, ``module:function``), in the environment of ``python``."""
    script = (
        "import importlib.metadata as m, json\n"
        "print(json.dumps({e.name: [e.dist.name, e.value] for e in m.entry_points(group='console_scripts')}))"
    )
    found = json.loads(subprocess.run([str(python), "-c", script], capture_output=True, text=True, check=True).stdout)
    return {name: (normalize(dist), value) for name, (dist, value) in found.items()}


def normalize(distribution: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", distribution).lower().strip()


def dependency_problems(
    graph: ImportGraph, locked: set[str], providers: Mapping[str, set[str]], lock_name: str
) -> list[str]:
    """Third-party modules the graph imports that no distribution of the lock installs."""
    problems = []
    for module, importers in sorted(graph.third_party.items()):
        if not providers.get(module, set()) & locked:
            problems.append(
                f"{module} (imported by {', '.join(sorted(importers))}) is installed by no distribution of {lock_name}"
            )
    return problems


def base_python_version(dockerfile: Dockerfile) -> str:
    """The x.y.z Python version of the final stage's base image tag."""
    tag = dockerfile.final.base.split("@")[0].rsplit(":", 1)[-1]
    match = _EXACT_VERSION.match(tag)
    if not match:
        raise ValueError(f"{dockerfile.path.name}: cannot read the Python version of {dockerfile.final.base}")
    return match.group(0)


def command_words(stage: Stage, keyword: str = "CMD") -> list[str]:
    """The command of a CMD or ENTRYPOINT, with a ``sh -c`` script unwrapped and ENV variables expanded."""
    found = stage.all(keyword)
    if not found:
        return []
    words = found[-1].words()
    if words[:2] in (["sh", "-c"], ["/bin/sh", "-c"]):
        words = shlex.split(words[2])
    words = [expand(word, stage.env()) for word in words]
    return words[1:] if words and words[0] == "exec" else words
