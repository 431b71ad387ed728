//! `ratings-core`: the pure logic of the ratings stream processor.
//!
//! Everything here is deterministic and free of I/O and async, so it can be tested fast and
//! reused by every driver (bounded files, Kafka, benchmarks). The pipeline stages appear as
//! modules, in data-flow order:
//!
//! 1. [`rating`] — parse and validate one input record (JSON or MovieLens CSV) into a [`Rating`]
//!    or a typed [`Rejection`].
//! 2. [`catalog`] — the MovieLens `movies.csv` catalog (titles and genres).
//! 3. [`window`] — window specifications and event-to-window assignment.
//! 4. [`watermark`] — the event-time watermark.
//! 5. [`aggregate`] / [`histogram`] — per-pane aggregate state (counts, sums, exact histograms,
//!    per-movie and per-genre counters).
//! 6. [`engine`] — ties them together: accepts ratings, decides lateness, emits windows.
//! 7. [`output`] — the emitted window metrics and their JSON form; dead-letter records.
//! 8. [`snapshot`] — versioned, checksummed snapshot/restore of the complete engine state.
//! 9. [`rebuild`] — the engine of changed window types, rebuilt from a restored one and the raw
//!    ratings.

#![warn(unreachable_pub)]

pub mod aggregate;
pub mod catalog;
pub mod engine;
pub mod histogram;
pub mod output;
pub mod published;
pub mod rating;
pub mod rebuild;
pub mod secrets;
pub mod snapshot;
pub mod time;
pub mod watermark;
pub mod window;

pub use catalog::{Catalog, CatalogError};
pub use engine::{Engine, EngineConfig, EngineCounters, OutputMode, PushOutcome};
pub use output::{DeadLetter, GenreMetric, TopMovie, WindowMetrics, WindowResult};
pub use rating::{Rating, RejectReason, Rejection};
pub use window::WindowSpec;
