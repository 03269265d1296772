//! Conversations written out as Markdown or JSON: `history export` and the interface's
//! `/export` give the same text, and write it to a private file that replaces nothing unasked.
//! The Markdown links only http(s) addresses: a link or image of the model's (or a source) to
//! anything else (`javascript:`, `data:`, `file:`) is written as its text alone.

use crate::chat::Role;
use crate::format::date;
use crate::grounding::{Grounding, Marker, annotate};
use crate::store::{Conversation, StoredMessage, StoredToolCall};

/// " (2 of 3)" for a message with alternatives, " (interrupted)" and the like for its status.
pub fn status_note(m: &StoredMessage) -> String {
    let mut note = String::new();
    if m.alternatives.count > 1 {
        note.push_str(&format!(" ({} of {})", m.alternatives.index, m.alternatives.count));
    }
    if let Some(label) = crate::format::status_label(m.status, m.cached) {
        note.push_str(&format!(" ({label})"));
    }
    note
}

/// The branch shown, as Markdown: a title, the model and date, then each message under a heading
/// (an answer's thoughts folded in a details block above it).
pub fn markdown(c: &Conversation, messages: &[StoredMessage]) -> String {
    markdown_with_tools(c, messages, &[])
}

/// [`markdown`] with each answer's tool calls (of `calls`) in place: after the text of the
/// round that asked for them, the call and its result as JSON blocks.
pub fn markdown_with_tools(c: &Conversation, messages: &[StoredMessage], calls: &[StoredToolCall]) -> String {
    let role = c.role.as_deref().map(|r| format!(" · role {r}")).unwrap_or_default();
    let mut out = format!("# {}\n\n*{} · {}{role}*\n", c.title, c.model, date(c.created_at));
    if let Some(system) = &c.system_prompt {
        out.push_str(&format!("\n> System: {system}\n"));
    }
    for m in messages {
        let who = if m.role == Role::User { "You" } else { "Gemini" };
        out.push_str(&format!("\n## {who}{}\n\n", status_note(m)));
        for a in &m.attachments {
            out.push_str(&format!("{}  \n", crate::attach::label(a)));
        }
        if !m.attachments.is_empty() {
            out.push('\n');
        }
        if let Some(thoughts) = m.thoughts.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            let thoughts = web_links_only(thoughts);
            out.push_str(&format!("<details><summary>Thoughts</summary>\n\n{thoughts}\n\n</details>\n\n"));
        }
        match Grounding::from_stored(m.grounding.as_deref()) {
            Some(g) => {
                let annotated = annotate(&m.text, &g, Marker::Plain);
                out.push_str(&format!("{}\n", web_links_only(&annotated).trim_end()));
                if !g.sources.is_empty() {
                    out.push_str(&format!("\n**Sources**\n\n{}", g.markdown_sources()));
                }
            }
            None => {
                let mine: Vec<&StoredToolCall> = calls.iter().filter(|t| t.message_id == m.id).collect();
                let mut from = 0;
                for (at, call) in split_at_calls(&m.text, &mine) {
                    let before = &m.text[from..at];
                    if !before.trim().is_empty() {
                        out.push_str(&format!("{}\n\n", web_links_only(before).trim_end()));
                    }
                    out.push_str(&call_markdown(call));
                    from = at;
                }
                out.push_str(&format!("{}\n", web_links_only(&m.text[from..]).trim_end()));
            }
        }
    }
    out
}

