//! Attachments: reading a file (or stdin) the user attaches, telling its type from its content
//! (never from its name) and hashing it. No SQL and no HTTP here: `store/` keeps attachments,
//! `chat/` decides how they travel (inline or uploaded), `gemini/` carries them.

use std::io::Read;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use sha2::{Digest, Sha256};

pub use crate::domain::{AttachmentInfo, TEXT_MIME};
use crate::sanitize::one_line;

/// The Gemini Files API takes files up to 2 GB each.
pub const FILES_API_MAX_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Files up to this size are held in memory once read. Larger ones stay on disk and are read
/// again, a chunk at a time, when they are uploaded (never held whole).
pub const IN_MEMORY_MAX_BYTES: u64 = 20 * 1024 * 1024;
/// How much of the start of a file the type is told from.
const SNIFF_BYTES: usize = 8192;
/// Reads of a large file go in pieces of this size.
const READ_CHUNK_BYTES: usize = 1024 * 1024;
/// What the refusal of an unsupported type lists.
const SUPPORTED: &str = "text, images (PNG, JPEG, WebP, HEIC/HEIF, GIF), PDF, audio or video";

/// Where an attachment's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachmentData {
    Bytes(Bytes),
    /// On disk at this path (too big to hold, or kept in history by path only): read again when
    /// needed, and checked against the hash.
    File(PathBuf),
    /// Neither kept nor at its path any more.
    Missing,
}

/// A copy uploaded with the Files API, usable until it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    pub uri: String,
    pub expires_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub info: AttachmentInfo,
    pub data: AttachmentData,
    /// The path it was read from (kept in history when the bytes are too big to keep).
    pub path: Option<PathBuf>,
    /// An uploaded copy, once one is known to be alive.
    pub remote: Option<RemoteFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttachError {
    #[error("Cannot attach {path}: there is no such file; check the path.")]
    NotFound { path: String },
    #[error("Cannot attach {path}: it could not be read ({reason}); check its permissions.")]
    Unreadable { path: String, reason: String },
    #[error("Cannot attach {path}: it is a directory; attach the files inside instead.")]
    Directory { path: String },
    #[error("Cannot attach {path}: it holds {what}; geminal attaches {SUPPORTED}.")]
    Unsupported { path: String, what: String },
    #[error("Cannot attach {path}: it is {size}, more than the 2 GiB a file may have on the Gemini Files API.")]
    TooLarge { path: String, size: String },
    #[error("Cannot attach {path}: it is {what}, not a file; save what you want to send to a file and attach that.")]
    NotAFile { path: String, what: &'static str },
    #[error("Cannot attach {path}: a pipe may give at most 20 MiB (it gave more); save it to a file and attach that.")]
    PipeTooLarge { path: String },
    #[error(
        "Cannot attach {path}: no program wrote to this pipe within {seconds} seconds; start the one that writes it first."
    )]
    NoWriter { path: String, seconds: u64 },
    #[error(
        "The attachment {name} of this conversation is no longer available (the history kept only its path, and the file is {why}): attach it again in a new conversation."
    )]
    Gone { name: String, why: &'static str },
    #[error("Cannot attach {name}: it changed while it was being sent; try again.")]
    Changed { name: String },
    #[error("Gemini could not process the attachment {name}: check that the file plays or opens, or attach another.")]
    Unprocessable { name: String },
}

impl Attachment {
    /// The bytes, from memory or read again from disk and checked against the hash.
    pub fn load(&self) -> Result<Bytes, AttachError> {
        match &self.data {
            AttachmentData::Bytes(bytes) => Ok(bytes.clone()),
            AttachmentData::File(path) => {
                let gone = |why| AttachError::Gone { name: one_line(&self.info.name, 80), why };
                let bytes = std::fs::read(path).map_err(|_| gone("gone"))?;
                if hex(&Sha256::digest(&bytes)) != self.info.sha256 {
                    return Err(gone("changed"));
                }
                Ok(Bytes::from(bytes))
            }
            AttachmentData::Missing => Err(AttachError::Gone { name: one_line(&self.info.name, 80), why: "gone" }),
        }
    }

