"""Frozen declarations that plugins return from ``register_*`` hooks; the core validates them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SETTING_TYPES: dict[str, type] = {"str": str, "int": int, "bool": bool}
# What a workflow state means to the core (open-record counts, list filters, dashboards, overdue
# checks): being prepared, live work or in force, finished, ended without taking effect.
STATE_CATEGORIES = ("draft", "open", "closed", "cancelled")


# Words written in capitals wherever a key holds them (``capa_needed`` -> "CAPA needed").
ACRONYMS = {"capa": "CAPA", "sop": "SOP", "irb": "IRB", "iec": "IEC", "pdf": "PDF",
            "csv": "CSV", "api": "API", "utc": "UTC", "gcp": "GCP",
            "mfa": "MFA", "qa": "QA", "ip": "IP", "icf": "ICF"}


def key_words(key: str) -> str:
    """A declared key as people read it: ``in_review`` -> "In review", ``document_type_id`` ->
    "Document type" (where a declaration gives no label)."""
    words = key.removesuffix("_id").replace("_", " ").strip().split(" ")
    text = " ".join(ACRONYMS.get(w, w) for w in words)
    return text[:1].upper() + text[1:]


def task_kind_words(kind: str) -> str:
    """A task kind as people read it: ``documents.make_effective`` -> "Documents: make
    effective"."""
    owner, _, what = kind.partition(".")
    return f"{key_words(owner)}: {what.replace('_', ' ')}" if what else key_words(owner)


@dataclass(frozen=True)
class Permission:
    """A named right, always prefixed with the plugin key: ``capa.close``."""

    name: str
    description: str


@dataclass(frozen=True)
class RoleTemplate:
    """A default role and the permissions it starts with (seeded once, then editable).

    A template with ``label=None`` extends a role declared by another plugin (or the core)
    with this plugin's permissions, e.g. ``RoleTemplate("author", None, ("documents.create",))``.
    """

    key: str
    label: str | None
    permissions: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class SettingSpec:
    """A runtime setting stored in the database, namespaced ``<key>.<name>``.

    ``type`` is one of ``"str"``, ``"int"``, ``"bool"``; ``choices`` limits a string,
    ``minimum``/``maximum`` bound an integer.
    """

    key: str
    type: str
    default: Any
    description: str
    admin_editable: bool = True
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None


@dataclass(frozen=True)
class AdminView:
    """An admin page. The core instantiates ``view``, wraps it with login and permission checks,
    and hides it while the plugin is disabled. ``endpoint`` must be ``<key>`` or ``<key>_*``."""

    view: type
    name: str
    endpoint: str
    permission: str
    model: type | None = None
    category: str | None = None
    order: int = 100


@dataclass(frozen=True)
class AdminLink:
    """A menu entry to a page of the plugin outside the admin (a blueprint's page, such as
    *My training*), returned from ``register_admin_views`` beside ``AdminView`` entries. Shown
    to users holding ``permission`` while the plugin is enabled; ``endpoint`` is the Flask
    endpoint (``training.my``)."""

    name: str
    endpoint: str
    permission: str
    category: str | None = None
    order: int = 100


@dataclass(frozen=True)
class DashboardWidget:
    """A dashboard card: ``template`` rendered with ``context(user)`` for users holding
    ``permission``."""

    key: str
    title: str
    permission: str
    template: str
    context: Callable[[Any], dict[str, Any]]
    order: int = 100


@dataclass(frozen=True)
class Reminder:
    """An idempotent sweep run by ``cqms reminders run`` and ``cqms scheduler``.

    ``sweep(now)`` receives the current UTC datetime, queues notifications with
    ``core.notify`` (which sends each (kind, record, due date, recipient) once, however often the
    sweep runs) and returns how many it queued. ``key`` is ``<plugin>.<name>``.
    """

    key: str
    label: str
    sweep: Callable[[Any], int]


