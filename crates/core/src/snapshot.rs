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

#[derive(Serialize, Deserialize)]
struct Body {
    windows: Vec<WindowSpec>,
    state: EngineState,
}

impl Engine {
    /// Serializes the complete state (versioned, checksummed).
    pub fn snapshot(&self) -> Vec<u8> {
        let body = Body {
            windows: self.config.windows.clone(),
            state: self.state.clone(),
        };
        let body = postcard::to_stdvec(&body).expect("engine state serialization cannot fail");
        let mut out = Vec::with_capacity(HEADER_LEN + body.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        out.extend_from_slice(&body);
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
