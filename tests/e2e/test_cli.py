"""The `peerledger` command as an operator runs it: import, its report and exit status, serve."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx

from bootstrap.services import Services
from bootstrap.settings import SETTINGS_HELP, Settings
from tests.conftest import CHEAP_HASHING, DEMO
from tests.e2e.support import PEERLEDGER, clean_environ, peerledger
from tests.factories import author, work
from tests.schema_fuzz import free_port


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`peerledger ARGS` on the embedded store in `tmp_path`, with the demo data its default."""
    return peerledger({"PEERLEDGER_DATA_DIR": str(tmp_path / "var"), **CHEAP_HASHING, **env}, *args, timeout=120)


def test_import_prints_a_summary_and_a_second_run_changes_nothing(tmp_path):
    first = run(tmp_path, "import", str(DEMO))
    assert first.returncode == 0, first.stderr
    assert "12 new, 0 corrected, 0 unchanged" in first.stdout
    second = run(tmp_path, "import", str(DEMO), "--json")
    assert second.returncode == 0
    summary = json.loads(second.stdout)
    assert (summary["works_unchanged"], summary["events_written"]) == (12, 0)


def test_malformed_lines_are_reported_and_the_rest_imports(tmp_path):
    path = tmp_path / "works.jsonl"
    bad = work(2, [author(2)])
    bad["cited_by_count"] = "many"
    path.write_text("\n".join([json.dumps(work(1, [author(1)])), json.dumps(bad), "{", json.dumps(work(3, [author(3)]))]))
    result = run(tmp_path, "import", str(path))
    assert result.returncode == 1
    assert "2 new" in result.stdout
    assert "line 2: Expected `int | null`, got `str` - at `$.cited_by_count`" in result.stderr
    assert "line 3: not JSON" in result.stderr


def test_a_missing_or_unreadable_file_exits_with_status_2(tmp_path):
    missing = run(tmp_path, "import", str(tmp_path / "nope.json"))
    assert (missing.returncode, missing.stderr.strip()) == (2, f"peerledger import: {tmp_path / 'nope.json'}: no such file or folder")
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("hello")
    result = run(tmp_path, "import", str(garbage))
    assert result.returncode == 2
    assert "neither JSON nor JSON Lines" in result.stderr


def test_a_gz_file_that_is_not_gzip_exits_with_status_2(tmp_path):
    path = tmp_path / "works.jsonl.gz"
    path.write_text("{}")
    result = run(tmp_path, "import", str(path))
    assert result.returncode == 2
    assert "cannot be read" in result.stderr and "Traceback" not in result.stderr


def test_a_bad_setting_is_named_and_exits_with_status_2(tmp_path):
    result = run(tmp_path, "import", str(DEMO), PEERLEDGER_PORT="eighty")
    assert (result.returncode, result.stderr.strip()) == (2, "peerledger: PEERLEDGER_PORT must be an integer, not 'eighty'")


def test_help_lists_every_setting(tmp_path):
    result = run(tmp_path, "--help")
    assert result.returncode == 0
    for name in SETTINGS_HELP:
        assert name in result.stdout


def test_serve_starts_on_the_embedded_store_with_the_demo_researcher(tmp_path):
    port = free_port()
    server = subprocess.Popen(
        [*PEERLEDGER, "serve", "--port", str(port)],
        env=clean_environ(PEERLEDGER_DATA_DIR=str(tmp_path / "var")), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )
    try:
        profile = None
        for _ in range(200):
            try:
                profile = httpx.get(f"http://127.0.0.1:{port}/researchers/A5999000001", timeout=1).json()
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert profile is not None, "the server did not answer"
        assert (profile["display_name"], profile["works_count"], profile["verification_level"]) == ("Zhiwu Lu", 12, "L1")
        assert (tmp_path / "var" / "catalogue.sqlite").exists()
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_roles_are_granted_and_revoked_from_the_command_line(tmp_path):
    settings = Settings.from_env({"PEERLEDGER_DATA_DIR": str(tmp_path / "var"), **CHEAP_HASHING})
    services = Services(settings)
    account_id = services.accounts.register("mod@example.org", "a long enough password", "Mo Derator")
    services.close()
    granted = run(tmp_path, "accounts", "grant", "MOD@example.org", "moderator")
    assert (granted.returncode, granted.stdout.strip()) == (0, "moderator granted")
    again = run(tmp_path, "accounts", "grant", "mod@example.org", "moderator")
    assert again.stdout.strip() == "nothing to do: mod@example.org already has moderator"
    services = Services(settings)
    try:
        assert services.accounts.view(account_id).roles == ["member", "moderator"]
    finally:
        services.close()
    revoked = run(tmp_path, "accounts", "revoke", "mod@example.org", "moderator")
    assert (revoked.returncode, revoked.stdout.strip()) == (0, "moderator revoked")


def test_granting_to_an_unknown_address_fails_with_a_message(tmp_path):
    result = run(tmp_path, "accounts", "grant", "nobody@example.org", "admin")
    assert (result.returncode, result.stderr.strip()) == (1, "peerledger accounts grant: no such account")


