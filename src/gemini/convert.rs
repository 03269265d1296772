//! The one place Gemini's wire and the neutral vocabulary (`crate::llm`) meet: a request's
//! messages, parameters and tools to `generateContent` JSON, a function call part to and from a
//! [`ToolCall`] (its `id` and `thoughtSignature` kept exactly: Gemini 3 refuses a call sent
//! back without its signature), and a listed model to a [`ModelInfo`] with its capabilities.

use serde_json::{Map, Value, json};

use super::thinking::thinking_config;
use super::types::{Content, GenerateContentRequest, GenerationConfig, Model, Part as WirePart, ThinkingConfig, Tool};
use crate::llm::{
    ApiError, Author, Capabilities, Message, Missing, ModelInfo, Params, Part, Request, ToolCall, ToolChoice,
    ToolResult, ToolSpec,
};

/// The call a part holds, when it is a `functionCall` with a name.
pub fn tool_call(part: &WirePart) -> Option<ToolCall> {
    let call = part.function_call.as_ref()?.as_object()?;
    let name = call.get("name")?.as_str()?.to_owned();
    Some(ToolCall {
        id: call.get("id").and_then(Value::as_str).map(str::to_owned),
        name,
        arguments: call.get("args").cloned().unwrap_or_else(|| Value::Object(Map::new())),
        signature: part.thought_signature.clone(),
    })
}

/// `call` as the part it came in.
pub fn tool_call_part(call: &ToolCall) -> WirePart {
    let mut object = Map::new();
    if let Some(id) = &call.id {
        object.insert("id".to_owned(), Value::String(id.clone()));
    }
    object.insert("name".to_owned(), Value::String(call.name.clone()));
    object.insert("args".to_owned(), call.arguments.clone());
    WirePart {
        function_call: Some(Value::Object(object)),
        thought_signature: call.signature.clone(),
        ..WirePart::default()
    }
}

/// `result` as a `functionResponse` part.
pub fn tool_result_part(result: &ToolResult) -> WirePart {
    let mut object = Map::new();
    if let Some(id) = &result.id {
        object.insert("id".to_owned(), Value::String(id.clone()));
    }
    object.insert("name".to_owned(), Value::String(result.name.clone()));
    object.insert("response".to_owned(), result.response.clone());
    WirePart { function_response: Some(Box::new(Value::Object(object))), ..WirePart::default() }
}

fn part(part: &Part) -> WirePart {
    match part {
        Part::Text(text) => WirePart::text(text.clone()),
        Part::Thought { text, signature } => WirePart {
            text: Some(text.clone()),
            thought: true,
            thought_signature: signature.clone(),
            ..WirePart::default()
        },
        Part::Media { mime, bytes } => WirePart::inline(mime.clone(), bytes),
        Part::File { mime, uri } => WirePart::file(mime.clone(), uri.clone()),
        Part::ToolCall(call) => tool_call_part(call),
        Part::ToolResult(result) => tool_result_part(result),
    }
}

fn content(message: &Message) -> Content {
    let role = match message.author {
        Author::User | Author::Tool => "user",
        Author::Assistant => "model",
    };
    Content { role: Some(role.to_owned()), parts: message.parts.iter().map(part).collect() }
}

/// `params` as `generationConfig` for `model`: the thinking choice mapped to the model family's
/// control (refused, with the sentence, where the model cannot take it). `None` when nothing is set.
pub fn generation_config(model: &str, params: &Params) -> Result<Option<GenerationConfig>, ApiError> {
    let mut thinking = match params.thinking {
        Some(choice) => Some(thinking_config(model, choice).map_err(|detail| ApiError::Unsupported {
            model: model.to_owned(),
            missing: Missing::Setting { detail },
        })?),
        None => None,
    };
    if params.thoughts {
        thinking.get_or_insert_with(ThinkingConfig::default).include_thoughts = Some(true);
    }
    let config = GenerationConfig {
        temperature: params.temperature,
        top_p: params.top_p,
        top_k: params.top_k,
        max_output_tokens: params.max_tokens,
        thinking_config: thinking,
        seed: params.seed,
        stop_sequences: (!params.stop.is_empty()).then(|| params.stop.clone()),
        response_mime_type: params.answer_schema.as_ref().map(|_| "application/json".to_owned()),
        response_json_schema: params.answer_schema.clone(),
    };
    Ok((!config.is_empty()).then_some(config))
}

/// Whether `model` takes `params`' thinking choice: the sentence saying why not.
pub fn check_params(model: &str, params: &Params) -> Result<(), String> {
    params.thinking.map_or(Ok(()), |choice| thinking_config(model, choice).map(|_| ()))
}

