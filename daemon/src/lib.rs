//! cognitod: a local session daemon for Amazon Cognito.
//!
//! Modules depend one way: `api` → `session` → `cognito`, with `config` and `paths` below them.

pub mod cognito;
pub mod config;
pub mod paths;
