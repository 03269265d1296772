//! One turn, run the same way by every front end (`ask`, the line chat, local `batch`, each tab
//! of the interface). Given what a front end knows (where the prompt goes, the prompt and its
//! files, model, system prompt, role, settings, budget policy, deadline and tools), a [`Runner`]
//! sets the turn up in one fixed order — budget → prepare → role → settings → attachments →
//! context fit → tools (listed from its tool box, offered to the model; a caller's own functions
//! beside them, whose calls end the turn for the caller to run) — holds its worst case
//! (every round's, for a tool turn) against the budgets, starts it, and hands back a
//! [`TurnHandle`]: a stream of [`TurnUpdate`]s tagged with the turn's id, which stops the turn
//! when dropped. The deadline covers the whole turn, its setup (uploads, token counts) and every
//! tool round included.
//!
//! Data only: what a front end says about an update or a refusal is its own (`cli/words.rs`,
//! `tui/words.rs`). No SQL and no wire format here; `chat` does the work.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::attach::Attachment;
use crate::chat::{
    Branch, ChatError, ChatSession, ContextError, Hold, NamedRole, Notice, Outcome, Prepared, Settings, SettingsError,
    Shown, Target, TurnEvent, TurnReport, UploadProgress,
};
use crate::llm::{ApiError, TimeoutPhase};
use crate::money::{BudgetCheck, Refusal};
use crate::store::{MessageStatus, StoreError};

/// The system prompt a turn asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum System {
    /// A new conversation starts with this one; a saved one keeps its own, and a role's
    /// prompt takes the place of either.
    Default(Option<String>),
    /// This one (`None`: none), whatever the conversation or the role says.
    Set(Option<String>),
    /// This one if given, else the conversation's own (a new one: none); a role's prompt does
    /// not replace it (a tab's system prompt, which `/role` sets).
    Override(Option<String>),
}

/// The role a turn answers as.
#[derive(Debug, Clone, PartialEq)]
pub enum RoleChoice {
    /// This role: its prompt (unless the system prompt is [`System::Set`]), its model (unless
    /// `keep_model`) and its settings under the turn's.
    Use(Box<NamedRole>),
    /// The role the conversation was saved with, while it is one of the runner's roles.
    Saved,
    /// None, even if the conversation was saved with one.
    Nothing,
}

/// How a turn is held to the budgets (`budget.daily`, `budget.monthly`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BudgetPolicy {
    pub budgets: crate::config::Budgets,
    /// `--over-budget`: a spent budget is said, not refused, and nothing is held.
    pub over_budget: bool,
    /// Look at what is spent before the turn (warn at 80%, refuse at 100%). Off when the front
    /// end looked already (a launch check) or holds the budget its own way (`batch`).
    pub check: bool,
    /// Hold the turn's worst case against the budgets while it runs.
    pub hold: bool,
}

impl BudgetPolicy {
    /// Checked before the turn and held while it runs.
    pub fn per_turn(budgets: crate::config::Budgets, over_budget: bool) -> Self {
        BudgetPolicy { budgets, over_budget, check: true, hold: true }
    }

    fn limited(&self) -> bool {
        self.budgets.daily.is_some() || self.budgets.monthly.is_some()
    }
}

/// Everything that decides one turn.
#[derive(Debug, Clone)]
pub struct TurnSpec {
    pub target: Target,
    /// How the prompt joins a saved conversation ([`Target::Conversation`] only).
    pub branch: Branch,
    pub prompt: String,
    pub attachments: Vec<Attachment>,
    /// The model asked for (`None`: the conversation's, else the runner's default).
    pub model: Option<String>,
    /// A role's model does not replace [`TurnSpec::model`] (a `--model` flag, a tab's model).
    pub keep_model: bool,
    pub system: System,
    pub role: RoleChoice,
    /// The settings the turn starts from instead of the conversation's (a tab's, as shown).
    pub base_settings: Option<Settings>,
    /// Laid over the role's and the conversation's (flags, `/set`, a batch line).
    pub settings: Settings,
    pub budget: BudgetPolicy,
    /// The whole turn's deadline (`timeout_secs`, `--timeout`), setup included.
    pub deadline: Option<Duration>,
    /// The tools the model may call, and who approves them (off by default).
    pub tools: crate::tools::ToolUse,
    /// The user chose no tools for this turn (no `--tools`, no `/tools`): the role it runs
    /// with, given or saved with the conversation, chooses them when it says (`tools` in the
    /// role), over `tools.selection` (the config's).
    pub role_tools: bool,
    /// Functions the caller runs itself (a `serve` client's), offered beside any tools: a call
    /// of one ends the turn, the calls in its report ([`TurnReport::tool_calls`]).
    pub client_tools: Vec<crate::llm::ToolSpec>,
    /// How the model may call the offered functions.
    pub tool_choice: crate::llm::ToolChoice,
    /// The prompt is these results of the calls the conversation's last answer ended with
    /// (`prompt` is then empty): see [`ChatSession::answer_calls`].
    pub call_results: Option<Vec<crate::chat::CallResult>>,
}

