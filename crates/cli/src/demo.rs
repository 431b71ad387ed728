//! `ratings-stream demo`: the embedded default ([`ratings_runtime::job::demo`]), with the live
//! dashboard served in-process. Runs for `--duration` or until Ctrl-C.

use std::sync::Arc;

use ratings_core::WindowResult;
use ratings_dashboard::Board;
use ratings_runtime::job::demo::Demo;
use ratings_runtime::sink::Sink;
use ratings_settings::Settings;

use crate::flags::{DemoArgs, DEMO_DASHBOARD};

/// Runs the demo.
pub fn demo(args: &DemoArgs, settings: &Settings) -> anyhow::Result<()> {
    let listen = &args.dashboard;
    let access = &settings.dashboard.access;
    let dashboard = ratings_dashboard::start::in_process(listen, DEMO_DASHBOARD, access)?;
    let demo = Demo {
        engine: settings.engine.clone(),
        rate: args.rate,
        speedup: args.speedup,
        seed: args.seed,
        late_fraction: args.late_fraction,
        malformed_fraction: args.malformed_fraction,
        show_sliding: args.show_sliding,
        duration: args.duration,
        dashboard: dashboard.as_ref().map(|(_, running)| running.url()),
    };
    let extra: Vec<Box<dyn Sink>> = match &dashboard {
        Some((board, _)) => vec![Box::new(ToBoard(Arc::clone(board)))],
        None => Vec::new(),
    };
    let stop = ratings_runtime::job::stop_on_signals()?;
    ratings_runtime::job::demo::run(&demo, extra, stop)?.print();
    Ok(())
}

/// Hands every window to the in-process dashboard.
struct ToBoard(Arc<Board>);

impl Sink for ToBoard {
    fn window(&mut self, window: &WindowResult, processing_time: i64) -> anyhow::Result<()> {
        self.0.offer(window.to_json(processing_time).as_bytes());
        Ok(())
    }
}
