//! The case workflow (DESIGN §2) as pure rules: who may do what to a case in which state,
//! and what follows from it. No I/O and no clock: the caller loads the case, passes the
//! facts only it knows in a [`Context`], stores the returned case under optimistic
//! concurrency on `version`, and writes the returned events to its outbox in the same
//! transaction.
//!
//! [`apply`] checks, in this order, and returns the first failure:
//! 1. the actor's role may take the action at all, and the case is in the actor's scope
//!    (own SKPD, own report) → [`WorkflowError::Forbidden`]. Scope comes before state so
//!    an officer learns nothing about another SKPD's cases from the error;
//! 2. the case's state accepts the action → [`WorkflowError::NotAllowed`];
//! 3. the parameters and the reply window → [`WorkflowError::Invalid`].
//!
//! Choices the design leaves open:
//! - `verified` and `assigned` share a public label; the workflow only ever produces
//!   `assigned` and treats a stored `verified` case exactly like an `assigned` one.
//! - An SKPD returning a case ([`Action::ReturnToAdmin`]) moves it to
//!   `rejected_not_authority`, the same admin queue as the admin's own "bukan wewenang";
//!   the SKPD is cleared so its officers lose access, and the admin re-disposes
//!   ([`Action::Redispose`]) or archives it.
//! - `closed` and `archived` are terminal: nothing reopens them in this version. The only
//!   thing a terminal case accepts is the reporter's single rating of a closed case.
//! - A rating is allowed once per case, for its whole life (a reopened and re-closed case
//!   is not rated again); a second rating is `NotAllowed`.
//! - Admins may raise `anonim`/`rahasia` but never clear them: both protect the reporter,
//!   and forgotten flags are LAPOR!'s known privacy failure.
//! - Events carry no free text: reporter text may hold PII (DESIGN §4) and officer text
//!   is stored by the caller from [`Transition::text`].
//! - Whether an SKPD, category or parent case exists is the caller's check (it needs the
//!   directory or the database); this module checks only their shape.

use std::ops::RangeInclusive;

use crate::reference::{OfficerRole, is_valid_skpd_code};
use crate::state::CaseState;
use crate::submission::TITLE_MAX_CHARS;
use crate::tracking_id;

/// Follow-ups, questions, replies, objections and reasons.
pub const TEXT_MAX_CHARS: usize = 10_000;
/// One-line names: the body a case is referred to, a sub-unit.
pub const NAME_MAX_CHARS: usize = 200;
pub const CATEGORY_MAX_CHARS: usize = 100;
pub const STARS: RangeInclusive<u8> = 1..=5;

/// Why a case was archived (arsipkan).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArchiveReason {
    Spam,
    Unintelligible,
    OutOfScope,
    Duplicate,
}

impl ArchiveReason {
    pub const ALL: [ArchiveReason; 4] = [
        ArchiveReason::Spam,
        ArchiveReason::Unintelligible,
        ArchiveReason::OutOfScope,
        ArchiveReason::Duplicate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ArchiveReason::Spam => "SPAM",
            ArchiveReason::Unintelligible => "UNINTELLIGIBLE",
            ArchiveReason::OutOfScope => "OUT_OF_SCOPE",
            ArchiveReason::Duplicate => "DUPLICATE",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == code)
    }
}

/// The workflow's view of a case; the caller maps it to and from its table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// Normalised tracking id (see [`tracking_id::normalize`]).
    pub tracking_id: String,
    /// Pseudonymous reporter reference: a reporter may act only on cases carrying theirs.
    pub reporter_ref: String,
    pub state: CaseState,
    /// The SKPD the case is disposed to; set exactly in the states of [`requires_skpd`].
    pub skpd: Option<String>,
    pub sub_unit: Option<String>,
    pub title: String,
    pub category: String,
    pub anonim: bool,
    pub rahasia: bool,
    /// The body named by the admin's "bukan wewenang".
    pub referred_to: Option<String>,
    pub archive_reason: Option<ArchiveReason>,
    /// Tracking id of the case this one duplicates.
    pub duplicate_of: Option<String>,
    pub rated: bool,
    pub version: u64,
}

impl Case {
    /// A freshly submitted case, version 0, neither anonim nor rahasia.
    pub fn new(
        tracking_id: impl Into<String>,
        reporter_ref: impl Into<String>,
        title: impl Into<String>,
        category: impl Into<String>,
    ) -> Self {
        Case {
            tracking_id: tracking_id.into(),
            reporter_ref: reporter_ref.into(),
            state: CaseState::Submitted,
            skpd: None,
            sub_unit: None,
            title: title.into(),
            category: category.into(),
            anonim: false,
            rahasia: false,
            referred_to: None,
            archive_reason: None,
            duplicate_of: None,
            rated: false,
            version: 0,
        }
    }
}

/// Who acts. An officer's `skpd` is their scope; an admin's is ignored (admins are
/// provincial and act on every case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Officer { role: OfficerRole, skpd: String },
    Reporter { reporter_ref: String },
    System,
}

impl Actor {
    pub fn officer(role: OfficerRole, skpd: impl Into<String>) -> Self {
        Actor::Officer {
            role,
            skpd: skpd.into(),
        }
    }

    pub fn reporter(reporter_ref: impl Into<String>) -> Self {
        Actor::Reporter {
            reporter_ref: reporter_ref.into(),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Actor::Officer { role, .. } => role.as_str(),
            Actor::Reporter { .. } => "reporter",
            Actor::System => "system",
        }
    }
}

/// Facts the caller knows and the workflow must not compute (it has no clock or calendar).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Context {
    /// Whether the reporter's reply window after the latest follow-up is still open
    /// (10 working days by default). `Default` is closed.
    pub reply_window_open: bool,
}

/// An admin's correction of a case; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DetailsEdit {
    pub title: Option<String>,
    pub category: Option<String>,
    pub anonim: Option<bool>,
    pub rahasia: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Admin: verifikasi and dispose to an SKPD.
    Verify { skpd: String },
    /// Admin: tunda, asking the reporter a question.
    Hold { question: String },
    /// Reporter: answers the admin's question; the case returns to verification.
    ReporterAnswer { text: String },
    /// Admin: bukan wewenang, naming the body the case belongs to.
    NotAuthority { body: String },
    /// Admin: arsipkan with a reason code (`SPAM`, `UNINTELLIGIBLE`, `OUT_OF_SCOPE`, `DUPLICATE`).
    Archive { reason: String },
    /// Admin: archive as a duplicate of `parent` (a tracking id).
    MergeInto { parent: String },
    /// Admin: correct title, category and privacy flags.
    EditDetails(DetailsEdit),
    /// System: dispose by the category's routing rule.
    AutoDispose { skpd: String },
    /// Admin: dispose a returned or not-our-authority case to an SKPD.
    Redispose { skpd: String },
    /// Koordinator: dispose inside the SKPD to a sub-unit.
    DisposeSubUnit { sub_unit: String },
    /// Koordinator or penghubung: give the case back to the admin queue.
    ReturnToAdmin { reason: String },
    /// Penghubung: work has started.
    StartProgress,
    /// Penghubung: post the tindak lanjut.
    FollowUp { text: String },
    /// Reporter: reply to a follow-up within the reply window.
    Reply { text: String },
    /// Reporter: object to a follow-up within the reply window.
    Objection { text: String },
    /// Reporter: rate the answer, once.
    Rate { stars: u8 },
    /// Admin or penghubung: close a followed-up case.
    Close,
    /// System: close a followed-up case whose reply window passed without a reply.
    AutoClose,
}

/// An action without its parameters: for tables, audit logs and the officer console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActionKind {
    Verify,
    Hold,
    ReporterAnswer,
    NotAuthority,
    Archive,
    MergeInto,
    EditDetails,
    AutoDispose,
    Redispose,
    DisposeSubUnit,
    ReturnToAdmin,
    StartProgress,
    FollowUp,
    Reply,
    Objection,
    Rate,
    Close,
    AutoClose,
}