impl TurnSpec {
    /// A prompt for `target` with nothing else chosen.
    pub fn new(target: Target, prompt: impl Into<String>) -> Self {
        TurnSpec {
            target,
            branch: Branch::Continue,
            prompt: prompt.into(),
            attachments: Vec::new(),
            model: None,
            keep_model: false,
            system: System::Default(None),
            role: RoleChoice::Saved,
            base_settings: None,
            settings: Settings::default(),
            budget: BudgetPolicy::default(),
            deadline: None,
            tools: crate::tools::ToolUse::default(),
            role_tools: false,
            client_tools: Vec::new(),
            tool_choice: crate::llm::ToolChoice::Auto,
            call_results: None,
        }
    }
}

/// What the turn runs with, once its role and settings are applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Composed {
    pub model: String,
    pub system: Option<String>,
    pub settings: Settings,
    pub role: Option<String>,
}

/// Why a turn was not sent (nothing of it was sent or saved).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refused {
    /// A budget is spent, or what is spent and held leaves nothing of it.
    #[error("budget refused: {0:?}")]
    Budget(Refusal),
    /// The conversation could not be read, an attachment could not go, an upload failed.
    #[error(transparent)]
    Chat(#[from] ChatError),
    /// The model cannot take the settings.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The conversation is longer than the model takes.
    #[error(transparent)]
    Context(#[from] ContextError),
    /// The deadline passed before the turn could be sent.
    #[error(transparent)]
    Timeout(ApiError),
    /// The tools asked for could not be listed.
    #[error(transparent)]
    Tools(crate::tools::ListError),
    /// The results given do not answer the calls the conversation's last answer ended with.
    #[error(transparent)]
    Calls(crate::chat::CallsError),
}

/// One step of a turn, for its front end.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// 80% or more of a budget is spent ([`BudgetCheck::Near`]); the turn goes on.
    BudgetNear(BudgetCheck),
    /// A budget is spent and the turn goes on anyway (`--over-budget`).
    OverBudget(Refusal),
    /// A budget is set but there is no history to count spending in.
    NotCounted,
    /// The turn's model, system prompt and settings, once chosen.
    Composed(Composed),
    Uploading(UploadProgress),
    /// What the answer shows as it runs (text, thoughts, notices, the saved prompt).
    Shown(Shown),
    /// Not sent; the turn is over.
    Refused(Refused),
    /// The turn is over.
    Done(Box<TurnReport>),
}

/// An update of turn `turn`.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnUpdate {
    pub turn: u64,
    pub update: Update,
}

/// Runs turns for one front end: the session, the default model and the roles a saved
/// conversation may go on with.
#[derive(Clone)]
pub struct Runner {
    session: Arc<ChatSession>,
    default_model: String,
    roles: Arc<[NamedRole]>,
    next_id: Arc<AtomicU64>,
    /// Where a turn's tool calls go (`None`: no tools are configured).
    tools: Option<Arc<dyn crate::tools::ToolBox>>,
}

/// A turn set up and ready to start ([`Runner::prepare`]).
#[derive(Debug)]
pub struct Ready {
    pub prepared: Prepared,
    deadline: Option<(Instant, Duration)>,
    budget: BudgetPolicy,
    /// The tools the turn offers (`None`: none).
    tools: Option<crate::chat::TurnTools>,
}

impl Runner {
    pub fn new(session: Arc<ChatSession>, default_model: impl Into<String>, roles: Vec<NamedRole>) -> Self {
        Runner {
            session,
            default_model: default_model.into(),
            roles: roles.into(),
            next_id: Arc::default(),
            tools: None,
        }
    }

    /// The runner's turns call tools through `tools` (the configured MCP servers).
    pub fn with_tools(mut self, tools: Arc<dyn crate::tools::ToolBox>) -> Self {
        self.tools = Some(tools);
        self
    }

    pub fn tools(&self) -> Option<&Arc<dyn crate::tools::ToolBox>> {
        self.tools.as_ref()
    }

