//! `ratings-stream generate`: synthetic ratings as JSON lines, for tests and benchmarks.

use std::fs::File;
use std::io::{self, BufWriter, Write};

use anyhow::Context;
use ratings_generator::{Generator, GeneratorConfig};

use crate::args::GenerateArgs;
use crate::catalog_source;

/// Writes `args.count` generated records.
pub fn generate(args: &GenerateArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.events_per_second > 0.0,
        "--events-per-second must be positive"
    );
    let loaded = catalog_source::load(args.movies.as_deref())?;
    let config = GeneratorConfig {
        seed: args.seed,
        start_time: args.start_time,
        events_per_second: args.events_per_second,
        late_fraction: args.late_fraction,
        malformed_fraction: args.malformed_fraction,
        ..GeneratorConfig::default()
    };
    let out: Box<dyn Write> = if args.output.as_os_str() == "-" {
        Box::new(io::stdout().lock())
    } else {
        Box::new(
            File::create(&args.output)
                .with_context(|| format!("cannot create {}", args.output.display()))?,
        )
    };
    let mut out = BufWriter::with_capacity(1 << 20, out);
    for generated in Generator::new(config, &loaded.catalog).take(args.count as usize) {
        out.write_all(generated.payload.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush().context("cannot write generated records")
}
