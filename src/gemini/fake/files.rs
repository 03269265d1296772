//! The fake's Files API: resumable upload sessions (start, chunks at offsets, query, finalize),
//! `GET files/NAME`, and the checks a request's media parts get (valid base64 of a type Gemini
//! takes; a file that exists, is ACTIVE and has not expired). Uploaded bytes are hashed as they
//! arrive, not kept, so a test can check a 100 MB upload arrived intact without holding it.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::behavior::status_body;
use crate::gemini::types::{File, FileEnvelope, GenerateContentRequest};

/// Gemini's limit on a whole request with inline data.
pub const INLINE_REQUEST_LIMIT_BYTES: usize = 20 * 1024 * 1024;
/// How long an uploaded file lives.
pub const FILE_LIFETIME: Duration = Duration::from_secs(48 * 3600);

/// The media types Gemini takes (inline or as files), plus plain text for files.
const ACCEPTED: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/webp",
    "image/heic",
    "image/heif",
    "image/gif",
    "application/pdf",
    "audio/wav",
    "audio/mp3",
    "audio/aiff",
    "audio/aac",
    "audio/ogg",
    "audio/flac",
    "video/mp4",
    "video/mpeg",
    "video/mov",
    "video/avi",
    "video/x-flv",
    "video/mpg",
    "video/webm",
    "video/wmv",
    "video/3gpp",
    "text/plain",
];

/// A file the fake holds (its content only as a hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeFile {
    pub name: String,
    pub display_name: Option<String>,
    pub mime: String,
    pub size: u64,
    /// SHA-256 of what arrived, lowercase hex.
    pub sha256: String,
    pub state: String,
    /// `GET files/NAME` calls left while it is PROCESSING.
    pub polls_left: u32,
    pub expires: SystemTime,
    /// The content of a JSONL file (a batch's requests), which the fake reads back.
    pub content: Option<Bytes>,
}

struct Session {
    size: u64,
    mime: String,
    display_name: Option<String>,
    hasher: Sha256,
    received: u64,
    file: Option<String>,
    /// Kept only for JSONL (a batch's requests).
    content: Option<Vec<u8>>,
}

#[derive(Default)]
pub(super) struct Files {
    sessions: HashMap<String, Session>,
    pub(super) files: Vec<FakeFile>,
    next: u64,
    /// Sessions started (one per upload, resumed ones not counted again).
    pub(super) started: usize,
    /// Cut the connection once an upload has received this many bytes (once).
    pub(super) cut_at: Option<u64>,
    /// `GET` calls a new video stays PROCESSING for.
    pub(super) processing_polls: u32,
}

/// What the fake does with one upload request.
pub(super) enum Reply {
    Json {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// Drop the connection without an answer (the scripted cut).
    Cut,
}

fn error(status: u16, code: &str, message: &str) -> Reply {
    Reply::Json { status, headers: Vec::new(), body: status_body(status, code, message, serde_json::json!([])) }
}

fn pretty<T: serde::Serialize>(value: &T) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_default();
    s.push('\n');
    s
}

