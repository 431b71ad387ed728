//! `ratings-stream generate` and `replay`: their flags and settings as the runtime's feeders
//! ([`ratings_runtime::feed`]).

use ratings_runtime::feed::generate::Generate;
use ratings_runtime::feed::replay::Replay;
use ratings_settings::Settings;

use crate::flags::{GenerateArgs, ReplayArgs};

/// `ratings-stream generate`.
pub fn generate(args: &GenerateArgs, settings: &Settings) -> anyhow::Result<()> {
    let job = Generate {
        rate: args.rate,
        count: args.count,
        output: args.output.clone(),
        events_per_second: args.events_per_second,
        movielens_profile: args.movielens_profile,
        start_time: args.start_time,
        seed: args.seed,
        late_fraction: args.late_fraction,
        malformed_fraction: args.malformed_fraction,
        hostile_fraction: args.hostile_fraction,
        distinct_unknown_movies: args.distinct_unknown_movies,
        movies: settings.engine.movies.clone(),
        kafka: settings
            .kafka
            .connection
            .settings_as("ratings-stream-generate"),
        topic: settings.kafka.ratings_topic.clone(),
    };
    ratings_runtime::feed::generate::generate(&job, &*ratings_runtime::job::stop_on_signals()?)
}

/// `ratings-stream replay`.
pub fn replay(args: &ReplayArgs, settings: &Settings) -> anyhow::Result<()> {
    let job = Replay {
        input: args.input.clone(),
        speedup: args.speedup,
        rate: args.rate,
        kafka: settings
            .kafka
            .connection
            .settings_as("ratings-stream-replay"),
        topic: settings.kafka.ratings_topic.clone(),
    };
    ratings_runtime::feed::replay::replay(&job, &*ratings_runtime::job::stop_on_signals()?)
}
