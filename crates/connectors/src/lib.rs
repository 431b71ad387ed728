//! I/O around the engine.