    /// Whether the file at `path` still holds this content (streamed, never held whole).
    pub fn file_matches(&self, path: &Path) -> bool {
        let Ok(file) = std::fs::File::open(path) else { return false };
        scan(file).is_ok_and(|s| s.sha256 == self.info.sha256)
    }
}

/// Reads the file at `path` as an attachment: its type told from its content, its hash, and
/// its bytes when small (a large one stays on disk).
pub fn read_path(path: &Path) -> Result<Attachment, AttachError> {
    let shown = one_line(&path.display().to_string(), 120);
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => AttachError::NotFound { path: shown.clone() },
        kind => AttachError::Unreadable { path: shown.clone(), reason: kind.to_string() },
    })?;
    if meta.is_dir() {
        return Err(AttachError::Directory { path: shown.trim_end_matches('/').to_owned() });
    }
    let name = path.file_name().map_or_else(|| shown.clone(), |n| n.to_string_lossy().into_owned());
    let unreadable = |e: std::io::Error| AttachError::Unreadable { path: shown.clone(), reason: e.kind().to_string() };
    if !meta.is_file() {
        // A pipe (`<(command)`, a FIFO) is read into memory, up to the in-memory limit; a
        // device (`/dev/zero`, a terminal) or socket is not a file to send.
        if !is_fifo(&meta) {
            return Err(AttachError::NotAFile { path: shown, what: special_kind(&meta) });
        }
        let bytes = read_pipe(path).map_err(|e| match e {
            PipeError::Io(e) => unreadable(e),
            PipeError::TooLarge => AttachError::PipeTooLarge { path: shown.clone() },
            PipeError::NoWriter => AttachError::NoWriter { path: shown.clone(), seconds: PIPE_WRITER_WAIT.as_secs() },
        })?;
        return from_bytes(&name, bytes).map_err(|e| with_path(e, &shown));
    }
    let file = std::fs::File::open(path).map_err(unreadable)?;
    if meta.len() <= IN_MEMORY_MAX_BYTES {
        // Sized up front: a growing buffer would hold up to twice the file for a moment. At most
        // the in-memory limit is read: a file that grew past it is scanned from disk below.
        let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0).saturating_add(1));
        (&file).take(IN_MEMORY_MAX_BYTES + 1).read_to_end(&mut bytes).map_err(unreadable)?;
        if bytes.len() as u64 <= IN_MEMORY_MAX_BYTES {
            let mut attachment = from_bytes(&name, bytes).map_err(|e| with_path(e, &shown))?;
            attachment.path = Some(absolute(path));
            return Ok(attachment);
        }
        return read_large(path, &name, &shown);
    }
    read_large(path, &name, &shown)
}

/// A file above the in-memory limit: scanned once from disk (type, hash, size), sent from disk.
fn read_large(path: &Path, name: &str, shown: &str) -> Result<Attachment, AttachError> {
    let unreadable =
        |e: std::io::Error| AttachError::Unreadable { path: shown.to_owned(), reason: e.kind().to_string() };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let meta = file.metadata().map_err(unreadable)?;
    if meta.len() > FILES_API_MAX_BYTES {
        return Err(AttachError::TooLarge { path: shown.to_owned(), size: crate::format::bytes(meta.len()) });
    }
    let scanned = scan(file.take(FILES_API_MAX_BYTES + 1)).map_err(unreadable)?;
    if scanned.size > FILES_API_MAX_BYTES {
        return Err(AttachError::TooLarge { path: shown.to_owned(), size: crate::format::bytes(scanned.size) });
    }
    let mime = classify(&scanned.head, scanned.text)
        .map_err(|what| AttachError::Unsupported { path: shown.to_owned(), what })?;
    Ok(Attachment {
        info: AttachmentInfo { name: name.to_owned(), mime, size: scanned.size, sha256: scanned.sha256 },
        data: AttachmentData::File(absolute(path)),
        path: Some(absolute(path)),
        remote: None,
    })
}

/// How long a FIFO attached is waited on for a program to open it for writing.
const PIPE_WRITER_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
/// How often a pipe with nothing to read yet is read again.
const PIPE_POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(10);

