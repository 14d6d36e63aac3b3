"""Typed, validated settings read from config.toml (every key documented there)."""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import secrets
import sys
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

# A tier or category name: one word (any script), lower-case, as typed after #tier or #category.
NAME = re.compile(r"[\w-]{1,40}")

# The checkout's config.toml; installed as a package, ./config.toml (a wheel ships the documented
# defaults as share/postdesk/config.toml under its prefix, to copy).
CHECKOUT_CONFIG = Path(__file__).resolve().parent.parent / "config.toml"
DEFAULT_CONFIG = CHECKOUT_CONFIG if CHECKOUT_CONFIG.is_file() else Path("config.toml")
SHIPPED_CONFIG = Path(sys.prefix) / "share" / "postdesk" / "config.toml"

# Secrets and deployment switches that may come from the environment instead of the file.
ENVIRONMENT = {
    "POSTDESK_SECRET_KEY": ("web", "secret_key"),
    "POSTDESK_RELAY_PASSWORD": ("outgoing", "relay_password"),
    "POSTDESK_SMTP_PASSWORD": ("smtp", "auth_password"),
    "POSTDESK_DATABASE_URL": ("database", "url"),
    "POSTDESK_REDIS_URL": ("redis", "url"),
    "POSTDESK_METRICS_TOKEN": ("metrics", "token"),
    "POSTDESK_LOG_FORMAT": ("logging", "format"),
}


class ConfigError(Exception):
    """A configuration file that cannot be used; the message names file, key and reason."""


@dataclass(frozen=True)
class Paths:
    var: str = "var"


@dataclass(frozen=True)
class Database:
    url: str = "sqlite:///var/postdesk.db"
    busy_timeout_ms: int = 5000


@dataclass(frozen=True)
class Redis:
    url: str = ""
    queue_prefix: str = "postdesk"


@dataclass(frozen=True)
class Smtp:
    host: str = "127.0.0.1"
    port: int = 2525
    hostname: str = "postdesk.local"
    max_message_bytes: int = 25 * 1024 * 1024
    max_connections: int = 100
    max_connections_per_client: int = 20
    idle_timeout_seconds: int = 60
    tls_cert: str = ""
    tls_key: str = ""
    require_tls: bool = False
    auth_username: str = ""
    auth_password: str = ""
    auth_required: bool = False


@dataclass(frozen=True)
class Web:
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 2
    secret_key: str = ""
    secure_cookies: bool = False
    session_idle_minutes: int = 480
    login_attempts: int = 5  # wrong passwords from one client address
    login_attempts_per_account: int = 50  # for one staff address from anywhere, but its known browsers
    login_lockout_minutes: int = 15
    proxy_count: int = 0
    base_url: str = ""
    # Where clients reach the survey and unsubscribe pages; empty: base_url.
    public_url: str = ""


@dataclass(frozen=True)
class Metrics:
    enabled: bool = True
    # Addresses (CIDR) that may read /metrics without a token; default: this machine only.
    allow_from: tuple[str, ...] = ("127.0.0.1/32", "::1/128")
    token: str = ""  # a scraper sending "Authorization: Bearer TOKEN" may read it from anywhere


@dataclass(frozen=True)
class Logging:
    format: str = "text"  # or "json": one JSON object per line


@dataclass(frozen=True)
class Surveys:
    enabled: bool = True
    delay_minutes: int = 60  # after the ticket is resolved; reopened before: no survey
    cooldown_days: int = 14  # a client surveyed this recently is not asked again
    tiers: tuple[str, ...] = ()  # customers of these tiers only; empty: every tier
    valid_days: int = 30  # the rating links work this long after the survey is sent
    change_hours: int = 72  # after the first answer, another click changes the rating for this long
    alert_at_or_below: int = 2  # a rating this low alerts the team (0: never)
    reopen_on_low_rating: bool = True


@dataclass(frozen=True)
class Outgoing:
    relay_host: str = ""
    relay_port: int = 25
    relay_user: str = ""
    relay_password: str = ""
    starttls: bool = False
    implicit_tls: bool = False  # SMTPS (port 465): TLS from the first byte; excludes starttls
    tls_ca_file: str = ""  # CA certificates (PEM) the relay's certificate is checked against; "": the system's
    timeout_seconds: int = 30
    folder: str = "var/sent"
    max_attempts: int = 8
    retry_base_seconds: int = 60
    message_id_domain: str = ""
    auto_reply_limit_per_hour: int = 5
    # Status changes an agent makes that the client is told of: pending, resolved, closed, reopened.
    status_updates: tuple[str, ...] = ("resolved", "closed", "reopened")


