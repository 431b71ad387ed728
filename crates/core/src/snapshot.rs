//! Snapshot and restore of the complete engine state, for checkpoints.
//!
//! Layout: `RSENGINE` magic (8 bytes), format version (u32 LE), body length (u64 LE), CRC-32 of
//! the body (u32 LE), then the body (postcard). The body holds the window types the state was
//! built for, the genre names its per-genre counters refer to (so a reordered or extended
//! `movies.csv` still restores correctly), and the state itself.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::engine::{Engine, EngineConfig, EngineState};
use crate::window::WindowSpec;

const MAGIC: &[u8; 8] = b"RSENGINE";
/// The snapshot format this build writes and the newest it reads.
pub const SNAPSHOT_VERSION: u32 = 1;
const HEADER_LEN: usize = 8 + 4 + 8 + 4;

/// Why a snapshot could not be restored.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SnapshotError {
    #[error("not an engine snapshot (bad magic bytes or shorter than its header)")]
    NotASnapshot,
    #[error(
        "snapshot format version {found} is newer than this build supports ({supported}); \
         upgrade ratings-stream or reset the checkpoint"
    )]
    FutureVersion { found: u32, supported: u32 },
    #[error("snapshot is truncated or has trailing bytes: header says {expected} body bytes, found {found}")]
    LengthMismatch { expected: u64, found: u64 },
    #[error("snapshot checksum mismatch (stored {stored:#010x}, computed {computed:#010x}): the file is damaged")]
    Checksum { stored: u32, computed: u32 },
    #[error("snapshot body cannot be decoded: {0}")]
    Decode(String),
    #[error("snapshot was taken with window types {snapshot:?} but the engine is configured with {configured:?}; use the original windows or reset the checkpoint")]
    WindowsChanged {
        snapshot: Vec<WindowSpec>,
        configured: Vec<WindowSpec>,
    },
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
struct Body {
    windows: Vec<WindowSpec>,
    state: EngineState,
}

/// [`Body`] borrowed from the engine, for writing: the same bytes, without copying the state
/// (a million distinct movies a minute hold over a gigabyte of it).
#[derive(Serialize)]
struct BodyRef<'a> {
    windows: &'a [WindowSpec],
    state: &'a EngineState,
}

impl Engine {
    /// Serializes the complete state (versioned, checksummed).
    pub fn snapshot(&self) -> Vec<u8> {
        let body = BodyRef {
            windows: &self.config.windows,
            state: &self.state,
        };
        // the header's length and checksum are filled in once the body is written after it
        let mut out = postcard::to_extend(&body, vec![0u8; HEADER_LEN])
            .expect("engine state serialization cannot fail");
        let body_len = (out.len() - HEADER_LEN) as u64;
        let crc = crc32fast::hash(&out[HEADER_LEN..]);
        out[..8].copy_from_slice(MAGIC);
        out[8..12].copy_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
        out[12..20].copy_from_slice(&body_len.to_le_bytes());
        out[20..24].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Rebuilds an engine from [`Engine::snapshot`] bytes. The window types must be the ones
    /// the snapshot was taken with; top-N and output mode may change.
    pub fn restore(
        config: EngineConfig,
        catalog: Arc<Catalog>,
        bytes: &[u8],
    ) -> Result<Engine, SnapshotError> {
        let body: Body = postcard::from_bytes(checked_body(bytes)?)
            .map_err(|e| SnapshotError::Decode(e.to_string()))?;
        if body.windows != config.windows {
            return Err(SnapshotError::WindowsChanged {
                snapshot: body.windows,
                configured: config.windows,
            });
        }
        let mut state = body.state;
        state.watermark = crate::watermark::Watermark::restored(
            config.watermark_delay,
            state.watermark.current(),
        );
        Ok(Engine::with_state(config, catalog, state))
    }
}

/// The window types a snapshot was taken with (for a restart that changes them).
pub fn snapshot_windows(bytes: &[u8]) -> Result<Vec<WindowSpec>, SnapshotError> {
    // the body's first field
    postcard::take_from_bytes(checked_body(bytes)?)
        .map(|(windows, _)| windows)
        .map_err(|e| SnapshotError::Decode(e.to_string()))
}

/// Validates the header and checksum; returns the body.
fn checked_body(bytes: &[u8]) -> Result<&[u8], SnapshotError> {
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
        return Err(SnapshotError::NotASnapshot);
    }
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
    let version = u32_at(8);
    if version > SNAPSHOT_VERSION {
        return Err(SnapshotError::FutureVersion {
            found: version,
            supported: SNAPSHOT_VERSION,
        });
    }
    let expected = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
    let body = &bytes[HEADER_LEN..];
    if body.len() as u64 != expected {
        return Err(SnapshotError::LengthMismatch {
            expected,
            found: body.len() as u64,
        });
    }
    let stored = u32_at(20);
    let computed = crc32fast::hash(body);
    if stored != computed {
        return Err(SnapshotError::Checksum { stored, computed });
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rating::Rating;

    #[test]
    fn the_borrowed_body_writes_the_bytes_of_the_owned_one_and_restores() {
        let catalog = Arc::new(Catalog::default());
        let config = EngineConfig::default();
        let mut engine = Engine::new(config.clone(), Arc::clone(&catalog));
        let mut emitted = Vec::new();
        for i in 0..500 {
            let rating = Rating {
                user_id: 1,
                movie_id: 1 + i % 37,
                rating: 0.5 + f64::from(i % 10) / 2.0,
                timestamp: 1_700_000_000 + i64::from(i) * 7,
            };
            engine.push(&rating, &mut emitted);
        }
        let owned = Body {
            windows: engine.config.windows.clone(),
            state: engine.state.clone(),
        };
        let bytes = engine.snapshot();
        assert_eq!(&bytes[HEADER_LEN..], postcard::to_stdvec(&owned).unwrap());
        let restored = Engine::restore(config, catalog, &bytes).unwrap();
        assert_eq!(restored.state, engine.state);
    }
}