enum PipeError {
    Io(std::io::Error),
    TooLarge,
    NoWriter,
}

/// Everything a pipe gives, up to [`IN_MEMORY_MAX_BYTES`]. Opened without waiting for a writer
/// (a FIFO nobody writes to would block the open forever); then read until its writer closes
/// it, or until [`PIPE_WRITER_WAIT`] passed with no writer ever there.
fn read_pipe(path: &Path) -> Result<Vec<u8>, PipeError> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let mut file = options.open(path).map_err(PipeError::Io)?;
    let started = std::time::Instant::now();
    let mut bytes = Vec::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut written_to = false;
    loop {
        match file.read(&mut buffer) {
            // End of file: the writer closed it, or (nothing read yet) none opened it so far.
            Ok(0) if written_to || !bytes.is_empty() => return Ok(bytes),
            Ok(0) if started.elapsed() >= PIPE_WRITER_WAIT => return Err(PipeError::NoWriter),
            Ok(0) => std::thread::sleep(PIPE_POLL_INTERVAL),
            Ok(n) => {
                bytes.extend_from_slice(&buffer[..n]);
                if bytes.len() as u64 > IN_MEMORY_MAX_BYTES {
                    return Err(PipeError::TooLarge);
                }
            }
            // A writer is there but has nothing more yet.
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                written_to = true;
                std::thread::sleep(PIPE_POLL_INTERVAL);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(PipeError::Io(e)),
        }
    }
}

#[cfg(unix)]
fn is_fifo(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    meta.file_type().is_fifo()
}

#[cfg(not(unix))]
fn is_fifo(_: &std::fs::Metadata) -> bool {
    false
}

/// What a path that is neither a file nor a directory is, for the refusal.
fn special_kind(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let kind = meta.file_type();
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    let _ = meta;
    "a special file"
}

/// An attachment from bytes already read (stdin), under `name`.
pub fn from_bytes(name: &str, bytes: Vec<u8>) -> Result<Attachment, AttachError> {
    let shown = one_line(name, 120);
    let size = bytes.len() as u64;
    if size > FILES_API_MAX_BYTES {
        return Err(AttachError::TooLarge { path: shown, size: crate::format::bytes(size) });
    }
    let text = memchr::memchr(0, &bytes).is_none() && std::str::from_utf8(&bytes).is_ok();
    let head = &bytes[..bytes.len().min(SNIFF_BYTES)];
    let mime = classify(head, text).map_err(|what| AttachError::Unsupported { path: shown, what })?;
    let sha256 = hex(&Sha256::digest(&bytes));
    Ok(Attachment {
        info: AttachmentInfo { name: name.to_owned(), mime, size, sha256 },
        data: AttachmentData::Bytes(Bytes::from(bytes)),
        path: None,
        remote: None,
    })
}

/// Reads everything on stdin as one attachment named "stdin": at most
/// [`IN_MEMORY_MAX_BYTES`], as from any pipe (a bigger one is refused once that much was read,
/// never read whole into memory first; a file that big is attached by its path).
pub fn read_stdin() -> Result<Attachment, AttachError> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(IN_MEMORY_MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| AttachError::Unreadable { path: "stdin".to_owned(), reason: e.kind().to_string() })?;
    if bytes.len() as u64 > IN_MEMORY_MAX_BYTES {
        return Err(AttachError::PipeTooLarge { path: "stdin".to_owned() });
    }
    from_bytes("stdin", bytes)
}

