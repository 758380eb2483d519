//! Any bytes as an AI gateway request body, with the first line as a deployment name and a
//! function path: the checks, the token estimates and the stream option must answer or
//! refuse with a message, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_gateway::{request, tokens};

fuzz_target!(|data: &[u8]| {
    let (name, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&[][..], data),
    };
    let name = String::from_utf8_lossy(name);
    let _ = request::check_deployment(&name);
    let _ = request::check_function_path(&name);
    let _ = request::segment(&name);
    let _ = request::peek(body);
    if let Ok(mut value) = request::parse(body) {
        let _ = tokens::chat_prompt("gpt-4o", &value);
        let _ = tokens::embeddings_input("text-embedding-3-small", &value);
        let _ = tokens::max_completion(&value);
        let _ = request::ask_for_usage(&mut value);
    }
});
