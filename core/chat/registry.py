"""The command registry: one spec per command; every front end is generated from it."""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.errors import UsageError
from core.model import ChatKind

if TYPE_CHECKING:
    from core.chat.call import Call
    from core.reply import Reply

Handler = Callable[..., Awaitable["Reply"]]
Converter = Callable[[str], Any]
# (call, what the user typed so far) -> (label, value) suggestions.
Completer = Callable[["Call", str], Awaitable[list[tuple[str, str]]]]

_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
ALL_CHATS = frozenset(ChatKind)


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter: how text becomes its typed value, and what menus say about it.

    `kind` is the value's shape for platforms with typed options (Discord): "string",
    "integer" or "number". `rest` takes the remainder of the line (a target written
    "25,99 €", a CSS selector with spaces). `autocomplete` names a completion source,
    e.g. "watch_id" (the ids the caller may use in this chat).
    """

    name: str
    description: str
    convert: Converter = str
    required: bool = True
    default: Any = None
    kind: str = "string"
    choices: tuple[str, ...] = ()
    autocomplete: str | None = None
    rest: bool = False

    @property
    def shown(self) -> str:
        return f"<{self.name}>" if self.required else f"[{self.name}]"


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """A chat command. `name` is one word, or "group sub" for subcommands ("holdings add").

    `actions` are the short button verbs this command also answers to ("stop" for untrack),
    kept so buttons on messages sent before a rename still work.
    """

    name: str
    handler: Handler
    params: tuple[Param, ...] = ()
    reads_page: bool = False
    needs_chat_admin: bool = False
    needs_bot_admin: bool = False
    actions: tuple[str, ...] = ()
    chats: frozenset[ChatKind] = ALL_CHATS
    hidden: bool = False
    aliases: tuple[str, ...] = ()

    @property
    def help(self) -> str:
        """The handler's docstring: what the command does, then how to use it."""
        return inspect.cleandoc(self.handler.__doc__ or "")

    @property
    def summary(self) -> str:
        """The first line of the help, for /help and menus (each platform cuts it to its own
        limit: Discord 100 characters, Telegram 256)."""
        return self.help.split("\n", 1)[0].strip() or self.name

    @property
    def usage(self) -> str:
        shown = " ".join(param.shown for param in self.params)
        return f"/{self.name} {shown}".rstrip()

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(self.name.split())

    def bind_text(self, tokens: list[str]) -> dict[str, Any]:
        """Typed arguments from the words after the command; UsageError shows the usage."""
        values: dict[str, Any] = {}
        position = 0
        for param in self.params:
            if param.rest:
                raw = " ".join(tokens[position:])
                position = len(tokens)
            elif position < len(tokens):
                raw = tokens[position]
                position += 1
            else:
                raw = ""
            values[param.name] = self._convert(param, raw)
        if position < len(tokens):
            raise UsageError(f"That is more than /{self.name} takes. Use: {self.usage}")
        return values

    def bind_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """Typed arguments from named options (Discord slash commands): the same converters
        as text, so both forms end in the same values."""
        unknown = set(options) - {param.name for param in self.params}
        if unknown:
            raise UsageError(f"/{self.name} has no option {sorted(unknown)[0]!r}.")
        values = {}
        for param in self.params:
            raw = options.get(param.name)
            values[param.name] = self._convert(param, "" if raw is None else str(raw).strip())
        return values

    def _convert(self, param: Param, raw: str) -> Any:
        if not raw:
            if param.required:
                raise UsageError(f"{param.description} is missing. Use: {self.usage}")
            return param.default
        if param.choices and raw.lower() not in param.choices:
            allowed = ", ".join(param.choices)
            raise UsageError(f"'{raw}' is not one of {allowed}. Use: {self.usage}")
        try:
            return param.convert(raw)
        except UsageError as error:
            raise UsageError(f"{error.user_message} Use: {self.usage}") from None