@dataclass(frozen=True)
class Attachments:
    store: str = "database"  # or "folder"
    folder: str = "var/attachments"
    min_bytes: int = 65536  # smaller ones stay in the database whatever the store
    orphan_grace_hours: int = 24


@dataclass(frozen=True)
class Inbound:
    trusted_authserv_id: str = ""
    trusted_mta_hosts: tuple[str, ...] = ()
    # Robots that send a web form's content for the person in its Reply-To (your website's form
    # mailer): addresses, or "@domain" for all of one. Their mail is that person's. Empty: none,
    # since anyone can write any Reply-To.
    form_senders: tuple[str, ...] = ()


@dataclass(frozen=True)
class CategoryRule:
    category: str
    keywords: tuple[str, ...] = ()  # in the subject or the text, case-insensitive
    mailboxes: tuple[str, ...] = ()  # mail to one of these addresses


@dataclass(frozen=True)
class Tickets:
    number_start: int = 1
    reopen_closed_within_days: int = 30
    # A resolved ticket nobody answered is closed after this many days (Zendesk closes solved
    # tickets after four); a later reply then reopens it within reopen_closed_within_days of that,
    # else opens a follow-up. 0: resolved tickets stay resolved.
    close_resolved_after_days: int = 7
    categories: tuple[str, ...] = ("question", "problem", "complaint")
    category_rules: tuple[CategoryRule, ...] = (CategoryRule(category="complaint", keywords=(
        "complaint", "complain", "unacceptable", "投诉", "不满", "抱怨")),)
    complaint_category: str = "complaint"  # a client chasing a breached ticket files it here ("": only an event)


@dataclass(frozen=True)
class TierRule:
    tier: str
    domains: tuple[str, ...] = ()  # the address's domain (or a subdomain of it)
    organisations: tuple[str, ...] = ()  # the customer's organisation, case-insensitive


@dataclass(frozen=True)
class Customers:
    tiers: tuple[str, ...] = ("vip", "standard", "basic")  # most valued first
    default_tier: str = "standard"
    rules: tuple[TierRule, ...] = ()


@dataclass(frozen=True)
class Calendar:
    name: str
    timezone: str = "UTC"
    always_open: bool = False  # 24x7
    monday: tuple[str, ...] = ("09:00-17:00",)
    tuesday: tuple[str, ...] = ("09:00-17:00",)
    wednesday: tuple[str, ...] = ("09:00-17:00",)
    thursday: tuple[str, ...] = ("09:00-17:00",)
    friday: tuple[str, ...] = ("09:00-17:00",)
    saturday: tuple[str, ...] = ()
    sunday: tuple[str, ...] = ()
    holidays: tuple[str, ...] = ()
    workdays: tuple[str, ...] = ()
    country: str = ""
    subdivision: str = ""
    makeup_hours_from: str = "monday"


@dataclass(frozen=True)
class Escalation:
    after_minutes: int = 0  # business minutes after the breach
    notify: tuple[str, ...] = ()  # "assignee", "team", or agents' addresses
    priority: str = ""  # raise the priority to this (never lowers it)
    assign: str = ""  # give the ticket to this agent


@dataclass(frozen=True)
class Policy:
    name: str
    tiers: tuple[str, ...] = ()  # empty: any
    priorities: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    mailboxes: tuple[str, ...] = ()
    calendar: str = "business"
    first_response_minutes: int = 0  # 0: no target
    next_response_minutes: int = 0
    resolution_minutes: int = 0
    warning_minutes: int = 0  # warn the assignee this many business minutes before a due time
    escalations: tuple[Escalation, ...] = ()
    # Tell the client "we are still working on it" when an open ticket had no mail from us for
    # this many hours (sent while its calendar is open). 0: never.
    progress_update_hours: int = 0


@dataclass(frozen=True)
class Worker:
    processes: int = 2
    sweep_interval_seconds: int = 10
    stale_after_seconds: int = 30
    mail_budget_seconds: int = 30
    max_attempts: int = 3