@dataclass(frozen=True)
class JobKind:
    """Long work run outside the web request, started with ``core.start_job`` (exports, bulk
    changes): in a ``cqms jobs worker`` process when ``JOB_QUEUE_URL`` is set, else in a thread
    of the web process.

    ``run(job, **params)`` gets a ``core.JobRun`` (``job.user``: who started it, whom the audit
    entries name; ``job.progress(done, total, step)``: what the user watches) and the JSON
    ``params`` it was started with; it returns a ``JobFile`` for the user to download, or None.
    It re-checks what it reads against ``job.user``'s current rights and writes its own audit
    entries (an export's names its SHA-256). A ``CQMSError`` it raises is shown to the user as
    the reason it failed. ``key`` is ``<plugin>.<name>``.
    """

    key: str
    label: str
    run: Callable[..., Any]


@dataclass(frozen=True)
class JobFile:
    """The file a job produced: its download name, media type and bytes."""

    filename: str
    media_type: str
    data: bytes


@dataclass(frozen=True)
class MigrationBranch:
    """An Alembic branch: ``label`` is the plugin key, ``directory`` holds its revisions."""

    label: str
    directory: Path


@dataclass(frozen=True)
class PluginInfo:
    """What the host knows about one allowed plugin."""

    key: str
    title: str
    description: str
    version: str
    module: Any
    requires: tuple[str, ...] = ()
    builtin: bool = False
    hooks: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class RecordAction:
    """A plugin's button on the core's record page (hook ``record_page_actions``): a POST of a
    CSRF-protected form with ``fields`` (name, value) as hidden inputs to ``url``; with
    ``method="get"``, a link to the plugin's page ``url`` (a form to fill in, a view)."""

    label: str
    url: str
    element_id: str = ""
    fields: tuple[tuple[str, str], ...] = ()
    method: str = "post"


LINK_CARDINALITIES = ("many", "one")


@dataclass(frozen=True)
class LinkKind:
    """A declared kind of link between records (hook ``register_link_kinds``).

    ``label`` reads from the source ("governed by"), ``inverse_label`` from the target
    ("governs"). ``source_types``/``target_types`` list the record type keys allowed at each end
    (empty: any type). ``cardinality`` ``"one"``: a source has at most one live link of this
    kind (a version supersedes one version); ``"many"``: no limit.
    """

    key: str
    label: str
    inverse_label: str
    source_types: tuple[str, ...] = ()
    target_types: tuple[str, ...] = ()
    cardinality: str = "many"


@dataclass(frozen=True)
class AuditEventKind:
    """An entry of the catalogue of audit event kinds (``record_event`` refuses any other):
    ``key`` (``<plugin>.<name>``; the core's own are unprefixed or ``core`` kinds), ``label``
    shown in histories, and ``carries``: what its field, old and new values hold."""

    key: str
    label: str
    carries: str = ""


@dataclass(frozen=True)
class SignatureMeaning:
    """An entry of the controlled vocabulary of signature meanings (``approved``, ...)."""

    key: str
    label: str
    description: str = ""


@dataclass(frozen=True)
class Transition:
    """A named move between states.

    ``permission`` is needed (in the record's study/site scope); ``signature`` names the meaning
    of the signature it requires; ``guards`` are callables ``(record, user) -> list[str]``
    returning reasons to refuse; ``not_by`` names record attributes holding user ids that may
    not perform it (separation of duties, e.g. ``("created_by_id",)``); ``effects`` are
    callables ``(record, user)`` run after the state changed, in the same transaction (they may
    change other records, e.g. supersede the previously effective version; an exception rolls
    everything back). ``automatic`` transitions are the system's own (see the field).
    """

    name: str
    source: tuple[str, ...]
    target: str
    permission: str
    label: str = ""
    signature: str | None = None
    reason_required: bool = False
    guards: tuple[Callable[..., list[str]], ...] = ()
    not_by: tuple[str, ...] = ()
    effects: tuple[Callable[..., None], ...] = ()
    # Done only by the system principal (``core.system_user()``: reactions and sweeps, e.g.
    # superseding a replaced training assignment), never offered to people; no signature.
    automatic: bool = False
    # The controlled fields its signature vouches for, when a record is signed in stages (a
    # CAPA's plan approval, then its effectiveness check): a later change to other controlled
    # fields leaves the signature valid. Empty: all of them. A change to the title, study, site
    # or attachments invalidates every signature.
    signs: tuple[str, ...] = ()
    # A correction (E6-18): re-opens a closed record, with a reason, into a correction state from
    # which it closes again only through a signed step (checked at start-up). The core writes a
    # ``record.correction_opened`` entry naming the version, content and signatures corrected.
    correction: bool = False
    # The endpoint of a plugin page that takes this step with more than a reason and a
    # signature (a version's reviewers and review due date at submit): the record page links to
    # ``url_for(page, record_id=...)`` instead of its own form. The API still takes the step.
    page: str | None = None