impl Files {
    /// `POST /upload/v1beta/files...`: start a session, or a command on one.
    pub(super) fn upload(
        &mut self,
        host: &str,
        query: Option<&str>,
        header: &dyn Fn(&str) -> Option<String>,
        body: &Bytes,
    ) -> Reply {
        let command = header("x-goog-upload-command").unwrap_or_default().to_lowercase();
        let session_id = query.and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("upload_id=")));
        let Some(id) = session_id else {
            if header("x-goog-upload-protocol").as_deref() != Some("resumable") || command != "start" {
                return error(400, "INVALID_ARGUMENT", "Only resumable uploads are served here.");
            }
            let Some(size) = header("x-goog-upload-header-content-length").and_then(|v| v.trim().parse::<u64>().ok())
            else {
                return error(400, "INVALID_ARGUMENT", "X-Goog-Upload-Header-Content-Length is required.");
            };
            let mime = header("x-goog-upload-header-content-type").unwrap_or_default();
            let display_name = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v["file"]["displayName"].as_str().map(str::to_owned));
            self.next += 1;
            self.started += 1;
            let id = format!("up{:06}", self.next);
            self.sessions.insert(
                id.clone(),
                Session {
                    content: mime.contains("jsonl").then(Vec::new),
                    size,
                    mime,
                    display_name,
                    hasher: Sha256::new(),
                    received: 0,
                    file: None,
                },
            );
            let url = format!("http://{host}/upload/v1beta/files?upload_id={id}&upload_protocol=resumable");
            return Reply::Json {
                status: 200,
                headers: vec![("x-goog-upload-url", url), ("x-goog-upload-status", "active".to_owned())],
                body: String::new(),
            };
        };
        let Some(session) = self.sessions.get_mut(id) else {
            return error(404, "NOT_FOUND", "No such upload session.");
        };
        if let Some(name) = session.file.clone() {
            // Already final: every command answers with the file.
            let file = self.files.iter().find(|f| f.name == name).map(|f| wire_file(f, host));
            return Reply::Json {
                status: 200,
                headers: vec![("x-goog-upload-status", "final".to_owned())],
                body: pretty(&FileEnvelope { file: file.unwrap_or_default() }),
            };
        }
        if command == "query" {
            return Reply::Json {
                status: 200,
                headers: vec![
                    ("x-goog-upload-status", "active".to_owned()),
                    ("x-goog-upload-size-received", session.received.to_string()),
                ],
                body: String::new(),
            };
        }
        let finalize = match command.as_str() {
            "upload" => false,
            "upload, finalize" => true,
            _ => return error(400, "INVALID_ARGUMENT", "Unknown X-Goog-Upload-Command."),
        };
        let offset = header("x-goog-upload-offset").and_then(|v| v.trim().parse::<u64>().ok());
        if offset != Some(session.received) {
            return error(400, "INVALID_ARGUMENT", "X-Goog-Upload-Offset does not match the bytes received.");
        }
        if session.received + body.len() as u64 > session.size {
            return error(400, "INVALID_ARGUMENT", "More bytes than X-Goog-Upload-Header-Content-Length.");
        }
        if let Some(cut) =
            self.cut_at.filter(|cut| session.received < *cut && session.received + body.len() as u64 > *cut)
        {
            // Part of the chunk arrived before the connection broke.
            let kept = (cut - session.received) as usize;
            session.hasher.update(&body[..kept]);
            if let Some(content) = &mut session.content {
                content.extend_from_slice(&body[..kept]);
            }
            session.received = cut;
            self.cut_at = None;
            return Reply::Cut;
        }
        session.hasher.update(body);
        if let Some(content) = &mut session.content {
            content.extend_from_slice(body);
        }
        session.received += body.len() as u64;
        if !finalize {
            return Reply::Json {
                status: 200,
                headers: vec![("x-goog-upload-status", "active".to_owned())],
                body: String::new(),
            };
        }
        if session.received != session.size {
            return error(400, "INVALID_ARGUMENT", "The upload was finalized before all its bytes arrived.");
        }
        let digest = std::mem::take(&mut session.hasher).finalize();
        self.next += 1;
        let name = format!("files/fake{:06}", self.next);
        session.file = Some(name.clone());
        let processing = session.mime.starts_with("video/") && self.processing_polls > 0;
        let file = FakeFile {
            name,
            display_name: session.display_name.clone(),
            mime: session.mime.clone(),
            size: session.size,
            sha256: crate::attach::hex(&digest),
            state: if processing { "PROCESSING" } else { "ACTIVE" }.to_owned(),
            polls_left: if processing { self.processing_polls } else { 0 },
            expires: SystemTime::now() + FILE_LIFETIME,
            content: session.content.take().map(Bytes::from),
        };
        let body = pretty(&FileEnvelope { file: wire_file(&file, host) });
        self.files.push(file);
        Reply::Json { status: 200, headers: vec![("x-goog-upload-status", "final".to_owned())], body }
    }

    /// `GET /v1beta/files/ID`.
    pub(super) fn get(&mut self, host: &str, id: &str) -> Reply {
        let name = format!("files/{id}");
        let Some(file) = self.files.iter_mut().find(|f| f.name == name && f.expires > SystemTime::now()) else {
            return error(
                403,
                "PERMISSION_DENIED",
                &format!("You do not have permission to access the File {id} or it may not exist."),
            );
        };
        if file.state == "PROCESSING" {
            file.polls_left = file.polls_left.saturating_sub(1);
            if file.polls_left == 0 {
                file.state = "ACTIVE".to_owned();
            }
        }
        Reply::Json { status: 200, headers: Vec::new(), body: pretty(&wire_file(file, host)) }
    }

    /// The content of a live JSONL file (`files/<id>`), for a batch that reads it.
    pub(super) fn content(&self, name: &str) -> Option<Bytes> {
        self.files.iter().find(|f| f.name == name && f.expires > SystemTime::now()).and_then(|f| f.content.clone())
    }

    /// `DELETE /v1beta/files/ID`.
    pub(super) fn delete(&mut self, id: &str) -> bool {
        let before = self.files.len();
        self.files.retain(|f| f.name != format!("files/{id}"));
        self.files.len() < before
    }

    /// What Gemini would say about the media parts of `request` (`None`: they are fine).
    pub(super) fn check_parts(&self, request: &GenerateContentRequest, body_len: usize) -> Option<(u16, String)> {
        let invalid = |message: &str| Some((400, status_body(400, "INVALID_ARGUMENT", message, serde_json::json!([]))));
        if body_len > INLINE_REQUEST_LIMIT_BYTES {
            return invalid(&format!("Request payload size exceeds the limit: {INLINE_REQUEST_LIMIT_BYTES} bytes."));
        }
        for part in request.contents.iter().flat_map(|c| &c.parts) {
            if let Some(blob) = &part.inline_data {
                if base64::engine::general_purpose::STANDARD.decode(&blob.data).is_err() {
                    return invalid(
                        "Invalid value at 'contents[0].parts[0].inline_data.data' (TYPE_BYTES), Base64 decoding failed.",
                    );
                }
                if !ACCEPTED.contains(&blob.mime_type.as_str()) {
                    return invalid(&format!("Unsupported MIME type: {}", blob.mime_type));
                }
            }
            if let Some(data) = &part.file_data {
                let id = data.file_uri.rsplit('/').next().unwrap_or_default();
                let file = self.files.iter().find(|f| f.name == format!("files/{id}") && f.expires > SystemTime::now());
                match file {
                    None => {
                        return Some((
                            403,
                            status_body(
                                403,
                                "PERMISSION_DENIED",
                                &format!("You do not have permission to access the File {id} or it may not exist."),
                                serde_json::json!([]),
                            ),
                        ));
                    }
                    Some(f) if f.state != "ACTIVE" => {
                        return Some((
                            400,
                            status_body(
                                400,
                                "FAILED_PRECONDITION",
                                &format!("The File {id} is not in an ACTIVE state and usage is not allowed."),
                                serde_json::json!([]),
                            ),
                        ));
                    }
                    Some(_) => {}
                }
            }
        }
        None
    }
}

