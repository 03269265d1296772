//! `StoreHandle`: the async face of the store. One dedicated thread owns the writing
//! connection and runs jobs in the order they are sent, so a caller that awaits its last write
//! knows every earlier write is done, and the async runtime's workers never wait on SQLite.
//! Reads that may take a while (search, listing, opening a conversation) run on a second thread
//! with a read-only connection of its own, so saving a question or an answer never waits behind
//! them; a newer search interrupts an older one still running. Dropping the last handle
//! finishes the queued writes, closes the store (releasing its writer lock) and joins the
//! threads, so a process that drops its handles before exiting leaves nothing behind. The open
//! tabs are saved the same way as growing answers: without waiting, the newest state replacing
//! one still queued. Writes asked for with [`StoreHandle::call_grouped`] while the writer is
//! busy are committed together (a group commit): many answers finishing at once cost one commit,
//! not one each, and each caller hears back only once its write is committed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use super::{MessageUpdate, OpenTab, SearchHit, Store, StoreError};

type Job = Box<dyn FnOnce(&mut Store) + Send>;
type OnError = Box<dyn FnOnce(StoreError) + Send>;
type Member = Box<dyn GroupMember>;

/// A member of a group commit: its write, which may run twice (a group in which one member
/// failed is undone and run again, each member in a savepoint), and its caller.
trait GroupMember: Send {
    /// Runs the write (keeping its result); whether it succeeded.
    fn run(&mut self, store: &mut Store) -> bool;
    /// Tells the caller its last run's result, once the group is committed (given the commit's
    /// failure, if it failed).
    fn reply(self: Box<Self>, failed_commit: Option<StoreError>);
}

struct Pending<T, F> {
    write: F,
    result: Option<Result<T, StoreError>>,
    caller: tokio::sync::oneshot::Sender<Result<T, StoreError>>,
}

