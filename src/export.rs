//! Conversations written out as Markdown or JSON: `history export` and the interface's
//! `/export` give the same text, and write it to a private file that replaces nothing unasked.
//! The Markdown links only http(s) addresses: a link or image of the model's (or a source) to
//! anything else (`javascript:`, `data:`, `file:`) is written as its text alone.

use crate::chat::Role;
use crate::format::date;
use crate::grounding::{Grounding, Marker, annotate};
use crate::store::{Conversation, StoredMessage};

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
            None => out.push_str(&format!("{}\n", web_links_only(&m.text).trim_end())),
        }
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