fn with_path(e: AttachError, path: &str) -> AttachError {
    match e {
        AttachError::Unsupported { what, .. } => AttachError::Unsupported { path: path.to_owned(), what },
        AttachError::TooLarge { size, .. } => AttachError::TooLarge { path: path.to_owned(), size },
        other => other,
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// What one pass over a large file learns: its size, hash, start, and whether it is text.
struct Scanned {
    size: u64,
    sha256: String,
    head: Vec<u8>,
    text: bool,
}

fn scan(mut file: impl Read) -> std::io::Result<Scanned> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; READ_CHUNK_BYTES];
    let mut head = Vec::new();
    let mut size = 0u64;
    let mut text = true;
    // The bytes of a character cut by the end of a read, completed by the next one.
    let mut carry: Vec<u8> = Vec::new();
    loop {
        let n = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = &buffer[..n];
        hasher.update(chunk);
        size += n as u64;
        if head.len() < SNIFF_BYTES {
            head.extend_from_slice(&chunk[..chunk.len().min(SNIFF_BYTES - head.len())]);
        }
        if text {
            if memchr::memchr(0, chunk).is_some() {
                text = false;
                continue;
            }
            carry.extend_from_slice(chunk);
            match std::str::from_utf8(&carry) {
                Ok(_) => carry.clear(),
                Err(e) if e.error_len().is_none() => {
                    carry.drain(..e.valid_up_to());
                }
                Err(_) => text = false,
            }
        }
    }
    Ok(Scanned { size, sha256: hex(&hasher.finalize()), head, text: text && carry.is_empty() })
}

/// The type to send for content starting with `head`: a media type Gemini takes, or text; the
/// refusal says what the content is otherwise.
fn classify(head: &[u8], text: bool) -> Result<String, String> {
    let found = infer::get(head);
    if let Some(mime) = found.and_then(|kind| gemini_mime(kind.mime_type(), head)) {
        return Ok(mime.to_owned());
    }
    // Content that starts like a binary format (a ZIP archive, an executable) is that format,
    // even when it has no NUL byte and decodes as UTF-8; HTML, XML, scripts and RTF are text.
    let binary_format = found
        .is_some_and(|kind| kind.matcher_type() != infer::MatcherType::Text && kind.mime_type() != "application/rtf");
    if text && !binary_format {
        return Ok(TEXT_MIME.to_owned());
    }
    Err(match found {
        Some(kind) => format!("{} data ({})", kind.extension().to_uppercase(), kind.mime_type()),
        None => "binary data of a type it does not recognise".to_owned(),
    })
}

/// `infer`'s name for a type as Gemini names it, for the types Gemini accepts.
fn gemini_mime(sniffed: &str, head: &[u8]) -> Option<&'static str> {
    Some(match sniffed {
        "image/png" => "image/png",
        "image/jpeg" => "image/jpeg",
        "image/webp" => "image/webp",
        "image/gif" => "image/gif",
        // infer names HEIC and HEIF alike; the major brand tells them apart.
        "image/heif" if matches!(head.get(8..12), Some(b"heic" | b"heix" | b"heim" | b"heis")) => "image/heic",
        "image/heif" => "image/heif",
        "application/pdf" => "application/pdf",
        "audio/mpeg" => "audio/mp3",
        "audio/x-wav" => "audio/wav",
        "audio/x-aiff" => "audio/aiff",
        "audio/aac" => "audio/aac",
        "audio/ogg" | "audio/opus" => "audio/ogg",
        "audio/x-flac" => "audio/flac",
        "video/mp4" | "video/x-m4v" => "video/mp4",
        "video/mpeg" => "video/mpeg",
        "video/quicktime" => "video/mov",
        "video/x-msvideo" => "video/avi",
        "video/x-flv" => "video/x-flv",
        "video/webm" => "video/webm",
        "video/x-ms-wmv" => "video/wmv",
        _ => return None,
    })
}