impl<T: Send, F: FnMut(&mut Store) -> Result<T, StoreError> + Send> GroupMember for Pending<T, F> {
    fn run(&mut self, store: &mut Store) -> bool {
        let result = (self.write)(store);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn reply(self: Box<Self>, failed_commit: Option<StoreError>) {
        let _ = self.caller.send(match (self.result.unwrap_or(Err(StoreError::Closed)), failed_commit) {
            (Ok(_), Some(e)) => Err(e),
            (result, _) => result,
        });
    }
}

/// Group-commit members waiting for the store thread, and whether a job to run them is queued.
#[derive(Default)]
struct Group {
    members: Vec<Member>,
    queued: bool,
}

/// Progressive saves waiting for the store thread, newest per message, and whether a job to
/// write them is already queued.
#[derive(Default)]
struct Progress {
    updates: HashMap<i64, (MessageUpdate, OnError)>,
    queued: bool,
}

#[derive(Clone)]
pub struct StoreHandle {
    /// The read-only connection's thread; `None` for an in-memory store (reads then run on
    /// the one thread, in order with the writes). Declared first so that it closes first:
    /// the writer's connection is then the last one, and closing it folds the WAL into the
    /// file and removes `-wal` and `-shm`.
    reader: Option<Arc<Reader>>,
    thread: Arc<StoreThread>,
    path: std::path::PathBuf,
    progress: Arc<Mutex<Progress>>,
    /// The open tabs waiting to be saved (newest only), and whether a job to save them is queued.
    tabs: Arc<Mutex<(Option<Vec<OpenTab>>, bool)>>,
    group: Arc<Mutex<Group>>,
}

/// The reader thread, and which search it runs, so that a newer one can interrupt it.
struct Reader {
    thread: StoreThread,
    interrupt: rusqlite::InterruptHandle,
    searches: Arc<Searches>,
}

#[derive(Default)]
struct Searches {
    /// The generation of the newest search asked for.
    latest: AtomicU64,
    /// The generation of the search running now, if any. Interrupting happens under this lock,
    /// so it can only ever reach the search it was meant for.
    running: Mutex<Option<u64>>,
    /// The same generation (0: none), for the progress handler, which must not wait on a lock.
    current: AtomicU64,
    /// The store is closing: whatever the reader runs is of no use any more.
    closing: std::sync::atomic::AtomicBool,
}

impl Searches {
    /// Whether the statement running on the reader connection should stop now: it is a search
    /// a newer one superseded, or the store is closing. Asked by SQLite every few thousand
    /// steps, so an interrupt can never be lost: `sqlite3_interrupt` called in the instant
    /// before a statement starts is a no-op, and that statement would then run to its end.
    fn should_stop(&self) -> bool {
        let current = self.current.load(Ordering::SeqCst);
        self.closing.load(Ordering::SeqCst) || (current != 0 && self.latest.load(Ordering::SeqCst) > current)
    }
}

impl Reader {
    /// Makes every search asked for so far out of date (interrupting the one running) and
    /// returns the generation of the next one.
    fn supersede_searches(&self) -> u64 {
        let generation = self.searches.latest.fetch_add(1, Ordering::SeqCst) + 1;
        if let Ok(running) = self.searches.running.lock()
            && running.is_some_and(|g| g < generation)
        {
            self.interrupt.interrupt();
        }
        generation
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        // A search still running is of no use to anyone now: stop it rather than wait for it.
        self.searches.closing.store(true, Ordering::SeqCst);
        if let Ok(running) = self.searches.running.lock()
            && running.is_some()
        {
            self.interrupt.interrupt();
        }
    }
}

/// The store thread and the only sender of its queue; dropped with the last handle.
struct StoreThread {
    jobs: Option<mpsc::Sender<Job>>,
    join: Option<std::thread::JoinHandle<()>>,
}

impl StoreThread {
    fn start(name: &str, mut store: Store) -> Result<StoreThread, StoreError> {
        let path = store.path().to_owned();
        let (jobs, queue) = mpsc::channel::<Job>();
        let join = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                for job in queue {
                    // Damage the other connection met stops this one from writing too.
                    store.apply_damage();
                    job(&mut store);
                }
            })
            .map_err(|e| StoreError::io(&path, &e))?;
        Ok(StoreThread { jobs: Some(jobs), join: Some(join) })
    }

    async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(Box::new(move |store| {
            let _ = tx.send(f(store));
        }))?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    fn send(&self, job: Job) -> Result<(), StoreError> {
        self.jobs.as_ref().ok_or(StoreError::Closed)?.send(job).map_err(|_| StoreError::Closed)
    }
}

impl Drop for StoreThread {
    fn drop(&mut self) {
        // Closing the queue ends the thread's loop once the jobs already sent are done.
        drop(self.jobs.take());
        if let Some(join) = self.join.take()
            && join.thread().id() != std::thread::current().id()
        {
            // The store (and its writer lock) is dropped on that thread before it ends.
            let _ = join.join();
        }
    }
}

impl std::fmt::Debug for StoreHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreHandle").field("path", &self.path).finish()
    }
}

impl StoreHandle {
    /// Moves the store onto its own thread. Dropping the last handle waits for the jobs
    /// already queued, closes the store and joins the thread (unless it is dropped on that
    /// thread itself, by a job holding a handle: then the thread ends on its own).
    pub fn spawn(store: Store) -> Result<StoreHandle, StoreError> {
        let path = store.path().to_owned();
        // Without a reader (it could not be opened), reads share the writer's thread as before.
        let reader = match store.open_reader().ok().flatten() {
            Some(mut reading) => {
                let interrupt = reading.connection().get_interrupt_handle();
                let searches: Arc<Searches> = Arc::default();
                let asked = searches.clone();
                // A failure here only loses the race-free stop; the interrupt still works.
                let _ = reading.conn.progress_handler(4_000, Some(move || asked.should_stop()));
                let thread = StoreThread::start("geminal-store-read", reading)?;
                Some(Arc::new(Reader { thread, interrupt, searches }))
            }
            None => None,
        };
        let thread = StoreThread::start("geminal-store", store)?;
        Ok(StoreHandle {
            thread: Arc::new(thread),
            reader,
            path,
            progress: Arc::default(),
            tabs: Arc::default(),
            group: Arc::default(),
        })
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Runs `f` on the store thread (the writer) and waits for its result.
    pub async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.thread.call(f).await
    }