@dataclass(frozen=True)
class Mailbox:
    address: str
    name: str = "Support"
    queue: str = "support"
    language: str = "en"
    signature: str = ""
    team: tuple[str, ...] = ()
    agent_names: bool = False  # staff replies come From "Agnes Smith (Example Support)"
    templates: str = ""  # a folder of this mailbox's own email templates, replacing ours by name
    surveys: bool = True  # send satisfaction surveys for its tickets

    def templates_folder(self, settings: Settings) -> str:
        return str(settings.path(self.templates)) if self.templates else ""


@dataclass(frozen=True)
class ImapAccount:
    name: str
    host: str
    username: str
    port: int = 993
    ssl: bool = True
    starttls: bool = False
    password: str = ""
    folder: str = "INBOX"
    move_to: str = ""
    mailbox: str = ""
    use_idle: bool = True
    poll_seconds: int = 60
    timeout_seconds: int = 60


@dataclass(frozen=True)
class Settings:
    source: str = "<defaults>"
    base_dir: str = "."
    paths: Paths = field(default_factory=Paths)
    database: Database = field(default_factory=Database)
    redis: Redis = field(default_factory=Redis)
    smtp: Smtp = field(default_factory=Smtp)
    web: Web = field(default_factory=Web)
    metrics: Metrics = field(default_factory=Metrics)
    logging: Logging = field(default_factory=Logging)
    outgoing: Outgoing = field(default_factory=Outgoing)
    inbound: Inbound = field(default_factory=Inbound)
    attachments: Attachments = field(default_factory=Attachments)
    tickets: Tickets = field(default_factory=Tickets)
    customers: Customers = field(default_factory=Customers)
    surveys: Surveys = field(default_factory=Surveys)
    calendars: tuple[Calendar, ...] = (Calendar(name="business"), Calendar(name="24x7", always_open=True))
    policies: tuple[Policy, ...] = (Policy(name="default", first_response_minutes=480, next_response_minutes=960,
                                           resolution_minutes=4800, warning_minutes=60,
                                           escalations=(Escalation(notify=("assignee", "team")),)),)
    worker: Worker = field(default_factory=Worker)
    mailboxes: tuple[Mailbox, ...] = (Mailbox(address="support@example.com"),)
    imap: tuple[ImapAccount, ...] = ()

    def path(self, relative: str) -> Path:
        """Resolve a configured path against the folder holding the config file."""
        return (Path(self.base_dir) / relative).resolve()

    @property
    def var(self) -> Path:
        return self.path(self.paths.var)

    @functools.cached_property
    def signing_key(self) -> str:
        """The installation's secret (see secret_key), for tokens the mail layer checks."""
        return secret_key(self)

    @functools.cached_property
    def mailbox_addresses(self) -> frozenset[str]:
        return frozenset(m.address.lower() for m in self.mailboxes)

    @functools.cached_property
    def mailbox_domains(self) -> frozenset[str]:
        return frozenset(a.rpartition("@")[2] for a in self.mailbox_addresses)

    def mailbox_for(self, address: str) -> Mailbox | None:
        """The mailbox an address belongs to, ignoring case and any +tag (support+x@ is support@)."""
        local, _, domain = address.lower().rpartition("@")
        local = local.split("+", 1)[0]
        for mailbox in self.mailboxes:
            if mailbox.address.lower() == f"{local}@{domain}":
                return mailbox
        return None


SECTIONS = {f.name: f.type for f in dataclasses.fields(Settings) if f.name not in ("source", "base_dir")}


