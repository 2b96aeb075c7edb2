//! Commands whose behaviour has not landed yet say so plainly and fail; none pretends to work.

use crate::commands::Outcome;

/// Prints that `command` is not available yet (and which piece of work brings it) and fails.
pub fn run(command: &str, arrives_with: &str) -> anyhow::Result<Outcome> {
    eprintln!(
        "{command} is not available yet in this build: it arrives with {arrives_with}. \
Nothing was changed."
    );
    Ok(Outcome::Failure)
}