    /// Runs `f` on the store thread as [`StoreHandle::call`] does, but committed together with
    /// the other grouped writes asked for while the writer is busy (one transaction, each in a
    /// savepoint of it, so one that fails undoes only its own writes). The result comes back
    /// once the group is committed, so what a caller was told is saved is on disk. Alone (the
    /// writer idle, as for a single `ask`), it runs at once as a `call` would. `f` must not do
    /// what a transaction forbids (PRAGMAs, VACUUM, backups): those go through `call`. `f` may
    /// run twice (the second time after the first was undone), so it must write only through
    /// the store and return the error of a store method that failed.
    pub async fn call_grouped<T: Send + 'static>(
        &self,
        f: impl FnMut(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (caller, rx) = tokio::sync::oneshot::channel();
        let member: Member = Box::new(Pending { write: f, result: None, caller });
        {
            let mut group = self.group.lock().map_err(|_| StoreError::Closed)?;
            group.members.push(member);
            if !std::mem::replace(&mut group.queued, true) {
                let pending = self.group.clone();
                self.thread.send(Box::new(move |store| commit_group(store, &pending)))?;
            }
        }
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs a read on the reader thread, so it never delays a write. It sees every write that
    /// was awaited before it was asked for (progressive saves still queued may not be there
    /// yet). Without a reader (an in-memory store) it runs on the store thread.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        match &self.reader {
            Some(reader) => reader.thread.call(move |store| f(store)).await,
            None => self.thread.call(move |store| f(store)).await,
        }
    }

    /// Stops the search running on the reader thread, if any, and skips those still queued
    /// (the user cleared the query, or left the search).
    pub fn cancel_searches(&self) {
        if let Some(reader) = &self.reader {
            reader.supersede_searches();
        }
    }

    /// Searches on the reader thread. A newer search interrupts this one if it is still
    /// running (or skips it if it has not started): it then ends with [`StoreError::Cancelled`].
    pub async fn search(&self, query: String, limit: usize) -> Result<Vec<SearchHit>, StoreError> {
        self.superseding(move |store| store.search(&query, limit)).await
    }

    /// Runs `f` on the reader thread as the newest search, interrupting any older one.
    async fn superseding<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let Some(reader) = &self.reader else {
            return self.thread.call(move |store| f(store)).await;
        };
        let generation = reader.supersede_searches();
        let searches = reader.searches.clone();
        reader
            .thread
            .call(move |store| {
                {
                    let Ok(mut running) = searches.running.lock() else { return Err(StoreError::Closed) };
                    if searches.latest.load(Ordering::SeqCst) != generation {
                        return Err(StoreError::Cancelled);
                    }
                    *running = Some(generation);
                    searches.current.store(generation, Ordering::SeqCst);
                }
                let found = f(store);
                if let Ok(mut running) = searches.running.lock() {
                    *running = None;
                    searches.current.store(0, Ordering::SeqCst);
                }
                found
            })
            .await
    }

    /// Saves the open tabs (and their drafts) without waiting, as they change: a newer state
    /// replaces one still waiting, so typing costs one small write per store round, and a crash
    /// loses at most what changed since the last one. Failures are not reported: the tabs are
    /// saved again at the next change and when the interface closes.
    pub fn save_open_tabs_soon(&self, tabs: Vec<OpenTab>) {
        let Ok(mut pending) = self.tabs.lock() else { return };
        pending.0 = Some(tabs);
        if std::mem::replace(&mut pending.1, true) {
            return;
        }
        drop(pending);
        let pending = self.tabs.clone();
        let _ = self.thread.send(Box::new(move |store| {
            let tabs = match pending.lock() {
                Ok(mut p) => {
                    p.1 = false;
                    p.0.take()
                }
                Err(_) => return,
            };
            if let Some(tabs) = tabs {
                let _ = store.save_open_tabs(&tabs);
            }
        }));
    }

    /// Saves a growing answer without waiting. Saves of many answers that arrive while the
    /// store is busy are written together in one transaction, and a newer save of a message
    /// replaces an older one still waiting, so a thousand streams cost a few commits, not
    /// thousands. Saves are written before any job queued after them.
    pub fn save_progress(&self, id: i64, update: MessageUpdate, on_error: impl FnOnce(StoreError) + Send + 'static) {
        let Ok(mut progress) = self.progress.lock() else { return };
        progress.updates.insert(id, (update, Box::new(on_error)));
        if std::mem::replace(&mut progress.queued, true) {
            return;
        }
        drop(progress);
        let pending = self.progress.clone();
        let _ = self.thread.send(Box::new(move |store| {
            let batch = match pending.lock() {
                Ok(mut p) => {
                    p.queued = false;
                    std::mem::take(&mut p.updates)
                }
                Err(_) => return,
            };
            let (updates, callbacks): (Vec<_>, Vec<_>) = batch.into_iter().map(|(id, (u, cb))| ((id, u), cb)).unzip();
            if let Err(e) = store.update_messages(&updates) {
                for callback in callbacks {
                    callback(e.clone());
                }
            }
        }));
    }
}