def test_granting_an_unknown_role_is_refused_by_the_parser(tmp_path):
    result = run(tmp_path, "accounts", "grant", "x@example.org", "emperor")
    assert result.returncode == 2
    assert "invalid choice: 'emperor'" in result.stderr


def test_institution_domains_are_set_from_the_command_line(tmp_path):
    result = run(tmp_path, "institutions", "domains", "https://openalex.org/I0077", "Uni.Example", "dept.uni.example")
    assert (result.returncode, result.stdout.strip()) == (0, "I77: dept.uni.example, uni.example")
    bad = run(tmp_path, "institutions", "domains", "I77", "not a domain")
    assert bad.returncode == 1 and "is not a domain name" in bad.stderr
    wrong = run(tmp_path, "institutions", "domains", "W77", "uni.example")
    assert wrong.returncode == 1 and "is not an OpenAlex institution id" in wrong.stderr


def test_lapse_reports_how_many_records_were_lowered(tmp_path):
    from domain.claims.application import EvidenceIn, RecordFacts
    from domain.catalogue.model import researcher_id_for

    assert run(tmp_path, "import", str(DEMO)).returncode == 0
    settings = Settings.from_env({"PEERLEDGER_DATA_DIR": str(tmp_path / "var"), **CHEAP_HASHING})
    services = Services(settings)
    try:
        account = services.accounts.register("owner@example.org", "a long enough password", "Owner")
        facts = RecordFacts(researcher_id_for("A5999000001"), None, "L1", frozenset())
        claim = services.claims.open_claim(account, facts, [EvidenceIn("statement", text="mine")])
        services.claims.approve(claim, researcher_id_for("A1"), "L2", "ok", facts)
    finally:
        services.close()
    result = run(tmp_path, "claims", "lapse")  # an owned record whose proof has not lapsed
    assert (result.returncode, result.stdout.strip()) == (0, "0 record(s) lowered"), result.stderr


def test_the_expire_worker_runs_and_stops_cleanly_on_sigterm(tmp_path):
    worker = peerledger({"PEERLEDGER_DATA_DIR": str(tmp_path / "var"), **CHEAP_HASHING}, "worker", "expire",
                        background=True)
    try:
        # Its stores exist once it has started (it takes SIGTERM before it opens them): a fixed sleep
        # was too short on a busy machine, where the interpreter alone took longer to start.
        for _ in range(600):
            if (tmp_path / "var" / "security.sqlite").exists() or worker.poll() is not None:
                break
            time.sleep(0.1)
        assert worker.poll() is None, worker.stderr.read()
        worker.terminate()
        assert worker.wait(timeout=20) == 0
        assert "Traceback" not in worker.stderr.read()
    finally:
        worker.kill()


def test_worker_projections_refuses_an_unknown_projection_name(tmp_path):
    result = run(tmp_path, "worker", "projections", "followers", "folowers")
    assert result.returncode == 2
    assert "no projection called folowers; there are: profiles, moderation, followers, invitations, history, trust" \
        in result.stderr


def test_replay_verify_finds_no_difference_after_an_import(tmp_path):
    assert run(tmp_path, "import", str(DEMO)).returncode == 0
    services = Services(Settings.from_env({"PEERLEDGER_DATA_DIR": str(tmp_path / "var")}))
    try:
        for runner in services.runners:  # the embedded read models, as the API would have built them
            runner.catch_up()
        services.trust_runner.catch_up()
    finally:
        services.close()
    result = run(tmp_path, "replay", "--verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "profiles: " in result.stdout and "no difference" in result.stdout
    assert run(tmp_path, "replay", "--verify", "nonsense").returncode == 2
    assert "not allowed with argument" in run(tmp_path, "replay", "--verify", "--drop-old").stderr


def test_replay_switches_readers_to_a_new_version_and_keeps_the_old_one_a_while(tmp_path):
    assert run(tmp_path, "import", str(DEMO)).returncode == 0
    result = run(tmp_path, "replay", "profiles")
    assert result.returncode == 0, result.stderr
    # Not a terminal: plain progress lines, then what was built and where readers are now.
    assert "profiles: building version 2\nprofiles: 100% (" in result.stderr
    assert "trust: building version 2\ntrust: 100% (" in result.stderr
    assert "readers switched to profiles version 2, trust version 2" in result.stdout
    assert f"kept until `peerledger replay --drop-old`: profiles version 1: {tmp_path / 'var' / 'profiles.sqlite'}" \
        in result.stdout
    too_soon = run(tmp_path, "replay", "--drop-old")
    assert too_soon.returncode == 0
    assert "profiles: readers left the previous version moments ago; drop it in" in too_soon.stderr
    assert (tmp_path / "var" / "profiles.sqlite").exists()
    verified = run(tmp_path, "replay", "--verify", "profiles", "trust")  # the live read models are version 2 now
    assert (verified.returncode, verified.stdout.count("no difference")) == (0, 2), verified.stdout
