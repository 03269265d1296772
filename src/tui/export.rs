//! `/export` as the interface does it: a conversation written to a file the user names, or
//! to one named after it (the formats are [`crate::export`]'s).

/// Writes a conversation for `/export`: JSON when the file name ends in `.json`, else Markdown,
/// to `file` (a leading `~/` is the home directory) or to `geminal-<id>-<title>.md` in the
/// current directory. An existing file is never replaced. Returns the sentence for the tab.
pub(super) fn export_to_file(
    conversation: &crate::store::Conversation,
    shown: &[crate::store::StoredMessage],
    all: &[crate::store::StoredMessage],
    file: Option<&str>,
) -> Result<String, String> {
    use std::path::PathBuf;
    let path = match file.map(str::trim) {
        Some(name) => match (name.strip_prefix("~/"), std::env::var_os("HOME")) {
            (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
            _ => PathBuf::from(name),
        },
        None => PathBuf::from(default_export_name(conversation.id, &conversation.title)),
    };
    let json = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let text =
        if json { crate::export::json(conversation, shown, all) } else { crate::export::markdown(conversation, shown) };
    let shown_path = std::path::absolute(&path).unwrap_or_else(|_| path.clone());
    let shown_path = crate::sanitize::one_line(&shown_path.display().to_string(), 120);
    crate::export::write_private(&path, &text, false).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => {
            format!("{shown_path} already exists: give /export another file name.")
        }
        kind => format!("Could not write {shown_path} ({kind}): check the path and free space."),
    })?;
    Ok(format!("Exported {} message{} to {shown_path}.", shown.len(), if shown.len() == 1 { "" } else { "s" }))
}

/// `geminal-42-why-do-birds-migrate.md`: the id and up to 40 characters of the title.
fn default_export_name(id: i64, title: &str) -> String {
    let mut slug = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
        if slug.chars().count() >= 40 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() { format!("geminal-{id}.md") } else { format!("geminal-{id}-{slug}.md") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_export_is_named_after_its_conversation() {
        assert_eq!(default_export_name(42, "Why do birds migrate?"), "geminal-42-why-do-birds-migrate.md");
        assert_eq!(default_export_name(7, "../../etc/passwd"), "geminal-7-etc-passwd.md");
        assert_eq!(default_export_name(3, "🦀🦀"), "geminal-3.md");
        assert_eq!(default_export_name(1, "Café: crème brûlée"), "geminal-1-café-crème-brûlée.md");
    }
}
