"""A ChatFrontDoor for adapter tests: canned Replies, and a record of every context it was given."""

from __future__ import annotations

from core.dispatcher import ChatFrontDoor
from core.model import ChatContext, ChatKind
from core.reply import Reply

PRIVATE_COMMANDS = [
    ("start", "Start here"),
    ("help", "What I can do"),
    ("track", "Track a product page: /track <url> [target]"),
    ("watches", "Your tracked products"),
    ("untrack", "Stop tracking: /untrack <id|all>"),
    ("history", "Price history and chart: /history <id>"),
]
GROUP_COMMANDS = [
    ("help", "What I can do"),
    ("track", "Track a product page for this group"),
    ("watches", "This group's tracked products"),
    ("feed", "Deal feed for this group (admins): /feed on|off|status"),
]

Outcome = Reply | Exception | None


class RecordingFrontDoor(ChatFrontDoor):
    """Answers each command word / action with a canned outcome (a Reply, None, or an exception
    to raise) and records (context, text) and (context, action) in arrival order."""

    def __init__(self) -> None:
        self.texts: list[tuple[ChatContext, str]] = []
        self.actions: list[tuple[ChatContext, str]] = []
        self._text_outcomes: dict[str, Outcome] = {}
        self._action_outcomes: dict[str, Outcome] = {}

    def reply_to(self, command: str, outcome: Outcome) -> None:
        """`command` without slash ("track"); "" stands for any non-command text."""
        self._text_outcomes[command] = outcome

    def reply_to_action(self, action: str, outcome: Outcome) -> None:
        self._action_outcomes[action] = outcome

    def contexts_for(self, command: str) -> list[ChatContext]:
        return [ctx for ctx, text in self.texts if _command_word(text) == command]

    async def handle_text(self, ctx: ChatContext, text: str) -> Reply | None:
        self.texts.append((ctx, text))
        word = _command_word(text)
        if word in self._text_outcomes:
            outcome = self._text_outcomes[word]
        elif word or ctx.chat_kind is ChatKind.PRIVATE:
            outcome = Reply.say(f"you said: {text}")
        else:
            outcome = None  # group chatter is not for the bot
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def handle_action(self, ctx: ChatContext, action: str) -> Reply:
        self.actions.append((ctx, action))
        outcome = self._action_outcomes.get(action, Reply.say(f"done: {action}"))
        if isinstance(outcome, Exception):
            raise outcome
        if outcome is None:
            raise AssertionError("handle_action must return a Reply")
        return outcome

    def command_list(self, chat_kind: str) -> list[tuple[str, str]]:
        return list(PRIVATE_COMMANDS if chat_kind == "private" else GROUP_COMMANDS)


def _command_word(text: str) -> str:
    """ "track" for "/track@PricebotTestBot https://...", "" for text that is not a command."""
    if not text.startswith("/"):
        return ""
    return text.split(maxsplit=1)[0][1:].split("@", 1)[0].lower()