def load(path: str | os.PathLike | None = None, environ=os.environ) -> Settings:
    """Read and validate the config file (POSTDESK_CONFIG, else ./config.toml of the checkout)."""
    path = Path(path or environ.get("POSTDESK_CONFIG") or DEFAULT_CONFIG)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        hint = f" (start from a copy of {SHIPPED_CONFIG})" if SHIPPED_CONFIG.is_file() else ""
        raise ConfigError(f"{path}: file not found{hint}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    for variable, (section, key) in ENVIRONMENT.items():
        if environ.get(variable):
            data.setdefault(section, {})[key] = environ[variable]
    for account in data.get("imap", []) if isinstance(data.get("imap"), list) else []:
        variable = f"POSTDESK_IMAP_PASSWORD_{str(account.get('name', '')).upper()}"
        if isinstance(account, dict) and not account.get("password") and environ.get(variable):
            account["password"] = environ[variable]
    return from_dict(data, source=str(path), base_dir=str(path.resolve().parent))


def from_dict(data: dict, source: str = "<dict>", base_dir: str = ".") -> Settings:
    hints = typing.get_type_hints(Settings)
    values = {}
    for key, value in data.items():
        if key not in SECTIONS:
            raise ConfigError(f"{source}: [{key}]: unknown section")
        values[key] = _convert(hints[key], value, source, key)
    settings = Settings(source=source, base_dir=base_dir, **values)
    _check(settings)
    return settings


def _convert(hint, value, source: str, where: str):
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {where}: expected a table, got {type(value).__name__}")
        known = {f.name: f for f in dataclasses.fields(hint)}
        hints = typing.get_type_hints(hint)
        for key in value:
            if key not in known:
                raise ConfigError(f"{source}: {where}.{key}: unknown key")
        missing = [name for name, f in known.items() if name not in value and _required(f)]
        if missing:
            raise ConfigError(f"{source}: {where}.{missing[0]}: required value is missing")
        return hint(**{k: _convert(hints[k], v, source, f"{where}.{k}") for k, v in value.items()})
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{source}: {where}: expected an array of tables, got {type(value).__name__}")
        item = typing.get_args(hint)[0]
        return tuple(_convert(item, v, source, f"{where}[{i}]") for i, v in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        hint = typing.get_args(hint)[0]
    # bool is a subclass of int in Python; a TOML `true` is not a port number.
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise ConfigError(f"{source}: {where}: expected {hint.__name__}, got {type(value).__name__} {value!r}")
    return value


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _check(settings: Settings) -> None:
    """Rules beyond types: ranges and shapes a running Postdesk depends on."""
    src = settings.source
    if not settings.mailboxes:
        raise ConfigError(f"{src}: mailboxes: at least one [[mailboxes]] entry is required")
    for i, mailbox in enumerate(settings.mailboxes):
        if "@" not in mailbox.address:
            raise ConfigError(f"{src}: mailboxes[{i}].address: {mailbox.address!r} is not an email address")
        if mailbox.language not in ("en", "zh"):
            raise ConfigError(f"{src}: mailboxes[{i}].language: must be \"en\" or \"zh\"")
    for section, key in (("smtp", "port"), ("web", "port"), ("outgoing", "relay_port")):
        port = getattr(getattr(settings, section), key)
        if not 0 <= port <= 65535:
            raise ConfigError(f"{src}: {section}.{key}: {port} is not a TCP port")
    smtp = settings.smtp
    if bool(smtp.tls_cert) != bool(smtp.tls_key):
        raise ConfigError(f"{src}: smtp.tls_key: tls_cert and tls_key go together")
    if smtp.require_tls and not smtp.tls_cert:
        raise ConfigError(f"{src}: smtp.require_tls: needs smtp.tls_cert and smtp.tls_key")
    if smtp.auth_required and not smtp.auth_username:
        raise ConfigError(f"{src}: smtp.auth_required: needs smtp.auth_username")
    if settings.outgoing.starttls and settings.outgoing.implicit_tls:
        raise ConfigError(f"{src}: outgoing.implicit_tls: starttls and implicit_tls exclude each other "
                          f"(port 465 is implicit TLS, 587 is STARTTLS)")
    names = [account.name for account in settings.imap]
    for i, account in enumerate(settings.imap):
        if names.count(account.name) > 1:
            raise ConfigError(f"{src}: imap[{i}].name: {account.name!r} is used twice")
        if account.mailbox and settings.mailbox_for(account.mailbox) is None:
            raise ConfigError(f"{src}: imap[{i}].mailbox: {account.mailbox!r} is not a configured mailbox")
    if not 1 <= settings.worker.processes <= 64:
        raise ConfigError(f"{src}: worker.processes: must be between 1 and 64")
    for key in ("login_attempts", "login_attempts_per_account", "login_lockout_minutes", "session_idle_minutes"):
        if getattr(settings.web, key) < 1:
            raise ConfigError(f"{src}: web.{key}: must be 1 or more")
    w = settings.worker
    for key in ("mail_budget_seconds", "max_attempts", "sweep_interval_seconds"):
        if getattr(w, key) < 1:
            raise ConfigError(f"{src}: worker.{key}: must be 1 or more")
    if settings.tickets.number_start < 1:
        raise ConfigError(f"{src}: tickets.number_start: must be 1 or more")
    if settings.tickets.close_resolved_after_days < 0:
        raise ConfigError(f"{src}: tickets.close_resolved_after_days: must be 0 (never) or more")
    for section, key in (("customers", "tiers"), ("tickets", "categories")):
        names = getattr(getattr(settings, section), key)
        if not names or any(not NAME.fullmatch(n) or n != n.lower() for n in names) or len(set(names)) < len(names):
            raise ConfigError(f"{src}: {section}.{key}: a list of distinct lower-case names "
                              f"(letters, digits, - and _) is required")
    if settings.customers.default_tier not in settings.customers.tiers:
        raise ConfigError(f"{src}: customers.default_tier: {settings.customers.default_tier!r} is not "
                          f"one of customers.tiers")
    _check_service_levels(settings)
    _check_surveys(settings)
    _check_operations(settings)
    url = settings.database.url
    if not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise ConfigError(f"{src}: database.url: must start with sqlite:/// or postgresql://")


def _check_operations(settings: Settings) -> None:
    import ipaddress

    src = settings.source
    for i, network in enumerate(settings.metrics.allow_from):
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ConfigError(f"{src}: metrics.allow_from[{i}]: {network!r} is not an address or network "
                              f"(like 10.0.0.0/8)") from None
    if settings.logging.format not in ("text", "json"):
        raise ConfigError(f"{src}: logging.format: must be \"text\" or \"json\"")
    attachments = settings.attachments
    if attachments.store not in ("database", "folder"):
        raise ConfigError(f"{src}: attachments.store: must be \"database\" or \"folder\"")
    if attachments.min_bytes < 0 or attachments.orphan_grace_hours < 1:
        raise ConfigError(f"{src}: attachments: min_bytes must be 0 or more, orphan_grace_hours 1 or more")


STATUS_UPDATES = ("pending", "resolved", "closed", "reopened")


def _check_surveys(settings: Settings) -> None:
    src, surveys = settings.source, settings.surveys
    unknown = [t for t in surveys.tiers if t not in settings.customers.tiers]
    if unknown:
        raise ConfigError(f"{src}: surveys.tiers: {unknown[0]!r} is not one of customers.tiers")
    if not 0 <= surveys.alert_at_or_below <= 5:
        raise ConfigError(f"{src}: surveys.alert_at_or_below: must be between 0 and 5")
    for key in ("valid_days",):
        if getattr(surveys, key) < 1:
            raise ConfigError(f"{src}: surveys.{key}: must be 1 or more")
    for key in ("delay_minutes", "cooldown_days", "change_hours"):
        if getattr(surveys, key) < 0:
            raise ConfigError(f"{src}: surveys.{key}: must be 0 or more")
    for i, policy in enumerate(settings.policies):
        if policy.progress_update_hours < 0:
            raise ConfigError(f"{src}: policies[{i}].progress_update_hours: must be 0 or more")


def _check_service_levels(settings: Settings) -> None:
    """Tier and category rules, calendars and policies name only things that exist."""
    from models.tables import PRIORITIES
    from servicelevels.calendar import Calendar as BusinessCalendar
    from servicelevels.calendar import CalendarError

    src, tiers, categories = settings.source, settings.customers.tiers, settings.tickets.categories
    for i, rule in enumerate(settings.customers.rules):
        if rule.tier not in tiers:
            raise ConfigError(f"{src}: customers.rules[{i}].tier: {rule.tier!r} is not one of customers.tiers")
        bad = [d for d in rule.domains if not re.fullmatch(r"[^\s@.]+(\.[^\s@.]+)+", d)]
        if bad:
            raise ConfigError(f"{src}: customers.rules[{i}].domains: {bad[0]!r} is not a domain name like "
                              f"\"bigclient.com\"")
    for i, rule in enumerate(settings.tickets.category_rules):
        if rule.category not in categories:
            raise ConfigError(f"{src}: tickets.category_rules[{i}].category: {rule.category!r} is not one of "
                              f"tickets.categories")
    unknown = [u for u in settings.outgoing.status_updates if u not in STATUS_UPDATES]
    if unknown:
        raise ConfigError(f"{src}: outgoing.status_updates: {unknown[0]!r} is not one of {', '.join(STATUS_UPDATES)}")
    if settings.tickets.complaint_category and settings.tickets.complaint_category not in categories:
        raise ConfigError(f"{src}: tickets.complaint_category: {settings.tickets.complaint_category!r} is not one of "
                          f"tickets.categories")
    names = [c.name for c in settings.calendars]
    for i, calendar in enumerate(settings.calendars):
        if names.count(calendar.name) > 1:
            raise ConfigError(f"{src}: calendars[{i}].name: {calendar.name!r} is used twice")
        try:
            BusinessCalendar.from_config(calendar)
        except CalendarError as exc:  # "hours.monday: …" names the config key monday
            raise ConfigError(f"{src}: calendars[{i}].{str(exc).removeprefix('hours.')}") from None
    last = settings.policies[-1] if settings.policies else None
    if last is None or last.tiers or last.priorities or last.categories or last.mailboxes:
        raise ConfigError(f"{src}: policies: the last [[policies]] must match every ticket (no tiers, "
                          f"priorities, categories or mailboxes), so every ticket has one")
    policy_names = [p.name for p in settings.policies]
    for i, policy in enumerate(settings.policies):
        where = f"{src}: policies[{i}]"
        if not policy.name.strip() or policy_names.count(policy.name) > 1:
            raise ConfigError(f"{where}.name: {policy.name!r} is empty or used twice")
        targets = [t for t in (policy.first_response_minutes, policy.next_response_minutes,
                               policy.resolution_minutes) if t]
        if targets and policy.warning_minutes >= min(targets):
            raise ConfigError(f"{where}.warning_minutes: {policy.warning_minutes} is not shorter than its smallest "
                              f"target ({min(targets)} minutes)")
        for key, known in (("tiers", tiers), ("priorities", PRIORITIES), ("categories", categories)):
            unknown = [v for v in getattr(policy, key) if v not in known]
            if unknown:
                raise ConfigError(f"{where}.{key}: {unknown[0]!r} is not one of {', '.join(known)}")
        for address in policy.mailboxes:
            if settings.mailbox_for(address) is None:
                raise ConfigError(f"{where}.mailboxes: {address!r} is not a configured mailbox")
        if policy.calendar not in names:
            raise ConfigError(f"{where}.calendar: no [[calendars]] is named {policy.calendar!r}")
        for key in ("first_response_minutes", "next_response_minutes", "resolution_minutes", "warning_minutes"):
            if getattr(policy, key) < 0:
                raise ConfigError(f"{where}.{key}: must be 0 or more")
        for j, level in enumerate(policy.escalations):
            bad = [n for n in level.notify if n not in ("assignee", "team") and "@" not in n]
            if bad:
                raise ConfigError(f"{where}.escalations[{j}].notify: {bad[0]!r} is not \"assignee\", \"team\" "
                                  f"or an agent's address")
            if level.priority and level.priority not in PRIORITIES:
                raise ConfigError(f"{where}.escalations[{j}].priority: {level.priority!r} is not one of "
                                  f"{', '.join(PRIORITIES)}")
            if level.after_minutes < 0:
                raise ConfigError(f"{where}.escalations[{j}].after_minutes: must be 0 or more")


LOCAL_HOSTS = ("127.", "localhost", "0.0.0.0", "[::1]", "::1")


def advice(settings: Settings) -> list[str]:
    """What works but is probably not meant: said by `postdesk check-config`, never refused (the
    embedded defaults of `make run` would not start)."""
    found = []
    public = (settings.web.public_url or settings.web.base_url).rstrip("/")
    if settings.surveys.enabled or any(p.progress_update_hours for p in settings.policies):
        host = public.partition("://")[2] if public else settings.web.host
        if not public or host.startswith(LOCAL_HOSTS):
            found.append(f"[web] public_url is {public or 'not set'}: the survey and unsubscribe links in clients' "
                         f"mail point at {public or f'http://{settings.web.host}:{settings.web.port}'}, which they "
                         f"cannot open; set it to the address clients reach the web pages at")
        elif not public.startswith("https://"):
            found.append(f"[web] public_url {public} is not https: mail providers offer one-click unsubscribing "
                         f"(RFC 8058) for https links only, and clients' rating links travel unencrypted")
    return found


def secret_key(settings: Settings) -> str:
    """The signing key: configured (or POSTDESK_SECRET_KEY), else one generated once under var/."""
    if settings.web.secret_key:
        return settings.web.secret_key
    keyfile = settings.var / "secret_key"
    if not keyfile.exists():
        keyfile.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process won the race; use its key
            pass
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(48))
    return keyfile.read_text().strip()
