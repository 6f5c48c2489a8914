"""The commands of the emulated Gerrit SSH daemon (exec requests, no shell).

``gerrit version``, ``gerrit ls-projects``, ``gerrit stream-events``, ``gerrit query``,
``gerrit review`` and git's ``git-upload-pack`` / ``git-receive-pack``. Each command gets a
:class:`CommandContext` and returns its exit status; errors go to stderr worded as Gerrit's.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING
from urllib.parse import quote

from driverci.emulator.git.receive import GIT_SERVICES, run_git_service
from driverci.emulator.ssh.context import Command, CommandContext
from driverci.emulator.ssh.options import (
    OptionSpec,
    UsageError,
    parse_options,
    split_command_line,
)
from driverci.emulator.ssh.query import QueryCommand, QueryOptions
from driverci.emulator.ssh.review import run_review
from driverci.emulator.ssh.stream import EventStreamQueue
from driverci.emulator.ssh.stream_render import gson_dumps

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


class GerritCommands:
    """Dispatch of ``gerrit <name>`` and git service commands."""

    VERSION = "3.10.2"

    def __init__(self) -> None:
        self.gerrit: dict[str, Command] = {
            "version": self.version,
            "ls-projects": self.ls_projects,
            "stream-events": self.stream_events,
            "query": self.query,
            "review": run_review,
        }

    async def run(self, ctx: CommandContext, command_line: str) -> int:
        argv = split_command_line(command_line)
        if not argv:
            ctx.err("fatal: no command given; this server has no shell\n")
            return 1
        name = argv[0]
        if name in GIT_SERVICES:
            return await self.git_service(ctx, argv)
        if name != "gerrit":
            ctx.err(f"fatal: Gerrit Code Review: {name}: not found\n")
            return 1
        if len(argv) < 2:
            ctx.err(
                "fatal: gerrit: missing command; available: " + " ".join(sorted(self.gerrit)) + "\n"
            )
            return 1
        handler = self.gerrit.get(argv[1])
        if handler is None:
            ctx.err(f"fatal: gerrit: {argv[1]}: not found\n")
            return 1
        try:
            return await handler(ctx, argv[2:])
        except UsageError as exc:
            ctx.err(f"fatal: {exc}\n")
            return 1

    async def git_service(self, ctx: CommandContext, argv: list[str]) -> int:
        """``git-upload-pack '/openstack/ironic'`` as git-review, Zuul and ``git clone`` send it."""
        if len(argv) != 2:
            ctx.err(f"fatal: usage: {argv[0]} '<project>'\n")
            return 1
        log.info("%s %s by %s", argv[0], argv[1], ctx.account.username)
        return await run_git_service(
            ctx.state,
            ctx.git,
            argv[0],
            argv[1],
            ctx.account,
            stdin=ctx.process.stdin,
            stdout=ctx.process.stdout,
            stderr=ctx.process.stderr,
            protocol=ctx.env.get("GIT_PROTOCOL"),
        )

    async def version(self, ctx: CommandContext, args: list[str]) -> int:
        parse_options(args, OptionSpec())
        ctx.out(f"gerrit version {self.VERSION}\n")
        return 0

    async def ls_projects(self, ctx: CommandContext, args: list[str]) -> int:
        spec = OptionSpec(
            flags={"--description": "description", "-d": "description"},
            values={"--format": "format", "--prefix": "prefix", "-p": "prefix"},
        )
        options, positional = parse_options(args, spec)
        if positional:
            raise UsageError(f'"{positional[0]}" is not a valid option')
        prefix = options.value("prefix", "") or ""
        names = sorted(name for name in ctx.state.projects if name.startswith(prefix))
        output_format = (options.value("format") or "TEXT").upper()
        if output_format.startswith("JSON"):
            listing = {}
            for name in names:
                info: dict[str, str] = {"id": quote(name, safe=""), "state": "ACTIVE"}
                if options.flag("description") and ctx.state.projects[name].description:
                    info["description"] = ctx.state.projects[name].description
                listing[name] = info
            ctx.out(gson_dumps(listing) + "\n")
            return 0
        for name in names:
            description = ctx.state.projects[name].description
            if options.flag("description") and description:
                ctx.out(f"{name} - {description}\n")
            else:
                ctx.out(name + "\n")
        return 0

    async def query(self, ctx: CommandContext, args: list[str]) -> int:
        spec = OptionSpec(
            flags={
                "--current-patch-set": "current_patch_set",
                "--patch-sets": "patch_sets",
                "--all-approvals": "all_approvals",
                "--files": "files",
                "--comments": "comments",
                "--commit-message": "commit_message",
                "--all-reviewers": "all_reviewers",
                "--no-limit": "no_limit",
                "--dependencies": "ignored",
                "--submit-records": "ignored",
            },
            values={"--format": "format", "--start": "start", "-S": "start"},
            # Query words may be negated terms such as -is:wip.
            dash_positional=lambda word: ":" in word,
        )
        options, words = parse_options(args, spec)
        query_options = QueryOptions(
            format=(options.value("format") or "TEXT").upper(),
            current_patch_set=options.flag("current_patch_set"),
            patch_sets=options.flag("patch_sets"),
            all_approvals=options.flag("all_approvals"),
            files=options.flag("files"),
            comments=options.flag("comments"),
            commit_message=options.flag("commit_message"),
            all_reviewers=options.flag("all_reviewers"),
            no_limit=options.flag("no_limit"),
        )
        if query_options.format not in ("TEXT", "JSON"):
            raise UsageError(f'"{query_options.format}" is not a valid value for "--format"')
        start = options.value("start", "0") or "0"
        if not start.isdigit():
            raise UsageError(f'"{start}" is not a valid value for "--start"')
        query_options.start = int(start)
        if query_options.files and not (
            query_options.patch_sets
            or query_options.current_patch_set
            or query_options.all_approvals
        ):
            raise UsageError("--files option needs --patch-sets or --current-patch-set")
        if not words:
            raise UsageError('Argument "QUERY" is required')
        ctx.out(QueryCommand(ctx.state, ctx.account).run(" ".join(words), query_options))
        return 0

    async def stream_events(self, ctx: CommandContext, args: list[str]) -> int:
        spec = OptionSpec(
            values={"--subscribe": "subscribe", "-s": "subscribe"}, repeated={"subscribe"}
        )
        options, positional = parse_options(args, spec)
        if positional:
            raise UsageError(f'"{positional[0]}" is not a valid option')
        subscribed = options.all("subscribe")
        if not ctx.account.may_stream_events:
            ctx.err("stream events not permitted\n")  # Gerrit's words, exit status 1
            return 1
        queue = EventStreamQueue(
            write=ctx.out,
            drain=ctx.drain,
            clock=ctx.state.now,
            subscribed_types=subscribed,
            label=ctx.account.username,
        )
        ctx.hub.subscribe(queue)
        log.info(
            "stream-events: %s connected (types %s)", ctx.account.username, subscribed or "all"
        )
        writer = asyncio.ensure_future(queue.run())
        closed = asyncio.ensure_future(ctx.wait_closed())
        try:
            await asyncio.wait({writer, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ctx.hub.unsubscribe(queue)
            for task in (writer, closed):
                task.cancel()
            await asyncio.gather(writer, closed, return_exceptions=True)
            log.info(
                "stream-events: %s disconnected (%d events dropped)",
                ctx.account.username,
                queue.dropped_count,
            )
        if writer.done() and not writer.cancelled() and writer.exception() is not None:
            log.info(
                "stream-events: %s: channel failed: %r", ctx.account.username, writer.exception()
            )
        return 0
