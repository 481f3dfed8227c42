"""/start, /help and /settings."""

from __future__ import annotations

from core.chat.call import Call
from core.chat.registry import CommandFamily, Param
from core.errors import UsageError
from core.reply import Reply

commands = CommandFamily("basics")


@commands.command()
async def start(call: Call) -> Reply:
    """What I do, and how to begin."""
    return Reply.say(
        "Hi! I watch product prices for you and tell you here when they drop, come back in "
        "stock or reach your target.",
        "Send /track <link> to start, for example:\n/track https://shop.example/item 19.99",
        "Send /help for everything I can do.",
    )


@commands.command(
    params=(Param("command", "A command to explain", required=False, default=""),),
)
async def help(call: Call, command: str) -> Reply:
    """What every command does; /help <command> explains one."""
    registry = call.services.registry
    assert registry is not None
    if command:
        spec = registry.get(command.lstrip("/!").lower())
        if spec is None or spec.hidden:
            raise UsageError(f"I have no command /{command.lstrip('/!')}. Send /help for all.")
        return Reply.say(spec.usage, spec.help)
    lines = [f"{spec.usage} - {spec.summary}" for spec in registry.visible(call.ctx.chat_kind)]
    return Reply.say("Commands:", "\n".join(lines), "Send /help <command> for details.")


@commands.command()
async def settings(call: Call) -> Reply:
    """Your limits: watches, check interval, alerts a day."""
    async with call.uow() as uow:
        count = await uow.watches.count_owned(call.owner)
    config = call.config
    hours = config.check_interval.total_seconds() / 3600
    cooldown = config.alert_policy.cooldown.total_seconds() / 3600
    return Reply.say(
        "Your settings:",
        f"Watches: {count} of {config.max_watches_per_user}\n"
        f"Each product is checked every {hours:g} h\n"
        f"At most {config.alert_policy.daily_cap} alerts a day; a watch alerts at most "
        f"once every {cooldown:g} h",
    )
