//! Workflows call models through the app's gateway in-process: the `openai` service
//! provider operations of real Logic Apps workflows (getChatCompletions with the
//! connector's `message` fields, getArrayEmbeddings, getSingleEmbedding) under
//! `sluice invoke`, against `sluice mock llm`; and `sluice run` serves the gateway's
//! OpenAI-compatible routes beside the app's own.

mod support;

use serde_json::{json, Value};
use std::process::Command;
use support::{app, get_json, mock_llm, request, start};

fn openai(op: &str, connection: &str, parameters: Value) -> Value {
    json!({"type": "ServiceProvider", "runAfter": {}, "inputs": {"parameters": parameters,
        "serviceProviderConfiguration": {"connectionName": connection, "operationId": op,
            "serviceProviderId": "/serviceProviders/openai"}}})
}

fn after(previous: &str, mut action: Value) -> Value {
    action["runAfter"] = json!({previous: ["Succeeded"]});
    action
}

fn ai_app(name: &str, llm: &str) -> std::path::PathBuf {
    let workflow = json!({"kind": "Stateless", "definition": {
    "triggers": {"manual": {"type": "Request", "kind": "Http", "inputs": {}}},
    "actions": {
        "Chat": openai("getChatCompletions", "openai", json!({"deploymentId": "gpt-4o-mini",
            "messages": [{"role": "system", "message": "Be brief."},
                         {"role": "user", "message": "@triggerBody()?['prompt']"}],
            "temperature": 1, "max_tokens": 6})),
        "Embed_all": openai("getArrayEmbeddings", "direct", json!({"deploymentId": "text-embedding-3-small",
            "input": ["first chunk", "second chunk"]})),
        "Embed_one": after("Chat", openai("getSingleEmbedding", "direct", json!({"deploymentId": "text-embedding-3-small",
            "input": "@body('Chat')?['content']"})))
    }}});
    let dir = app(name, &[("assistant", workflow)]);
    let connections = json!({"serviceProviderConnections": {
        "openai": {"parameterValues": {"openAIEndpoint": "https://unused.openai.azure.com", "openAIKey": "unused"},
            "serviceProvider": {"id": "/serviceProviders/openai"}, "displayName": "openai"},
        "direct": {"parameterValues": {"openAIEndpoint": llm, "openAIKey": "k"},
            "serviceProvider": {"id": "/serviceProviders/openai"}, "displayName": "direct"}}});
    std::fs::write(dir.join("connections.json"), connections.to_string()).unwrap();
    let gateway = json!({
        "backends": {"llm": {"url": format!("{llm}/v1")}},
        "pools": {"models": {"backends": [{"id": "llm"}]}},
        "apis": {"openai": {"pool": "models",
            "tokenLimit": {"counterKey": "{workflow}", "tokensPerMinute": 100000}}}});
    std::fs::write(dir.join("gateway.json"), gateway.to_string()).unwrap();
    dir
}

fn action<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("no action {name} in {run}"))
}

#[test]
fn openai_actions_run_through_the_gateway_in_process() {
    let llm = mock_llm(&[]);
    let dir = ai_app("gateway-workflow", &llm.base);
    let body = dir.join("body.json");
    std::fs::write(&body, json!({"prompt": "Say hello"}).to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["invoke", dir.to_str().unwrap(), "assistant", "--body"])
        .arg(&body)
        .output()
        .unwrap();
    let run: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(run["status"], "Succeeded", "{run:#}");
    let chat = &action(&run, "Chat")["outputs"]["body"];
    assert_eq!(
        chat["content"], "ok ok ok ok ok ok",
        "max_tokens reached the model"
    );
    assert_eq!(chat["role"], "assistant");
    assert!(chat["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    let all = &action(&run, "Embed_all")["outputs"]["body"]["embeddings"];
    assert_eq!(all.as_array().unwrap().len(), 2);
    let one = &action(&run, "Embed_one")["outputs"]["body"]["embedding"];
    assert_eq!(one.as_array().unwrap().len(), 256);
    let stats = get_json(&llm.base, "/_stats");
    assert_eq!(stats["requests"], 3);
}

#[test]
fn sluice_run_serves_the_gateway_routes() {
    let llm = mock_llm(&[]);
    let dir = ai_app("gateway-run", &llm.base);
    let engine = start(&dir);
    let chat = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3});
    let (status, headers, body) =
        request(&engine.base, "POST", "/v1/chat/completions", Some(&chat));
    assert_eq!(status, 200, "{body}");
    let header = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("x-sluice-backend"), Some("llm"));
    assert!(header("x-sluice-remaining-tokens").is_some());
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["choices"][0]["message"]["content"], "ok ok ok");
}

#[test]
fn function_and_http_actions_go_through_a_gateway_api_pool() {
    let first = support::mock_function(&[]);
    let second = support::mock_function(&[]);
    let workflow = json!({"kind": "Stateless", "definition": {
    "triggers": {"manual": {"type": "Request", "kind": "Http", "inputs": {}}},
    "actions": {
        "Each": {"type": "Foreach", "runAfter": {}, "foreach": "@range(0, 10)",
            "actions": {"Skus": {"type": "Function", "runAfter": {},
                "inputs": {"function": {"connectionName": "retail"}, "method": "GET",
                    "queries": {"ean": "@{items('Each')}"}}}}},
        "Last": {"type": "Function", "runAfter": {"Each": ["Succeeded"]},
            "inputs": {"function": {"connectionName": "retail"}, "method": "GET", "queries": {"ean": "42"}}}
    }}});
    let dir = app("gateway-function", &[("lookup", workflow)]);
    let connections = json!({"functionConnections": {"retail": {
        "function": {"id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Web/sites/retail/functions/skus"},
        "triggerUrl": "https://retail.azurewebsites.net/api/skus",
        "authentication": {"type": "QueryString", "name": "code", "value": "k"}}}});
    std::fs::write(dir.join("connections.json"), connections.to_string()).unwrap();
    let gateway = json!({
        "backends": {"one": {"url": first.base, "kind": "function"}, "two": {"url": second.base, "kind": "function"}},
        "pools": {"retail": {"backends": [{"id": "one"}, {"id": "two"}]}},
        "apis": {"retail": {"pool": "retail", "routes": ["https://retail.example.com/"]}}});
    std::fs::write(dir.join("gateway.json"), gateway.to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["invoke", dir.to_str().unwrap(), "lookup"])
        .output()
        .unwrap();
    let run: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(run["status"], "Succeeded", "{run:#}");
    let last = &action(&run, "Last")["outputs"];
    assert_eq!(
        last["body"],
        json!({"skus": ["sku-42"]}),
        "path and query reached the function"
    );
    assert_eq!(last["statusCode"], 200);
    let (a, b) = (
        get_json(&first.base, "/_stats"),
        get_json(&second.base, "/_stats"),
    );
    assert_eq!(
        a["requests"].as_u64().unwrap() + b["requests"].as_u64().unwrap(),
        11
    );
    assert!(
        a["requests"].as_u64().unwrap() >= 5 && b["requests"].as_u64().unwrap() >= 5,
        "round-robin: {a} {b}"
    );
    assert_eq!(
        a["idempotency_keys_seen"].as_u64().unwrap() + b["idempotency_keys_seen"].as_u64().unwrap(),
        11
    );
}
