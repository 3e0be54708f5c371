"""Settings, read once from the environment at the entry point and passed down (never at import)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import msgspec

# name -> (default, meaning); `peerledger --help` and README print this table.
SETTINGS_HELP: dict[str, tuple[str, str]] = {
    "PEERLEDGER_DATA_DIR": ("./var", "data folder (the embedded SQLite files)"),
    "PEERLEDGER_HOST": ("127.0.0.1", "address the API listens on"),
    "PEERLEDGER_PORT": ("8000", "port the API listens on"),
    "PEERLEDGER_WORKERS": ("1", "API processes (more than one needs PEERLEDGER_PROJECTIONS=external)"),
    "PEERLEDGER_DEMO_DATA": ("auto", "load the demo researcher at start: yes, no, or auto (yes on SQLite)"),
    "PEERLEDGER_PROJECTIONS": ("in-process", "in-process: the API runs projections; external: workers do"),
    "PEERLEDGER_MAX_BODY_BYTES": ("1048576", "largest request body accepted (413 above)"),
    "PEERLEDGER_IMPORT_MAX_BYTES": ("16777216", "largest body accepted by POST /imports"),
    "PEERLEDGER_SECRET_KEY": ("", "secret for tokens and keyed hashes; required with PostgreSQL (embedded: generated in the data folder)"),
    "PEERLEDGER_ACCESS_TOKEN_MINUTES": ("15", "lifetime of an access token (JWT)"),
    "PEERLEDGER_CORS_ORIGINS": ("", "comma-separated origins allowed to call the API from a browser"),
    "PEERLEDGER_SMTP_HOST": ("", "SMTP server for mail; empty writes each message to <data dir>/mail"),
    "PEERLEDGER_SMTP_PORT": ("587", "SMTP port"),
    "PEERLEDGER_SMTP_TLS": ("starttls", "none, starttls or tls"),
    "PEERLEDGER_SMTP_USER": ("", "SMTP user (empty: no login)"),
    "PEERLEDGER_SMTP_PASSWORD": ("", "SMTP password"),
    "PEERLEDGER_SMTP_FROM": ("PeerLedger <no-reply@peerledger.invalid>", "sender of the service's mail"),
    "PEERLEDGER_ORCID_CLIENT_ID": ("", "ORCID sign-in client id (empty: ORCID evidence is refused)"),
    "PEERLEDGER_ORCID_CLIENT_SECRET": ("", "ORCID sign-in client secret"),
    "PEERLEDGER_ORCID_AUTHORIZE_URL": ("https://orcid.org/oauth/authorize", "ORCID's authorization endpoint"),
    "PEERLEDGER_ORCID_TOKEN_URL": ("https://orcid.org/oauth/token", "ORCID's token endpoint"),
    "PEERLEDGER_ORCID_REDIRECT_URI": ("http://127.0.0.1:8000/orcid/callback", "where ORCID sends the browser back: the front end's page, or /p/orcid/callback for these pages"),
    "PEERLEDGER_ARGON2_TIME_COST": ("3", "Argon2id passes (RFC 9106 second recommendation: 3)"),
    "PEERLEDGER_ARGON2_MEMORY_KIB": ("65536", "Argon2id memory per hash in KiB (64 MiB)"),
    "PEERLEDGER_ARGON2_PARALLELISM": ("4", "Argon2id lanes"),
    "PEERLEDGER_HASH_CONCURRENCY": ("2", "password hashes computed at once per process (each holds the memory above)"),
    "PEERLEDGER_TRUSTED_PROXIES": ("", "addresses of reverse proxies whose X-Forwarded-For is believed (empty: none)"),
    "PEERLEDGER_RATE_LIMIT_SCALE": ("1", "multiplies every rate limit (benchmarks raise it; never lower than 1 in production)"),
    "PEERLEDGER_READY_MAX_LAG": ("1000", "/ready fails when a projection is more events behind than this"),
    "PEERLEDGER_CACHE_REFRESH_SECONDS": ("0.05", "how often the API refreshes cached profiles and counts when no change wakes it (a hot standby; SQLite with a projections worker)"),
    "PEERLEDGER_IMPORT_BATCH": ("1000", "works saved per transaction during an import"),
    "PEERLEDGER_PROFILE_CACHE_ENTRIES": ("100000", "profiles kept encoded in memory per API process; 0 disables"),
    "PEERLEDGER_EXPIRE_INTERVAL": ("60", "seconds between `peerledger worker expire`'s passes"),
    "PEERLEDGER_LOG_LEVEL": ("INFO", "log level"),
    "PEERLEDGER_METRICS_PORT": ("0", "workers serve GET /metrics on this port (0: not at all)"),
    "PEERLEDGER_METRICS_HOST": ("127.0.0.1", "address the workers' /metrics listens on"),
    "PEERLEDGER_NATS_URL": ("nats://127.0.0.1:4222", "NATS server(s) for `peerledger worker relay`, comma-separated"),
    "PEERLEDGER_NATS_STREAM": ("PEERLEDGER", "the JetStream stream the relay publishes every event to"),
    "PEERLEDGER_NATS_SUBJECT_PREFIX": ("peerledger", "subjects are <prefix>.<area>.<Aggregate>.<Event>"),
    "PEERLEDGER_NATS_REPLICAS": ("1", "copies of the stream in a NATS cluster (3 in production; 1 for one server)"),
    "PEERLEDGER_READ_POSTGRES_HOST": ("", "a PostgreSQL hot standby that serves profile, follower, trust and graph reads (empty: the primary)"),
    "PEERLEDGER_READ_POSTGRES_PORT": ("5432", "the standby's port (database, user and password are the primary's)"),
    "PEERLEDGER_READ_MAX_WAIT": ("1", "seconds a read that must see a write waits for the standby to replay it before reading the primary"),
    "PERSISTENCE_MODULE": (
        "eventsourcing.sqlite",
        "eventsourcing's store: eventsourcing.sqlite (embedded) or eventsourcing.postgres",
    ),
    "POSTGRES_DBNAME / _HOST / _PORT / _USER / _PASSWORD": ("", "PostgreSQL connection (eventsourcing's own)"),
    "POSTGRES_POOL_SIZE / _MAX_OVERFLOW / _CONNECT_TIMEOUT / _LOCK_TIMEOUT / _SCHEMA": (
        "",
        "PostgreSQL pool and lock settings (eventsourcing's own)",
    ),
}


class SettingsError(ValueError):
    """A setting has a value the service cannot use; the message names it."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    data_dir: Path = Path("./var")
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    demo_data: bool = True
    persistence_module: str = "eventsourcing.sqlite"
    projections_in_process: bool = True
    max_body_bytes: int = 1_048_576
    import_max_bytes: int = 16_777_216
    secret_key: str = ""
    access_token_minutes: int = 15
    cors_origins: tuple[str, ...] = ()
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_tls: str = "starttls"
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = "PeerLedger <no-reply@peerledger.invalid>"
    orcid_client_id: str = ""
    orcid_client_secret: str = ""
    orcid_authorize_url: str = "https://orcid.org/oauth/authorize"
    orcid_token_url: str = "https://orcid.org/oauth/token"
    orcid_redirect_uri: str = "http://127.0.0.1:8000/orcid/callback"
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 4
    hash_concurrency: int = 2
    rate_limit_scale: float = 1.0
    trusted_proxies: tuple[str, ...] = ()
    ready_max_lag: int = 1_000
    cache_refresh_seconds: float = 0.05
    import_batch: int = 1_000
    profile_cache_entries: int = 100_000
    expire_interval: float = 60.0
    log_level: str = "INFO"
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"
    nats_urls: tuple[str, ...] = ("nats://127.0.0.1:4222",)
    nats_stream: str = "PEERLEDGER"
    nats_subject_prefix: str = "peerledger"
    nats_replicas: int = 1
    read_postgres_host: str = ""
    read_postgres_port: int = 5432
    read_max_wait: float = 1.0
    # eventsourcing's variables, passed through to the applications and views untouched.
    store_env: dict[str, str] = {}

    @property
    def is_postgres(self) -> bool:
        return self.persistence_module == "eventsourcing.postgres"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)

        def get(name: str) -> str:
            return env.get(name, "").strip() or SETTINGS_HELP[name][0]

        def integer(name: str, low: int, high: int) -> int:
            try:
                value = int(get(name))
            except ValueError:
                raise SettingsError(f"{name} must be an integer, not {get(name)!r}") from None
            if not low <= value <= high:
                raise SettingsError(f"{name} must be between {low} and {high}, not {value}")
            return value

        def number(name: str, high: float = 60) -> float:
            try:
                value = float(get(name))
            except ValueError:
                raise SettingsError(f"{name} must be a number, not {get(name)!r}") from None
            if not 0 < value <= high:
                raise SettingsError(f"{name} must be between 0 and {high:g}, not {value}")
            return value

        def token(name: str) -> str:
            value = get(name)
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", value):
                raise SettingsError(f"{name} must be letters, digits, _ or -, not {value!r}")
            return value

        module = get("PERSISTENCE_MODULE")
        if module not in ("eventsourcing.sqlite", "eventsourcing.postgres", "eventsourcing.popo"):
            raise SettingsError(
                f"PERSISTENCE_MODULE must be eventsourcing.sqlite or eventsourcing.postgres, not {module!r}"
            )
        demo = get("PEERLEDGER_DEMO_DATA").lower()
        if demo not in ("auto", "yes", "no", "true", "false", "1", "0"):
            raise SettingsError(f"PEERLEDGER_DEMO_DATA must be yes, no or auto, not {demo!r}")
        projections = get("PEERLEDGER_PROJECTIONS")
        if projections not in ("in-process", "external"):
            raise SettingsError(f"PEERLEDGER_PROJECTIONS must be in-process or external, not {projections!r}")
        tls = get("PEERLEDGER_SMTP_TLS").lower()
        if tls not in ("none", "starttls", "tls"):
            raise SettingsError(f"PEERLEDGER_SMTP_TLS must be none, starttls or tls, not {tls!r}")
        secret_key = env.get("PEERLEDGER_SECRET_KEY", "").strip()
        if secret_key and len(secret_key) < 32:
            raise SettingsError("PEERLEDGER_SECRET_KEY must have at least 32 characters")
        if not secret_key and module == "eventsourcing.postgres":
            raise SettingsError(
                "PEERLEDGER_SECRET_KEY must be set with PostgreSQL: every process must share it"
            )
        workers = integer("PEERLEDGER_WORKERS", 1, 64)
        if workers > 1 and projections != "external":
            raise SettingsError(
                "PEERLEDGER_WORKERS above 1 needs PEERLEDGER_PROJECTIONS=external: "
                "one projections worker builds the read models for every API process"
            )
        scale = number("PEERLEDGER_RATE_LIMIT_SCALE", 1e9)
        if scale < 1:
            raise SettingsError("PEERLEDGER_RATE_LIMIT_SCALE must be at least 1 (a lower one would refuse everyone)")
        trusted = tuple(p.strip() for p in env.get("PEERLEDGER_TRUSTED_PROXIES", "").split(",") if p.strip())
        store_env = {
            k: v
            for k, v in env.items()
            if not k.startswith("PEERLEDGER_") and (k.isupper() and ("POSTGRES" in k or "SQLITE" in k
            or k.endswith(("_TOPIC", "CREATE_TABLE", "CIPHER_KEY")) or k == "PERSISTENCE_MODULE"))
        }
        store_env["PERSISTENCE_MODULE"] = module
        if module == "eventsourcing.postgres":
            # eventsourcing refuses to start without it, even where the server asks for none (trust).
            store_env.setdefault("POSTGRES_PASSWORD", "")
        if store_env.get("POSTGRES_ENABLE_DB_FUNCTIONS", "").strip().lower() in ("y", "yes", "t", "true", "on", "1"):
            raise SettingsError("POSTGRES_ENABLE_DB_FUNCTIONS must not be set: its inserts do not lock the table, "
                                "and the relay and the projections would skip events committed out of order")
        return cls(
            data_dir=Path(get("PEERLEDGER_DATA_DIR")),
            host=get("PEERLEDGER_HOST"),
            port=integer("PEERLEDGER_PORT", 1, 65535),
            workers=workers,
            demo_data=(module == "eventsourcing.sqlite") if demo == "auto" else demo in ("yes", "true", "1"),
            persistence_module=module,
            projections_in_process=projections == "in-process",
            max_body_bytes=integer("PEERLEDGER_MAX_BODY_BYTES", 1024, 1 << 30),
            import_max_bytes=integer("PEERLEDGER_IMPORT_MAX_BYTES", 1024, 1 << 31),
            secret_key=secret_key,
            access_token_minutes=integer("PEERLEDGER_ACCESS_TOKEN_MINUTES", 1, 24 * 60),
            cors_origins=tuple(o.strip() for o in env.get("PEERLEDGER_CORS_ORIGINS", "").split(",") if o.strip()),
            smtp_host=env.get("PEERLEDGER_SMTP_HOST", "").strip(),
            smtp_port=integer("PEERLEDGER_SMTP_PORT", 1, 65535),
            smtp_tls=tls,
            smtp_user=env.get("PEERLEDGER_SMTP_USER", ""),
            smtp_password=env.get("PEERLEDGER_SMTP_PASSWORD", ""),
            smtp_from=get("PEERLEDGER_SMTP_FROM"),
            orcid_client_id=env.get("PEERLEDGER_ORCID_CLIENT_ID", "").strip(),
            orcid_client_secret=env.get("PEERLEDGER_ORCID_CLIENT_SECRET", "").strip(),
            orcid_authorize_url=get("PEERLEDGER_ORCID_AUTHORIZE_URL"),
            orcid_token_url=get("PEERLEDGER_ORCID_TOKEN_URL"),
            orcid_redirect_uri=get("PEERLEDGER_ORCID_REDIRECT_URI"),
            argon2_time_cost=integer("PEERLEDGER_ARGON2_TIME_COST", 1, 20),
            argon2_memory_kib=integer("PEERLEDGER_ARGON2_MEMORY_KIB", 8192, 4 * 1024 * 1024),
            argon2_parallelism=integer("PEERLEDGER_ARGON2_PARALLELISM", 1, 16),
            hash_concurrency=integer("PEERLEDGER_HASH_CONCURRENCY", 1, 64),
            rate_limit_scale=scale,
            trusted_proxies=trusted,
            ready_max_lag=integer("PEERLEDGER_READY_MAX_LAG", 0, 1 << 40),
            cache_refresh_seconds=number("PEERLEDGER_CACHE_REFRESH_SECONDS"),
            import_batch=integer("PEERLEDGER_IMPORT_BATCH", 1, 100_000),
            profile_cache_entries=integer("PEERLEDGER_PROFILE_CACHE_ENTRIES", 0, 50_000_000),
            expire_interval=number("PEERLEDGER_EXPIRE_INTERVAL", 86_400),
            log_level=get("PEERLEDGER_LOG_LEVEL").upper(),
            metrics_port=integer("PEERLEDGER_METRICS_PORT", 0, 65535),
            metrics_host=get("PEERLEDGER_METRICS_HOST"),
            nats_urls=tuple(u.strip() for u in get("PEERLEDGER_NATS_URL").split(",") if u.strip()),
            nats_stream=token("PEERLEDGER_NATS_STREAM"),
            nats_subject_prefix=token("PEERLEDGER_NATS_SUBJECT_PREFIX"),
            nats_replicas=integer("PEERLEDGER_NATS_REPLICAS", 1, 5),
            read_postgres_host=env.get("PEERLEDGER_READ_POSTGRES_HOST", "").strip() if module == "eventsourcing.postgres" else "",
            read_postgres_port=integer("PEERLEDGER_READ_POSTGRES_PORT", 1, 65535),
            read_max_wait=number("PEERLEDGER_READ_MAX_WAIT"),
            store_env=store_env,
        )
