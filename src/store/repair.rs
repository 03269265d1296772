//! `history repair`: checks a database thoroughly (SQLite's `integrity_check`, then every row
//! of every table read as geminal reads it), and if anything is damaged, builds a new database
//! from every row that can still be read, keeping the damaged file aside as `.corrupt-<time>`.
//! Rows are read one at a time by id, so a damaged page loses only the rows on it.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use rusqlite::config::DbConfig;
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params_from_iter};

use super::conversations::{CONVERSATION_COLUMNS, MESSAGE_COLUMNS, conversation_from_row, message_from_row};
use super::writer_lock::WriterLock;
use super::{BUSY_TIMEOUT, Store, StoreError, damage, make_private, move_aside, schema, side_file};

/// What `history repair` found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repair {
    /// Nothing is damaged; nothing was changed.
    Healthy { conversations: usize, messages: usize },
    /// A new database holds what could be read; the damaged file is kept as `kept_as`.
    Rebuilt { conversations: usize, messages: usize, lost_conversations: usize, lost_messages: usize, kept_as: PathBuf },
}

/// Rows read (and, when rebuilding, written) and rows that could not be.
#[derive(Debug, Default)]
struct Salvage {
    conversations: usize,
    messages: usize,
    lost_conversations: usize,
    lost_messages: usize,
}

/// The tables copied row by row id, parents first; the FTS indexes are rebuilt by the new
/// database's triggers.
const TABLES: [&str; 6] = ["conversations", "messages", "answer_cache", "request_metrics", "open_tabs", "jobs"];

/// Tables without row ids, copied by one scan in key order after [`TABLES`], parents first. A row
/// the new database's constraints refuse (its message was lost) is left out.
const KEYED_TABLES: [&str; 3] = ["attachments", "message_attachments", "job_lines"];

impl Store {
    /// Checks the database at `path` and rebuilds it if anything is damaged. No geminal may be
    /// using it meanwhile.
    pub fn repair(path: &Path) -> Result<Repair, StoreError> {
        if !path.is_file() {
            return Err(StoreError::Io { path: path.to_owned(), reason: "there is no such file".to_owned() });
        }
        if WriterLock::any_alive(path) {
            return Err(StoreError::Locked { path: path.to_owned(), holders: "another geminal".to_owned() });
        }
        let damaged = open_for_salvage(path).map_err(|e| StoreError::from_sqlite(path, e))?;
        let version = schema::user_version(&damaged).unwrap_or(0);
        if version > schema::latest_version() {
            return Err(StoreError::TooNew {
                path: path.to_owned(),
                found: version,
                supported: schema::latest_version(),
            });
        }
        let check = salvage(&damaged, version, None)?;
        if integrity_ok(&damaged) && check.lost_conversations == 0 && check.lost_messages == 0 {
            damage::clear_marker(path);
            return Ok(Repair::Healthy { conversations: check.conversations, messages: check.messages });
        }

        let mut name = std::ffi::OsString::from(".");
        name.push(path.file_name().unwrap_or_default());
        name.push(format!(".repair-{}", std::process::id()));
        let fresh_path = path.with_file_name(name);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(side_file(&fresh_path, suffix));
        }
        let (mut fresh, _) = Store::open(&fresh_path)?;
        let tx = fresh.conn.transaction().map_err(|e| StoreError::from_sqlite(&fresh_path, e))?;
        let saved = salvage(&damaged, version, Some((&tx, &fresh_path)))?;
        tx.commit().map_err(|e| StoreError::from_sqlite(&fresh_path, e))?;
        drop(fresh);
        drop(damaged);
        // Closing without a checkpoint leaves the WAL files; empty, they hold nothing worth keeping.
        if std::fs::metadata(side_file(path, "-wal")).is_ok_and(|m| m.len() == 0) {
            let _ = std::fs::remove_file(side_file(path, "-wal"));
            let _ = std::fs::remove_file(side_file(path, "-shm"));
        }

        // The damaged file stays private where it is kept, like the database it was.
        make_private(path).map_err(|e| StoreError::io(path, &e))?;
        let kept_as = move_aside(path)?;
        for suffix in ["", "-wal", "-shm"] {
            let from = side_file(&fresh_path, suffix);
            if Path::new(&from).exists() {
                std::fs::rename(&from, side_file(path, suffix)).map_err(|e| StoreError::io(path, &e))?;
            }
        }
        damage::clear_marker(path);
        Ok(Repair::Rebuilt {
            conversations: saved.conversations,
            messages: saved.messages,
            lost_conversations: saved.lost_conversations,
            lost_messages: saved.lost_messages,
            kept_as,
        })
    }
}

