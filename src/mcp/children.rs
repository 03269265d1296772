//! The process groups of the servers geminal started, killed when their server is dropped and,
//! all at once, when geminal exits ([`stop_all`], also run by a panic hook), so no server (nor
//! what it started: `npx`'s node) outlives geminal.

use std::collections::BTreeSet;
use std::sync::{Mutex, Once};

static LIVE: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());
static HOOK: Once = Once::new();

/// One server's process group (its leader's id), killed on drop.
pub(crate) struct Group(u32);

impl Group {
    pub fn new(pid: u32) -> Group {
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                stop_all();
                previous(info);
            }));
        });
        if pid != 0
            && let Ok(mut live) = LIVE.lock()
        {
            live.insert(pid);
        }
        Group(pid)
    }

    pub fn id(&self) -> u32 {
        self.0
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if let Ok(mut live) = LIVE.lock() {
            live.remove(&self.0);
        }
        kill_group(self.0);
    }
}

/// Kills every server process group still running (geminal is exiting).
pub fn stop_all() {
    let live = match LIVE.lock() {
        Ok(mut live) => std::mem::take(&mut *live),
        Err(_) => return,
    };
    for pid in live {
        kill_group(pid);
    }
}

fn kill_group(pid: u32) {
    #[cfg(unix)]
    if let Ok(pid) = i32::try_from(pid)
        && pid > 1
    {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
    #[cfg(not(unix))]
    let _ = pid;
}