/// `request` as the body of `generateContent` for `model`.
pub fn request(model: &str, request: &Request) -> Result<GenerateContentRequest, ApiError> {
    let mut tools = Vec::new();
    let mut functions = Vec::new();
    for tool in &request.tools {
        match tool {
            ToolSpec::GoogleSearch => tools.push(Tool::google_search()),
            ToolSpec::UrlContext => tools.push(Tool::url_context()),
            ToolSpec::Function { name, description, parameters } => {
                functions.push(json!({"name": name, "description": description, "parameters": parameters}));
            }
        }
    }
    if !functions.is_empty() {
        tools.push(Tool { function_declarations: Some(functions), ..Tool::default() });
    }
    Ok(GenerateContentRequest {
        contents: request.messages.iter().map(content).collect(),
        system_instruction: request.system.as_deref().map(Content::system),
        generation_config: generation_config(model, &request.params)?,
        tool_config: tool_config(&request.tool_choice, !functions_empty(&request.tools)),
        tools,
    })
}

fn functions_empty(tools: &[ToolSpec]) -> bool {
    !tools.iter().any(|t| matches!(t, ToolSpec::Function { .. }))
}

/// `toolConfig` for `choice` (none for the default, or when no function is declared).
fn tool_config(choice: &ToolChoice, declares: bool) -> Option<Value> {
    let config = match choice {
        ToolChoice::Auto => return None,
        _ if !declares => return None,
        ToolChoice::None => json!({"mode": "NONE"}),
        ToolChoice::Required => json!({"mode": "ANY"}),
        ToolChoice::Only(names) => json!({"mode": "ANY", "allowedFunctionNames": names}),
    };
    Some(json!({ "functionCallingConfig": config }))
}