/// A connection that reads the damaged file and never writes to it, not even at close.
fn open_for_salvage(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
    conn.pragma_update(None, "query_only", true)?;
    Ok(conn)
}

fn integrity_ok(conn: &Connection) -> bool {
    let rows = conn
        .prepare("PRAGMA integrity_check")
        .and_then(|mut stmt| stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>());
    matches!(rows.as_deref(), Ok([ok]) if ok == "ok")
}

/// Reads every row of every table by id; with `into`, writes each readable one there.
fn salvage(from: &Connection, version: i64, into: Option<(&Connection, &Path)>) -> Result<Salvage, StoreError> {
    let (into, target) = (into.map(|(c, _)| c), into.map_or(Path::new(""), |(_, p)| p));
    let mut found = Salvage::default();
    let strict = version == schema::latest_version();
    let mut conversations = HashSet::new();
    // The newest message kept in each conversation: the parent of a message whose own was lost.
    let mut last_kept: HashMap<i64, i64> = HashMap::new();
    let mut kept_messages = HashSet::new();
    for table in TABLES {
        let columns = common_columns(from, into, table);
        if columns.is_empty() {
            continue;
        }
        let read = format!("SELECT {} FROM {table} WHERE rowid = ?1", columns.join(", "));
        let write =
            format!("INSERT INTO {table} ({}) VALUES ({})", columns.join(", "), vec!["?"; columns.len()].join(", "));
        let at = |name: &str| columns.iter().position(|c| c == name);
        for id in 0..=max_rowid(from, table) {
            let row = match read_row(from, &read, id) {
                Ok(Some(row)) if !strict || strictly_readable(from, table, id) => row,
                Ok(None) => continue,
                _ => {
                    match table {
                        "conversations" => found.lost_conversations += 1,
                        "messages" => found.lost_messages += 1,
                        _ => {}
                    }
                    continue;
                }
            };
            let mut row = row;
            if table == "messages" {
                let conversation = at("conversation_id").and_then(|i| as_int(&row[i]));
                let Some(conversation) = conversation else {
                    found.lost_messages += 1;
                    continue;
                };
                if !conversations.contains(&conversation) {
                    // Its conversation could not be read: start one for it.
                    if let Some(into) = into {
                        let model = at("model").map(|i| row[i].clone()).filter(|v| *v != Value::Null);
                        let created = at("created_at").map(|i| row[i].clone()).unwrap_or(Value::Integer(0));
                        into.execute(
                            "INSERT INTO conversations (id, title, model, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
                            rusqlite::params![
                                conversation,
                                format!("Recovered conversation {conversation}"),
                                model.unwrap_or(Value::Text("unknown".to_owned())),
                                created
                            ],
                        )
                        .map_err(|e| StoreError::from_sqlite(target, e))?;
                    }
                    conversations.insert(conversation);
                    found.conversations += 1;
                }
                if let Some(i) = at("parent_id")
                    && let Some(parent) = as_int(&row[i])
                    && !kept_messages.contains(&parent)
                {
                    row[i] = last_kept.get(&conversation).map_or(Value::Null, |p| Value::Integer(*p));
                }
                if let Some(i) = at("writer") {
                    row[i] = Value::Null;
                }
                if let Some(i) = at("status")
                    && row[i] == Value::Text("streaming".to_owned())
                {
                    row[i] = Value::Text("interrupted".to_owned());
                }
            }
            if let Some(into) = into
                && into.prepare_cached(&write).and_then(|mut stmt| stmt.execute(params_from_iter(row.iter()))).is_err()
            {
                // Damaged values the new database's constraints refuse.
                match table {
                    "conversations" => found.lost_conversations += 1,
                    "messages" => found.lost_messages += 1,
                    _ => {}
                }
                continue;
            }
            match table {
                "conversations" => {
                    conversations.insert(id);
                    found.conversations += 1;
                }
                "messages" => {
                    if let Some(conversation) = at("conversation_id").and_then(|i| as_int(&row[i])) {
                        last_kept.insert(conversation, id);
                    }
                    kept_messages.insert(id);
                    found.messages += 1;
                }
                _ => {}
            }
        }
    }
    for table in KEYED_TABLES {
        let columns = common_columns(from, into, table);
        if !columns.is_empty() {
            copy_by_scan(from, into, table, &columns, &kept_messages)
                .map_err(|e| StoreError::from_sqlite(target, e))?;
        }
    }
    if let Some(into) = into {
        // A conversation every message of which was lost is gone with them: an empty one would
        // list as "0 messages" and open as nothing.
        let emptied = into
            .execute("DELETE FROM conversations WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = conversations.id)", [])
            .map_err(|e| StoreError::from_sqlite(target, e))?;
        found.conversations -= emptied;
        // A conversation whose head was lost shows its newest message kept.
        into.execute_batch(
            "UPDATE conversations SET head_id = (SELECT max(id) FROM messages m WHERE m.conversation_id = conversations.id)
             WHERE head_id IS NULL OR head_id NOT IN (SELECT id FROM messages WHERE conversation_id = conversations.id);",
        )
        .map_err(|e| StoreError::from_sqlite(target, e))?;
    }
    Ok(found)
}

