//! Where each dataset lives under the storage base: the raw ratings in one folder, and each
//! window type's aggregates in a folder of its own.
//!
//! A job whose window types are one tumbling and one sliding type (the Spark job's pair)
//! writes them to `agg/tumbling` and `agg/sliding`; any other list gives every type a folder
//! named after it (`agg/tumbling_15min`), and so does a type added to a running job. A folder
//! never holds two types' hours: each type closes an hour at its own lag, and a second type
//! could still be writing into an hour the first has closed. A checkpoint records each type's
//! folder ([`AggregateRoot`]), so a type kept through a change of windows keeps its folder.

use ratings_core::WindowSpec;
use serde::{Deserialize, Serialize};

/// Folder of the raw dataset under the storage base.
pub const RAW_ROOT: &str = "streams/ratings/raw";
/// Folder of the aggregate datasets' folders.
pub const AGGREGATES_ROOT: &str = "streams/ratings/agg";
/// Folder of the tumbling aggregates of the pair.
pub const TUMBLING_ROOT: &str = "streams/ratings/agg/tumbling";
/// Folder of the sliding aggregates of the pair.
pub const SLIDING_ROOT: &str = "streams/ratings/agg/sliding";

/// A window type's aggregate dataset: the type's name and its folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AggregateRoot {
    /// [`WindowSpec::name`].
    pub window: String,
    pub root: String,
    /// The checkpoint's watermark at the restart that added the type to a running job: its
    /// windows ending at or before it were never emitted (`None`: the job had it from its
    /// start).
    pub added_at: Option<i64>,
}

/// The folders of a job that starts with these window types, in their order.
pub fn aggregate_roots(windows: &[WindowSpec]) -> Vec<AggregateRoot> {
    let tumbling = windows.iter().filter(|w| w.is_tumbling()).count();
    let pair = windows.len() == 2 && tumbling == 1;
    windows
        .iter()
        .map(|spec| AggregateRoot {
            window: spec.name(),
            root: match (pair, spec.is_tumbling()) {
                (true, true) => TUMBLING_ROOT.to_string(),
                (true, false) => SLIDING_ROOT.to_string(),
                (false, _) => root_of_added(spec),
            },
            added_at: None,
        })
        .collect()
}

/// The folder of a window type added to a running job: named after the type, so no other
/// type has written into it.
pub fn root_of_added(spec: &WindowSpec) -> String {
    format!("{AGGREGATES_ROOT}/{}", spec.name())
}

/// Each window type's folder in a job whose checkpoint `recorded` these (`None`: a new job):
/// a recorded type keeps its folder, a type added has its own.
pub fn folders(windows: &[WindowSpec], recorded: Option<&[AggregateRoot]>) -> Vec<String> {
    let Some(recorded) = recorded else {
        return aggregate_roots(windows)
            .into_iter()
            .map(|a| a.root)
            .collect();
    };
    windows
        .iter()
        .map(|spec| {
            let name = spec.name();
            match recorded.iter().find(|a| a.window == name) {
                Some(kept) => kept.root.clone(),
                None => root_of_added(spec),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots(windows: &[WindowSpec]) -> Vec<String> {
        aggregate_roots(windows)
            .into_iter()
            .map(|r| r.root)
            .collect()
    }

    #[test]
    fn the_pair_keeps_the_spark_jobs_folders_and_other_lists_name_theirs() {
        let spec = |size, slide| WindowSpec { size, slide };
        let (t1, t15, s5) = (spec(60, 60), spec(900, 900), spec(300, 60));
        assert_eq!(roots(&[t1, s5]), [TUMBLING_ROOT, SLIDING_ROOT]);
        assert_eq!(roots(&[t15, s5]), [TUMBLING_ROOT, SLIDING_ROOT]);
        assert_eq!(
            roots(&[t1, s5, t15]),
            [
                "streams/ratings/agg/tumbling_1min",
                "streams/ratings/agg/sliding_5min_1min",
                "streams/ratings/agg/tumbling_15min"
            ]
        );
        assert_eq!(roots(&[t1]), ["streams/ratings/agg/tumbling_1min"]);
        assert_eq!(root_of_added(&t15), "streams/ratings/agg/tumbling_15min");
    }

    #[test]
    fn a_change_of_windows_keeps_the_kept_types_folders_and_gives_added_ones_their_own() {
        let spec = |size, slide| WindowSpec { size, slide };
        let (t1, t15, s5) = (spec(60, 60), spec(900, 900), spec(300, 60));
        let s10 = spec(600, 60);
        let recorded = aggregate_roots(&[t1, s5]);
        assert_eq!(
            folders(&[t1, s5, t15], Some(&recorded)),
            [
                TUMBLING_ROOT,
                SLIDING_ROOT,
                "streams/ratings/agg/tumbling_15min"
            ]
        );
        // the new sliding type does not write into the folder whose hours the old one closed
        assert_eq!(
            folders(&[t1, s10], Some(&recorded)),
            [TUMBLING_ROOT, "streams/ratings/agg/sliding_10min_1min"]
        );
        assert_eq!(folders(&[t1], Some(&recorded)), [TUMBLING_ROOT]);
        assert_eq!(folders(&[t1, s10], None), [TUMBLING_ROOT, SLIDING_ROOT]);
    }
}