/// Runs the grouped writes waiting now: one alone as it is, several in one transaction whose
/// commit every caller waits for. The members first run straight in the transaction (no
/// savepoint: each one made FTS5 write a segment); if one fails, the group is undone and run
/// again with each member in a savepoint of its own, so a failed one undoes only itself.
fn commit_group(store: &mut Store, pending: &Mutex<Group>) {
    let mut members = match pending.lock() {
        Ok(mut group) => {
            group.queued = false;
            std::mem::take(&mut group.members)
        }
        Err(_) => return,
    };
    if members.len() == 1 || store.begin_group().is_err() {
        for mut member in members {
            member.run(store);
            member.reply(None);
        }
        return;
    }
    let whole = {
        let unguarded = super::write_tx::Unguarded::enter();
        members.iter_mut().all(|member| member.run(store) && !unguarded.tainted())
    };
    if !whole {
        if let Err(e) = store.undo_group() {
            for member in members {
                member.reply(Some(e.clone()));
            }
            return;
        }
        if store.begin_group().is_err() {
            for mut member in members {
                member.run(store);
                member.reply(None);
            }
            return;
        }
        for member in &mut members {
            store.member(|store| member.run(store));
        }
    }
    let failed = store.end_group().err();
    for member in members {
        member.reply(failed.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writers_dir(home: &tempfile::TempDir) -> std::path::PathBuf {
        home.path().join("history.sqlite3.writers")
    }

    /// Keeps the writer thread busy (it has started the job) until the sender is used; the
    /// task ends when the job does.
    async fn busy_writer(handle: &StoreHandle) -> (mpsc::Sender<()>, tokio::task::JoinHandle<Result<(), StoreError>>) {
        let (release, blocked) = mpsc::channel::<()>();
        let (started_tx, started) = mpsc::channel::<()>();
        let busy = tokio::spawn({
            let handle = handle.clone();
            async move {
                handle
                    .call(move |_| {
                        let _ = started_tx.send(());
                        let _ = blocked.recv();
                        Ok(())
                    })
                    .await
            }
        });
        tokio::task::spawn_blocking(move || started.recv()).await.unwrap().unwrap();
        (release, busy)
    }

    fn open(home: &tempfile::TempDir) -> StoreHandle {
        let (store, _) = Store::open(&home.path().join("history.sqlite3")).unwrap();
        StoreHandle::spawn(store).unwrap()
    }

    #[tokio::test]
    async fn dropping_the_last_handle_closes_the_store_and_removes_its_lock() {
        let home = tempfile::tempdir().unwrap();
        let handle = open(&home);
        let other = handle.clone();
        handle.call(|s| s.list_conversations(10, 0)).await.unwrap();
        assert_eq!(std::fs::read_dir(writers_dir(&home)).unwrap().count(), 1);
        drop(handle);
        assert!(writers_dir(&home).exists(), "another handle still uses the store");
        other.save_progress(1, MessageUpdate::default(), |_| {});
        drop(other);
        assert!(!writers_dir(&home).exists(), "the lock is gone as soon as the last handle is");
    }

    /// A query that never ends by itself: only an interrupt stops it.
    fn endless(store: &Store) -> Result<i64, StoreError> {
        store
            .connection()
            .query_row(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
                [],
                |r| r.get(0),
            )
            .map_err(|e| StoreError::from_sqlite(store.path(), e))
    }

    fn conversation(store: &mut Store) -> Result<i64, StoreError> {
        let message = super::super::NewMessage {
            role: crate::domain::Role::User,
            text: "saved while a search runs".into(),
            model: None,
            status: crate::domain::MessageStatus::Complete,
            cached: false,
        };
        let id = store.create_conversation("t", "m", None)?;
        store.add_message(id, &message)?;
        Ok(id)
    }

    #[tokio::test]
    async fn writes_and_other_reads_never_wait_behind_a_running_read() {
        let home = tempfile::tempdir().unwrap();
        let handle = open(&home);
        let (release, blocked) = mpsc::channel::<()>();
        let (started, wait_started) = tokio::sync::oneshot::channel();
        let reader = tokio::spawn({
            let handle = handle.clone();
            async move {
                handle
                    .read(move |_| {
                        let _ = started.send(());
                        let _ = blocked.recv();
                        Ok(())
                    })
                    .await
            }
        });
        wait_started.await.unwrap();
        // The reader thread is busy; the writer is not. (The timeout only turns a hang into a
        // failure: the write takes milliseconds.)
        let write = tokio::time::timeout(std::time::Duration::from_secs(20), handle.call(conversation));
        let id = write.await.expect("the write does not wait for the read").unwrap();
        let listed = handle.call(|s| s.list_conversations(10, 0)).await.unwrap();
        assert_eq!(listed.iter().map(|c| c.id).collect::<Vec<_>>(), vec![id]);
        release.send(()).unwrap();
        reader.await.unwrap().unwrap();
        let read = handle.read(move |s| s.active_path(id)).await.unwrap();
        assert_eq!(read.len(), 1, "a read after an awaited write sees it");
    }

    #[tokio::test]
    async fn a_newer_search_interrupts_the_one_running_and_skips_those_queued() {
        let home = tempfile::tempdir().unwrap();
        let handle = open(&home);
        handle.call(conversation).await.unwrap();
        let running = tokio::spawn({
            let handle = handle.clone();
            async move { handle.superseding(endless).await }
        });
        // Wait until the endless query runs, then queue one more behind it.
        while handle.reader.as_ref().unwrap().searches.running.lock().unwrap().is_none() {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let queued = tokio::spawn({
            let handle = handle.clone();
            async move { handle.superseding(endless).await }
        });
        tokio::task::yield_now().await;
        let newest = handle.search("saved".into(), 10).await.unwrap();
        assert_eq!(newest.len(), 1, "the newest search runs and finds the message");
        assert_eq!(running.await.unwrap(), Err(StoreError::Cancelled));
        assert_eq!(queued.await.unwrap(), Err(StoreError::Cancelled));
    }

    /// `sqlite3_interrupt` in the instant between a search starting and its statement starting
    /// is a no-op: the superseded search then ran to its end (here: forever; the lib tests hung
    /// once under load). SQLite now asks whether to stop every few thousand steps.
    #[tokio::test]
    async fn a_search_superseded_just_before_its_query_starts_still_stops() {
        let home = tempfile::tempdir().unwrap();
        let handle = open(&home);
        let (ready_tx, ready_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let search = tokio::spawn({
            let handle = handle.clone();
            async move {
                handle
                    .superseding(move |store| {
                        ready_tx.send(()).unwrap();
                        go_rx.recv().unwrap();
                        endless(store)
                    })
                    .await
            }
        });
        tokio::task::spawn_blocking(move || ready_rx.recv().unwrap()).await.unwrap();
        // Superseded while no statement runs: the interrupt itself reaches nothing.
        handle.cancel_searches();
        go_tx.send(()).unwrap();
        let stopped = tokio::time::timeout(std::time::Duration::from_secs(20), search).await;
        assert_eq!(stopped.expect("the superseded search stops").unwrap(), Err(StoreError::Cancelled));
    }

    #[test]
    fn closing_the_store_stops_a_running_search() {
        let home = tempfile::tempdir().unwrap();
        let handle = open(&home);
        let reader = handle.reader.clone().unwrap();
        let searches = reader.searches.clone();
        let (done, result) = mpsc::channel();
        reader
            .thread
            .send(Box::new(move |store| {
                *searches.running.lock().unwrap() = Some(1);
                searches.current.store(1, Ordering::SeqCst);
                let found = endless(store);
                *searches.running.lock().unwrap() = None;
                searches.current.store(0, Ordering::SeqCst);
                done.send(found).unwrap();
            }))
            .unwrap();
        while reader.searches.running.lock().unwrap().is_none() {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        // Dropping the last handle joins the threads: it returns only if the search stopped.
        drop(reader);
        drop(handle);
        assert_eq!(result.recv().unwrap(), Err(StoreError::Cancelled));
    }

    #[tokio::test]
    async fn damage_the_reader_meets_stops_the_writer_too() {
        let home = tempfile::tempdir().unwrap();
        let handle = open(&home);
        let id = handle.call(conversation).await.unwrap();
        // A value no healthy database of ours holds: a message text that is not UTF-8.
        handle
            .call(|s| {
                s.connection()
                    .execute("UPDATE messages SET text = CAST(x'80ff' AS TEXT)", [])
                    .map_err(|e| StoreError::from_sqlite(s.path(), e))
            })
            .await
            .unwrap();
        let read = handle.read(move |s| s.active_path(id)).await;
        assert!(matches!(read, Err(StoreError::Corrupt { .. })), "{read:?}");
        let write = handle.call(conversation).await;
        assert!(matches!(write, Err(StoreError::Corrupt { .. })), "the writer refuses too: {write:?}");
        let count = handle
            .call(|s| {
                s.connection()
                    .query_row("SELECT count(*) FROM conversations", [], |r| r.get::<_, i64>(0))
                    .map_err(|e| StoreError::from_sqlite(s.path(), e))
            })
            .await
            .unwrap();
        assert_eq!(count, 1, "nothing more was written");
    }

    #[tokio::test]
    async fn open_tabs_saved_while_the_store_is_busy_are_written_once_newest_first() {
        let home = tempfile::tempdir().unwrap();
        let handle = open(&home);
        async fn changes(handle: &StoreHandle) -> i64 {
            let total = handle.call(|s| {
                s.connection()
                    .query_row("SELECT total_changes()", [], |r| r.get::<_, i64>(0))
                    .map_err(|e| StoreError::from_sqlite(s.path(), e))
            });
            total.await.unwrap()
        }
        let before = changes(&handle).await;
        // The writer is busy before the first save is queued (else that one is written alone).
        let (release, busy) = busy_writer(&handle).await;
        let tab = |draft: &str, active| OpenTab { conversation_id: None, draft: draft.into(), active };
        // Typing while the writer is busy: only the newest state is written, once.
        for draft in ["h", "he", "hel", "hello"] {
            handle.save_open_tabs_soon(vec![tab(draft, false), tab("", true)]);
        }
        release.send(()).unwrap();
        busy.await.unwrap().unwrap();
        let kept = handle.read(|s| s.open_tabs()).await.unwrap();
        assert_eq!(kept, [tab("hello", false), tab("", true)]);
        let writes = changes(&handle).await - before;
        // One save: 0 rows deleted, 2 inserted (four saves would have deleted and inserted 14).
        assert_eq!(writes, 2, "one write for four changes");
        // A save queued just before the last handle goes is written, not dropped.
        handle.save_open_tabs_soon(vec![tab("kept at the end", true)]);
        drop(handle);
        let (store, _) = Store::open(&home.path().join("history.sqlite3")).unwrap();
        assert_eq!(store.open_tabs().unwrap(), [tab("kept at the end", true)]);
    }

    /// Group commit: writes asked for while the writer is busy share one commit (counted by a
    /// commit hook on the writer's connection), each caller hears back only after it, and a
    /// member that fails undoes its own writes and nothing else.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn grouped_writes_share_one_commit_and_a_failed_one_undoes_only_itself() {
        let home = tempfile::tempdir().unwrap();
        let handle = open(&home);
        let conversation = handle.call(|s| s.create_conversation("t", "m", None)).await.unwrap();
        let commits = Arc::new(AtomicU64::new(0));
        let counter = commits.clone();
        handle
            .call(move |s| {
                s.conn
                    .commit_hook(Some(move || {
                        counter.fetch_add(1, Ordering::SeqCst);
                        false
                    }))
                    .map_err(|e| StoreError::from_sqlite(std::path::Path::new("test"), e))
            })
            .await
            .unwrap();
        let (release, busy) = busy_writer(&handle).await;
        let message = |text: &str| crate::store::NewMessage {
            role: crate::domain::Role::User,
            text: text.into(),
            model: None,
            status: crate::domain::MessageStatus::Complete,
            cached: false,
        };
        let mut calls = Vec::new();
        for i in 0..20 {
            let handle = handle.clone();
            let m = message(&format!("grouped {i}"));
            calls.push(tokio::spawn(async move {
                handle
                    .call_grouped(move |s| {
                        let id = s.add_message(conversation, &m)?;
                        // The 7th writes, then fails: its row must not stay.
                        if i == 7 { Err(StoreError::NoConversation { id: -1 }) } else { Ok(id) }
                    })
                    .await
            }));
        }
        // Every member is queued before the writer is let go.
        while handle.group.lock().unwrap().members.len() < 20 {
            tokio::task::yield_now().await;
        }
        let visible = || -> i64 {
            let conn = rusqlite::Connection::open(home.path().join("history.sqlite3")).unwrap();
            conn.query_row("SELECT count(*) FROM messages", [], |r| r.get(0)).unwrap()
        };
        assert_eq!(visible(), 0, "nothing is visible before the group commits");
        release.send(()).unwrap();
        busy.await.unwrap().unwrap();
        let mut failed = 0;
        for call in calls {
            match call.await.unwrap() {
                // Told it is saved: another connection sees it.
                Ok(id) => {
                    let conn = rusqlite::Connection::open(home.path().join("history.sqlite3")).unwrap();
                    let seen: i64 =
                        conn.query_row("SELECT count(*) FROM messages WHERE id = ?1", [id], |r| r.get(0)).unwrap();
                    assert_eq!(seen, 1);
                }
                Err(_) => failed += 1,
            }
        }
        assert_eq!(failed, 1);
        assert_eq!(commits.load(Ordering::SeqCst), 1, "twenty writes, one commit");
        assert_eq!(visible(), 19, "the failed member left nothing, the others stayed");
        let texts: Vec<String> =
            handle.read(move |s| Ok(s.active_path(conversation)?.into_iter().map(|m| m.text).collect())).await.unwrap();
        assert!(!texts.contains(&"grouped 7".to_owned()), "{texts:?}");
        // One alone commits at once, as a plain call would.
        let alone = handle.call_grouped(move |s| s.add_message(conversation, &message("alone"))).await.unwrap();
        assert!(alone > 0);
        assert_eq!(commits.load(Ordering::SeqCst), 2);
        assert_eq!(visible(), 20);
    }

    /// A grouped write whose store method undid itself (a write transaction dropped uncommitted)
    /// but which still answered Ok: its half stays out, the others' writes stay, one commit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_grouped_write_dropped_uncommitted_leaves_nothing_and_the_group_commits() {
        let home = tempfile::tempdir().unwrap();
        let handle = open(&home);
        let conversation = handle.call(|s| s.create_conversation("t", "m", None)).await.unwrap();
        let (release, busy) = busy_writer(&handle).await;
        let mut calls = Vec::new();
        for i in 0..6 {
            let handle = handle.clone();
            calls.push(tokio::spawn(async move {
                handle
                    .call_grouped(move |s| {
                        let tx = super::super::write_tx::write_tx(&mut s.conn)
                            .map_err(|e| StoreError::from_sqlite(std::path::Path::new("test"), e))?;
                        tx.execute(
                            "INSERT INTO conversations (title, model, created_at, updated_at) VALUES (?1, 'm', 0, 0)",
                            [format!("c{i}")],
                        )
                        .map_err(|e| StoreError::from_sqlite(std::path::Path::new("test"), e))?;
                        // The 3rd gives up on its write (dropped, not committed) and says nothing.
                        if i != 2 {
                            tx.commit().map_err(|e| StoreError::from_sqlite(std::path::Path::new("test"), e))?;
                        }
                        Ok(i)
                    })
                    .await
            }));
        }
        while handle.group.lock().unwrap().members.len() < 6 {
            tokio::task::yield_now().await;
        }
        release.send(()).unwrap();
        busy.await.unwrap().unwrap();
        for call in calls {
            call.await.unwrap().unwrap();
        }
        let titles: Vec<String> = handle
            .read(move |s| {
                let mut stmt = s.conn.prepare("SELECT title FROM conversations WHERE id != ?1 ORDER BY title").unwrap();
                Ok(stmt.query_map([conversation], |r| r.get(0)).unwrap().map(Result::unwrap).collect())
            })
            .await
            .unwrap();
        assert_eq!(titles, ["c0", "c1", "c3", "c4", "c5"]);
    }

    /// The writer allocates for every statement it runs: SQLite's memory statistics would take
    /// a global mutex for each allocation (.cargo/config.toml builds the bundled SQLite without).
    #[test]
    fn the_bundled_sqlite_keeps_no_memory_statistics() {
        let store = Store::open_in_memory().unwrap();
        let used: bool = store
            .connection()
            .query_row("SELECT sqlite_compileoption_used('DEFAULT_MEMSTATUS=0')", [], |r| r.get(0))
            .unwrap();
        assert!(used, "built without LIBSQLITE3_FLAGS from .cargo/config.toml");
    }

    #[test]
    fn a_last_handle_dropped_on_the_store_thread_does_not_wait_for_itself() {
        let home = tempfile::tempdir().unwrap();
        let handle = open(&home);
        let inner = handle.clone();
        let (go, wait) = mpsc::channel::<()>();
        handle
            .thread
            .send(Box::new(move |_| {
                let _ = wait.recv();
                drop(inner);
            }))
            .unwrap();
        drop(handle);
        go.send(()).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while writers_dir(&home).exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(!writers_dir(&home).exists(), "the thread ended and closed the store");
    }
}
