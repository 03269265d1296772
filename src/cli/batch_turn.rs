//! One batch line's turn, set up as every front end's are ([`crate::turn`]): its role, model,
//! system prompt, settings and attachments, and the context fit; a line that cannot be sent gets
//! its error line (kind and sentence) instead. Local `batch` runs the turn; a remote batch sends
//! the request it composes.

use std::time::Instant;

use super::batch::{Prompt, RoleChoice, error_line};
use crate::chat::{Settings, Target};
use crate::config::Config;
use crate::error_data::ErrorKind;
use crate::turn::{Ready, Refused, Runner, System, TurnSpec, Update};

/// Composes one prompt's turn as `answer` and a remote job send it: role, model, system,
/// settings, attachments, context; a line that cannot be sent gets its error line instead.
pub(super) async fn prepare_line(
    runner: &Runner,
    config: &Config,
    flags: &Settings,
    choice: &RoleChoice,
    p: &Prompt,
    started: Instant,
) -> Result<Ready, serde_json::Value> {
    // A line's own role wins over --role; an unknown one fails that line, unsent.
    let role = match p.role.as_deref().or(choice.role.as_deref()).map(|name| config.role(name)).transpose() {
        Ok(role) => role,
        Err(e) => return Err(error_line(p, None, &e, ErrorKind::BadInput, started)),
    };
    let attachments = if p.attachments.is_empty() {
        Vec::new()
    } else {
        let paths = p.attachments.clone();
        let read = tokio::task::spawn_blocking(move || {
            paths.iter().map(|path| crate::attach::read_path(path)).collect::<Result<Vec<_>, _>>()
        })
        .await;
        match read {
            Ok(Ok(attachments)) => attachments,
            Ok(Err(e)) => return Err(error_line(p, None, &e.to_string(), ErrorKind::BadInput, started)),
            Err(_) => {
                return Err(error_line(p, None, "the attachments could not be read", ErrorKind::BadInput, started));
            }
        }
    };
    let spec = TurnSpec {
        attachments,
        // A line's model is as the user wrote it: a bare name means the default provider.
        model: p
            .model
            .as_deref()
            .map(|m| config.names.canonical(m))
            .or_else(|| config.model_explicit.then(|| config.model.clone())),
        keep_model: p.model.is_some() || choice.model_flag,
        system: match &p.system {
            Some(system) => System::Set(Some(system.clone())),
            None => System::Default(config.system_prompt.clone()),
        },
        role: role.cloned().map_or(crate::turn::RoleChoice::Saved, |r| crate::turn::RoleChoice::Use(Box::new(r))),
        // The line's own settings win over the flags', which win over the role's; what the
        // model cannot take is refused unsent.
        settings: flags.with(&p.settings),
        // The run holds its budgets itself (`batch_budget`), prompt by prompt.
        budget: crate::turn::BudgetPolicy::default(),
        deadline: config.total_timeout,
        ..TurnSpec::new(Target::New, p.prompt.clone())
    };
    let model = std::sync::Mutex::new(None::<String>);
    let send = |update| {
        if let Update::Composed(composed) = update
            && let Ok(mut model) = model.lock()
        {
            *model = Some(composed.model);
        }
    };
    match runner.prepare(spec, &send).await {
        Ok(ready) => Ok(ready),
        Err(refused) => {
            let model = model.lock().ok().and_then(|m| m.clone());
            let (model, kind) = match &refused {
                Refused::Chat(crate::chat::ChatError::Api(e)) => (None, e.kind()),
                Refused::Chat(crate::chat::ChatError::Store(_)) => (None, ErrorKind::Storage),
                Refused::Chat(crate::chat::ChatError::Attachment(_)) => (None, ErrorKind::BadInput),
                Refused::Settings(_) => (model, ErrorKind::BadInput),
                Refused::Context(_) => (model, ErrorKind::InputTooLong),
                Refused::Timeout(e) => (model, e.kind()),
                Refused::Tools(_) | Refused::Calls(_) => (model, ErrorKind::BadInput),
                // Not reached: a batch holds its budgets itself (`check` is off).
                Refused::Budget(_) => (model, ErrorKind::QuotaExhausted),
            };
            Err(error_line(p, model.as_deref(), &super::words::refused_line(refused), kind, started))
        }
    }
}
