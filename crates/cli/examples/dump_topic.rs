//! Benchmark helper for `bench/spark/compare.sh`: prints every record value of a topic, one per
//! line, reading each partition from its start to its end with `isolation.level=read_committed`.
//!
//! Usage: cargo run --release --example dump_topic -- BOOTSTRAP TOPIC > records.jsonl

use std::io::Write;

use ratings_connectors::kafka::{KafkaSettings, Start, StartFrom};
use ratings_runtime::source::kafka::KafkaSource;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [bootstrap, topic] = &args[..] else {
        anyhow::bail!("usage: dump_topic BOOTSTRAP TOPIC");
    };
    let settings = KafkaSettings {
        bootstrap_servers: bootstrap.clone(),
        properties: [("isolation.level".to_string(), "read_committed".to_string())].into(),
    };
    let group = format!("dump-{}", std::process::id());
    let mut source =
        KafkaSource::connect(&settings, topic, &group, &Start::At(StartFrom::Earliest))?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    while !source.all_at_end() {
        if let Some(record) = source.next_record()? {
            out.write_all(record.payload.unwrap_or_default())?;
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    Ok(())
}
