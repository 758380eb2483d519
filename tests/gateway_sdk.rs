//! The official OpenAI Python SDK against `sluice gateway` (the real binaries): a chat call,
//! a streaming call, an embeddings call, and the SDK's automatic retry on the gateway's
//! own 429 (a token limit whose Retry-After waits for a reservation in flight to settle).
//! `.ci/run` installs the SDK from PyPI; in CI a missing SDK fails the test.

mod support;

use std::process::Command;
use support::gateway::sluice_gateway;
use support::mock_llm;

fn sdk_available() -> bool {
    Command::new("python3")
        .args(["-c", "import openai"])
        .status()
        .is_ok_and(|s| s.success())
}

const SCRIPT: &str = r#"
import json, sys, threading, time, urllib.request
from openai import OpenAI

gw, slow = sys.argv[1], sys.argv[2]
client = OpenAI(base_url=gw + "/v1", api_key="team-key")

chat = client.chat.completions.create(
    model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hello"}], max_tokens=8)
assert chat.choices[0].message.content.startswith("ok"), chat
assert chat.usage.completion_tokens == 8 and chat.usage.prompt_tokens > 0, chat.usage

chunks = list(client.chat.completions.create(
    model="gpt-4o-mini", messages=[{"role": "user", "content": "Stream please"}], max_tokens=5, stream=True))
text = "".join(c.choices[0].delta.content or "" for c in chunks)
assert text == "ok ok ok ok ok", text
# The gateway asked the backend for usage to meter the stream; the client did not, so it
# sees no usage chunk (every chunk has its choice).
assert all(c.choices and c.usage is None for c in chunks), chunks

chunks = list(client.chat.completions.create(
    model="gpt-4o-mini", messages=[{"role": "user", "content": "Stream please"}], max_tokens=5,
    stream=True, stream_options={"include_usage": True}))
assert not chunks[-1].choices and chunks[-1].usage.completion_tokens == 5, chunks[-1]

emb = client.embeddings.create(model="text-embedding-3-small", input=["hello world", "goodbye"])
assert len(emb.data) == 2 and len(emb.data[0].embedding) == 256, emb

# The limited API: 600 tokens per minute, a backend taking 1 s, 400-token budgets. The
# second call arrives while the first is in flight: 429 with Retry-After 1; the SDK waits,
# retries, and once the first has settled at its real usage the second fits.
limited = OpenAI(base_url=gw + "/apis/limited/v1", api_key="team-key", max_retries=5)
ask = dict(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=400)
first_done = []
first = threading.Thread(target=lambda: first_done.append(limited.chat.completions.with_raw_response.create(**ask)))
first.start()
# Send the second only once the first has reached the backend (not after a guessed sleep).
deadline = time.time() + 30
while json.load(urllib.request.urlopen(slow + "/_stats"))["requests"] < 1:
    assert time.time() < deadline, "the first call never reached the backend"
    time.sleep(0.01)
raw = limited.chat.completions.with_raw_response.create(**ask)
first.join()
assert first_done and first_done[0].retries_taken == 0, "the first call was sent first"
assert raw.retries_taken >= 1, raw.retries_taken
assert raw.parse().choices[0].message.content.startswith("ok")
print("ok")
"#;

#[test]
fn the_openai_python_sdk_works_through_the_gateway() {
    if !sdk_available() {
        assert!(
            std::env::var("CI").is_err(),
            "the OpenAI Python SDK is missing (.ci/run installs it: pip install openai)"
        );
        eprintln!("skipped: pip install openai to run this test");
        return;
    }
    let fast = mock_llm(&["--name", "fast"]);
    let slow = mock_llm(&["--name", "slow", "--latency-ms", "1000"]);
    let dir = std::env::temp_dir().join(format!("sluice-gateway-sdk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = serde_json::json!({
        "backends": {"fast": {"url": format!("{}/v1", fast.base)}, "slow": {"url": slow.base}},
        "pools": {"fast": {"backends": [{"id": "fast"}]}, "slow": {"backends": [{"id": "slow"}]}},
        "apis": {
            "default": {"pool": "fast"},
            "limited": {"pool": "slow", "tokenLimit": {"counterKey": "{subscription}", "tokensPerMinute": 600}}
        }
    });
    let config_path = dir.join("gateway.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let gw = sluice_gateway(&config_path, None);
    let script = dir.join("sdk.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let out = Command::new("python3")
        .arg(&script)
        .arg(&gw.base)
        .arg(&slow.base)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the SDK script failed:\n{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
    let (_, _, metrics) = support::request(&gw.base, "GET", "/metrics", None);
    assert!(
        metrics.contains("sluice_gateway_limited_total{api=\"limited\",status=\"429\"}"),
        "the 429 was the gateway's own"
    );
    assert!(metrics.contains("sluice_gateway_total_tokens_total"));
}