impl Files {
    /// The media sent with the last user turn of `request`: type and size of each.
    pub(super) fn media_of_last_prompt(&self, request: &GenerateContentRequest) -> Vec<(String, u64)> {
        let Some(last) = request.contents.iter().rev().find(|c| c.role.as_deref() != Some("model")) else {
            return Vec::new();
        };
        last.parts
            .iter()
            .filter_map(|p| {
                if let Some(blob) = &p.inline_data {
                    let padding = blob.data.bytes().rev().take_while(|b| *b == b'=').count();
                    return Some((blob.mime_type.clone(), (blob.data.len() / 4 * 3).saturating_sub(padding) as u64));
                }
                let data = p.file_data.as_ref()?;
                let id = data.file_uri.rsplit('/').next().unwrap_or_default();
                let size = self.files.iter().find(|f| f.name == format!("files/{id}")).map_or(0, |f| f.size);
                Some((data.mime_type.clone(), size))
            })
            .collect()
    }
}

fn wire_file(f: &FakeFile, host: &str) -> File {
    let digest: Vec<u8> =
        (0..f.sha256.len() / 2).filter_map(|i| u8::from_str_radix(&f.sha256[2 * i..2 * i + 2], 16).ok()).collect();
    let id = f.name.strip_prefix("files/").unwrap_or(&f.name);
    File {
        name: f.name.clone(),
        display_name: f.display_name.clone(),
        mime_type: f.mime.clone(),
        size_bytes: f.size.to_string(),
        create_time: Some(humantime::format_rfc3339_micros(f.expires - FILE_LIFETIME).to_string()),
        expiration_time: Some(humantime::format_rfc3339_micros(f.expires).to_string()),
        sha256_hash: Some(base64::engine::general_purpose::STANDARD.encode(digest)),
        uri: format!("http://{host}/v1beta/files/{id}"),
        state: f.state.clone(),
        error: None,
    }
}