impl ActionKind {
    pub const ALL: [ActionKind; 18] = [
        ActionKind::Verify,
        ActionKind::Hold,
        ActionKind::ReporterAnswer,
        ActionKind::NotAuthority,
        ActionKind::Archive,
        ActionKind::MergeInto,
        ActionKind::EditDetails,
        ActionKind::AutoDispose,
        ActionKind::Redispose,
        ActionKind::DisposeSubUnit,
        ActionKind::ReturnToAdmin,
        ActionKind::StartProgress,
        ActionKind::FollowUp,
        ActionKind::Reply,
        ActionKind::Objection,
        ActionKind::Rate,
        ActionKind::Close,
        ActionKind::AutoClose,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Verify => "verify",
            ActionKind::Hold => "hold",
            ActionKind::ReporterAnswer => "reporter_answer",
            ActionKind::NotAuthority => "not_authority",
            ActionKind::Archive => "archive",
            ActionKind::MergeInto => "merge_into",
            ActionKind::EditDetails => "edit_details",
            ActionKind::AutoDispose => "auto_dispose",
            ActionKind::Redispose => "redispose",
            ActionKind::DisposeSubUnit => "dispose_sub_unit",
            ActionKind::ReturnToAdmin => "return_to_admin",
            ActionKind::StartProgress => "start_progress",
            ActionKind::FollowUp => "follow_up",
            ActionKind::Reply => "reply",
            ActionKind::Objection => "objection",
            ActionKind::Rate => "rate",
            ActionKind::Close => "close",
            ActionKind::AutoClose => "auto_close",
        }
    }
}

impl Action {
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::Verify { .. } => ActionKind::Verify,
            Action::Hold { .. } => ActionKind::Hold,
            Action::ReporterAnswer { .. } => ActionKind::ReporterAnswer,
            Action::NotAuthority { .. } => ActionKind::NotAuthority,
            Action::Archive { .. } => ActionKind::Archive,
            Action::MergeInto { .. } => ActionKind::MergeInto,
            Action::EditDetails(_) => ActionKind::EditDetails,
            Action::AutoDispose { .. } => ActionKind::AutoDispose,
            Action::Redispose { .. } => ActionKind::Redispose,
            Action::DisposeSubUnit { .. } => ActionKind::DisposeSubUnit,
            Action::ReturnToAdmin { .. } => ActionKind::ReturnToAdmin,
            Action::StartProgress => ActionKind::StartProgress,
            Action::FollowUp { .. } => ActionKind::FollowUp,
            Action::Reply { .. } => ActionKind::Reply,
            Action::Objection { .. } => ActionKind::Objection,
            Action::Rate { .. } => ActionKind::Rate,
            Action::Close => ActionKind::Close,
            Action::AutoClose => ActionKind::AutoClose,
        }
    }
}

/// How a case reached an SKPD; analytics tells verification from automatic routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssignedVia {
    Verification,
    Automatic,
    Redisposition,
}

impl AssignedVia {
    pub fn as_str(self) -> &'static str {
        match self {
            AssignedVia::Verification => "verification",
            AssignedVia::Automatic => "automatic",
            AssignedVia::Redisposition => "redisposition",
        }
    }
}

/// A domain event; it becomes the integration event `complaint.<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Assigned {
        skpd: String,
        via: AssignedVia,
    },
    /// Disposed to a sub-unit inside the same SKPD.
    Reassigned {
        skpd: String,
        sub_unit: String,
    },
    Held,
    /// The reporter answered a hold; the case is back in verification.
    Answered,
    NotAuthority {
        referred_to: String,
    },
    ReturnedToAdmin {
        skpd: String,
    },
    Archived {
        reason: ArchiveReason,
        duplicate_of: Option<String>,
    },
    /// `title`/`category` are set when they changed; the flags are the current values.
    DetailsEdited {
        title: Option<String>,
        category: Option<String>,
        anonim: bool,
        rahasia: bool,
    },
    ProgressStarted {
        skpd: String,
    },
    FollowedUp {
        skpd: String,
    },
    Reopened {
        skpd: String,
        objection: bool,
    },
    Closed {
        skpd: String,
        auto: bool,
    },
    Rated {
        skpd: String,
        stars: u8,
    },
}

impl Event {
    /// The integration event type, `complaint.<name>`.
    pub fn event_type(&self) -> &'static str {
        match self {
            Event::Assigned { .. } => "complaint.assigned",
            Event::Reassigned { .. } => "complaint.reassigned",
            Event::Held => "complaint.held",
            Event::Answered => "complaint.answered",
            Event::NotAuthority { .. } => "complaint.not_authority",
            Event::ReturnedToAdmin { .. } => "complaint.returned_to_admin",
            Event::Archived { .. } => "complaint.archived",
            Event::DetailsEdited { .. } => "complaint.details_edited",
            Event::ProgressStarted { .. } => "complaint.progress_started",
            Event::FollowedUp { .. } => "complaint.followed_up",
            Event::Reopened { .. } => "complaint.reopened",
            Event::Closed { .. } => "complaint.closed",
            Event::Rated { .. } => "complaint.rated",
        }
    }

    /// The SKPD whose work queue must receive the event (routing key
    /// `<event_type>.<skpd>`): only events that give that SKPD work. Other events carry
    /// their SKPD in the payload but route unscoped, so a work queue's depth stays the
    /// SKPD's unhandled work.
    pub fn skpd_scope(&self) -> Option<&str> {
        match self {
            Event::Assigned { skpd, .. } | Event::Reassigned { skpd, .. } | Event::Reopened { skpd, .. } => Some(skpd),
            _ => None,
        }
    }
}

/// An accepted action: the case to store (version + 1) and the events to emit, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub case: Case,
    pub events: Vec<Event>,
    /// The action's free text, trimmed and checked (follow-up, question, answer, reply,
    /// objection, return reason), for the caller to store; never put into events.
    pub text: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    #[error("{action} is not allowed in state {}", .state.as_str())]
    NotAllowed { action: &'static str, state: CaseState },
    #[error("forbidden: {reason}")]
    Forbidden { reason: String },
    #[error("invalid {field}: {message}")]
    Invalid { field: &'static str, message: String },
}

fn forbidden(reason: impl Into<String>) -> WorkflowError {
    WorkflowError::Forbidden { reason: reason.into() }
}

fn invalid(field: &'static str, message: impl Into<String>) -> WorkflowError {
    WorkflowError::Invalid {
        field,
        message: message.into(),
    }
}

/// States in which a case is disposed to an SKPD and so must name it.
pub fn requires_skpd(state: CaseState) -> bool {
    matches!(
        state,
        CaseState::Verified | CaseState::Assigned | CaseState::InProgress | CaseState::FollowedUp | CaseState::Closed
    )
}

/// States nothing leaves (a closed case still takes its one rating).
pub fn is_terminal(state: CaseState) -> bool {
    matches!(state, CaseState::Closed | CaseState::Archived)
}

/// The states an action may start from: the transition table's rows.
pub fn source_states(kind: ActionKind) -> &'static [CaseState] {
    use ActionKind as K;
    use CaseState as S;
    match kind {
        K::Verify | K::Hold | K::NotAuthority | K::MergeInto => &[S::Submitted, S::OnHold],
        K::Archive => &[S::Submitted, S::OnHold, S::RejectedNotAuthority],
        K::ReporterAnswer => &[S::OnHold],
        K::AutoDispose => &[S::Submitted],
        K::Redispose => &[S::RejectedNotAuthority],
        K::DisposeSubUnit | K::StartProgress => &[S::Verified, S::Assigned],
        K::ReturnToAdmin | K::FollowUp => &[S::Verified, S::Assigned, S::InProgress],
        K::Reply | K::Objection | K::Close | K::AutoClose => &[S::FollowedUp],
        K::Rate => &[S::FollowedUp, S::Closed],
        K::EditDetails => &[
            S::Submitted,
            S::Verified,
            S::Assigned,
            S::InProgress,
            S::FollowedUp,
            S::OnHold,
            S::RejectedNotAuthority,
        ],
    }
}

