"""The `peerledger` command: serve the API, import OpenAlex files, export the event log."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import BinaryIO
from uuid import UUID

import msgspec

from domain.errors import DomainError
from operations.importing import ImportSummary, import_file
from operations.snapshot import PartResult, SnapshotError, SnapshotSummary, import_snapshot, works_folder
from adapters.openalex import UnreadableFileError, WorkFileReader, openalex_id
from bootstrap.collector import tune_collector
from bootstrap.registry import PROJECTIONS
from bootstrap.services import OutdatedReadModelsError, Services
from bootstrap.settings import SETTINGS_HELP, Settings, SettingsError


def settings_help() -> str:
    width = max(len(k) for k in SETTINGS_HELP)
    lines = ["environment variables (defaults in brackets):"]
    for name, (default, meaning) in SETTINGS_HELP.items():
        lines.append(f"  {name:<{width}}  {meaning}" + (f" [{default}]" if default else ""))
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="peerledger",
        description="PeerLedger: researcher profiles, claims and collaboration, event-sourced.",
        epilog=settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the HTTP API (OpenAPI at /schema)", epilog=settings_help(),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    serve.add_argument("--host", help="listen address [PEERLEDGER_HOST]")
    serve.add_argument("--port", type=int, help="listen port [PEERLEDGER_PORT]")
    serve.add_argument("--no-demo", action="store_true", help="do not load the demo researcher")
    imp = commands.add_parser(
        "import",
        help="import OpenAlex works from a file or a snapshot folder",
        description="Import works in OpenAlex's Work format: a JSON object, a JSON list, an API page "
        "or JSON Lines (.gz too), or OpenAlex's works snapshot as published: a folder (PATH or PATH/works) "
        "of updated_date=YYYY-MM-DD/part_NNN.gz parts and its manifest. A snapshot is imported part by "
        "part; each part is checked against the manifest's record count and marked done once all its "
        "events are stored, so a run interrupted (even by kill -9) resumes with the same command and "
        "writes no event twice. Bad records are reported and skipped.",
        epilog="exit status: 0 everything imported; 1 imported, but some records were malformed and skipped; "
        "2 nothing could be done (no such file, not a snapshot, unreadable input, the store locked or down); "
        "3 (snapshot) some parts were left for a later run: unreadable or truncated, a record count that "
        "disagrees with the manifest, missing, or being imported by another process. Run the same "
        "command again to import what is left.",
    )
    imp.add_argument("file", type=Path, metavar="PATH", help="a file of works, or a snapshot folder")
    imp.add_argument("--json", action="store_true", help="print the summary as JSON")
    imp.add_argument("--since", type=date_argument, metavar="YYYY-MM-DD",
                     help="snapshot: only partitions updated on or after this date (the date itself "
                          "included: OpenAlex's way of taking an update; parts already done are skipped anyway)")
    imp.add_argument("--jobs", type=jobs_argument, default=1, metavar="N",
                     help="snapshot: import parts in N processes (default 1); writes take turns on the "
                          "store's write lock")
    accounts = commands.add_parser("accounts", help="manage accounts")
    actions = accounts.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action in ("grant", "revoke"):
        sub = actions.add_parser(action, help=f"{action} a role (moderator or admin)")
        sub.add_argument("email")
        sub.add_argument("role", choices=["moderator", "admin"])
    claims = commands.add_parser("claims", help="claims housekeeping")
    claim_actions = claims.add_subparsers(dest="action", required=True, metavar="ACTION")
    claim_actions.add_parser("lapse", help="lower records whose institutional email proof has lapsed")
    institutions = commands.add_parser("institutions", help="institutions' email domains (claim evidence)")
    institution_actions = institutions.add_subparsers(dest="action", required=True, metavar="ACTION")
    domains = institution_actions.add_parser("domains", help="set an institution's email domains")
    domains.add_argument("institution", help="OpenAlex institution id, e.g. I123456")
    domains.add_argument("domain", nargs="*", help="email domains (none: clear)")
    replay = commands.add_parser(
        "replay",
        help="rebuild read models from the event log into a new version, then switch readers over",
        description="Rebuild read models from the event log into new tables while the current ones keep "
        "serving, then switch every reader over at once when the rebuild has caught up. Interrupted, "
        "the same command resumes. A read model built from others (trust) is rebuilt with them. The "
        "previous version is kept until --drop-old.",
    )
    replay_mode = replay.add_mutually_exclusive_group()
    replay_mode.add_argument("--verify", action="store_true",
                             help="rebuild into scratch tables and report every row that differs; switch nothing")
    replay_mode.add_argument("--drop-old", action="store_true",
                             help="drop the tables of versions readers left (a minute or more ago)")
    replay.add_argument("names", nargs="*", metavar="NAME",
                        help=f"only these projections (default: all): {', '.join(PROJECTIONS)}")
    history = commands.add_parser("history", help="the event log")
    history_actions = history.add_subparsers(dest="action", required=True, metavar="ACTION")
    export = history_actions.add_parser(
        "export",
        help="write the event log as JSON Lines for auditors (personal data redacted)",
        description="Write every stored event of every application as JSON Lines, in time order: application, "
        "notification id, originator id and version, topic, timestamp (UTC) and the event's fields. Sealed personal "
        "data reads \"redacted\" unless an admin asks for it with --personal --as EMAIL.",
    )
    export.add_argument("--since", required=True, type=timestamp_argument, metavar="TIMESTAMP",
                        help="events recorded at or after this ISO 8601 time (a date alone is midnight UTC; "
                             "no offset means UTC)")
    export.add_argument("--until", type=timestamp_argument, metavar="TIMESTAMP",
                        help="and before this time (not included)")
    export.add_argument("--output", type=Path, metavar="FILE", help="write to FILE instead of standard output")
    export.add_argument("--personal", action="store_true",
                        help="open sealed personal data (\"erased\" where the person's key is gone); needs --as")
    export.add_argument("--as", dest="admin", metavar="EMAIL", help="the admin's account asking for --personal")
    corrections = commands.add_parser("corrections", help="attribution decisions and links, to report to the data source")
    correction_actions = corrections.add_subparsers(dest="action", required=True, metavar="ACTION")
    corrections_export = correction_actions.add_parser(
        "export",
        help="write every attribution decision and link as JSON Lines (no personal text)",
        description="Write every \"not mine\" decision and its undoing, and every link of two records into one "
        "person and its undoing, as JSON Lines, in the order recorded: when, the decision (not_mine, undone, "
        "linked, unlinked), the work (id and OpenAlex id; none for a link), the record it is taken from or that "
        "is linked (id and OpenAlex id), the person's record it is linked into, the evidence kind and the role "
        "of who decided. Reasons are left out.",
    )
    corrections_export.add_argument("--since", type=timestamp_argument, metavar="TIMESTAMP",
                                    help="decisions recorded at or after this ISO 8601 time (default: all)")
    corrections_export.add_argument("--output", type=Path, metavar="FILE",
                                    help="write to FILE instead of standard output")
    worker = commands.add_parser("worker", help="run a background worker")
    kinds = worker.add_subparsers(dest="worker", required=True, metavar="WORKER")
    projections = kinds.add_parser("projections", help="build read models from the event log (set PEERLEDGER_PROJECTIONS=external on the API)")
    projections.add_argument("names", nargs="*", metavar="NAME",
                             help=f"only these projections: {', '.join(PROJECTIONS)}")
    kinds.add_parser("notify", help="notifications for people from the JetStream stream")
    kinds.add_parser("relay", help="publish every event to NATS JetStream (PostgreSQL only)")
    kinds.add_parser("expire", help="expire invitations after 14 days and lower lapsed evidence, every minute")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as e:
        print(f"peerledger: {e}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    tune_collector()
    try:
        return run_command(settings, args)
    except OutdatedReadModelsError as e:
        print(f"peerledger: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\npeerledger: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - a person reads one line, not a traceback
        print(f"peerledger: {describe_failure(settings, e)}", file=sys.stderr)
        logging.getLogger("peerledger").debug("the failure in full", exc_info=True)
        return STORE_UNAVAILABLE if is_store_failure(e) else 70


STORE_UNAVAILABLE = 2  # exit status when the store cannot be written (locked, down)


def is_store_failure(e: BaseException) -> bool:
    import sqlite3

    import psycopg
    from eventsourcing.persistence import PersistenceError

    return isinstance(e, (PersistenceError, sqlite3.Error, psycopg.Error))


def describe_failure(settings: Settings, e: BaseException) -> str:
    """One line saying what went wrong and what to do about it."""
    from bootstrap.services import SQLITE_LOCK_SECONDS

    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    if is_store_failure(e) and "locked" in text:
        seconds = settings.store_env.get("SQLITE_LOCK_TIMEOUT") or SQLITE_LOCK_SECONDS
        return (f"the embedded store in {settings.data_dir} stayed locked by another process for {seconds} s "
                f"(an import, or `peerledger serve` catching one up): run the command again once it is done, "
                f"or let it wait longer with SQLITE_LOCK_TIMEOUT=SECONDS")
    if is_store_failure(e):
        where = "PostgreSQL" if settings.is_postgres else f"the embedded store in {settings.data_dir}"
        return f"{where} cannot be used: {text}"
    return f"failed: {type(e).__name__}: {text} (PEERLEDGER_LOG_LEVEL=DEBUG shows where)"


def run_command(settings: Settings, args: argparse.Namespace) -> int:
    if args.command == "serve":
        return serve(settings, args)
    if args.command == "accounts":
        return accounts_command(settings, args)
    if args.command == "claims":
        return lapse_command(settings)
    if args.command == "institutions":
        return institutions_command(settings, args)
    if args.command == "replay":
        return replay_command(settings, args)
    if args.command == "history":
        return history_command(settings, args)
    if args.command == "corrections":
        return corrections_command(settings, args)
    if args.command == "worker" and args.worker == "notify":
        from workers.notify import run_notify

        return run_notify(settings)
    if args.command == "worker" and args.worker == "relay":
        from workers.relay import run_relay

        return run_relay(settings)
    if args.command == "worker" and args.worker == "expire":
        from workers.expire import run_expire

        return run_expire(settings, settings.expire_interval)
    if args.command == "worker":
        from workers.projections import run_projections

        return run_projections(settings, args.names or None)
    return import_command(settings, args)


def serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from peerledger.protocol import NoDelayHttpToolsProtocol

    if args.no_demo:
        settings = msgspec.structs.replace(settings, demo_data=False)
    Services(settings).close()  # read models an older version built: say so here, not in a server's traceback
    host = args.host or settings.host
    port = args.port or settings.port
    # Client addresses feed the rate limits: forwarded ones are believed only from trusted proxies.
    proxies = ",".join(settings.trusted_proxies)
    options = {
        "host": host,
        "port": port,
        "log_level": settings.log_level.lower(),
        "proxy_headers": bool(proxies),
        "forwarded_allow_ips": proxies or None,
        "http": NoDelayHttpToolsProtocol,
        "loop": "uvloop",
    }
    if settings.workers > 1:  # each process builds its app from the environment
        os.environ["PEERLEDGER_DEMO_DATA"] = "yes" if settings.demo_data else "no"
        uvicorn.run("api.app:create_app_from_env", factory=True, workers=settings.workers, **options)
    else:
        uvicorn.run(create_app(settings), **options)
    return 0


def accounts_command(settings: Settings, args: argparse.Namespace) -> int:
    services = Services(settings)
    try:
        use_case = services.accounts.grant_role if args.action == "grant" else services.accounts.revoke_role
        changed = use_case(args.email, args.role, "command line")
    except DomainError as e:
        print(f"peerledger accounts {args.action}: {e}", file=sys.stderr)
        return 1
    finally:
        services.close()
    verb = "granted" if args.action == "grant" else "revoked"
    print(f"{args.role} {verb}" if changed else f"nothing to do: {args.email} {'already has' if args.action == 'grant' else 'does not have'} {args.role}")
    return 0


def replay_command(settings: Settings, args: argparse.Namespace) -> int:
    from operations.replay import verify

    unknown = sorted(set(args.names) - set(PROJECTIONS))
    if unknown:
        print(f"no projection called {', '.join(unknown)}; there are: {', '.join(PROJECTIONS)}", file=sys.stderr)
        return 2
    if not args.verify:
        return switch_command(settings, args)
    services = Services(settings, allow_outdated=True)
    try:
        results = verify(services, args.names or None, progress=lambda line: print(line, file=sys.stderr))
    finally:
        services.close()
    differing = 0
    for r in results:
        if not r.differences:
            print(f"{r.projection}: {r.rows:,} rows, {r.events:,} events replayed: no difference")
            continue
        for d in r.differences:
            differing += len(d.only_live) + len(d.only_rebuilt)
            print(f"{r.projection}.{d.table}: {len(d.only_live)} row(s) only live, {len(d.only_rebuilt)} only rebuilt")
            for row in d.only_live[:10]:
                print(f"  live:    {dict(row)}")
            for row in d.only_rebuilt[:10]:
                print(f"  rebuilt: {dict(row)}")
    return 1 if differing else 0


def date_argument(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date in YYYY-MM-DD") from None


def jobs_argument(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 64:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of processes from 1 to 64")
    return int(text)


def timestamp_argument(text: str) -> datetime:
    from operations.export import parse_timestamp

    try:
        return parse_timestamp(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def history_command(settings: Settings, args: argparse.Namespace) -> int:
    from operations.export import export_history, require_admin

    def refuse(message: str) -> int:
        print(f"peerledger history export: {message}", file=sys.stderr)
        return 2

    if args.personal and not args.admin:
        return refuse("--personal needs --as EMAIL, the address of an admin's account")
    if args.admin and not args.personal:
        return refuse("--as names the admin asking for --personal; without --personal it means nothing")
    if args.until is not None and args.until <= args.since:
        return refuse("--until must be later than --since")
    if args.output is not None and not args.output.parent.is_dir():
        return refuse(f"{args.output.parent}: no such folder")
    services = Services(settings)
    try:
        if args.personal:
            try:
                require_admin(services, args.admin)
            except DomainError as e:
                return refuse(str(e))
        return written("history export", args.output, "event(s)", lambda out: export_history(
            services, out, since=args.since, until=args.until, personal=args.personal))
    finally:
        services.close()


def corrections_command(settings: Settings, args: argparse.Namespace) -> int:
    from operations.corrections import export_corrections

    if args.output is not None and not args.output.parent.is_dir():
        print(f"peerledger corrections export: {args.output.parent}: no such folder", file=sys.stderr)
        return 2
    services = Services(settings)
    try:
        return written("corrections export", args.output, "decision(s)",
                       lambda out: export_corrections(services, out, since=args.since))
    finally:
        services.close()


def written(command: str, path: Path | None, unit: str, write: Callable[[BinaryIO], int]) -> int:
    """The exit status of an export: `write` into FILE (whole or not at all) or standard output,
    returning how many it wrote, said when FILE was given."""
    try:
        with output_file(path) as out:
            count = write(out)
    except BrokenPipeError:  # the reader stopped early (`| head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as e:
        print(f"peerledger {command}: {e}", file=sys.stderr)
        return 1
    if path is not None:
        print(f"{count:,} {unit} written to {path}")
    return 0


@contextmanager
def output_file(path: Path | None) -> Iterator[BinaryIO]:
    """Standard output, or FILE written whole or not at all (through a partial file beside it)."""
    if path is None:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("wb") as f:
            yield f
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def switch_command(settings: Settings, args: argparse.Namespace) -> int:
    """`replay [NAME ...]`: build new versions and switch readers; `replay --drop-old`."""
    from operations.replay import Progress, ReplayRunningError, drop_old, old_versions, replay

    services = Services(settings, allow_outdated=True)
    try:
        if args.drop_old:
            dropped, waiting = drop_old(services, args.names or None)
            for d in dropped:
                print(f"{d.projection}: version {d.version} dropped ({', '.join(d.storage)})")
            for name, seconds in waiting.items():
                print(f"{name}: readers left the previous version moments ago; drop it in {seconds:.0f} s or later",
                      file=sys.stderr)
            if not dropped and not waiting:
                print("no old versions to drop")
            return 0
        built = replay(services, args.names or None, Progress(sys.stderr))
        for b in built:
            print(f"{b.projection}: version {b.version} {'resumed and ' if b.resumed else ''}built, "
                  f"{b.events:,} {b.unit} replayed by this run")
        print("readers switched to " + ", ".join(f"{b.projection} version {b.version}" for b in built))
        kept = old_versions(services, [b.projection for b in built])
        for k in kept:
            print(f"kept until `peerledger replay --drop-old`: {k.projection} version {k.version}: {', '.join(k.storage)}")
        return 0
    except ReplayRunningError as e:
        print(f"peerledger replay: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\npeerledger replay: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    finally:
        services.close()


def lapse_command(settings: Settings) -> int:
    services = Services(settings)
    try:
        for runner in services.runners:  # the owners as the events say now
            runner.catch_up()
        lapsed = [r for r in services.profiles_view.owned_records()
                  if services.claims.lapse_expired_evidence(UUID(r))]
    finally:
        services.close()
    print(f"{len(lapsed)} record(s) lowered")
    return 0


def institutions_command(settings: Settings, args: argparse.Namespace) -> int:
    services = Services(settings)
    try:
        institution = openalex_id(args.institution, "I")
        domains = services.catalogue.set_institution_domains(institution, args.domain)
    except (DomainError, ValueError) as e:
        print(f"peerledger institutions domains: {e}", file=sys.stderr)
        return 1
    finally:
        services.close()
    print(f"{institution}: {', '.join(domains) or 'no domains'}")
    return 0


class ProgressBar:
    """A one-line bar on a terminal (stderr); nothing when output is redirected."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, summary: ImportSummary, reader: WorkFileReader) -> None:
        if not self.enabled:
            return
        fraction = reader.bytes_read / reader.total_bytes if reader.total_bytes else 1.0
        filled = int(30 * fraction)
        rate = summary.records_read / summary.seconds if summary.seconds else 0.0
        sys.stderr.write(
            f"\r[{'#' * filled}{'.' * (30 - filled)}] {fraction:6.1%}  {summary.records_read:,} records"
            f"  {rate:,.0f}/s  {summary.malformed:,} malformed"
        )
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