/// A listed model in the neutral words: its id without `models/`, and what it can do (it
/// writes answers when it supports `generateContent`; every Gemini model counts tokens).
pub fn model_info(model: &Model) -> ModelInfo {
    let generates = model.supported_generation_methods.iter().any(|m| m == "generateContent");
    ModelInfo {
        id: model.id().to_owned(),
        display_name: model.display_name.clone(),
        description: model.description.clone(),
        input_token_limit: model.input_token_limit,
        output_token_limit: model.output_token_limit,
        capabilities: Capabilities {
            generates_text: generates,
            counts_tokens: model.supported_generation_methods.iter().any(|m| m == "countTokens") || generates,
            thinking: model.thinking,
            built_in_tools: generates,
            batch_and_files: model.supported_generation_methods.iter().any(|m| m == "batchGenerateContent"),
            function_tools: generates,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gemini::stream::classify_chunk;
    use crate::gemini::types::GenerateContentResponse;
    use crate::llm::StreamEvent;

    #[test]
    fn a_tool_choice_becomes_tool_config_only_when_functions_are_declared() {
        let function = ToolSpec::Function { name: "f".into(), description: String::new(), parameters: json!({}) };
        let wire = |tools: Vec<ToolSpec>, choice: ToolChoice| {
            let request = Request {
                messages: vec![Message::text(Author::User, "hi")],
                tools,
                tool_choice: choice,
                ..Request::default()
            };
            serde_json::to_value(super::request("gemini-2.5-flash", &request).unwrap()).unwrap()
        };
        assert!(wire(vec![function.clone()], ToolChoice::Auto).get("toolConfig").is_none());
        assert!(wire(vec![ToolSpec::GoogleSearch], ToolChoice::Required).get("toolConfig").is_none());
        assert_eq!(
            wire(vec![function.clone()], ToolChoice::None)["toolConfig"],
            json!({"functionCallingConfig": {"mode": "NONE"}})
        );
        assert_eq!(
            wire(vec![function.clone()], ToolChoice::Required)["toolConfig"],
            json!({"functionCallingConfig": {"mode": "ANY"}})
        );
        assert_eq!(
            wire(vec![function], ToolChoice::Only(vec!["f".into()]))["toolConfig"],
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}})
        );
    }

    #[test]
    fn a_function_call_keeps_its_id_and_signature_both_ways() {
        let chunk: GenerateContentResponse = serde_json::from_str(
            r#"{"candidates":[{"content":{"role":"model","parts":[
                {"functionCall":{"id":"call-7","name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"c2lnLTE="},
                {"text":"checking"}]},"finishReason":"STOP"}]}"#,
        )
        .unwrap();
        let mut events = std::collections::VecDeque::new();
        classify_chunk(chunk.clone(), &mut events).unwrap();
        let call = ToolCall {
            id: Some("call-7".into()),
            name: "get_weather".into(),
            arguments: json!({"city": "Paris"}),
            signature: Some("c2lnLTE=".into()),
        };
        assert_eq!(events.pop_front(), Some(StreamEvent::ToolCall(Box::new(call.clone()))));
        assert_eq!(events.pop_front(), Some(StreamEvent::Text("checking".into())));
        // Sent back, the part is the one that came, byte for byte.
        let sent = serde_json::to_value(tool_call_part(&call)).unwrap();
        let came = serde_json::to_value(&chunk.candidates[0].content.as_ref().unwrap().parts[0]).unwrap();
        assert_eq!(sent, came);
        assert_eq!(sent["thoughtSignature"], "c2lnLTE=");
    }

    #[test]
    fn a_request_becomes_gemini_contents_with_its_thinking_mapped_per_family() {
        let call = ToolCall { id: None, name: "f".into(), arguments: json!({}), signature: Some("s".into()) };
        let request = Request {
            system: Some("be brief".into()),
            messages: vec![
                Message::text(Author::User, "hi"),
                Message::new(Author::Assistant, vec![Part::ToolCall(call)]),
                Message::new(
                    Author::Tool,
                    vec![Part::ToolResult(ToolResult { id: None, name: "f".into(), response: json!({"ok": true}) })],
                ),
            ],
            params: Params { thinking: Some(crate::llm::Thinking::High), thoughts: true, ..Params::default() },
            tools: vec![ToolSpec::GoogleSearch],
            tool_choice: ToolChoice::Auto,
        };
        let wire = serde_json::to_value(super::request("gemini-3-flash-preview", &request).unwrap()).unwrap();
        assert_eq!(wire["systemInstruction"]["parts"][0]["text"], "be brief");
        assert_eq!(wire["contents"][1]["role"], "model");
        assert_eq!(wire["contents"][1]["parts"][0]["thoughtSignature"], "s");
        assert_eq!(wire["contents"][2]["role"], "user");
        assert_eq!(wire["contents"][2]["parts"][0]["functionResponse"]["response"]["ok"], true);
        assert_eq!(
            wire["generationConfig"]["thinkingConfig"],
            json!({"thinkingLevel": "HIGH", "includeThoughts": true})
        );
        assert_eq!(wire["tools"], json!([{"googleSearch": {}}]));
        let on_25 = super::request("gemini-2.5-flash", &request).unwrap();
        assert_eq!(on_25.generation_config.unwrap().thinking_config.unwrap().thinking_budget, Some(24_576));
        // A choice the model cannot take is refused before anything is sent.
        let off =
            Request { params: Params { thinking: Some(crate::llm::Thinking::Off), ..Params::default() }, ..request };
        assert!(matches!(super::request("gemini-2.5-pro", &off), Err(ApiError::Unsupported { .. })));
    }

    #[test]
    fn history_system_parameters_and_attachments_go_as_gemini_json() {
        let media = |mime: &str, bytes: &'static [u8]| Part::Media {
            mime: mime.into(),
            bytes: bytes::Bytes::from_static(bytes),
        };
        let request = Request {
            system: Some("be brief".into()),
            messages: vec![
                Message::new(Author::User, vec![media("image/png", b"\x89PNG"), Part::Text("look".into())]),
                Message::new(
                    Author::Assistant,
                    vec![Part::Thought { text: "hmm".into(), signature: None }, Part::Text("a picture".into())],
                ),
                Message::new(
                    Author::User,
                    vec![
                        Part::File { mime: "video/mp4".into(), uri: "https://g/v1beta/files/abc".into() },
                        Part::Text("and these?".into()),
                    ],
                ),
            ],
            params: Params {
                temperature: Some(0.25),
                top_p: Some(0.5),
                max_tokens: Some(64),
                seed: Some(7),
                stop: vec!["END".into()],
                ..Params::default()
            },
            tools: vec![ToolSpec::GoogleSearch, ToolSpec::UrlContext],
            tool_choice: ToolChoice::Auto,
        };
        let json = serde_json::to_value(super::request("m", &request).unwrap()).unwrap();
        assert_eq!(
            json,
            json!({
                "contents": [
                    {"role": "user", "parts": [{"inlineData": {"mimeType": "image/png", "data": "iVBORw=="}}, {"text": "look"}]},
                    {"role": "model", "parts": [{"text": "hmm", "thought": true}, {"text": "a picture"}]},
                    {"role": "user", "parts": [
                        {"fileData": {"mimeType": "video/mp4", "fileUri": "https://g/v1beta/files/abc"}},
                        {"text": "and these?"}
                    ]}
                ],
                "systemInstruction": {"parts": [{"text": "be brief"}]},
                "generationConfig": {"temperature": 0.25, "topP": 0.5, "maxOutputTokens": 64, "seed": 7, "stopSequences": ["END"]},
                "tools": [{"googleSearch": {}}, {"urlContext": {}}]
            })
        );
        let bare = Request { messages: vec![Message::text(Author::User, "hi")], ..Request::default() };
        let json = serde_json::to_value(super::request("m", &bare).unwrap()).unwrap();
        assert_eq!(json, json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}), "nothing unset is sent");
    }
}