/// Each call with the offset in `text` its round's text ended at (on a character boundary).
pub fn split_at_calls<'a>(text: &str, calls: &[&'a StoredToolCall]) -> Vec<(usize, &'a StoredToolCall)> {
    let mut from = 0;
    calls
        .iter()
        .map(|call| {
            let mut at = (call.call.text_offset.max(0) as usize).clamp(from, text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            from = at;
            (at, *call)
        })
        .collect()
}

/// One call and its result as Markdown: the name, then the arguments and the result in JSON
/// blocks fenced longer than any backtick run inside them.
fn call_markdown(call: &StoredToolCall) -> String {
    let name = match &call.call.server {
        Some(server) => format!("{server}.{}", call.call.name),
        None => call.call.name.clone(),
    };
    let pretty = |text: &str| {
        serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_else(|| text.to_owned())
    };
    let fenced = |text: &str| {
        let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
        let fence = "`".repeat(longest.max(2) + 1);
        format!("{fence}json\n{text}\n{fence}\n")
    };
    let name = name.replace('`', "");
    let mut out = format!("**Tool call** `{name}`\n\n{}\n", fenced(&pretty(&call.call.arguments)));
    match &call.end {
        Some(end) => {
            let result = end.result.as_deref().map(pretty).unwrap_or_default();
            out.push_str(&format!("**Result** ({})\n\n{}\n", end.status.replace('_', " "), fenced(&result)));
        }
        None => out.push_str("**Result**: the call did not return.\n\n"),
    }
    out
}

/// `markdown` with each link and image whose target is not an http(s) address written as its
/// text alone (`[click](javascript:…)` → `click`; an autolink `<javascript:…>` → a code span), so
/// an exported file never carries one. Code and everything else stay as written.
fn web_links_only(markdown: &str) -> std::borrow::Cow<'_, str> {
    use pulldown_cmark::{Event, LinkType, Parser, Tag, TagEnd};
    let mut cuts: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    // The link being dropped: its range, whether it is an autolink, and its text's extent.
    let mut open: Option<(std::ops::Range<usize>, bool, Option<std::ops::Range<usize>>)> = None;
    let mut depth = 0usize;
    for (event, range) in Parser::new(markdown).into_offset_iter() {
        match event {
            Event::Start(Tag::Link { link_type, dest_url, .. } | Tag::Image { link_type, dest_url, .. }) => {
                if open.is_some() {
                    depth += 1;
                } else if !crate::grounding::is_web_link(&dest_url) {
                    open = Some((range, matches!(link_type, LinkType::Autolink | LinkType::Email), None));
                }
            }
            Event::End(TagEnd::Link | TagEnd::Image) if open.is_some() => {
                if depth > 0 {
                    depth -= 1;
                    continue;
                }
                let Some((whole, autolink, inner)) = open.take() else { continue };
                let text = inner.map_or("", |r| &markdown[r]);
                let text = if autolink { format!("`{}`", text.replace('`', "")) } else { text.to_owned() };
                cuts.push((whole, text));
            }
            _ => {
                if let Some((_, _, inner)) = open.as_mut() {
                    *inner = Some(match inner.take() {
                        Some(r) => r.start.min(range.start)..r.end.max(range.end),
                        None => range,
                    });
                }
            }
        }
    }
    if cuts.is_empty() {
        return std::borrow::Cow::Borrowed(markdown);
    }
    let mut out = String::with_capacity(markdown.len());
    let mut from = 0;
    for (range, text) in cuts {
        if range.start < from {
            continue;
        }
        out.push_str(&markdown[from..range.start]);
        out.push_str(&text);
        from = range.end;
    }
    out.push_str(&markdown[from..]);
    std::borrow::Cow::Owned(out)
}

/// `messages` is the branch shown; `all_messages` every message of every branch (regenerated
/// answers, edited prompts and what followed them), linked by `parent_id`.
pub fn json(c: &Conversation, messages: &[StoredMessage], all: &[StoredMessage]) -> String {
    json_with_tools(c, messages, all, &[])
}