/// What each kind of actor may ever do; scope and state are checked separately.
pub fn role_actions(actor: &Actor) -> &'static [ActionKind] {
    use ActionKind as K;
    match actor {
        Actor::Officer { role, .. } => match role {
            OfficerRole::Admin => &[
                K::Verify,
                K::Hold,
                K::NotAuthority,
                K::Archive,
                K::MergeInto,
                K::EditDetails,
                K::Redispose,
                K::Close,
            ],
            OfficerRole::Koordinator => &[K::DisposeSubUnit, K::ReturnToAdmin],
            OfficerRole::Penghubung => &[K::ReturnToAdmin, K::StartProgress, K::FollowUp, K::Close],
            // Pimpinan and kepala SKPD receive escalations and analytics; they only read.
            OfficerRole::Kepala | OfficerRole::Pimpinan => &[],
        },
        Actor::Reporter { .. } => &[K::ReporterAnswer, K::Reply, K::Objection, K::Rate],
        Actor::System => &[K::AutoDispose, K::AutoClose],
    }
}

/// Applies one action to a case. The input case is never modified; on success the
/// returned case has `version + 1`.
pub fn apply(case: &Case, actor: &Actor, action: &Action, ctx: &Context) -> Result<Transition, WorkflowError> {
    let kind = action.kind();
    authorize(case, actor, kind)?;
    check_state(case, kind)?;
    perform(case, action, ctx)?.commit(case)
}

/// The actions `actor` could take on `case` now, parameters aside: the console's buttons.
pub fn available_actions(case: &Case, actor: &Actor) -> Vec<ActionKind> {
    ActionKind::ALL
        .into_iter()
        .filter(|&kind| authorize(case, actor, kind).is_ok() && check_state(case, kind).is_ok())
        .collect()
}

fn authorize(case: &Case, actor: &Actor, kind: ActionKind) -> Result<(), WorkflowError> {
    if !role_actions(actor).contains(&kind) {
        return Err(forbidden(format!("{} may not {}", actor.name(), kind.as_str())));
    }
    match actor {
        Actor::Officer { role, skpd } if *role != OfficerRole::Admin => check_skpd_scope(case, skpd),
        Actor::Reporter { reporter_ref } => check_reporter(case, reporter_ref),
        _ => Ok(()),
    }
}

/// SKPD officers act only on cases disposed to their SKPD. A case with no SKPD is left
/// to the state check (no SKPD action starts from an undisposed state), unless its state
/// says it should have one: then the data is inconsistent and nobody in an SKPD may act.
fn check_skpd_scope(case: &Case, own: &str) -> Result<(), WorkflowError> {
    match &case.skpd {
        Some(skpd) if skpd == own => Ok(()),
        Some(_) => Err(forbidden("the case is disposed to another skpd")),
        None if requires_skpd(case.state) => Err(forbidden("the case is not disposed to any skpd")),
        None => Ok(()),
    }
}

fn check_reporter(case: &Case, reporter_ref: &str) -> Result<(), WorkflowError> {
    // An empty reference is never a match: it would let any anonymous caller act.
    if reporter_ref.is_empty() || reporter_ref != case.reporter_ref {
        return Err(forbidden("only the reporter of the case may do this"));
    }
    Ok(())
}

fn check_state(case: &Case, kind: ActionKind) -> Result<(), WorkflowError> {
    let already_rated = kind == ActionKind::Rate && case.rated;
    if !source_states(kind).contains(&case.state) || already_rated {
        return Err(WorkflowError::NotAllowed {
            action: kind.as_str(),
            state: case.state,
        });
    }
    Ok(())
}

/// The accepted change before its version bump.
struct Change {
    case: Case,
    events: Vec<Event>,
    text: Option<String>,
}

impl Change {
    fn new(case: Case, event: Event) -> Self {
        Change {
            case,
            events: vec![event],
            text: None,
        }
    }

    fn with_text(mut self, text: String) -> Self {
        self.text = Some(text);
        self
    }

    fn commit(self, before: &Case) -> Result<Transition, WorkflowError> {
        let mut case = self.case;
        case.version = before
            .version
            .checked_add(1)
            .ok_or_else(|| invalid("version", "the case version is exhausted"))?;
        Ok(Transition {
            case,
            events: self.events,
            text: self.text,
        })
    }
}

fn perform(case: &Case, action: &Action, ctx: &Context) -> Result<Change, WorkflowError> {
    match action {
        Action::Verify { skpd } => dispose(case, skpd, AssignedVia::Verification),
        Action::AutoDispose { skpd } => dispose(case, skpd, AssignedVia::Automatic),
        Action::Redispose { skpd } => dispose(case, skpd, AssignedVia::Redisposition),
        Action::Hold { question } => hold(case, question),
        Action::ReporterAnswer { text } => answer(case, text),
        Action::NotAuthority { body } => not_authority(case, body),
        Action::Archive { reason } => archive(case, reason),
        Action::MergeInto { parent } => merge_into(case, parent),
        Action::EditDetails(edit) => edit_details(case, edit),
        Action::DisposeSubUnit { sub_unit } => dispose_sub_unit(case, sub_unit),
        Action::ReturnToAdmin { reason } => return_to_admin(case, reason),
        Action::StartProgress => start_progress(case),
        Action::FollowUp { text } => follow_up(case, text),
        Action::Reply { text } => reopen(case, text, false, ctx),
        Action::Objection { text } => reopen(case, text, true, ctx),
        Action::Rate { stars } => rate(case, *stars),
        Action::Close => close(case, false),
        Action::AutoClose => auto_close(case, ctx),
    }
}

fn with_state(case: &Case, state: CaseState) -> Case {
    Case { state, ..case.clone() }
}

/// The SKPD of a case in a disposed state; `None` there means the stored data is broken.
fn disposed_skpd(case: &Case) -> Result<String, WorkflowError> {
    case.skpd
        .clone()
        .ok_or_else(|| invalid("skpd", format!("the case is {} but names no skpd", case.state.as_str())))
}

fn dispose(case: &Case, skpd: &str, via: AssignedVia) -> Result<Change, WorkflowError> {
    // Codes become queue names and routing keys; existence is the caller's directory check.
    if !is_valid_skpd_code(skpd) {
        return Err(invalid(
            "skpd",
            "must be an skpd code of lowercase letters, digits and '-'",
        ));
    }
    let mut next = with_state(case, CaseState::Assigned);
    next.skpd = Some(skpd.to_owned());
    // A new disposition starts clean: no sub-unit of a previous SKPD, no referral.
    next.sub_unit = None;
    next.referred_to = None;
    let event = Event::Assigned {
        skpd: skpd.to_owned(),
        via,
    };
    Ok(Change::new(next, event))
}

fn hold(case: &Case, question: &str) -> Result<Change, WorkflowError> {
    let question = check_text("question", question, TEXT_MAX_CHARS, true)?;
    Ok(Change::new(with_state(case, CaseState::OnHold), Event::Held).with_text(question))
}

fn answer(case: &Case, text: &str) -> Result<Change, WorkflowError> {
    let text = check_text("text", text, TEXT_MAX_CHARS, true)?;
    Ok(Change::new(with_state(case, CaseState::Submitted), Event::Answered).with_text(text))
}

fn not_authority(case: &Case, body: &str) -> Result<Change, WorkflowError> {
    let body = check_text("body", body, NAME_MAX_CHARS, false)?;
    let mut next = with_state(case, CaseState::RejectedNotAuthority);
    next.referred_to = Some(body.clone());
    Ok(Change::new(next, Event::NotAuthority { referred_to: body }))
}

