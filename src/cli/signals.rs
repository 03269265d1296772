//! The signals that stop a command: Ctrl-C (SIGINT), SIGTERM and SIGHUP. Each stops a running
//! answer as Ctrl-C does (what was shown is saved, marked interrupted), and the process exits
//! with 128 + the signal's number, as a shell reports a process the signal ended.

use super::exit::{self, Failure};

pub use crate::domain::Stop;

/// The exit code of a command a signal stopped.
pub trait StopExit {
    fn exit_code(self) -> u8;
}

impl StopExit for Stop {
    fn exit_code(self) -> u8 {
        match self {
            Stop::Interrupt => exit::INTERRUPTED,
            Stop::Terminate => exit::TERMINATED,
            Stop::HangUp => exit::HUNG_UP,
        }
    }
}

/// Listens for the three signals. From the moment it exists, they no longer end the process at
/// once: whoever holds it decides (stop the answer, save, exit with [`Stop::exit_code`]).
pub struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hang_up: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn new() -> Result<Signals, Failure> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listen = |kind| {
                signal(kind).map_err(|e| Failure::new(exit::FAILURE, format!("Signals could not be set up ({e}).")))
            };
            Ok(Signals {
                interrupt: listen(SignalKind::interrupt())?,
                terminate: listen(SignalKind::terminate())?,
                hang_up: listen(SignalKind::hangup())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// The next signal; one that arrived while nobody was waiting is returned at once.
    pub async fn recv(&mut self) -> Stop {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => Stop::Interrupt,
                _ = self.terminate.recv() => Stop::Terminate,
                _ = self.hang_up.recv() => Stop::HangUp,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            Stop::Interrupt
        }
    }
}

/// The one line for an answer a signal stopped.
pub fn stopped_answer(stop: Stop) -> Failure {
    let by = match stop {
        Stop::Interrupt => String::new(),
        other => format!(" by {}", other.name()),
    };
    Failure::new(stop.exit_code(), format!("Stopped{by}: the answer was interrupted and saved as far as it got."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_signal_exits_with_128_plus_its_number() {
        assert_eq!(Stop::Interrupt.exit_code(), 128 + 2);
        assert_eq!(Stop::HangUp.exit_code(), 128 + 1);
        assert_eq!(Stop::Terminate.exit_code(), 128 + 15);
        assert_eq!(
            stopped_answer(Stop::Terminate).message,
            "Stopped by SIGTERM: the answer was interrupted and saved as far as it got."
        );
        assert_eq!(
            stopped_answer(Stop::Interrupt).message,
            "Stopped: the answer was interrupted and saved as far as it got."
        );
    }
}