PARTS_LEFT = 3  # exit status: a snapshot's parts were left for a later run


def import_command(settings: Settings, args: argparse.Namespace) -> int:
    path: Path = args.file
    if path.is_dir():
        return snapshot_command(settings, args)
    if not path.is_file():
        print(f"peerledger import: {path}: no such file or folder", file=sys.stderr)
        return 2
    if args.since is not None or args.jobs != 1:
        print(f"peerledger import: --since and --jobs apply to a snapshot folder; {path} is a file",
              file=sys.stderr)
        return 2
    services = Services(settings)
    bar = ProgressBar(sys.stderr.isatty() and not args.json)
    try:
        summary = import_file(services.catalogue, path, batch_size=settings.import_batch, on_batch=bar)
    except (UnreadableFileError, DomainError) as e:
        bar.done()
        print(f"peerledger import: {e}", file=sys.stderr)
        return 2
    finally:
        services.close()
    bar.done()
    if args.json:
        sys.stdout.write(msgspec.json.encode(summary).decode() + "\n")
    else:
        print_summary(summary, path)
    return 1 if summary.malformed else 0


def print_summary(s: ImportSummary, path: Path) -> None:
    rate = s.records_read / s.seconds if s.seconds else 0.0
    print(f"{path}: {s.records_read:,} records in {s.seconds:.2f}s ({rate:,.0f}/s)")
    print(f"  works:       {s.works_created:,} new, {s.works_corrected:,} corrected, {s.works_unchanged:,} unchanged")
    print(f"  researchers: {s.researchers_created:,} new")
    print(f"  events written: {s.events_written:,}")
    if s.warned:
        print(f"  imported with a field left out: {s.warned:,}", file=sys.stderr)
        for p in s.warnings:
            print(f"    {p.where}: {p.reason}", file=sys.stderr)
    if s.malformed:
        print(f"  malformed: {s.malformed:,} (skipped)", file=sys.stderr)
        for p in s.problems:
            print(f"    {p.where}: {p.reason}", file=sys.stderr)
        if s.malformed > len(s.problems):
            print(f"    ... and {s.malformed - len(s.problems):,} more", file=sys.stderr)