/// Lowercase hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// How an attachment is labelled in a conversation: "📎 report.pdf · 2.1 MiB" (sanitized).
pub fn label(info: &AttachmentInfo) -> String {
    format!("📎 {} · {}", one_line(&info.name, 80), crate::format::bytes(info.size))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real 1×1 PNG.
    pub(crate) const TINY_PNG: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00,
        0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00,
        0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0, 0x1f, 0x00, 0x05, 0x00, 0x01, 0xff,
        0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ];

    #[test]
    fn the_type_comes_from_the_content_not_the_name() {
        let png = from_bytes("notes.txt", TINY_PNG.to_vec()).unwrap();
        assert_eq!(png.info.mime, "image/png");
        let text = from_bytes("photo.png", "just words, é and 世界\n".as_bytes().to_vec()).unwrap();
        assert_eq!(text.info.mime, TEXT_MIME);
        assert!(text.info.is_text());
        assert_eq!(from_bytes("doc", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec()).unwrap().info.mime, "application/pdf");
    }

    #[test]
    fn unsupported_binary_is_refused_with_what_it_is() {
        let zip = from_bytes("a.txt", b"PK\x03\x04\x14\x00\x00\x00\x08\x00\xff\xfe".to_vec()).unwrap_err();
        assert_eq!(
            zip.to_string(),
            "Cannot attach a.txt: it holds ZIP data (application/zip); geminal attaches text, images (PNG, JPEG, WebP, HEIC/HEIF, GIF), PDF, audio or video."
        );
        let unknown = from_bytes("blob", vec![0, 1, 2, 0xff, 0xfe]).unwrap_err();
        assert!(unknown.to_string().contains("binary data of a type it does not recognise"), "{unknown}");
        let nul = from_bytes("nul.txt", b"text\0more".to_vec()).unwrap_err();
        assert!(matches!(nul, AttachError::Unsupported { .. }), "a NUL byte is not text");
        let zip = from_bytes("z.txt", b"PK\x03\x04\x14\x01 words".to_vec()).unwrap_err();
        assert!(zip.to_string().contains("ZIP data"), "ZIP magic is a ZIP even as valid UTF-8: {zip}");
        for text in ["#!/bin/sh\necho hi\n", "<!DOCTYPE html><p>hi</p>", "<?xml version=\"1.0\"?><a/>", "{\\rtf1 hi}"] {
            let a = from_bytes("t", text.as_bytes().to_vec()).unwrap();
            assert_eq!(a.info.mime, TEXT_MIME, "{text}");
        }
    }

    #[test]
    fn a_large_file_is_scanned_in_pieces_with_characters_cut_between_them() {
        // A multi-byte character straddles every read boundary.
        let text = "é".repeat(READ_CHUNK_BYTES);
        let scanned = scan(std::io::Cursor::new(text.as_bytes())).unwrap();
        assert!(scanned.text);
        assert_eq!(scanned.size, text.len() as u64);
        assert_eq!(scanned.sha256, hex(&Sha256::digest(text.as_bytes())));
        let mut cut = text.into_bytes();
        cut.pop();
        assert!(!scan(std::io::Cursor::new(cut)).unwrap().text, "a character cut at the very end is not text");
    }

    #[test]
    fn files_are_read_and_directories_and_missing_files_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.txt");
        std::fs::write(&path, "hello").unwrap();
        let a = read_path(&path).unwrap();
        assert_eq!((a.info.name.as_str(), a.info.size, a.info.mime.as_str()), ("report.txt", 5, TEXT_MIME));
        assert_eq!(a.info.sha256, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        assert_eq!(a.path.as_deref(), Some(path.as_path()));
        let e = read_path(dir.path()).unwrap_err();
        // The way forward is the front end's to say (`-a dir/*.rs`, one /attach each).
        assert!(matches!(e, AttachError::Directory { .. }) && !e.to_string().contains("-a "), "{e}");
        let e = read_path(&dir.path().join("nope.png")).unwrap_err();
        assert!(matches!(e, AttachError::NotFound { .. }), "{e}");
    }

    #[test]
    fn a_file_kept_by_path_is_refused_once_it_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "one").unwrap();
        let mut a = read_path(&path).unwrap();
        a.data = AttachmentData::File(path.clone());
        assert_eq!(a.load().unwrap(), Bytes::from_static(b"one"));
        std::fs::write(&path, "two").unwrap();
        assert!(matches!(a.load(), Err(AttachError::Gone { why: "changed", .. })));
        std::fs::remove_file(&path).unwrap();
        let e = a.load().unwrap_err();
        assert_eq!(
            e.to_string(),
            "The attachment a.txt of this conversation is no longer available (the history kept only its path, and the file is gone): attach it again in a new conversation."
        );
    }

    #[test]
    fn labels_are_one_safe_line() {
        let info = AttachmentInfo {
            name: "re\x1b[2Jport.pdf".into(),
            mime: "application/pdf".into(),
            size: 2_200_000,
            sha256: String::new(),
        };
        assert_eq!(label(&info), "📎 re␛[2Jport.pdf · 2.1 MiB");
    }
}