fn archive(case: &Case, reason: &str) -> Result<Change, WorkflowError> {
    let reason = ArchiveReason::parse(reason).ok_or_else(|| {
        let known: Vec<_> = ArchiveReason::ALL.iter().map(|r| r.as_str()).collect();
        invalid(
            "reason",
            format!(
                "unknown archive reason {reason:?}, expected one of {}",
                known.join(", ")
            ),
        )
    })?;
    Ok(archived(case, reason, None))
}

fn merge_into(case: &Case, parent: &str) -> Result<Change, WorkflowError> {
    let parent = tracking_id::normalize(parent).ok_or_else(|| invalid("parent", "must be a tracking id"))?;
    if parent == case.tracking_id {
        return Err(invalid("parent", "a case cannot duplicate itself"));
    }
    Ok(archived(case, ArchiveReason::Duplicate, Some(parent)))
}

fn archived(case: &Case, reason: ArchiveReason, duplicate_of: Option<String>) -> Change {
    let mut next = with_state(case, CaseState::Archived);
    next.archive_reason = Some(reason);
    next.duplicate_of = duplicate_of.clone();
    Change::new(next, Event::Archived { reason, duplicate_of })
}

fn edit_details(case: &Case, edit: &DetailsEdit) -> Result<Change, WorkflowError> {
    let title = match &edit.title {
        Some(title) => Some(check_text("title", title, TITLE_MAX_CHARS, false)?).filter(|t| *t != case.title),
        None => None,
    };
    let category = match &edit.category {
        Some(category) => Some(check_category(category)?).filter(|c| *c != case.category),
        None => None,
    };
    let anonim = raise_flag("anonim", case.anonim, edit.anonim)?;
    let rahasia = raise_flag("rahasia", case.rahasia, edit.rahasia)?;
    if title.is_none() && category.is_none() && anonim == case.anonim && rahasia == case.rahasia {
        return Err(invalid("details", "nothing to change"));
    }
    let mut next = case.clone();
    next.title = title.clone().unwrap_or_else(|| case.title.clone());
    next.category = category.clone().unwrap_or_else(|| case.category.clone());
    next.anonim = anonim;
    next.rahasia = rahasia;
    let event = Event::DetailsEdited {
        title,
        category,
        anonim,
        rahasia,
    };
    Ok(Change::new(next, event))
}

/// Privacy flags only ever go up: clearing one could expose a reporter who relied on it.
fn raise_flag(field: &'static str, current: bool, requested: Option<bool>) -> Result<bool, WorkflowError> {
    match requested {
        Some(false) if current => Err(invalid(field, "cannot be cleared once set")),
        Some(value) => Ok(value),
        None => Ok(current),
    }
}

fn check_category(category: &str) -> Result<String, WorkflowError> {
    let category = category.trim();
    let well_formed = !category.is_empty()
        && category.len() <= CATEGORY_MAX_CHARS
        && category
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    if !well_formed {
        return Err(invalid(
            "category",
            "must be a category code of lowercase letters, digits, '.' and '-'",
        ));
    }
    Ok(category.to_owned())
}

fn dispose_sub_unit(case: &Case, sub_unit: &str) -> Result<Change, WorkflowError> {
    let sub_unit = check_text("sub_unit", sub_unit, NAME_MAX_CHARS, false)?;
    let skpd = disposed_skpd(case)?;
    let mut next = with_state(case, CaseState::Assigned);
    next.sub_unit = Some(sub_unit.clone());
    Ok(Change::new(next, Event::Reassigned { skpd, sub_unit }))
}

fn return_to_admin(case: &Case, reason: &str) -> Result<Change, WorkflowError> {
    let reason = check_text("reason", reason, TEXT_MAX_CHARS, true)?;
    let skpd = disposed_skpd(case)?;
    let mut next = with_state(case, CaseState::RejectedNotAuthority);
    // The returning SKPD loses the case: its officers must not act on it any more.
    next.skpd = None;
    next.sub_unit = None;
    next.referred_to = None;
    Ok(Change::new(next, Event::ReturnedToAdmin { skpd }).with_text(reason))
}

fn start_progress(case: &Case) -> Result<Change, WorkflowError> {
    let skpd = disposed_skpd(case)?;
    Ok(Change::new(
        with_state(case, CaseState::InProgress),
        Event::ProgressStarted { skpd },
    ))
}

fn follow_up(case: &Case, text: &str) -> Result<Change, WorkflowError> {
    let text = check_text("text", text, TEXT_MAX_CHARS, true)?;
    let skpd = disposed_skpd(case)?;
    Ok(Change::new(with_state(case, CaseState::FollowedUp), Event::FollowedUp { skpd }).with_text(text))
}

fn reopen(case: &Case, text: &str, objection: bool, ctx: &Context) -> Result<Change, WorkflowError> {
    if !ctx.reply_window_open {
        return Err(invalid("reply_window", "the reply window has closed"));
    }
    let text = check_text("text", text, TEXT_MAX_CHARS, true)?;
    let skpd = disposed_skpd(case)?;
    let event = Event::Reopened { skpd, objection };
    Ok(Change::new(with_state(case, CaseState::InProgress), event).with_text(text))
}

fn rate(case: &Case, stars: u8) -> Result<Change, WorkflowError> {
    if !STARS.contains(&stars) {
        return Err(invalid("stars", format!("must be 1 to 5, got {stars}")));
    }
    let skpd = disposed_skpd(case)?;
    let next = Case {
        rated: true,
        ..case.clone()
    };
    Ok(Change::new(next, Event::Rated { skpd, stars }))
}

fn close(case: &Case, auto: bool) -> Result<Change, WorkflowError> {
    let skpd = disposed_skpd(case)?;
    Ok(Change::new(
        with_state(case, CaseState::Closed),
        Event::Closed { skpd, auto },
    ))
}

fn auto_close(case: &Case, ctx: &Context) -> Result<Change, WorkflowError> {
    // A timer that fires early (e.g. after a calendar change) must not cut the window short.
    if ctx.reply_window_open {
        return Err(invalid("reply_window", "the reply window is still open"));
    }
    close(case, true)
}

