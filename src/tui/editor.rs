//! Ctrl-X: the prompt in the user's own editor (`$VISUAL`, else `$EDITOR`, else `vi`), as in
//! shells (Ctrl-X Ctrl-E), gemini-cli and aichat. The text goes to a private temporary file, the
//! editor runs on the terminal, and what the file holds when it closes becomes the prompt.

use std::io::Write;
use std::process::Command;

/// The editor command line: `$VISUAL`, else `$EDITOR`, else `vi`. It may carry arguments
/// (`code --wait`), so it is run by the shell, as git does.
pub fn editor_command() -> String {
    editor_from(&|name| std::env::var(name).ok())
}

fn editor_from(var: &dyn Fn(&str) -> Option<String>) -> String {
    ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(|name| var(name))
        .find(|value| !value.trim().is_empty())
        .unwrap_or_else(|| "vi".to_owned())
}

/// Runs `editor` on a file holding `text` and returns the file's text once the editor exits:
/// `Ok(None)` when the editor failed or left an empty file (the prompt stays as it was), with
/// the sentence to show in `Err` when it could not run at all.
pub fn edit(text: &str, editor: &str) -> Result<Option<String>, String> {
    let shown = crate::sanitize::one_line(editor, 40);
    let mut file = tempfile::Builder::new()
        .prefix("geminal-prompt-")
        .suffix(".md")
        .tempfile()
        .map_err(|e| format!("The prompt could not be written to a temporary file ({}).", e.kind()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.flush())
        .map_err(|e| format!("The prompt could not be written to a temporary file ({}).", e.kind()))?;
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$@\""))
        .arg("geminal-editor")
        .arg(file.path())
        .status()
        .map_err(|e| format!("The editor {shown} could not be started ({}): set $VISUAL or $EDITOR.", e.kind()))?;
    if !status.success() {
        // 127: the shell found no such command.
        return match status.code() {
            Some(127) => Err(format!("There is no editor {shown}: set $VISUAL or $EDITOR to one that is installed.")),
            _ => Ok(None),
        };
    }
    let edited =
        std::fs::read(file.path()).map_err(|e| format!("The edited prompt could not be read back ({}).", e.kind()))?;
    let mut edited = String::from_utf8_lossy(&edited).into_owned();
    // Editors end a file with a newline; the prompt does not want it.
    if edited.ends_with('\n') {
        edited.pop();
        if edited.ends_with('\r') {
            edited.pop();
        }
    }
    Ok((!edited.trim().is_empty()).then_some(edited))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visual_wins_over_editor_and_vi_is_the_last_resort() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned())
        };
        assert_eq!(editor_from(&vars(&[("VISUAL", "hx"), ("EDITOR", "nano")])), "hx");
        assert_eq!(editor_from(&vars(&[("VISUAL", " "), ("EDITOR", "code --wait")])), "code --wait");
        assert_eq!(editor_from(&vars(&[])), "vi");
    }

    #[test]
    fn the_editor_gets_the_prompt_and_its_text_comes_back_without_the_final_newline() {
        let dir = tempfile::tempdir().unwrap();
        let seen = dir.path().join("seen");
        // An "editor" with arguments: it keeps what it was given and appends a line.
        let editor = format!("sh -c 'cp \"$1\" {0}; printf \"second line\\n\" >> \"$1\"' editor", seen.display());
        let edited = edit("first line\n", &editor).unwrap();
        assert_eq!(std::fs::read_to_string(&seen).unwrap(), "first line\n");
        assert_eq!(edited.as_deref(), Some("first line\nsecond line"));
    }

    #[test]
    fn a_failed_or_emptied_edit_leaves_the_prompt_and_a_missing_editor_says_so() {
        assert_eq!(edit("keep me", "false"), Ok(None));
        assert_eq!(edit("keep me", "sh -c ': > \"$1\"' editor"), Ok(None));
        let missing = edit("keep me", "no-such-editor-here").unwrap_err();
        assert!(missing.contains("There is no editor no-such-editor-here"), "{missing}");
    }
}
