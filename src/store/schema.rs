//! The schema as a const slice of migrations, applied in one transaction and tracked in
//! `PRAGMA user_version`. Never edit a migration that has shipped: add a new one.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

/// Migration `i` takes the schema from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: conversations and their messages.
    "CREATE TABLE conversations (
        id INTEGER PRIMARY KEY,
        title TEXT NOT NULL,
        model TEXT NOT NULL,
        system_prompt TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX conversations_by_update ON conversations(updated_at DESC, id DESC);
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('user', 'model')),
        text TEXT NOT NULL,
        model TEXT,
        status TEXT NOT NULL CHECK (status IN ('complete', 'streaming', 'interrupted', 'error', 'blocked')),
        error TEXT,
        prompt_tokens INTEGER,
        output_tokens INTEGER,
        thought_tokens INTEGER,
        cached INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        first_token_ms INTEGER,
        duration_ms INTEGER,
        writer TEXT
    );
    CREATE INDEX messages_by_conversation ON messages(conversation_id, id);
    CREATE INDEX messages_streaming ON messages(status) WHERE status = 'streaming';",
    // 2: full-text search over every message, kept in step by triggers.
    "CREATE VIRTUAL TABLE messages_fts USING fts5(
        text, content = 'messages', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2'
    );
    INSERT INTO messages_fts(rowid, text) SELECT id, text FROM messages;
    CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text);
    END;
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END;
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text);
    END;",
    // 3: the answer cache and per-request metrics.
    "CREATE TABLE answer_cache (
        key BLOB PRIMARY KEY,
        model TEXT NOT NULL,
        text TEXT NOT NULL,
        prompt_tokens INTEGER,
        output_tokens INTEGER,
        created_at INTEGER NOT NULL,
        last_used_at INTEGER NOT NULL,
        hits INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
    CREATE INDEX answer_cache_lru ON answer_cache(last_used_at);
    CREATE TABLE request_metrics (
        id INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        model TEXT NOT NULL,
        outcome TEXT NOT NULL,
        cached INTEGER NOT NULL DEFAULT 0,
        latency_ms INTEGER,
        first_token_ms INTEGER,
        prompt_tokens INTEGER,
        output_tokens INTEGER,
        retries INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX request_metrics_by_time ON request_metrics(at);",
    // 4: an answer enters the search index when it stops streaming, not on every progressive
    // save (re-indexing a growing text each 150 ms cost more than the rest of the write).
    "DROP TRIGGER messages_fts_insert;
    DROP TRIGGER messages_fts_delete;
    DROP TRIGGER messages_fts_update;
    INSERT INTO messages_fts(messages_fts, rowid, text) SELECT 'delete', id, text FROM messages WHERE status = 'streaming';
    CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.status != 'streaming' BEGIN
        INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text);
    END;
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.status != 'streaming' BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END;
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF text, status ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, text) SELECT 'delete', old.id, old.text WHERE old.status != 'streaming';
        INSERT INTO messages_fts(rowid, text) SELECT new.id, new.text WHERE new.status != 'streaming';
    END;",
    // 5: search by word prefix as the user types: the message index gains prefix indexes (two
    // and three characters, so a short prefix reads one list instead of merging thousands);
    // conversation titles get an index of their own. Streaming rows stay out, as in 4.
    "DROP TRIGGER messages_fts_insert;
    DROP TRIGGER messages_fts_delete;
    DROP TRIGGER messages_fts_update;
    DROP TABLE messages_fts;
    CREATE VIRTUAL TABLE messages_fts USING fts5(
        text, content = 'messages', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2',
        prefix = '2 3'
    );
    INSERT INTO messages_fts(rowid, text) SELECT id, text FROM messages WHERE status != 'streaming';
    CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.status != 'streaming' BEGIN
        INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text);
    END;
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.status != 'streaming' BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END;
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF text, status ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, text) SELECT 'delete', old.id, old.text WHERE old.status != 'streaming';
        INSERT INTO messages_fts(rowid, text) SELECT new.id, new.text WHERE new.status != 'streaming';
    END;
    CREATE VIRTUAL TABLE titles_fts USING fts5(
        title, content = 'conversations', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2',
        prefix = '2 3'
    );
    INSERT INTO titles_fts(rowid, title) SELECT id, title FROM conversations;
    CREATE TRIGGER titles_fts_insert AFTER INSERT ON conversations BEGIN
        INSERT INTO titles_fts(rowid, title) VALUES (new.id, new.title);
    END;
    CREATE TRIGGER titles_fts_delete AFTER DELETE ON conversations BEGIN
        INSERT INTO titles_fts(titles_fts, rowid, title) VALUES ('delete', old.id, old.title);
    END;
    CREATE TRIGGER titles_fts_update AFTER UPDATE OF title ON conversations BEGIN
        INSERT INTO titles_fts(titles_fts, rowid, title) VALUES ('delete', old.id, old.title);
        INSERT INTO titles_fts(rowid, title) VALUES (new.id, new.title);
    END;",
    // 6: conversations become trees. Each message points at the one it follows; a regenerated
    // answer is a sibling of the answer it replaces, an edited prompt a sibling of the prompt it
    // replaces. `head_id` is the last message of the branch shown (and sent to the model). Existing
    // conversations become single branches in the order they were written.
    "ALTER TABLE messages ADD COLUMN parent_id INTEGER REFERENCES messages(id) ON DELETE CASCADE;
    ALTER TABLE conversations ADD COLUMN head_id INTEGER;
    UPDATE messages SET parent_id =
        (SELECT max(p.id) FROM messages p WHERE p.conversation_id = messages.conversation_id AND p.id < messages.id);
    UPDATE conversations SET head_id = (SELECT max(m.id) FROM messages m WHERE m.conversation_id = conversations.id);
    CREATE INDEX messages_by_parent ON messages(parent_id);
    CREATE INDEX messages_tree ON messages(conversation_id, parent_id);",
    // 7: the search index holds the first 1,048,576 characters of each message (the constant
    // `search::INDEXED_CHARS`). A pasted 10 MB log made every search that matched it cost tens
    // of milliseconds (ranking walks every occurrence of a word); now no message costs more to
    // search than a 1 MiB one. Messages already longer are re-indexed with their start.
    "DROP TRIGGER messages_fts_insert;
    DROP TRIGGER messages_fts_delete;
    DROP TRIGGER messages_fts_update;
    INSERT INTO messages_fts(messages_fts, rowid, text)
        SELECT 'delete', id, text FROM messages WHERE status != 'streaming' AND length(text) > 1048576;
    INSERT INTO messages_fts(rowid, text)
        SELECT id, substr(text, 1, 1048576) FROM messages WHERE status != 'streaming' AND length(text) > 1048576;
    CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.status != 'streaming' BEGIN
        INSERT INTO messages_fts(rowid, text) VALUES (new.id, substr(new.text, 1, 1048576));
    END;
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.status != 'streaming' BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, substr(old.text, 1, 1048576));
    END;
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF text, status ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, text)
            SELECT 'delete', old.id, substr(old.text, 1, 1048576) WHERE old.status != 'streaming';
        INSERT INTO messages_fts(rowid, text)
            SELECT new.id, substr(new.text, 1, 1048576) WHERE new.status != 'streaming';
    END;",
    // 8: the tabs open when the interface last closed, in order, so the next start restores
    // them: the conversation each shows (none for a new one; a deleted conversation leaves the
    // tab's draft), its unsent draft, and which one was active.
    "CREATE TABLE open_tabs (
        position INTEGER PRIMARY KEY,
        conversation_id INTEGER REFERENCES conversations(id) ON DELETE SET NULL,
        draft TEXT NOT NULL DEFAULT '',
        active INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1))
    );",
    // 9: thought summaries beside each answer (never part of its text, so never searched or
    // sent back), a conversation's generation settings (JSON written by `chat::Settings`), and
    // the thinking tokens each request was billed for.
    "ALTER TABLE messages ADD COLUMN thoughts TEXT;
    ALTER TABLE conversations ADD COLUMN settings TEXT;
    ALTER TABLE request_metrics ADD COLUMN thought_tokens INTEGER;",
    // 10: attachments, content-addressed by their SHA-256 (hex): the bytes up to a configured
    // size (`attachments.store_max_bytes`), above it only the path they were read from. Each
    // prompt lists its attachments in order, under the name they were attached with. Files
    // uploaded with the Files API are remembered per endpoint until they expire, so the same
    // content is not uploaded twice in their 48 hours.
    "CREATE TABLE attachments (
        sha256 TEXT PRIMARY KEY,
        mime TEXT NOT NULL,
        size INTEGER NOT NULL,
        data BLOB,
        path TEXT,
        created_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE message_attachments (
        message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        sha256 TEXT NOT NULL REFERENCES attachments(sha256),
        name TEXT NOT NULL,
        PRIMARY KEY (message_id, position)
    ) WITHOUT ROWID;
    CREATE INDEX message_attachments_by_hash ON message_attachments(sha256);
    CREATE TABLE attachment_uploads (
        sha256 TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        uri TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (sha256, endpoint)
    ) WITHOUT ROWID;",
    // 11: an answer's sources (Google Search, URL context) as JSON written by
    // `grounding::Grounding`, beside its text, which never holds their markers.
    "ALTER TABLE messages ADD COLUMN grounding TEXT;",
    // 12: the role a conversation runs with (its name; what the role says is in the config), so a
    // continued conversation keeps it.
    "ALTER TABLE conversations ADD COLUMN role TEXT;",
    // 13: money. What an answer cost in nano-dollars (NULL: unknown, or nothing reported), what
    // a cache hit saved (the original answer's cost), and the price-table row used; a cached
    // answer keeps its cost so a hit can say what it saved.
    "ALTER TABLE messages ADD COLUMN cost_nanos INTEGER;
    ALTER TABLE messages ADD COLUMN saved_nanos INTEGER;
    ALTER TABLE messages ADD COLUMN priced_as TEXT;
    ALTER TABLE answer_cache ADD COLUMN cost_nanos INTEGER;
    CREATE INDEX messages_spent_by_time ON messages(created_at) WHERE role = 'model';",
    // 14: batch jobs (local and Gemini's Batch API), durable from the moment they are submitted,
    // and their lines: what each asked, and whether its result is already in the history
    // (so a second `jobs wait` never writes it twice). Answers from a remote job are billed at
    // the batch price: `messages.batch_priced`.
    "CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('local', 'remote')),
        state TEXT NOT NULL,
        model TEXT NOT NULL,
        remote_name TEXT,
        input_path TEXT,
        output_path TEXT,
        input_hash TEXT NOT NULL,
        input_file TEXT,
        result_file TEXT,
        priority INTEGER NOT NULL DEFAULT 0,
        total INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        finished_at INTEGER
    );
    CREATE TABLE job_lines (
        job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        line INTEGER NOT NULL,
        input TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
        error_kind TEXT,
        error_message TEXT,
        message_id INTEGER REFERENCES messages(id) ON DELETE SET NULL,
        prompt_tokens INTEGER,
        output_tokens INTEGER,
        thought_tokens INTEGER,
        PRIMARY KEY (job_id, key)
    ) WITHOUT ROWID;
    ALTER TABLE messages ADD COLUMN batch_priced INTEGER NOT NULL DEFAULT 0;",
    // 15: ids are never reused. Without AUTOINCREMENT SQLite hands out the highest id plus one,
    // so deleting the newest conversation gave its id (and its messages' ids) to the next one,
    // and a tab, a script or a job line still holding the old id reached the new conversation.
    // Both tables are rebuilt with AUTOINCREMENT (`sqlite_sequence` remembers the highest id
    // ever given); rows keep their ids, so the search indexes, open tabs, attachments and job
    // lines still point at the same rows. Dropping a table drops its triggers and indexes: they
    // are made again as 5, 6, 7 and 13 left them. Run with foreign keys off (see `migrate`).
    "CREATE TABLE new_conversations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        title TEXT NOT NULL,
        model TEXT NOT NULL,
        system_prompt TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        head_id INTEGER,
        settings TEXT,
        role TEXT
    );
    INSERT INTO new_conversations (id, title, model, system_prompt, created_at, updated_at, head_id, settings, role)
        SELECT id, title, model, system_prompt, created_at, updated_at, head_id, settings, role FROM conversations;
    CREATE TABLE new_messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('user', 'model')),
        text TEXT NOT NULL,
        model TEXT,
        status TEXT NOT NULL CHECK (status IN ('complete', 'streaming', 'interrupted', 'error', 'blocked')),
        error TEXT,
        prompt_tokens INTEGER,
        output_tokens INTEGER,
        thought_tokens INTEGER,
        cached INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        first_token_ms INTEGER,
        duration_ms INTEGER,
        writer TEXT,
        parent_id INTEGER REFERENCES messages(id) ON DELETE CASCADE,
        thoughts TEXT,
        grounding TEXT,
        cost_nanos INTEGER,
        saved_nanos INTEGER,
        priced_as TEXT,
        batch_priced INTEGER NOT NULL DEFAULT 0
    );
    INSERT INTO new_messages (id, conversation_id, role, text, model, status, error, prompt_tokens, output_tokens,
            thought_tokens, cached, created_at, first_token_ms, duration_ms, writer, parent_id, thoughts, grounding,
            cost_nanos, saved_nanos, priced_as, batch_priced)
        SELECT id, conversation_id, role, text, model, status, error, prompt_tokens, output_tokens,
            thought_tokens, cached, created_at, first_token_ms, duration_ms, writer, parent_id, thoughts, grounding,
            cost_nanos, saved_nanos, priced_as, batch_priced FROM messages;
    DROP TABLE messages;
    DROP TABLE conversations;
    ALTER TABLE new_conversations RENAME TO conversations;
    ALTER TABLE new_messages RENAME TO messages;
    CREATE INDEX conversations_by_update ON conversations(updated_at DESC, id DESC);
    CREATE INDEX messages_by_conversation ON messages(conversation_id, id);
    CREATE INDEX messages_streaming ON messages(status) WHERE status = 'streaming';
    CREATE INDEX messages_by_parent ON messages(parent_id);
    CREATE INDEX messages_tree ON messages(conversation_id, parent_id);
    CREATE INDEX messages_spent_by_time ON messages(created_at) WHERE role = 'model';
    CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.status != 'streaming' BEGIN
        INSERT INTO messages_fts(rowid, text) VALUES (new.id, substr(new.text, 1, 1048576));
    END;
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.status != 'streaming' BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, substr(old.text, 1, 1048576));
    END;
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF text, status ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, text)
            SELECT 'delete', old.id, substr(old.text, 1, 1048576) WHERE old.status != 'streaming';
        INSERT INTO messages_fts(rowid, text)
            SELECT new.id, substr(new.text, 1, 1048576) WHERE new.status != 'streaming';
    END;
    CREATE TRIGGER titles_fts_insert AFTER INSERT ON conversations BEGIN
        INSERT INTO titles_fts(rowid, title) VALUES (new.id, new.title);
    END;
    CREATE TRIGGER titles_fts_delete AFTER DELETE ON conversations BEGIN
        INSERT INTO titles_fts(titles_fts, rowid, title) VALUES ('delete', old.id, old.title);
    END;
    CREATE TRIGGER titles_fts_update AFTER UPDATE OF title ON conversations BEGIN
        INSERT INTO titles_fts(titles_fts, rowid, title) VALUES ('delete', old.id, old.title);
        INSERT INTO titles_fts(rowid, title) VALUES (new.id, new.title);
    END;",
    // 16: the spending ledger, apart from the history (deleting a conversation refunds nothing;
    // `--no-save` answers are counted): money and tokens, never text. Every answer priced so far
    // is copied into it once. Budget reservations: the worst case of each request in flight, so
    // processes sharing a database share one budget. A reservation belongs to a live process
    // (`owner`: its writer lock) or, once handed over, to remote jobs not yet finished
    // (`reservation_jobs`); either way it lapses at `expires_at`.
    "CREATE TABLE spend_ledger (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        model TEXT NOT NULL,
        priced_as TEXT,
        cost_nanos INTEGER,
        prompt_tokens INTEGER,
        output_tokens INTEGER,
        thought_tokens INTEGER,
        batch_priced INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX spend_ledger_by_time ON spend_ledger(at);
    INSERT INTO spend_ledger (at, model, priced_as, cost_nanos, prompt_tokens, output_tokens, thought_tokens, batch_priced)
        SELECT created_at, coalesce(model, ''), priced_as, cost_nanos, prompt_tokens, output_tokens, thought_tokens, batch_priced
        FROM messages
        WHERE role = 'model' AND cached = 0 AND (cost_nanos IS NOT NULL OR prompt_tokens IS NOT NULL)
        ORDER BY id;
    CREATE TABLE budget_reservations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        owner TEXT,
        amount_nanos INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    );
    CREATE TABLE reservation_jobs (
        reservation_id INTEGER NOT NULL REFERENCES budget_reservations(id) ON DELETE CASCADE,
        job_id INTEGER NOT NULL,
        PRIMARY KEY (reservation_id, job_id)
    ) WITHOUT ROWID;",
    // 17: a failure is stored as data, its kind (`error_data::ErrorKind`'s name) and its detail
    // (JSON), and worded by the front end that shows it. The old sentence columns (`messages.error`,
    // `job_lines.error_message`, `jobs.error`) keep what earlier versions wrote, shown as it is.
    "ALTER TABLE messages ADD COLUMN error_kind TEXT;
    ALTER TABLE messages ADD COLUMN error_detail TEXT;
    ALTER TABLE job_lines ADD COLUMN error_detail TEXT;
    ALTER TABLE jobs ADD COLUMN error_kind TEXT;
    ALTER TABLE jobs ADD COLUMN error_detail TEXT;",
    concat!(
        // 18, in three parts (one release). The tool calls of an answer, in order, each saved
        // before it runs (its provider id and signature exactly as they came, and where in the
        // answer's text its round ended), its result the moment it returns. A reopened conversation sends them back as the model saw them.
        "CREATE TABLE tool_calls (
            id INTEGER PRIMARY KEY,
            message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            round INTEGER NOT NULL,
            position INTEGER NOT NULL,
            call_id TEXT NOT NULL,
            wire_id TEXT,
            server TEXT,
            name TEXT NOT NULL,
            arguments TEXT NOT NULL,
            signature TEXT,
            text_offset INTEGER NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            result TEXT,
            error_kind TEXT,
            error_detail TEXT,
            created_at INTEGER NOT NULL,
            finished_at INTEGER,
            UNIQUE (message_id, position)
        );
        CREATE INDEX tool_calls_name ON tool_calls(name);
        CREATE TABLE tool_call_media (
            tool_call_id INTEGER NOT NULL REFERENCES tool_calls(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            mime TEXT NOT NULL,
            data BLOB NOT NULL,
            PRIMARY KEY (tool_call_id, position)
        ) WITHOUT ROWID;",
        // `geminal serve` saves each client's conversations under the client key's name.
        "ALTER TABLE conversations ADD COLUMN client TEXT;
        CREATE INDEX conversations_by_client ON conversations(client, updated_at DESC) WHERE client IS NOT NULL;",
        // A group commit indexes for search once, at its end. FTS5 writes the terms it holds to
        // disk as a new segment whenever a statement inside a transaction starts (a statement
        // savepoint), so indexing each saved message as it was written cost a segment, and its
        // merging, per message. While `fts_deferred` holds a row (only ever inside a group's
        // transaction: `Store::begin_group` adds it, `end_group` indexes what `fts_queue` lists and
        // empties both before the commit) the triggers list what is to be indexed instead (kind 0:
        // a message, 1: a conversation's title); anything listed is not in the index yet, so a change
        // of it removes nothing from the index. Outside a group the triggers index at once, as before.
        "CREATE TABLE fts_deferred (id INTEGER PRIMARY KEY);
        CREATE TABLE fts_queue (kind INTEGER NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (kind, id)) WITHOUT ROWID;
        DROP TRIGGER messages_fts_insert;
        DROP TRIGGER messages_fts_delete;
        DROP TRIGGER messages_fts_update;
        DROP TRIGGER titles_fts_insert;
        DROP TRIGGER titles_fts_delete;
        DROP TRIGGER titles_fts_update;
        CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages
            WHEN new.status != 'streaming' AND NOT EXISTS (SELECT 1 FROM fts_deferred) BEGIN
            INSERT INTO messages_fts(rowid, text) VALUES (new.id, substr(new.text, 1, 1048576));
        END;
        CREATE TRIGGER messages_fts_insert_later AFTER INSERT ON messages
            WHEN new.status != 'streaming' AND EXISTS (SELECT 1 FROM fts_deferred) BEGIN
            INSERT OR IGNORE INTO fts_queue (kind, id) VALUES (0, new.id);
        END;
        CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.status != 'streaming' BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, text)
                SELECT 'delete', old.id, substr(old.text, 1, 1048576)
                WHERE NOT EXISTS (SELECT 1 FROM fts_queue WHERE kind = 0 AND id = old.id);
            DELETE FROM fts_queue WHERE kind = 0 AND id = old.id;
        END;
        CREATE TRIGGER messages_fts_update AFTER UPDATE OF text, status ON messages BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, text)
                SELECT 'delete', old.id, substr(old.text, 1, 1048576)
                WHERE old.status != 'streaming' AND NOT EXISTS (SELECT 1 FROM fts_queue WHERE kind = 0 AND id = old.id);
            DELETE FROM fts_queue WHERE kind = 0 AND id = old.id;
            INSERT INTO messages_fts(rowid, text)
                SELECT new.id, substr(new.text, 1, 1048576)
                WHERE new.status != 'streaming' AND NOT EXISTS (SELECT 1 FROM fts_deferred);
            INSERT OR IGNORE INTO fts_queue (kind, id)
                SELECT 0, new.id WHERE new.status != 'streaming' AND EXISTS (SELECT 1 FROM fts_deferred);
        END;
        CREATE TRIGGER titles_fts_insert AFTER INSERT ON conversations WHEN NOT EXISTS (SELECT 1 FROM fts_deferred) BEGIN
            INSERT INTO titles_fts(rowid, title) VALUES (new.id, new.title);
        END;
        CREATE TRIGGER titles_fts_insert_later AFTER INSERT ON conversations WHEN EXISTS (SELECT 1 FROM fts_deferred) BEGIN
            INSERT OR IGNORE INTO fts_queue (kind, id) VALUES (1, new.id);
        END;
        CREATE TRIGGER titles_fts_delete AFTER DELETE ON conversations BEGIN
            INSERT INTO titles_fts(titles_fts, rowid, title)
                SELECT 'delete', old.id, old.title WHERE NOT EXISTS (SELECT 1 FROM fts_queue WHERE kind = 1 AND id = old.id);
            DELETE FROM fts_queue WHERE kind = 1 AND id = old.id;
        END;
        CREATE TRIGGER titles_fts_update AFTER UPDATE OF title ON conversations BEGIN
            INSERT INTO titles_fts(titles_fts, rowid, title)
                SELECT 'delete', old.id, old.title WHERE NOT EXISTS (SELECT 1 FROM fts_queue WHERE kind = 1 AND id = old.id);
            DELETE FROM fts_queue WHERE kind = 1 AND id = old.id;
            INSERT INTO titles_fts(rowid, title) SELECT new.id, new.title WHERE NOT EXISTS (SELECT 1 FROM fts_deferred);
            INSERT OR IGNORE INTO fts_queue (kind, id) SELECT 1, new.id WHERE EXISTS (SELECT 1 FROM fts_deferred);
        END;"
    ),
];