/// Trims and checks free text. Control characters (other than line breaks and tabs in
/// multi-line text) and bidi overrides are refused because officers read this text.
pub(crate) fn check_text(
    field: &'static str,
    value: &str,
    max_chars: usize,
    multiline: bool,
) -> Result<String, WorkflowError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    let chars = trimmed.chars().count();
    if chars > max_chars {
        return Err(invalid(
            field,
            format!("must be at most {max_chars} characters, got {chars}"),
        ));
    }
    let forbidden_char = trimmed.chars().find(|&c| {
        let allowed_whitespace = multiline && matches!(c, '\n' | '\r' | '\t');
        (c.is_control() && !allowed_whitespace) || crate::submission::is_bidi_control(c)
    });
    if let Some(c) = forbidden_char {
        return Err(invalid(
            field,
            format!("must not contain control character U+{:04X}", c as u32),
        ));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ActionKind as K;
    use CaseState as S;

    const TRACKING_ID: &str = "ABCDEFGHJK";
    const PARENT_ID: &str = "23456789AB";
    const REPORTER: &str = "reporter-1";
    const SKPD: &str = "dinkes";
    const OTHER_SKPD: &str = "dishub";

    fn admin() -> Actor {
        Actor::officer(OfficerRole::Admin, "diskominfo")
    }

    fn penghubung(skpd: &str) -> Actor {
        Actor::officer(OfficerRole::Penghubung, skpd)
    }

    fn koordinator(skpd: &str) -> Actor {
        Actor::officer(OfficerRole::Koordinator, skpd)
    }

    fn fresh() -> Case {
        Case::new(
            TRACKING_ID,
            REPORTER,
            "Jalan rusak di Martapura",
            "infrastruktur.jalan-jembatan",
        )
    }

    /// A consistent case in `state`, disposed to `dinkes` where the state needs an SKPD.
    fn case_in(state: CaseState) -> Case {
        let mut case = fresh();
        case.state = state;
        case.version = 7;
        if requires_skpd(state) {
            case.skpd = Some(SKPD.into());
        }
        if state == S::Archived {
            case.archive_reason = Some(ArchiveReason::Spam);
        }
        case
    }

    /// The actor the rules intend for each action, scoped to `skpd`.
    fn canonical_actor(kind: ActionKind, skpd: &str) -> Actor {
        match kind {
            K::Verify | K::Hold | K::NotAuthority | K::Archive | K::MergeInto | K::EditDetails | K::Redispose => {
                admin()
            }
            K::DisposeSubUnit => koordinator(skpd),
            K::ReturnToAdmin | K::StartProgress | K::FollowUp | K::Close => penghubung(skpd),
            K::ReporterAnswer | K::Reply | K::Objection | K::Rate => Actor::reporter(REPORTER),
            K::AutoDispose | K::AutoClose => Actor::System,
        }
    }

    /// An action of `kind` with valid parameters.
    fn sample(kind: ActionKind) -> Action {
        let text = || "Jalan sudah ditambal oleh UPTD.".to_owned();
        match kind {
            K::Verify => Action::Verify { skpd: SKPD.into() },
            K::Hold => Action::Hold {
                question: "Di kilometer berapa?".into(),
            },
            K::ReporterAnswer => Action::ReporterAnswer { text: text() },
            K::NotAuthority => Action::NotAuthority {
                body: "Balai Besar Pelaksanaan Jalan Nasional".into(),
            },
            K::Archive => Action::Archive { reason: "SPAM".into() },
            K::MergeInto => Action::MergeInto {
                parent: PARENT_ID.into(),
            },
            K::EditDetails => Action::EditDetails(DetailsEdit {
                title: Some("Jalan berlubang di Martapura".into()),
                ..DetailsEdit::default()
            }),
            K::AutoDispose => Action::AutoDispose { skpd: SKPD.into() },
            K::Redispose => Action::Redispose { skpd: SKPD.into() },
            K::DisposeSubUnit => Action::DisposeSubUnit {
                sub_unit: "Bidang Pelayanan Kesehatan".into(),
            },
            K::ReturnToAdmin => Action::ReturnToAdmin {
                reason: "Jalan kabupaten, bukan provinsi".into(),
            },
            K::StartProgress => Action::StartProgress,
            K::FollowUp => Action::FollowUp { text: text() },
            K::Reply => Action::Reply { text: text() },
            K::Objection => Action::Objection { text: text() },
            K::Rate => Action::Rate { stars: 4 },
            K::Close => Action::Close,
            K::AutoClose => Action::AutoClose,
        }
    }

    /// The context under which `kind` can succeed: auto-close needs the window passed.
    fn context_for(kind: ActionKind) -> Context {
        Context {
            reply_window_open: kind != K::AutoClose,
        }
    }

    fn run(case: &Case, actor: &Actor, action: &Action) -> Result<Transition, WorkflowError> {
        apply(case, actor, action, &context_for(action.kind()))
    }

    fn assert_forbidden(result: Result<Transition, WorkflowError>) {
        assert!(
            matches!(result, Err(WorkflowError::Forbidden { .. })),
            "expected forbidden, got {result:?}"
        );
    }

    fn assert_invalid(result: Result<Transition, WorkflowError>, expected_field: &str) {
        match result {
            Err(WorkflowError::Invalid { field, .. }) => assert_eq!(field, expected_field),
            other => panic!("expected invalid {expected_field}, got {other:?}"),
        }
    }

    /// Every accepted (from, action, to); written out independently of `source_states`.
    const ALLOWED: &[(CaseState, ActionKind, CaseState)] = &[
        (S::Submitted, K::Verify, S::Assigned),
        (S::OnHold, K::Verify, S::Assigned),
        (S::Submitted, K::Hold, S::OnHold),
        (S::OnHold, K::Hold, S::OnHold),
        (S::OnHold, K::ReporterAnswer, S::Submitted),
        (S::Submitted, K::NotAuthority, S::RejectedNotAuthority),
        (S::OnHold, K::NotAuthority, S::RejectedNotAuthority),
        (S::Submitted, K::Archive, S::Archived),
        (S::OnHold, K::Archive, S::Archived),
        (S::RejectedNotAuthority, K::Archive, S::Archived),
        (S::Submitted, K::MergeInto, S::Archived),
        (S::OnHold, K::MergeInto, S::Archived),
        (S::Submitted, K::AutoDispose, S::Assigned),
        (S::RejectedNotAuthority, K::Redispose, S::Assigned),
        (S::Verified, K::DisposeSubUnit, S::Assigned),
        (S::Assigned, K::DisposeSubUnit, S::Assigned),
        (S::Verified, K::StartProgress, S::InProgress),
        (S::Assigned, K::StartProgress, S::InProgress),
        (S::Verified, K::ReturnToAdmin, S::RejectedNotAuthority),
        (S::Assigned, K::ReturnToAdmin, S::RejectedNotAuthority),
        (S::InProgress, K::ReturnToAdmin, S::RejectedNotAuthority),
        (S::Verified, K::FollowUp, S::FollowedUp),
        (S::Assigned, K::FollowUp, S::FollowedUp),
        (S::InProgress, K::FollowUp, S::FollowedUp),
        (S::FollowedUp, K::Reply, S::InProgress),
        (S::FollowedUp, K::Objection, S::InProgress),
        (S::FollowedUp, K::Rate, S::FollowedUp),
        (S::Closed, K::Rate, S::Closed),
        (S::FollowedUp, K::Close, S::Closed),
        (S::FollowedUp, K::AutoClose, S::Closed),
        (S::Submitted, K::EditDetails, S::Submitted),
        (S::Verified, K::EditDetails, S::Verified),
        (S::Assigned, K::EditDetails, S::Assigned),
        (S::InProgress, K::EditDetails, S::InProgress),
        (S::FollowedUp, K::EditDetails, S::FollowedUp),
        (S::OnHold, K::EditDetails, S::OnHold),
        (S::RejectedNotAuthority, K::EditDetails, S::RejectedNotAuthority),
    ];

    fn expected_target(state: CaseState, kind: ActionKind) -> Option<CaseState> {
        ALLOWED
            .iter()
            .find(|(from, k, _)| *from == state && *k == kind)
            .map(|(_, _, to)| *to)
    }

    #[test]
    fn every_state_and_action_pair_follows_the_table() {
        for state in CaseState::ALL {
            for kind in ActionKind::ALL {
                let case = case_in(state);
                let result = run(&case, &canonical_actor(kind, SKPD), &sample(kind));
                match (expected_target(state, kind), result) {
                    (Some(target), Ok(transition)) => {
                        assert_eq!(transition.case.state, target, "{state:?} × {kind:?}");
                        assert_eq!(transition.case.version, 8, "{state:?} × {kind:?}");
                        assert!(!transition.events.is_empty(), "{state:?} × {kind:?}");
                    }
                    (
                        None,
                        Err(WorkflowError::NotAllowed {
                            action,
                            state: reported,
                        }),
                    ) => {
                        assert_eq!(action, kind.as_str());
                        assert_eq!(reported, state);
                    }
                    (expected, result) => panic!("{state:?} × {kind:?}: expected {expected:?}, got {result:?}"),
                }
            }
        }
    }

    #[test]
    fn source_states_match_the_table() {
        for kind in ActionKind::ALL {
            let from_table: Vec<_> = ALLOWED
                .iter()
                .filter(|(_, k, _)| *k == kind)
                .map(|(s, _, _)| *s)
                .collect();
            let mut declared = source_states(kind).to_vec();
            declared.sort();
            let mut expected = from_table.clone();
            expected.sort();
            assert_eq!(declared, expected, "{kind:?}");
        }
    }

    #[test]
    fn action_names_are_unique_snake_case() {
        let names: std::collections::HashSet<_> = ActionKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), ActionKind::ALL.len());
        assert!(
            names
                .iter()
                .all(|n| n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        );
    }

    #[test]
    fn terminal_states_accept_only_one_rating() {
        let closed = case_in(S::Closed);
        let rated = run(&closed, &Actor::reporter(REPORTER), &Action::Rate { stars: 5 }).expect("first rating");
        assert!(rated.case.rated);
        assert_eq!(
            rated.events,
            vec![Event::Rated {
                skpd: SKPD.into(),
                stars: 5
            }]
        );
        let again = run(&rated.case, &Actor::reporter(REPORTER), &Action::Rate { stars: 1 });
        assert_eq!(
            again,
            Err(WorkflowError::NotAllowed {
                action: "rate",
                state: S::Closed
            })
        );
        let archived = case_in(S::Archived);
        for kind in ActionKind::ALL {
            assert!(
                run(&archived, &canonical_actor(kind, SKPD), &sample(kind)).is_err(),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn penghubung_of_another_skpd_is_forbidden() {
        let other = penghubung(OTHER_SKPD);
        for (state, kind) in [
            (S::Assigned, K::StartProgress),
            (S::Assigned, K::FollowUp),
            (S::InProgress, K::FollowUp),
            (S::InProgress, K::ReturnToAdmin),
            (S::FollowedUp, K::Close),
            // Scope is checked before state: a wrong state on a foreign case says nothing.
            (S::Closed, K::StartProgress),
        ] {
            assert_forbidden(run(&case_in(state), &other, &sample(kind)));
        }
        assert_forbidden(run(
            &case_in(S::Assigned),
            &koordinator(OTHER_SKPD),
            &sample(K::DisposeSubUnit),
        ));
    }

    #[test]
    fn officers_of_the_own_skpd_may_act() {
        let result = run(&case_in(S::Assigned), &penghubung(SKPD), &sample(K::StartProgress));
        assert_eq!(result.expect("own skpd").case.state, S::InProgress);
        let result = run(&case_in(S::Assigned), &koordinator(SKPD), &sample(K::ReturnToAdmin));
        assert_eq!(result.expect("koordinator returns").case.state, S::RejectedNotAuthority);
        let result = run(&case_in(S::FollowedUp), &admin(), &Action::Close);
        assert_eq!(result.expect("admin closes").case.state, S::Closed);
    }

    #[test]
    fn pimpinan_and_kepala_are_read_only() {
        for role in [OfficerRole::Pimpinan, OfficerRole::Kepala] {
            let actor = Actor::officer(role, SKPD);
            assert!(role_actions(&actor).is_empty());
            for state in CaseState::ALL {
                for kind in ActionKind::ALL {
                    assert_forbidden(run(&case_in(state), &actor, &sample(kind)));
                }
            }
        }
    }

    #[test]
    fn roles_outside_their_lane_are_forbidden() {
        let submitted = case_in(S::Submitted);
        assert_forbidden(run(&submitted, &Actor::System, &sample(K::Verify)));
        assert_forbidden(run(&submitted, &admin(), &sample(K::AutoDispose)));
        assert_forbidden(run(&submitted, &penghubung(SKPD), &sample(K::Verify)));
        assert_forbidden(run(&submitted, &Actor::reporter(REPORTER), &sample(K::Archive)));
        let assigned = case_in(S::Assigned);
        assert_forbidden(run(&assigned, &admin(), &sample(K::FollowUp)));
        assert_forbidden(run(&assigned, &koordinator(SKPD), &sample(K::FollowUp)));
        assert_forbidden(run(&assigned, &penghubung(SKPD), &sample(K::DisposeSubUnit)));
        assert_forbidden(run(&case_in(S::FollowedUp), &koordinator(SKPD), &Action::Close));
        assert_forbidden(run(&case_in(S::FollowedUp), &admin(), &Action::AutoClose));
    }

    #[test]
    fn reporters_act_only_on_their_own_case() {
        let followed_up = case_in(S::FollowedUp);
        for kind in [K::Reply, K::Objection, K::Rate] {
            assert!(
                run(&followed_up, &Actor::reporter(REPORTER), &sample(kind)).is_ok(),
                "{kind:?}"
            );
            assert_forbidden(run(&followed_up, &Actor::reporter("reporter-2"), &sample(kind)));
        }
        let on_hold = case_in(S::OnHold);
        let answered = run(&on_hold, &Actor::reporter(REPORTER), &sample(K::ReporterAnswer)).expect("answer");
        assert_eq!(answered.case.state, S::Submitted);
        assert_eq!(answered.events, vec![Event::Answered]);
        assert_forbidden(run(
            &on_hold,
            &Actor::reporter("reporter-2"),
            &sample(K::ReporterAnswer),
        ));
        // An empty reference on both sides is no proof of identity.
        let mut anonymous = case_in(S::FollowedUp);
        anonymous.reporter_ref = String::new();
        assert_forbidden(run(&anonymous, &Actor::reporter(""), &sample(K::Reply)));
    }

    #[test]
    fn reply_and_objection_reopen_within_the_window_only() {
        let case = case_in(S::FollowedUp);
        let reporter = Actor::reporter(REPORTER);
        let open = Context {
            reply_window_open: true,
        };
        let reopened = apply(&case, &reporter, &sample(K::Objection), &open).expect("objection");
        assert_eq!(reopened.case.state, S::InProgress);
        assert_eq!(
            reopened.events,
            vec![Event::Reopened {
                skpd: SKPD.into(),
                objection: true
            }]
        );
        let closed = Context::default();
        for kind in [K::Reply, K::Objection] {
            assert_invalid(apply(&case, &reporter, &sample(kind), &closed), "reply_window");
        }
        assert_invalid(apply(&case, &Actor::System, &Action::AutoClose, &open), "reply_window");
        let auto = apply(&case, &Actor::System, &Action::AutoClose, &closed).expect("auto close");
        assert_eq!(
            auto.events,
            vec![Event::Closed {
                skpd: SKPD.into(),
                auto: true
            }]
        );
    }

    #[test]
    fn bad_parameters_are_invalid() {
        let assigned = case_in(S::Assigned);
        let follow_up = |text: String| Action::FollowUp { text };
        assert_invalid(run(&assigned, &penghubung(SKPD), &follow_up(String::new())), "text");
        assert_invalid(run(&assigned, &penghubung(SKPD), &follow_up("  \n ".into())), "text");
        let too_long = "a".repeat(TEXT_MAX_CHARS + 1);
        assert_invalid(run(&assigned, &penghubung(SKPD), &follow_up(too_long)), "text");
        let longest = "a".repeat(TEXT_MAX_CHARS);
        assert!(run(&assigned, &penghubung(SKPD), &follow_up(longest)).is_ok());
        assert_invalid(
            run(&assigned, &penghubung(SKPD), &follow_up("ok\u{202E}".into())),
            "text",
        );

        let followed_up = case_in(S::FollowedUp);
        for stars in [0, 6, 255] {
            assert_invalid(
                run(&followed_up, &Actor::reporter(REPORTER), &Action::Rate { stars }),
                "stars",
            );
        }

        let submitted = case_in(S::Submitted);
        let archive = Action::Archive {
            reason: "BORING".into(),
        };
        assert_invalid(run(&submitted, &admin(), &archive), "reason");
        let verify = Action::Verify {
            skpd: "Dinas Kesehatan".into(),
        };
        assert_invalid(run(&submitted, &admin(), &verify), "skpd");
        let merge_self = Action::MergeInto {
            parent: TRACKING_ID.to_lowercase(),
        };
        assert_invalid(run(&submitted, &admin(), &merge_self), "parent");
        let merge_bad = Action::MergeInto {
            parent: "#1916449".into(),
        };
        assert_invalid(run(&submitted, &admin(), &merge_bad), "parent");
        assert_invalid(
            run(&submitted, &admin(), &Action::Hold { question: "".into() }),
            "question",
        );
        let multiline_body = Action::NotAuthority {
            body: "Polda\nKalsel".into(),
        };
        assert_invalid(run(&submitted, &admin(), &multiline_body), "body");
    }

    #[test]
    fn archive_and_merge_record_the_reason() {
        let submitted = case_in(S::Submitted);
        for reason in ArchiveReason::ALL {
            let action = Action::Archive {
                reason: reason.as_str().into(),
            };
            let archived = run(&submitted, &admin(), &action).expect("archive");
            assert_eq!(archived.case.archive_reason, Some(reason));
            assert_eq!(
                archived.events,
                vec![Event::Archived {
                    reason,
                    duplicate_of: None
                }]
            );
        }
        let merge = Action::MergeInto {
            parent: "23456-789ab".into(),
        };
        let merged = run(&submitted, &admin(), &merge).expect("merge");
        assert_eq!(merged.case.duplicate_of.as_deref(), Some(PARENT_ID));
        assert_eq!(
            merged.events,
            vec![Event::Archived {
                reason: ArchiveReason::Duplicate,
                duplicate_of: Some(PARENT_ID.into())
            }]
        );
    }

    #[test]
    fn edits_change_details_but_never_lower_privacy() {
        let mut case = case_in(S::InProgress);
        case.anonim = true;
        let edit = |edit: DetailsEdit| Action::EditDetails(edit);
        let raise = edit(DetailsEdit {
            category: Some("kesehatan.rumah-sakit".into()),
            rahasia: Some(true),
            ..DetailsEdit::default()
        });
        let edited = run(&case, &admin(), &raise).expect("edit");
        assert_eq!(edited.case.state, S::InProgress);
        assert_eq!(edited.case.category, "kesehatan.rumah-sakit");
        assert!(edited.case.anonim && edited.case.rahasia);
        assert_eq!(
            edited.events,
            vec![Event::DetailsEdited {
                title: None,
                category: Some("kesehatan.rumah-sakit".into()),
                anonim: true,
                rahasia: true
            }]
        );
        let lower = edit(DetailsEdit {
            anonim: Some(false),
            ..DetailsEdit::default()
        });
        assert_invalid(run(&case, &admin(), &lower), "anonim");
        let same_title = edit(DetailsEdit {
            title: Some(case.title.clone()),
            anonim: Some(true),
            ..DetailsEdit::default()
        });
        assert_invalid(run(&case, &admin(), &same_title), "details");
        let bad_category = edit(DetailsEdit {
            category: Some("Kesehatan".into()),
            ..DetailsEdit::default()
        });
        assert_invalid(run(&case, &admin(), &bad_category), "category");
    }

    #[test]
    fn returned_case_leaves_the_skpd_and_is_redisposed() {
        let mut case = case_in(S::InProgress);
        case.sub_unit = Some("Bidang P2P".into());
        let returned = run(&case, &penghubung(SKPD), &sample(K::ReturnToAdmin)).expect("return");
        assert_eq!(returned.case.state, S::RejectedNotAuthority);
        assert_eq!(
            (returned.case.skpd.as_deref(), returned.case.sub_unit.as_deref()),
            (None, None)
        );
        assert_eq!(returned.events, vec![Event::ReturnedToAdmin { skpd: SKPD.into() }]);
        assert_eq!(returned.text.as_deref(), Some("Jalan kabupaten, bukan provinsi"));
        // The returning SKPD cannot act on it any more.
        assert!(available_actions(&returned.case, &penghubung(SKPD)).is_empty());
        let redispose = Action::Redispose {
            skpd: OTHER_SKPD.into(),
        };
        let redisposed = run(&returned.case, &admin(), &redispose).expect("redispose");
        assert_eq!(redisposed.case.skpd.as_deref(), Some(OTHER_SKPD));
        assert_eq!(redisposed.events[0].event_type(), "complaint.assigned");
        assert_eq!(redisposed.events[0].skpd_scope(), Some(OTHER_SKPD));
    }

    #[test]
    fn only_work_for_an_skpd_is_routed_to_its_queue() {
        let assigned = run(&case_in(S::Submitted), &admin(), &sample(K::Verify)).expect("verify");
        assert_eq!(
            assigned.events,
            vec![Event::Assigned {
                skpd: SKPD.into(),
                via: AssignedVia::Verification
            }]
        );
        assert_eq!(assigned.events[0].skpd_scope(), Some(SKPD));
        let followed = run(&case_in(S::InProgress), &penghubung(SKPD), &sample(K::FollowUp)).expect("follow up");
        assert_eq!(followed.events[0].event_type(), "complaint.followed_up");
        assert_eq!(followed.events[0].skpd_scope(), None);
        assert_eq!(followed.text.as_deref(), Some("Jalan sudah ditambal oleh UPTD."));
    }

    #[test]
    fn available_actions_follow_role_scope_and_state() {
        assert_eq!(
            available_actions(&case_in(S::Assigned), &penghubung(SKPD)),
            vec![K::ReturnToAdmin, K::StartProgress, K::FollowUp]
        );
        assert!(available_actions(&case_in(S::Assigned), &penghubung(OTHER_SKPD)).is_empty());
        assert_eq!(
            available_actions(&case_in(S::FollowedUp), &Actor::reporter(REPORTER)),
            vec![K::Reply, K::Objection, K::Rate]
        );
        let mut rated = case_in(S::Closed);
        rated.rated = true;
        assert!(available_actions(&rated, &Actor::reporter(REPORTER)).is_empty());
    }

    #[test]
    fn a_case_walks_from_submission_to_a_rated_close() {
        let reporter = Actor::reporter(REPORTER);
        let open = Context {
            reply_window_open: true,
        };
        let closed = Context::default();
        let steps: Vec<(Actor, Action, Context, CaseState)> = vec![
            (Actor::System, sample(K::AutoDispose), open, S::Assigned),
            (koordinator(SKPD), sample(K::DisposeSubUnit), open, S::Assigned),
            (penghubung(SKPD), Action::StartProgress, open, S::InProgress),
            (penghubung(SKPD), sample(K::FollowUp), open, S::FollowedUp),
            (reporter.clone(), sample(K::Reply), open, S::InProgress),
            (penghubung(SKPD), sample(K::FollowUp), open, S::FollowedUp),
            (Actor::System, Action::AutoClose, closed, S::Closed),
            (reporter, Action::Rate { stars: 5 }, closed, S::Closed),
        ];
        let mut case = fresh();
        for (version, (actor, action, ctx, state)) in (1..).zip(steps) {
            case = apply(&case, &actor, &action, &ctx).expect("step accepted").case;
            assert_eq!((case.state, case.version), (state, version), "{action:?}");
        }
        assert_eq!(case.sub_unit.as_deref(), Some("Bidang Pelayanan Kesehatan"));
        assert!(case.rated);
    }

    #[test]
    fn errors_read_as_lowercase_sentences() {
        let error = WorkflowError::NotAllowed {
            action: "follow_up",
            state: S::Closed,
        };
        assert_eq!(error.to_string(), "follow_up is not allowed in state closed");
        assert_eq!(
            invalid("stars", "must be 1 to 5, got 9").to_string(),
            "invalid stars: must be 1 to 5, got 9"
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;
        use proptest::test_runner::TestCaseError;

        /// Parameters for any action, mostly valid so walks get deep into the workflow.
        #[derive(Debug, Clone)]
        struct Params {
            text: String,
            skpd: &'static str,
            stars: u8,
            reason: &'static str,
            parent: &'static str,
            edit: DetailsEdit,
        }

        #[derive(Debug, Clone)]
        struct Step {
            kind: ActionKind,
            /// `None`: the action's intended actor, scoped to the case's current SKPD.
            actor: Option<Actor>,
            params: Params,
            reply_window_open: bool,
        }

        fn text() -> impl Strategy<Value = String> {
            prop_oneof![
                8 => Just("Mohon ditindaklanjuti.".to_owned()),
                1 => Just(String::new()),
                1 => Just(" \t ".to_owned()),
                1 => Just("x".repeat(TEXT_MAX_CHARS + 1)),
            ]
        }

        fn edit() -> impl Strategy<Value = DetailsEdit> {
            (
                proptest::option::of(prop_oneof![Just("Judul baru".to_owned()), Just(String::new())]),
                proptest::option::of(prop_oneof![Just("kesehatan".to_owned()), Just("Bad Code".to_owned())]),
                proptest::option::of(any::<bool>()),
                proptest::option::of(any::<bool>()),
            )
                .prop_map(|(title, category, anonim, rahasia)| DetailsEdit {
                    title,
                    category,
                    anonim,
                    rahasia,
                })
        }

        fn params() -> impl Strategy<Value = Params> {
            (
                text(),
                prop_oneof![4 => Just(SKPD), 4 => Just(OTHER_SKPD), 1 => Just("Not A Code")],
                0u8..=6,
                prop_oneof![Just("SPAM"), Just("DUPLICATE"), Just("OUT_OF_SCOPE"), Just("spam")],
                prop_oneof![4 => Just(PARENT_ID), 1 => Just(TRACKING_ID), 1 => Just("nope")],
                edit(),
            )
                .prop_map(|(text, skpd, stars, reason, parent, edit)| Params {
                    text,
                    skpd,
                    stars,
                    reason,
                    parent,
                    edit,
                })
        }

        fn any_actor() -> impl Strategy<Value = Actor> {
            prop_oneof![
                Just(admin()),
                Just(koordinator(SKPD)),
                Just(koordinator(OTHER_SKPD)),
                Just(penghubung(SKPD)),
                Just(penghubung(OTHER_SKPD)),
                Just(Actor::officer(OfficerRole::Pimpinan, "setda")),
                Just(Actor::officer(OfficerRole::Kepala, SKPD)),
                Just(Actor::reporter(REPORTER)),
                Just(Actor::reporter("reporter-2")),
                Just(Actor::System),
            ]
        }

        fn step() -> impl Strategy<Value = Step> {
            (
                proptest::sample::select(ActionKind::ALL.to_vec()),
                prop_oneof![3 => Just(None), 1 => any_actor().prop_map(Some)],
                params(),
                any::<bool>(),
            )
                .prop_map(|(kind, actor, params, reply_window_open)| Step {
                    kind,
                    actor,
                    params,
                    reply_window_open,
                })
        }

        fn build(kind: ActionKind, p: &Params) -> Action {
            match kind {
                K::Verify => Action::Verify { skpd: p.skpd.into() },
                K::Hold => Action::Hold {
                    question: p.text.clone(),
                },
                K::ReporterAnswer => Action::ReporterAnswer { text: p.text.clone() },
                K::NotAuthority => Action::NotAuthority { body: p.text.clone() },
                K::Archive => Action::Archive {
                    reason: p.reason.into(),
                },
                K::MergeInto => Action::MergeInto {
                    parent: p.parent.into(),
                },
                K::EditDetails => Action::EditDetails(p.edit.clone()),
                K::AutoDispose => Action::AutoDispose { skpd: p.skpd.into() },
                K::Redispose => Action::Redispose { skpd: p.skpd.into() },
                K::DisposeSubUnit => Action::DisposeSubUnit {
                    sub_unit: p.text.clone(),
                },
                K::ReturnToAdmin => Action::ReturnToAdmin { reason: p.text.clone() },
                K::StartProgress => Action::StartProgress,
                K::FollowUp => Action::FollowUp { text: p.text.clone() },
                K::Reply => Action::Reply { text: p.text.clone() },
                K::Objection => Action::Objection { text: p.text.clone() },
                K::Rate => Action::Rate { stars: p.stars },
                K::Close => Action::Close,
                K::AutoClose => Action::AutoClose,
            }
        }

        fn check_invariants(case: &Case) -> Result<(), TestCaseError> {
            prop_assert_eq!(requires_skpd(case.state), case.skpd.is_some(), "skpd in {:?}", case);
            prop_assert!(
                case.sub_unit.is_none() || case.skpd.is_some(),
                "sub-unit without skpd: {:?}",
                case
            );
            prop_assert_ne!(case.state, S::Verified, "the workflow never produces verified");
            prop_assert_eq!(case.state == S::Archived, case.archive_reason.is_some(), "{:?}", case);
            if case.duplicate_of.is_some() {
                prop_assert_eq!(case.archive_reason, Some(ArchiveReason::Duplicate));
            }
            Ok(())
        }

        fn check_accepted(before: &Case, kind: ActionKind, after: &Transition) -> Result<(), TestCaseError> {
            prop_assert_eq!(after.case.version, before.version + 1);
            prop_assert!(!after.events.is_empty());
            if is_terminal(before.state) {
                prop_assert!(before.state == S::Closed && kind == K::Rate && !before.rated);
                prop_assert_eq!(after.case.state, S::Closed);
            }
            if before.rated {
                prop_assert!(after.case.rated, "a rating is never taken back");
            }
            Ok(())
        }

        /// Applies a walk from a fresh submission, checking every step; `observe` sees each
        /// case the walk passes through.
        fn walk(steps: Vec<Step>, mut observe: impl FnMut(&Case, ActionKind, bool)) -> Result<(), TestCaseError> {
            let mut case = fresh();
            for step in steps {
                let scope = case.skpd.clone().unwrap_or_else(|| SKPD.to_owned());
                let actor = step.actor.clone().unwrap_or_else(|| canonical_actor(step.kind, &scope));
                let action = build(step.kind, &step.params);
                let ctx = Context {
                    reply_window_open: step.reply_window_open,
                };
                let before = case.clone();
                let accepted = match apply(&case, &actor, &action, &ctx) {
                    Ok(transition) => {
                        check_accepted(&before, step.kind, &transition)?;
                        case = transition.case;
                        true
                    }
                    Err(_) => {
                        prop_assert_eq!(&case, &before);
                        false
                    }
                };
                check_invariants(&case)?;
                observe(&before, step.kind, accepted);
            }
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn random_walks_from_submitted_keep_every_invariant(steps in prop::collection::vec(step(), 1..60)) {
                walk(steps, |_, _, _| ())?;
            }
        }

        /// Guards the property above against vacuity: the generated walks do reach every
        /// state the workflow produces and the rating of a closed case.
        #[test]
        fn random_walks_cover_the_workflow() {
            use proptest::strategy::ValueTree;
            use proptest::test_runner::TestRunner;
            use std::collections::HashSet;

            let mut runner = TestRunner::deterministic();
            let strategy = prop::collection::vec(step(), 1..60);
            let mut seen = HashSet::new();
            let mut closed_rated = false;
            for _ in 0..300 {
                let steps = strategy.new_tree(&mut runner).expect("strategy generates").current();
                walk(steps, |before, kind, accepted| {
                    seen.insert(before.state);
                    closed_rated |= accepted && before.state == S::Closed && kind == K::Rate;
                })
                .expect("invariants hold");
            }
            for state in CaseState::ALL.into_iter().filter(|s| *s != S::Verified) {
                assert!(seen.contains(&state), "no walk reached {state:?}");
            }
            assert!(closed_rated, "no walk rated a closed case");
        }
    }
}