def snapshot_command(settings: Settings, args: argparse.Namespace) -> int:
    folder = works_folder(args.file)
    if folder is None:
        print(f"peerledger import: {args.file} is a folder, but not an OpenAlex snapshot: no manifest or "
              f"updated_date=YYYY-MM-DD folders in it or in its works folder", file=sys.stderr)
        return 2

    def report(part: PartResult, so_far: SnapshotSummary) -> None:
        if args.json:
            return
        s = part.summary
        count = so_far.parts_done + len(so_far.parts_left) + so_far.parts_already_done
        state = "done" if part.done else f"LEFT: {part.problem}"
        print(f"[{count}/{so_far.parts_listed}] {part.part}: {s.records_read:,} records, {s.works_created:,} new, "
              f"{s.works_corrected:,} corrected, {s.events_written:,} events; {state}",
              file=sys.stderr if not part.done else sys.stdout, flush=True)

    try:
        summary = import_snapshot(settings, folder, since=args.since, jobs=args.jobs,
                                  batch_size=settings.import_batch, on_part=report)
    except SnapshotError as e:
        print(f"peerledger import: {e}", file=sys.stderr)
        return 2
    except DomainError as e:
        print(f"peerledger import: {e}", file=sys.stderr)
        return 2
    if args.json:
        sys.stdout.write(msgspec.json.encode(summary).decode() + "\n")
    else:
        print_snapshot_summary(summary)
    if summary.parts_left:
        return PARTS_LEFT
    return 1 if summary.totals.malformed else 0