@dataclass(frozen=True)
class Workflow:
    """States and transitions of a record type; ``initial`` is the state records start in.

    ``categories`` maps every state to one of ``STATE_CATEGORIES`` (start-up fails naming the
    plugin and state otherwise): ``draft`` (being prepared: changes need no reason there, as in
    ``initial`` whatever its category), ``open`` (live: work to do or in force; counted as
    open, checked for overdue), ``closed`` (finished) and ``cancelled`` (ended without taking
    effect). Plugins ask ``core.states_in(key, "open")`` instead of listing states.
    """

    key: str
    states: tuple[str, ...]
    initial: str
    transitions: tuple[Transition, ...]
    categories: Mapping[str, str] = field(default_factory=dict, hash=False)

    def transition(self, name: str) -> Transition | None:
        return next((t for t in self.transitions if t.name == name), None)

    def states_in(self, *categories: str) -> tuple[str, ...]:
        """The states of these categories in declaration order (every state without any)."""
        return tuple(s for s in self.states
                     if not categories or self.categories.get(s) in categories)

    def category_of(self, state: str) -> str | None:
        return self.categories.get(state)

    @property
    def draft_states(self) -> tuple[str, ...]:
        """States besides ``initial`` where changes need no reason: the ``draft`` category."""
        return tuple(s for s in self.states_in("draft") if s != self.initial)