/// [`json`] with each answer's tool calls (of `calls`) under `tool_calls`, in order.
pub fn json_with_tools(
    c: &Conversation,
    messages: &[StoredMessage],
    all: &[StoredMessage],
    calls: &[StoredToolCall],
) -> String {
    let as_json = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap_or(serde_json::json!(text));
    let tool_calls = |id: i64| -> Vec<serde_json::Value> {
        calls
            .iter()
            .filter(|t| t.message_id == id)
            .map(|t| {
                let end = t.end.as_ref();
                serde_json::json!({
                    "id": t.call.call_id, "provider_id": t.call.wire_id, "round": t.call.round,
                    "server": t.call.server, "name": t.call.name, "arguments": as_json(&t.call.arguments),
                    "signature": t.call.signature, "text_offset": t.call.text_offset,
                    "status": end.map_or("pending", |e| e.status.as_str()),
                    "result": end.and_then(|e| e.result.as_deref()).map(as_json),
                    "error": end.and_then(|e| e.error_kind.as_ref()).map(|kind| serde_json::json!({
                        "kind": kind, "detail": end.and_then(|e| e.error_detail.as_deref()).map(as_json),
                    })),
                })
            })
            .collect()
    };
    let rows = |messages: &[StoredMessage]| -> Vec<serde_json::Value> {
        messages
            .iter()
            .map(|m| {
                let mut row = serde_json::json!({
                    "id": m.id, "parent_id": m.parent_id, "role": if m.role == Role::User { "user" } else { "model" },
                    "text": m.text, "model": m.model, "status": m.status.as_str(),
                    "error": m.error.as_ref().map(crate::format::stored_sentence),
                    "cached": m.cached, "prompt_tokens": m.prompt_tokens, "output_tokens": m.output_tokens,
                    "thought_tokens": m.thought_tokens, "thoughts": m.thoughts,
                    "created_at": m.created_at,
                    "alternative": { "index": m.alternatives.index, "count": m.alternatives.count },
                    "attachments": m.attachments.iter().map(|a| serde_json::json!({
                        "name": a.name, "mime_type": a.mime, "size": a.size, "sha256": a.sha256,
                    })).collect::<Vec<_>>(),
                });
                // The text stays as the model wrote it; sources and citations (byte offsets
                // into it) beside it.
                if m.role == Role::Model {
                    Grounding::add_json_fields(Grounding::from_stored(m.grounding.as_deref()).as_ref(), &mut row);
                    let tools = tool_calls(m.id);
                    if !tools.is_empty() {
                        row["tool_calls"] = serde_json::Value::Array(tools);
                    }
                }
                row
            })
            .collect()
    };
    let value = serde_json::json!({
        "id": c.id, "title": c.title, "model": c.model, "system_prompt": c.system_prompt,
        "created_at": c.created_at, "updated_at": c.updated_at, "head_id": c.head_id, "role": c.role,
        // As stored (written by `chat::Settings`; parsed here as plain JSON, so 0.8 stays 0.8).
        "settings": c.settings.as_deref().and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok()),
        "messages": rows(messages), "all_messages": rows(all),
    });
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

/// Opens `path` for writing as a private file (0600 whatever the umask): a new one, or (when
/// `replace`) an existing one emptied and made private too (an existing file keeps its mode
/// when opened). Without `replace`, an existing path (a dangling link included) fails with
/// `AlreadyExists`. Used by every command that writes a file of the user's history.
pub fn open_private(path: &std::path::Path, replace: bool) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if replace {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

/// Writes `text` to a new file at `path`, readable and writable only by its owner (0600 whatever
/// the umask): an export holds the conversation, as private as the history it came from. Fails
/// with `AlreadyExists` when `path` exists, unless `replace`: then the text is written beside it
/// first and renamed over it, so the old file is never left half written.
pub fn write_private(path: &std::path::Path, text: &str, replace: bool) -> std::io::Result<()> {
    use std::io::Write;
    let create = |at: &std::path::Path| -> std::io::Result<()> {
        let mut file = open_private(at, false)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()
    };
    if !replace {
        return create(path).inspect_err(|e| {
            // A file we created but could not fill is not an export: leave nothing behind.
            if e.kind() != std::io::ErrorKind::AlreadyExists {
                let _ = std::fs::remove_file(path);
            }
        });
    }
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(name);
    let _ = std::fs::remove_file(&tmp);
    let written = create(&tmp).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::web_links_only;

    #[test]
    fn only_web_links_stay_links() {
        assert_eq!(
            web_links_only("See [the docs](https://example.org/a) and [click **me**](javascript:alert(1)) now."),
            "See [the docs](https://example.org/a) and click **me** now."
        );
        assert_eq!(
            web_links_only("![pic](data:image/png;base64,AAAA) and <javascript:alert(1)>"),
            "pic and `javascript:alert(1)`"
        );
        assert_eq!(web_links_only("[ref][1]\n\n[1]: file:///etc/passwd\n"), "ref\n\n[1]: file:///etc/passwd\n");
        let code = "```md\n[x](javascript:alert(1))\n```\n`[y](data:x)`";
        assert_eq!(web_links_only(code), code, "code stays as written");
        assert!(matches!(web_links_only("[a](http://a.example) <https://b.example>"), std::borrow::Cow::Borrowed(_)));
    }
}
