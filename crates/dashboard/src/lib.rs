//! The live dashboard of ratings-stream: it keeps the windows published on `metrics` (history
//! backfilled from the topic, then followed live), and serves one page, a REST API and live
//! pushes (Server-Sent Events) from them.
//!
//! Stages: a feed ([`feed`]: the Kafka topic, or windows handed over in-process by the demo)
//! fills the [`board::Board`] (the [`history::History`] of [`window::Window`]s); the
//! [`watch`]er scrapes the processors' Prometheus endpoints ([`scrape`]) and evaluates the
//! [`alerts`]; the [`server`] reads it all.

#![warn(unreachable_pub)]

pub mod alerts;
pub mod board;
pub mod feed;
pub mod history;
pub mod scrape;
pub mod server;
pub mod start;
pub mod watch;
/// The published window records, read from JSON (shared with `verify`).
pub use ratings_core::published as window;

pub use board::{Board, BoardSettings};
pub use server::{serve, Access, Running};