@dataclass(slots=True)
class CommandFamily:
    """The commands of one module; `@family.command(...)` registers a handler."""

    name: str
    specs: list[CommandSpec] = field(default_factory=list)
    completers: dict[str, Completer] = field(default_factory=dict)

    def completer(self, source: str) -> Callable[[Completer], Completer]:
        """Registers the suggestions for parameters with `autocomplete=source`."""

        def register(function: Completer) -> Completer:
            self.completers[source] = function
            return function

        return register

    def command(
        self, name: str | None = None, *, params: Iterable[Param] = (), **options: Any
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            spec_name = name or handler.__name__.strip("_").replace("_", " ")
            self.specs.append(CommandSpec(spec_name, handler, tuple(params), **options))
            return handler

        return register


@dataclass(frozen=True, slots=True)
class Invocation:
    """A command with its typed arguments, however it was written."""

    spec: CommandSpec
    args: dict[str, Any]

    async def run(self, call: Call) -> Reply:
        return await self.spec.handler(call, **self.args)


class UnknownCommand(UsageError):
    """A command word the registry does not know."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"I do not know the command /{name}. Send /help to see what I can do.")


class Registry:
    """Every command, in the order families were given (the order /help lists them)."""

    def __init__(self, families: Iterable[CommandFamily]) -> None:
        self._specs: dict[str, CommandSpec] = {}
        self._actions: dict[str, CommandSpec] = {}
        self._completers: dict[str, Completer] = {}
        for family in families:
            for spec in family.specs:
                self._add(spec)
            self._completers.update(family.completers)
        self._first_words = frozenset(self.top_level_names())
        for spec in self:
            for param in spec.params:
                if param.autocomplete and param.autocomplete not in self._completers:
                    raise ValueError(f"/{spec.name}: no completer named {param.autocomplete!r}")

    def _add(self, spec: CommandSpec) -> None:
        if not all(_NAME.fullmatch(word) for word in spec.words):
            raise ValueError(f"bad command name {spec.name!r}")
        for key in (spec.name, *spec.aliases):
            if key in self._specs:
                raise ValueError(f"command {key!r} registered twice")
            self._specs[key] = spec
        for verb in spec.actions:
            self._actions[verb] = spec

    def __iter__(self) -> Iterator[CommandSpec]:
        seen: set[str] = set()
        for spec in self._specs.values():
            if spec.name not in seen:
                seen.add(spec.name)
                yield spec

    def get(self, name: str) -> CommandSpec | None:
        return self._specs.get(name)

    def completer(self, source: str) -> Completer | None:
        return self._completers.get(source)

    def top_level_names(self) -> list[str]:
        """First words of every command (what Telegram registers handlers for)."""
        return list(dict.fromkeys(spec.words[0] for spec in self))

    def visible(self, chat_kind: ChatKind) -> list[CommandSpec]:
        """What menus and /help show in a chat of this kind."""
        return [spec for spec in self if not spec.hidden and chat_kind in spec.chats]

    def subcommands(self, group: str) -> list[CommandSpec]:
        """The visible subcommands of `group` ("holdings add", "holdings remove"...)."""
        return [
            spec
            for spec in self
            if len(spec.words) == 2 and spec.words[0] == group and not spec.hidden
        ]

    def parse(self, text: str) -> Invocation | None:
        """The invocation a command line asks for; None when the text is no command.

        Raises UnknownCommand, or UsageError for wrong arguments (showing the usage)."""
        split = split_command(text)
        if split is None:
            return None
        name, rest = split
        return self.invocation(name, rest.split())

    def invocation(self, name: str, tokens: list[str]) -> Invocation:
        """`name` plus the words after it; a first word naming a subcommand selects it."""
        if tokens and (sub := self._specs.get(f"{name} {tokens[0].lower()}")) is not None:
            return Invocation(sub, sub.bind_text(tokens[1:]))
        spec = self._specs.get(name)
        if spec is None:
            raise UnknownCommand(name)
        return Invocation(spec, spec.bind_text(tokens))

    def action(self, action: str) -> Invocation | None:
        """A button's action: a command line without its slash ("untrack 12"), or a verb
        with colon-separated arguments from older messages ("stop:12"). None if unknown."""
        verb, colon, argument = action.partition(":")
        if colon and verb in self._actions:
            spec = self._actions[verb]
            return Invocation(spec, spec.bind_text([a for a in argument.split(":") if a][-1:]))
        words = action.split()
        if not words or words[0] not in self._first_words:
            return None
        return self.invocation(words[0], words[1:])


def split_command(text: str) -> tuple[str, str] | None:
    """('track', 'rest of line') for '/track@PriceBot rest...' or '!track ...'; None when the
    text is not a command line."""
    text = text.strip()
    if not text or text[0] not in "/!":
        return None
    head, _, rest = text[1:].partition(" ")
    name = head.split("@", 1)[0].lower()
    if not _NAME.fullmatch(name):
        return None
    return name, rest.strip()
