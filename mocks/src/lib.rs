//! sluice-mocks: stand-ins for services outside this machine, speaking their real wire formats,
//! for tests, benchmarks and demos. Not part of the product's library crates.
//!
//! - [`llm`]: an OpenAI-compatible chat and embeddings server with latency and faults
//!   (`sluice mock llm`).
//! - [`function`]: a function app that answers with canned or echoed bodies
//!   (`sluice mock function`).

pub mod function;
pub mod llm;
