//! The HTTP servers' metric names and descriptions.

use metrics::describe_counter;

pub const HTTP_ACCEPT_ERRORS: &str = "sluice_http_accept_errors_total";

/// Registers these metrics' descriptions with the installed recorder.
pub fn describe() {
    describe_counter!(
        HTTP_ACCEPT_ERRORS,
        "Connections the HTTP server failed to accept (for example, out of file descriptors)."
    );
}