    pub fn session(&self) -> &Arc<ChatSession> {
        &self.session
    }

    /// A new turn id (never reused within this runner).
    fn next_turn(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Starts turn `spec`; its id is the runner's next.
    pub fn start(&self, spec: TurnSpec) -> TurnHandle {
        let turn = self.next_turn();
        self.start_as(turn, spec)
    }

    /// Starts turn `spec` under the front end's own id `turn`.
    pub fn start_as(&self, turn: u64, spec: TurnSpec) -> TurnHandle {
        self.spawn_turn(turn, move |runner, send, stop| async move {
            match runner.whole(turn, spec, &*send, stop).await {
                Ok(report) => Update::Done(Box::new(report)),
                Err(refused) => Update::Refused(refused),
            }
        })
    }

    /// Runs `work` as turn `turn` on its own task: its updates go to the handle, then its last
    /// one; a bug in it ends that turn, said as a failure, and the others go on.
    fn spawn_turn<W, F>(&self, turn: u64, work: W) -> TurnHandle
    where
        W: FnOnce(Runner, Arc<dyn Fn(Update) + Send + Sync>, CancellationToken) -> F + Send + 'static,
        F: std::future::Future<Output = Update> + Send + 'static,
    {
        let (tx, rx) = mpsc::unbounded_channel();
        let cancel = CancellationToken::new();
        let runner = self.clone();
        let stop = cancel.clone();
        let task = tokio::spawn(async move {
            let send: Arc<dyn Fn(Update) + Send + Sync> =
                Arc::new(move |update| drop(tx.send(TurnUpdate { turn, update })));
            let work = std::panic::AssertUnwindSafe(work(runner, send.clone(), stop)).catch_unwind();
            send(work.await.unwrap_or_else(|_| Update::Done(Box::new(internal_error()))));
        });
        TurnHandle { turn, updates: rx, cancel, _task: task }
    }

    /// Sets a turn up and runs it.
    async fn whole(
        &self,
        turn: u64,
        spec: TurnSpec,
        send: &(dyn Fn(Update) + Send + Sync),
        stop: CancellationToken,
    ) -> Result<TurnReport, Refused> {
        let ready = self.prepare_as(turn, spec, send).await?;
        let hold = self.hold(&ready).await?;
        let report = self.run(ready, &|shown| send(Update::Shown(shown)), stop).await;
        self.session.release(hold).await;
        Ok(report)
    }

    /// Sets turn `spec` up, in the one order every front end shares: budget → prepare → role →
    /// settings → attachments → context fit. `send` hears the steps worth telling.
    pub async fn prepare(&self, spec: TurnSpec, send: &(dyn Fn(Update) + Send + Sync)) -> Result<Ready, Refused> {
        self.prepare_as(0, spec, send).await
    }

    /// [`Runner::prepare`] for turn `turn` (the id its approver is told).
    async fn prepare_as(
        &self,
        turn: u64,
        spec: TurnSpec,
        send: &(dyn Fn(Update) + Send + Sync),
    ) -> Result<Ready, Refused> {
        let deadline = spec.deadline.map(|d| (Instant::now() + d, d));
        let budget = spec.budget;
        let setup = async {
            let mut using = spec.tools.clone();
            let given = match (&spec.role, spec.role_tools) {
                (RoleChoice::Use(role), true) => Some(role.tools.clone()),
                _ => None,
            };
            let role_tools = spec.role_tools;
            let mut prepared = self.setup(spec, send).await?;
            // The role's tools, the one place a role is composed for every front end: the role
            // given, else the one the conversation goes on with.
            if role_tools {
                let saved = || {
                    let name = prepared.role.as_ref()?;
                    self.roles.iter().find(|r| &r.name == name).and_then(|r| r.tools.clone())
                };
                if let Some(selection) = given.unwrap_or_else(saved) {
                    using.selection = selection;
                }
            }
            let tools = self.offer_tools(turn, using, &mut prepared, send).await?;
            Ok::<_, Refused>((prepared, tools))
        };
        let (prepared, tools) = match deadline {
            Some((at, after)) => {
                tokio::time::timeout_at(at, setup).await.map_err(|_| Refused::Timeout(timeout(after)))?
            }
            None => setup.await,
        }?;
        Ok(Ready { prepared, deadline, budget, tools })
    }

    /// Lists the tools a turn asks for (when the runner has a tool box) and offers them in its
    /// request; a listing that fails refuses the turn before anything is sent. Servers left out
    /// of it (they did not start; the others did) are told once, as a step.
    async fn offer_tools(
        &self,
        turn: u64,
        using: crate::tools::ToolUse,
        prepared: &mut Prepared,
        send: &(dyn Fn(Update) + Send + Sync),
    ) -> Result<Option<crate::chat::TurnTools>, Refused> {
        let Some(toolbox) = self.tools.clone().filter(|_| !using.selection.is_off()) else { return Ok(None) };
        let listing = toolbox.listing(&using.selection).await.map_err(Refused::Tools)?;
        if !listing.unavailable.is_empty() {
            send(Update::Shown(Shown::Tool(crate::tools::ToolStep::Unavailable { servers: listing.unavailable })));
        }
        let offered = listing.tools;
        if offered.is_empty() {
            return Ok(None);
        }
        let tools = crate::chat::TurnTools { toolbox, offered, using, turn };
        prepared.turn.tools.extend(tools.specs());
        Ok(Some(tools))
    }

    async fn setup(&self, spec: TurnSpec, send: &(dyn Fn(Update) + Send + Sync)) -> Result<Prepared, Refused> {
        let session = &self.session;
        // 1. Budget: what is spent, before anything is read or sent.
        if spec.budget.check && spec.budget.limited() {
            self.check_budget(spec.budget, send).await?;
        }
        // 2. Prepare: the conversation so far and the prompt.
        let given_system = match &spec.system {
            System::Set(system) | System::Override(system) => system.clone(),
            System::Default(_) => None,
        };
        let mut prepared = match (spec.target, spec.branch) {
            (Target::Conversation(id), branch @ (Branch::Regenerate { .. } | Branch::Edit { .. })) => {
                session.prepare_branch(id, branch, spec.prompt, spec.model.clone(), given_system).await?
            }
            (target, _) => {
                session.prepare(target, spec.prompt, spec.model.clone(), &self.default_model, given_system).await?
            }
        };
        if let Some(results) = spec.call_results {
            session.answer_calls(&mut prepared, results).await.map_err(Refused::Calls)?;
        }
        match &spec.system {
            System::Set(system) => prepared.turn.system = system.clone(),
            System::Default(system) if prepared.conversation_id.is_none() => prepared.turn.system = system.clone(),
            System::Default(_) | System::Override(_) => {}
        }
        if let Some(base) = spec.base_settings {
            prepared.settings = base;
        }
        // 3. Role, then 4. settings (the role's under the turn's).
        let keep_system = matches!(spec.system, System::Set(_) | System::Override(_));
        let configured = match &spec.role {
            RoleChoice::Use(role) => prepared.use_role(role, spec.keep_model, keep_system, &spec.settings),
            RoleChoice::Saved => {
                let saved = prepared.role.clone();
                if let Some(role) = saved.and_then(|name| self.roles.iter().find(|r| r.name == name)) {
                    prepared.continue_role(role, keep_system);
                }
                prepared.configure(&spec.settings)
            }
            RoleChoice::Nothing => {
                prepared.role = None;
                prepared.configure(&spec.settings)
            }
        };
        send(Update::Composed(Composed {
            model: prepared.turn.model.clone(),
            system: prepared.turn.system.clone(),
            settings: prepared.settings.clone(),
            role: prepared.role.clone(),
        }));
        configured?;
        prepared.turn.tools.extend(spec.client_tools);
        prepared.turn.tool_choice = spec.tool_choice;
        // 5. Attachments: read, uploaded when too large to go inline (the history's too).
        let progress = |p| send(Update::Uploading(p));
        session.attach(&mut prepared, spec.attachments, &progress).await?;
        // 6. Context fit, attachments counted: the newest turns only, or nothing (config).
        if let Some(trimmed) = session.fit_context(&mut prepared).await? {
            send(Update::Shown(Shown::Notice(Notice::ContextTrimmed(trimmed))));
        }
        Ok(prepared)
    }

    /// Warns at 80% of a budget, refuses a spent one (unless `--over-budget`).
    async fn check_budget(&self, policy: BudgetPolicy, send: &(dyn Fn(Update) + Send + Sync)) -> Result<(), Refused> {
        let Some(store) = self.session.store() else {
            send(Update::NotCounted);
            return Ok(());
        };
        // A ledger that cannot be read is not a reason to lose the prompt: the hold checks again.
        let Ok(spent) = store.read(|s| s.spending()).await else { return Ok(()) };
        match crate::money::check_budgets(spent, policy.budgets.daily, policy.budgets.monthly) {
            BudgetCheck::Fine => {}
            near @ BudgetCheck::Near { .. } => send(Update::BudgetNear(near)),
            BudgetCheck::Over(refusal) if policy.over_budget => send(Update::OverBudget(refusal)),
            BudgetCheck::Over(refusal) => return Err(Refused::Budget(refusal)),
        }
        Ok(())
    }

    /// Holds the worst case of a ready turn against the budgets (by its policy).
    pub async fn hold(&self, ready: &Ready) -> Result<Hold, Refused> {
        let policy = ready.budget;
        if !policy.hold || policy.over_budget || !policy.limited() {
            return Ok(Hold::default());
        }
        // A tool turn may ask the model once per round, and once more at the step limit.
        let calls = ready.tools.as_ref().map_or(1, |t| t.max_rounds() + 1);
        self.session
            .hold_calls(&ready.prepared, calls, policy.budgets.daily, policy.budgets.monthly)
            .await
            .map_err(Refused::Budget)
    }

    /// Gives back what [`Runner::hold`] held.
    pub async fn release(&self, hold: Hold) {
        self.session.release(hold).await;
    }

    /// Runs a ready turn to its end: `show` hears it as it goes; `stop` cancelled stops it (the
    /// answer is kept, marked interrupted); past the deadline it fails as timed out.
    pub async fn run(&self, ready: Ready, show: &(dyn Fn(Shown) + Send + Sync), stop: CancellationToken) -> TurnReport {
        let deadline = ready.deadline;
        let ends = async move {
            let expired = async {
                match deadline {
                    Some((at, after)) => {
                        tokio::time::sleep_until(at).await;
                        after
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = stop.cancelled() => TurnEvent::Cancelled,
                after = expired => TurnEvent::Failed(timeout(after)),
            }
        };
        let mut show = |shown| show(shown);
        let mut report = self.session.run_with_tools(ready.prepared, ready.tools, &mut show, ends).await;
        // A save that failed may mean the conversation was deleted meanwhile (by another tab or
        // process): the store says whether it is still there.
        if let (Some(_), Some(id), Some(store)) = (&report.save_error, report.conversation_id, self.session.store())
            && let Ok(false) = store.read(move |s| s.conversation_exists(id)).await
        {
            report.save_error = Some(StoreError::NoConversation { id });
        }
        report
    }

    /// Starts a turn set up with [`Runner::prepare`] (and held by the caller, if at all).
    pub fn launch(&self, mut ready: Ready) -> TurnHandle {
        let turn = self.next_turn();
        // Its approver hears of the turn by the id it runs under.
        if let Some(tools) = ready.tools.as_mut() {
            tools.turn = turn;
        }
        self.spawn_turn(turn, move |runner, send, stop| async move {
            let show = |shown| send(Update::Shown(shown));
            Update::Done(Box::new(runner.run(ready, &show, stop).await))
        })
    }
}

/// The whole turn's deadline passed.
fn timeout(after: Duration) -> ApiError {
    ApiError::Timeout { phase: TimeoutPhase::Total, after }
}

/// The report of a turn a bug stopped.
pub fn internal_error() -> TurnReport {
    TurnReport {
        conversation_id: None,
        prompt_id: None,
        answer_id: None,
        status: MessageStatus::Error,
        text: String::new(),
        outcome: Outcome::Failed(ApiError::Protocol { detail: "an internal error stopped this answer".into() }),
        cached: false,
        usage: None,
        cost: Default::default(),
        thoughts: String::new(),
        grounding: None,
        save_error: None,
        answered_by: None,
        tool_calls: Vec::new(),
    }
}

/// A running turn: a stream of its updates, ending after [`Update::Done`] or
/// [`Update::Refused`]. Dropping it stops the turn (what was shown is saved, marked
/// interrupted).
pub struct TurnHandle {
    turn: u64,
    updates: mpsc::UnboundedReceiver<TurnUpdate>,
    cancel: CancellationToken,
    _task: tokio::task::JoinHandle<()>,
}

impl TurnHandle {
    pub fn id(&self) -> u64 {
        self.turn
    }

    /// Stops the turn; its last update still comes.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Stops the turn from elsewhere (a front end's command), without the handle.
    pub fn canceller(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// The next update; `None` once the turn is over.
    pub async fn next(&mut self) -> Option<TurnUpdate> {
        self.updates.recv().await
    }
}

impl futures::Stream for TurnHandle {
    type Item = TurnUpdate;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<TurnUpdate>> {
        self.updates.poll_recv(cx)
    }
}

impl Drop for TurnHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