/// Copies the readable rows of `table` (one without row ids) into `into`, in key order, up to the
/// first damaged page, leaving out those of a message that was not kept (one with none is kept) and those the new
/// database's constraints refuse. Only a failure to prepare the copy is an error.
fn copy_by_scan(
    from: &Connection,
    into: Option<&Connection>,
    table: &str,
    columns: &[String],
    kept_messages: &HashSet<i64>,
) -> rusqlite::Result<()> {
    let Some(into) = into else {
        return Ok(());
    };
    let message = columns.iter().position(|c| c == "message_id");
    let mut read = from.prepare(&format!("SELECT {} FROM {table}", columns.join(", ")))?;
    let mut write = into.prepare(&format!(
        "INSERT OR IGNORE INTO {table} ({}) VALUES ({})",
        columns.join(", "),
        vec!["?"; columns.len()].join(", ")
    ))?;
    let mut rows = read.query([])?;
    while let Ok(Some(row)) = rows.next() {
        let Ok(values) = (0..columns.len()).map(|i| row.get::<_, Value>(i)).collect::<rusqlite::Result<Vec<_>>>()
        else {
            continue;
        };
        if let Some(i) = message
            && as_int(&values[i]).is_some_and(|id| !kept_messages.contains(&id))
        {
            continue;
        }
        let _ = write.execute(params_from_iter(values.iter()));
    }
    Ok(())
}

/// The columns `table` has in both databases (only the damaged one's when checking).
fn common_columns(from: &Connection, into: Option<&Connection>, table: &str) -> Vec<String> {
    let names = |conn: &Connection| -> Vec<String> {
        conn.prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .unwrap_or_default()
    };
    let old = names(from);
    match into {
        Some(into) => {
            let new = names(into);
            old.into_iter().filter(|c| new.contains(c)).collect()
        }
        None => old,
    }
}

/// The highest rowid any readable source names (the table's own maximum may sit on a damaged page).
fn max_rowid(conn: &Connection, table: &str) -> i64 {
    let mut queries = vec![format!("SELECT max(rowid) FROM {table}")];
    match table {
        "messages" => queries.push("SELECT max(head_id) FROM conversations".to_owned()),
        "conversations" => queries.push("SELECT max(conversation_id) FROM messages".to_owned()),
        _ => {}
    }
    let mut best = queries
        .iter()
        .filter_map(|q| conn.query_row(q, [], |r| r.get::<_, Option<i64>>(0)).ok().flatten())
        .max()
        .unwrap_or(0);
    // A scan reads in rowid order up to the first damaged page.
    if let Ok(mut stmt) = conn.prepare(&format!("SELECT rowid FROM {table}"))
        && let Ok(mut rows) = stmt.query([])
    {
        while let Ok(Some(row)) = rows.next() {
            best = best.max(row.get(0).unwrap_or(0));
        }
    }
    best
}

/// One row as values, or an error when it cannot be read or holds text that is not UTF-8.
fn read_row(conn: &Connection, sql: &str, id: i64) -> rusqlite::Result<Option<Vec<Value>>> {
    conn.prepare_cached(sql)?
        .query_row([id], |r| {
            (0..r.as_ref().column_count())
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        ValueRef::Text(bytes) => Value::Text(
                            std::str::from_utf8(bytes).map_err(|e| rusqlite::Error::Utf8Error(i, e))?.to_owned(),
                        ),
                        ValueRef::Null => Value::Null,
                        ValueRef::Integer(i) => Value::Integer(i),
                        ValueRef::Real(f) => Value::Real(f),
                        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                    })
                })
                .collect()
        })
        .optional()
}

/// Whether geminal itself can read the row (its roles, statuses and types), not just SQLite.
fn strictly_readable(conn: &Connection, table: &str, id: i64) -> bool {
    let query = match table {
        "conversations" => format!("SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = ?1"),
        "messages" => format!("SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.id = ?1"),
        _ => return true,
    };
    let Ok(mut stmt) = conn.prepare_cached(&query) else {
        return false;
    };
    match table {
        "conversations" => stmt.query_row([id], conversation_from_row).is_ok(),
        _ => stmt.query_row([id], message_from_row).is_ok(),
    }
}

fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Integer(i) => Some(*i),
        _ => None,
    }
}