/// Starts deferring a group's search indexing (see migration 18); inside its transaction.
pub(crate) const DEFER_INDEXING: &str = "INSERT OR IGNORE INTO fts_deferred (id) VALUES (1)";

/// Indexes what a group deferred and stops deferring (see migration 18); before its commit.
pub(crate) const INDEX_DEFERRED: &[&str] = &[
    "INSERT INTO messages_fts(rowid, text)
        SELECT m.id, substr(m.text, 1, 1048576) FROM fts_queue q JOIN messages m ON m.id = q.id WHERE q.kind = 0",
    "INSERT INTO titles_fts(rowid, title)
        SELECT c.id, c.title FROM fts_queue q JOIN conversations c ON c.id = q.id WHERE q.kind = 1",
    "DELETE FROM fts_queue",
    "DELETE FROM fts_deferred",
];

/// Migrations that rebuild a table other tables point at (see 15): they run with foreign keys
/// off, as SQLite's own recipe for changing a table asks (dropping the old table would
/// otherwise delete, in cascade, every row that points at it), and are checked before commit.
const REBUILDS: &[usize] = &[15];

pub fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}

pub fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Applies every pending migration in one IMMEDIATE transaction: all or nothing. When one of
/// them rebuilds a table ([`REBUILDS`]), foreign keys are off meanwhile (a pragma that cannot
/// change inside a transaction) and every reference is checked before the commit.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let current = user_version(conn)?;
    let rebuilds = REBUILDS.iter().any(|v| (*v as i64) > current);
    let enforced: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    if rebuilds && enforced {
        conn.pragma_update(None, "foreign_keys", false)?;
    }
    let migrated = (|| {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current = user_version(&tx)?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current.max(0) as usize) {
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        }
        if rebuilds {
            let broken: Option<String> = tx.query_row("PRAGMA foreign_key_check", [], |r| r.get(0)).optional()?;
            if let Some(table) = broken {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT),
                    Some(format!("a row of {table} points at a row that does not exist")),
                ));
            }
        }
        tx.commit()
    })();
    if rebuilds && enforced {
        conn.pragma_update(None, "foreign_keys", true)?;
    }
    migrated
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_from_empty_and_are_idempotent() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(user_version(&conn).unwrap(), latest_version());
        migrate(&mut conn).unwrap();
        assert_eq!(user_version(&conn).unwrap(), latest_version());
        let ok: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(ok, "ok");
    }

    #[test]
    fn the_search_index_follows_messages_through_streaming_and_deletion() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        conn.execute_batch(
            "INSERT INTO conversations (id, title, model, created_at, updated_at) VALUES (1, 't', 'm', 0, 0);
             INSERT INTO messages (id, conversation_id, role, text, status, created_at) VALUES (1, 1, 'model', 'alpha', 'streaming', 0);",
        )
        .unwrap();
        let hits = |conn: &Connection, q: &str| -> i64 {
            conn.query_row("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH ?1", [q], |r| r.get(0)).unwrap()
        };
        assert_eq!(hits(&conn, "alpha"), 0, "not indexed while streaming");
        conn.execute("UPDATE messages SET text = 'alpha beta' WHERE id = 1", []).unwrap();
        assert_eq!(hits(&conn, "beta"), 0);
        conn.execute("UPDATE messages SET status = 'interrupted' WHERE id = 1", []).unwrap();
        assert_eq!(hits(&conn, "beta"), 1, "indexed once it stops");
        conn.execute("UPDATE messages SET text = 'gamma' WHERE id = 1", []).unwrap();
        assert_eq!((hits(&conn, "beta"), hits(&conn, "gamma")), (0, 1));
        conn.execute("DELETE FROM messages WHERE id = 1", []).unwrap();
        assert_eq!(hits(&conn, "gamma"), 0);
        conn.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')", []).unwrap();
    }

    /// How many messages the search index finds for `q`.
    fn indexed(conn: &Connection, q: &str) -> i64 {
        conn.query_row("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH ?1", [q], |r| r.get(0)).unwrap()
    }

    /// Message 1, of conversation 1, saying `text`.
    fn one_message(conn: &Connection, text: &str) {
        conn.execute_batch(
            "INSERT INTO conversations (id, title, model, created_at, updated_at) VALUES (1, 't', 'm', 0, 0);",
        )
        .unwrap();
        conn.execute(
            "INSERT INTO messages (id, conversation_id, role, text, status, created_at) VALUES (1, 1, 'user', ?1, 'complete', 0)",
            [text],
        )
        .unwrap();
    }

    #[test]
    fn only_the_start_of_a_huge_message_is_indexed_and_the_index_stays_consistent() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let cap = crate::store::search::INDEXED_CHARS;
        // Multi-byte characters: the cap counts characters, as substr does.
        let filler = "é ".repeat((cap - 12) / 2);
        let text = format!("early {filler}edges beyond");
        assert!(text.chars().count() > cap && text.chars().take(cap).collect::<String>().ends_with("edges "));
        one_message(&conn, &text);
        assert_eq!((indexed(&conn, "early"), indexed(&conn, "edges"), indexed(&conn, "beyond")), (1, 1, 0));
        conn.execute("UPDATE messages SET text = ?1 || ' later' WHERE id = 1", [&text]).unwrap();
        assert_eq!((indexed(&conn, "early"), indexed(&conn, "later")), (1, 0));
        conn.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')", []).unwrap();
        conn.execute("DELETE FROM messages WHERE id = 1", []).unwrap();
        assert_eq!(indexed(&conn, "early"), 0, "a deleted huge message leaves nothing in the index");
        conn.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')", []).unwrap();
        let ok: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(ok, "ok");
    }

    #[test]
    fn migrating_re_indexes_a_huge_message_with_its_start() {
        let mut conn = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..6] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 6).unwrap();
        one_message(&conn, &format!("early {} beyond", "x ".repeat(crate::store::search::INDEXED_CHARS / 2)));
        assert_eq!(indexed(&conn, "beyond"), 1, "before: the whole text");
        migrate(&mut conn).unwrap();
        assert_eq!((indexed(&conn, "early"), indexed(&conn, "beyond")), (1, 0));
        conn.execute("DELETE FROM messages WHERE id = 1", []).unwrap();
        assert_eq!(indexed(&conn, "early"), 0);
        conn.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')", []).unwrap();
    }

    #[test]
    fn the_title_index_is_written_only_when_a_title_changes() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        conn.execute_batch(
            "INSERT INTO conversations (id, title, model, created_at, updated_at) VALUES (1, 'birds', 'm', 0, 0);",
        )
        .unwrap();
        let before = conn.total_changes();
        conn.execute("UPDATE conversations SET updated_at = 5 WHERE id = 1", []).unwrap();
        assert_eq!(conn.total_changes() - before, 1, "a new message touches updated_at, not the index");
        conn.execute("UPDATE conversations SET title = 'otters' WHERE id = 1", []).unwrap();
        let hits = |q: &str| -> i64 {
            conn.query_row("SELECT count(*) FROM titles_fts WHERE titles_fts MATCH ?1", [q], |r| r.get(0)).unwrap()
        };
        assert_eq!((hits("birds"), hits("otters")), (0, 1));
        conn.execute("INSERT INTO titles_fts(titles_fts) VALUES ('integrity-check')", []).unwrap();
    }

    /// Rows of a search index's own data table (its segments' pages, structure and totals).
    fn index_rows(conn: &Connection, index: &str) -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM {index}_data"), [], |r| r.get(0)).unwrap()
    }

    /// Twenty conversations of a prompt and an answer each, written in one transaction one
    /// statement at a time as a group commit writes them; indexed at the end when `deferred`.
    fn twenty_in_one_transaction(conn: &Connection, deferred: bool) {
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        if deferred {
            conn.execute(DEFER_INDEXING, []).unwrap();
        }
        for i in 0..20 {
            conn.execute(
                "INSERT INTO conversations (id, title, model, created_at, updated_at) VALUES (?1, ?2, 'm', 0, 0)",
                rusqlite::params![i + 1, format!("birds {i}")],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO messages (conversation_id, role, text, status, created_at) VALUES (?1, 'user', ?2, 'complete', 0)",
                rusqlite::params![i + 1, format!("why do birds migrate {i}")],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO messages (conversation_id, role, text, status, created_at) VALUES (?1, 'model', '', 'streaming', 0)",
                [i + 1],
            )
            .unwrap();
            let answer = conn.last_insert_rowid();
            conn.execute(
                "UPDATE messages SET text = ?2, status = 'complete' WHERE id = ?1",
                rusqlite::params![answer, format!("to find food, answer {i}")],
            )
            .unwrap();
        }
        if deferred {
            for sql in INDEX_DEFERRED {
                conn.execute(sql, []).unwrap();
            }
        }
        conn.execute_batch("COMMIT").unwrap();
    }

    /// FTS5 writes a segment at every statement of a transaction that follows an indexed write:
    /// indexed as written, twenty saved answers made dozens of segments (and their merges);
    /// deferred to the group's end, one, with the same search results.
    #[test]
    fn a_group_indexes_its_messages_and_titles_once_at_its_end() {
        let mut counts = Vec::new();
        for deferred in [false, true] {
            let mut conn = Connection::open_in_memory().unwrap();
            migrate(&mut conn).unwrap();
            twenty_in_one_transaction(&conn, deferred);
            assert_eq!((indexed(&conn, "birds"), indexed(&conn, "food"), indexed(&conn, "answer")), (20, 20, 20));
            let titles: i64 = conn
                .query_row("SELECT count(*) FROM titles_fts WHERE titles_fts MATCH 'birds'", [], |r| r.get(0))
                .unwrap();
            assert_eq!(titles, 20);
            conn.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')", []).unwrap();
            conn.execute("INSERT INTO titles_fts(titles_fts) VALUES ('integrity-check')", []).unwrap();
            let left: i64 = conn
                .query_row("SELECT (SELECT count(*) FROM fts_queue) + (SELECT count(*) FROM fts_deferred)", [], |r| {
                    r.get(0)
                })
                .unwrap();
            assert_eq!(left, 0);
            counts.push((index_rows(&conn, "messages_fts"), index_rows(&conn, "titles_fts")));
        }
        // A segment of this size is one page; with the totals and the structure rows: 3.
        assert_eq!(counts[1], (3, 3), "deferred: one segment each");
        assert!(counts[0].0 > 3 && counts[0].1 > 3, "as written: many segments ({counts:?})");
    }

    /// Inside a group, changes to what is not indexed yet and to what already is both leave the
    /// index as the rows say.
    #[test]
    fn edits_and_deletions_inside_a_group_keep_the_index_consistent() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        one_message(&conn, "indexed before the group");
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        conn.execute(DEFER_INDEXING, []).unwrap();
        conn.execute_batch(
            "INSERT INTO conversations (id, title, model, created_at, updated_at) VALUES (2, 'otters', 'm', 0, 0);
             INSERT INTO messages (id, conversation_id, role, text, status, created_at) VALUES (2, 2, 'user', 'queued alpha', 'complete', 0);
             INSERT INTO messages (id, conversation_id, role, text, status, created_at) VALUES (3, 2, 'user', 'queued gone', 'complete', 0);
             UPDATE messages SET text = 'queued beta' WHERE id = 2;
             DELETE FROM messages WHERE id = 3;
             UPDATE messages SET text = 'edited in the group' WHERE id = 1;
             UPDATE conversations SET title = 'seals' WHERE id = 2;
             UPDATE conversations SET title = 'renamed' WHERE id = 1;
             UPDATE messages SET status = 'streaming' WHERE id = 2;
             UPDATE messages SET status = 'complete' WHERE id = 2;",
        )
        .unwrap();
        for sql in INDEX_DEFERRED {
            conn.execute(sql, []).unwrap();
        }
        conn.execute_batch("COMMIT").unwrap();
        let found: Vec<i64> = ["before", "edited", "alpha", "beta", "gone"].iter().map(|q| indexed(&conn, q)).collect();
        assert_eq!(found, [0, 1, 0, 1, 0]);
        let title = |q: &str| -> i64 {
            conn.query_row("SELECT count(*) FROM titles_fts WHERE titles_fts MATCH ?1", [q], |r| r.get(0)).unwrap()
        };
        assert_eq!((title("otters"), title("seals"), title("t"), title("renamed")), (0, 1, 0, 1));
        conn.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')", []).unwrap();
        conn.execute("INSERT INTO titles_fts(titles_fts) VALUES ('integrity-check')", []).unwrap();
    }

    #[test]
    fn every_prefix_of_the_migrations_is_a_valid_schema() {
        for upto in 0..=MIGRATIONS.len() {
            let conn = Connection::open_in_memory().unwrap();
            // As `migrate` runs them: a table rebuild needs foreign keys off (on by default here).
            conn.pragma_update(None, "foreign_keys", false).unwrap();
            for sql in &MIGRATIONS[..upto] {
                conn.execute_batch(sql).unwrap();
            }
        }
    }
}