def print_snapshot_summary(s: SnapshotSummary) -> None:
    t = s.totals
    rate = t.records_read / s.seconds if s.seconds else 0.0
    print(f"{s.folder}: {s.parts_listed:,} parts, {s.parts_already_done:,} done before, {s.parts_done:,} done now, "
          f"{len(s.parts_left):,} left; {t.records_read:,} records in {s.seconds:.2f}s ({rate:,.0f}/s)")
    print(f"  works:       {t.works_created:,} new, {t.works_corrected:,} corrected, {t.works_unchanged:,} unchanged")
    print(f"  researchers: {t.researchers_created:,} new")
    print(f"  events written: {t.events_written:,}")
    if t.warned:
        print(f"  imported with a field left out: {t.warned:,}", file=sys.stderr)
        for p in t.warnings:
            print(f"    {p.where}: {p.reason}", file=sys.stderr)
    if t.malformed:
        print(f"  malformed: {t.malformed:,} (skipped)", file=sys.stderr)
        for p in t.problems:
            print(f"    {p.where}: {p.reason}", file=sys.stderr)
        if t.malformed > len(t.problems):
            print(f"    ... and {t.malformed - len(t.problems):,} more", file=sys.stderr)
    if s.parts_left:
        print(f"  parts left for a later run (run the same command again): {len(s.parts_left):,}", file=sys.stderr)
        for p in s.parts_left:
            print(f"    {p.where}: {p.reason}", file=sys.stderr)
