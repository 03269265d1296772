//! What a call gave, as the model is sent it: text content joined into `{"content": "..."}` (or
//! the server's `structuredContent` object), images and audio as media, `isError` kept, and a
//! result over the limit cut at a character boundary and marked.

use base64::Engine as _;
use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};
use serde_json::{Map, Value};

use crate::tools::{Media, ToolOutput};

pub fn convert(result: CallToolResult, max_bytes: usize) -> ToolOutput {
    let mut texts: Vec<String> = Vec::new();
    let mut media = Vec::new();
    for block in result.content {
        match block {
            ContentBlock::Text(t) => texts.push(t.text),
            ContentBlock::Image(i) => push_media(&mut media, &mut texts, &i.mime_type, &i.data),
            ContentBlock::Audio(a) => push_media(&mut media, &mut texts, &a.mime_type, &a.data),
            ContentBlock::Resource(r) => match r.resource {
                ResourceContents::TextResourceContents { text, .. } => texts.push(text),
                ResourceContents::BlobResourceContents { uri, mime_type, .. } => {
                    texts.push(format!("[resource {uri} ({})]", mime_type.as_deref().unwrap_or("binary")));
                }
                #[allow(unreachable_patterns)]
                _ => {}
            },
            ContentBlock::ResourceLink(link) => texts.push(format!("[resource link {}]", link.uri)),
            _ => texts.push("[content of a kind geminal does not read]".into()),
        }
    }
    let is_error = result.is_error.unwrap_or(false);
    let structured = result.structured_content.filter(|v| v.is_object() && !is_error);
    let (content, truncated) = match structured {
        Some(object) if object.to_string().len() <= max_bytes => (object, false),
        Some(object) => {
            let (text, _) = cut(object.to_string(), max_bytes);
            (one("content", text), true)
        }
        None => {
            let (text, truncated) = cut(texts.join("\n"), max_bytes);
            (one(if is_error { "error" } else { "content" }, text), truncated)
        }
    };
    let content = if truncated {
        let mut object = content;
        if let Value::Object(o) = &mut object {
            o.insert("truncated".into(), Value::String(format!("the result was cut to its first {max_bytes} bytes")));
        }
        object
    } else {
        content
    };
    ToolOutput { content, media, is_error, truncated }
}

fn push_media(media: &mut Vec<Media>, texts: &mut Vec<String>, mime: &str, data: &str) {
    match base64::engine::general_purpose::STANDARD.decode(data.trim()) {
        Ok(bytes) => media.push(Media { mime: mime.to_owned(), bytes: bytes.into() }),
        Err(_) => texts.push(format!("[{mime} that could not be read]")),
    }
}

fn one(key: &str, text: String) -> Value {
    Value::Object(Map::from_iter([(key.to_owned(), Value::String(text))]))
}

/// `text` cut to at most `max_bytes`, at a character boundary.
pub fn cut(mut text: String, max_bytes: usize) -> (String, bool) {
    if text.len() <= max_bytes {
        return (text, false);
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    (text, true)
}

#[cfg(test)]
mod tests {
    use rmcp::model::ContentBlock;
    use serde_json::json;

    use super::*;

    #[test]
    fn text_is_joined_images_are_media_and_a_long_result_is_cut_at_a_char() {
        let png = base64::engine::general_purpose::STANDARD.encode(b"\x89PNG..");
        let result = CallToolResult::success(vec![
            ContentBlock::text("a"),
            ContentBlock::image(png, "image/png"),
            ContentBlock::text("b"),
        ]);
        let out = convert(result, 100);
        assert_eq!(out.content, json!({"content": "a\nb"}));
        assert_eq!(out.media, [Media { mime: "image/png".into(), bytes: bytes::Bytes::from_static(b"\x89PNG..") }]);
        assert!(!out.is_error && !out.truncated);

        let out = convert(CallToolResult::success(vec![ContentBlock::text("ééé")]), 3);
        assert_eq!(out.content["content"], "é");
        assert!(out.truncated);
        assert!(out.content["truncated"].as_str().unwrap().contains("3 bytes"));

        let out = convert(CallToolResult::error(vec![ContentBlock::text("no such file")]), 100);
        assert_eq!((out.content, out.is_error), (json!({"error": "no such file"}), true));
    }

    #[test]
    fn structured_content_is_the_object_sent() {
        let mut result = CallToolResult::success(vec![ContentBlock::text("{\"n\":3}")]);
        result.structured_content = Some(json!({"n": 3}));
        assert_eq!(convert(result, 100).content, json!({"n": 3}));
    }
}