@dataclass(frozen=True)
class RecordType:
    """A kind of controlled record: its model (a joined-table subclass of ``core.Record`` whose
    polymorphic identity is ``key``), number prefix, workflow and controlled fields."""

    key: str
    label: str
    model: type
    number_prefix: str
    workflow: str
    controlled_fields: tuple[str, ...] = ()
    schema: type | None = None
    number_per_year: bool = False
    number_digits: int = 4
    # Past draft every change needs a reason; with this set, changes in draft need one too.
    reason_in_draft: bool = False
    # With both set, the core builds the admin pages of this type (list in scope, record page
    # with actions, signatures, links and history).
    view_permission: str | None = None
    manage_permission: str | None = None
    # Optional narrowing of what a reader sees of this type, on top of permission and scope:
    # ``read_filter(user)`` returns a SQL condition on the model (or None: no narrowing). The
    # admin list and record page, the API list/get/by-number, links, exports and downloads
    # apply it through ``core.records.service.may_read`` and ``read_clause``.
    read_filter: Callable[[Any], Any] | None = None
    # Optional ``badge(record)`` -> short text shown prominently on the record page (e.g.
    # "SUPERSEDED"), or None.
    badge: Callable[[Any], str | None] | None = None
    # Extra admin list filters (Flask-Admin filter objects or column names) for this type.
    admin_filters: tuple[Any, ...] = ()
    # The admin menu category of the type's pages (None: a top-level item).
    admin_category: str | None = None
    # Columns only the plugin's own services set (e.g. the trainee of an assignment, when it
    # was completed): left out of admin forms and refused as read-only by the API.
    server_fields: tuple[str, ...] = ()
    # The column naming this record's parent record (a document version's ``document_id``):
    # the record always shares its parent's study and site. A new record takes the parent's
    # scope, moving the parent moves it along, and no path moves it alone.
    scope_parent: str | None = None
    # Set when the record is created, never changed afterwards (a version's document).
    fixed_fields: tuple[str, ...] = ()
    # States in which nothing of the record changes any more (judged by the state before the
    # change): no field (server fields set by the plugin's own code aside), no new link from it,
    # no new attachment. ``frozen_hint`` ends the refusal: "DOC-0001-V2 is approved: <hint>."
    frozen_states: tuple[str, ...] = ()
    frozen_hint: str = ""
    # ``prepare_new(record)`` fills the server fields of a record being created by any path
    # (admin, API, services) before the rules and the content hash; it may raise a
    # ValidationError or ConflictError to refuse the record.
    prepare_new: Callable[[Any], None] | None = None
    # Models of rows owned by a record of this type (subclasses of ``core.RecordItem``):
    # audited under the record, frozen with it, listed on its page and exported with it.
    items: tuple[type, ...] = ()
    # The Date (or DateTime) column holding when an open record is due. The core shows "due" and
    # "overdue" on lists and pages, filters by it, and opens a task for the owner of an open
    # record past due (once per due date); ``escalate_to_role`` gets one after
    # ``escalate_after_days`` more days.
    due_field: str | None = None
    # Another Date column for some states, e.g. {"responded": "verification_due"}: what is due
    # changes as the record moves on (due_field stays the one for the other states).
    due_by_state: Mapping[str, str] = field(default_factory=dict, hash=False)
    escalate_to_role: str | None = None
    escalate_after_days: int = 7
    # How the admin pages read, by declaration (no subclass of the core's record view):
    # ``list_columns`` after number, title and state in the list; ``labels`` and ``help_texts``
    # per field (forms and the record page); ``field_order`` of the form (the rest follow);
    # ``choices`` of a text field as (value, label) pairs, offered as a pick list.
    list_columns: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    help_texts: Mapping[str, str] = field(default_factory=dict, hash=False)
    field_order: tuple[str, ...] = ()
    choices: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict, hash=False)
    # The fields the create form asks for (title, study and site always): a record reported
    # in a few fields and completed later on its edit form (an event's investigation). Empty:
    # every field.
    create_fields: tuple[str, ...] = ()
    # The label of an optional file field on the create form (a version's document): the file
    # is attached in the same transaction as the new record, or nothing is saved.
    file_on_create: str = ""
    # Second-person verification (Annex 11 §6): a value of a ``critical_fields`` column entered
    # or changed must be verified by another person (not the record's author, not who last
    # changed it) before the record takes a ``verify_before`` step (the steps out of the states
    # where the data is relied on). A later change voids the verification. See
    # core.second_person.
    critical_fields: tuple[str, ...] = ()
    verify_before: tuple[str, ...] = ()
    # How long its records are kept (ISO-09, DI-A3): see ``Retention`` and core.retention.
    # None: kept indefinitely (the record page says so). Nothing deletes a record either way.
    retention: Retention | None = None
    # Fields that may hold protected health information (ISO-09): masked for whoever lacks
    # ``core.phi.view`` where the record is; each unmasked view of one record is audited.
    phi_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class Retention:
    """A record type's retention policy: ``years`` after the record was closed (its latest step
    into a closed or cancelled state) or created (``counted_from="created"``); or a plugin's
    own ``rule(record)`` -> the date it is kept until (None: not known yet, e.g. a document
    still in use), described in ``rule_text``. When it is over the record may be disposed of
    only through a signed workflow step the plugin declares; the core deletes nothing."""

    years: int = 0
    counted_from: str = "closed"
    rule: Callable[[Any], Any] | None = None
    rule_text: str = ""


@dataclass(frozen=True)
class ItemRules:
    """Rules for rows a plugin keeps that are not records (a version's named reviewers, quiz
    attempts), declared on the model as ``__rules__ = ItemRules("named reviewer", ...)`` and
    enforced by the core before every flush. ``label`` names one row in messages."""

    label: str
    # Set when the row is created, never changed afterwards.
    fixed_fields: tuple[str, ...] = ()
    # When given, the only columns that ever change after creation (all others are fixed).
    changeable: tuple[str, ...] | None = None
    # Never changed after creation (an answer given, a measurement taken).
    append_only: bool = False
    deletable: bool = True
