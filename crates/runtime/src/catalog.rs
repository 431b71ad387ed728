//! Finds and loads the movie catalog: an explicit path or storage URL
//! (`hdfs://…/movies.csv`, `s3://…`, `file://…`), else the bundled ml-latest-small `movies.csv`
//! when it can be found, else the small built-in catalog.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use ratings_connectors::storage::Storage;
use ratings_core::Catalog;

/// Where the ml-latest-small files live relative to the repository or the working directory.
const BUNDLED_DIR: &str = "shared/data/movielens/ml-latest-small";

/// A loaded catalog and a description of where it came from.
pub struct LoadedCatalog {
    pub catalog: Arc<Catalog>,
    pub origin: String,
}

/// Loads the catalog from `explicit`, or the bundled one, or the built-in one.
pub fn load(explicit: Option<&str>) -> anyhow::Result<LoadedCatalog> {
    let path = match explicit {
        Some(path) => PathBuf::from(path),
        None => match bundled_movielens_dir() {
            Some(dir) => dir.join("movies.csv"),
            None => {
                return Ok(LoadedCatalog {
                    catalog: Arc::new(ratings_generator::builtin_catalog()),
                    origin: "built-in sample (20 movies)".into(),
                })
            }
        },
    };
    let text = path.to_string_lossy();
    let catalog = match text
        .contains("://")
        .then(|| text.rsplit_once('/'))
        .flatten()
    {
        Some((folder, name)) => Catalog::from_csv(&Storage::open_existing(folder)?.read(name)?[..]),
        None => Catalog::from_csv(
            File::open(&path)
                .with_context(|| format!("cannot open movies file {}", path.display()))?,
        ),
    }
    .with_context(|| format!("cannot load {}", path.display()))?;
    if catalog.titles_cut() > 0 {
        tracing::warn!(
            "{}: {} titles longer than {} bytes were cut",
            path.display(),
            catalog.titles_cut(),
            ratings_core::catalog::MAX_TITLE_BYTES
        );
    }
    Ok(LoadedCatalog {
        catalog: Arc::new(catalog),
        origin: path.display().to_string(),
    })
}

/// The ml-latest-small folder, looked up in `$RATINGS_MOVIELENS_DIR`, then beside the working
/// directory and the source tree (`../shared/...` in this project's layout).
pub fn bundled_movielens_dir() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("RATINGS_MOVIELENS_DIR")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    let roots = [
        std::env::current_dir().ok(),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR"))),
    ];
    for root in roots.into_iter().flatten() {
        for ancestor in root.ancestors().take(4) {
            candidates.push(ancestor.join(BUNDLED_DIR));
            candidates.push(ancestor.join("..").join(BUNDLED_DIR));
        }
    }
    candidates
        .into_iter()
        .find(|dir| dir.join("movies.csv").is_file())
}

/// Movie profiles (popularity and rating mix) from the `ratings.csv` beside the catalog's
/// `movies.csv` (MovieLens layout), with a description; `None` when there is none, e.g. with
/// the built-in catalog. A line that is not `userId,movieId,rating,timestamp` is an error
/// naming it.
pub fn movie_profiles(
    loaded: &LoadedCatalog,
) -> anyhow::Result<Option<(ratings_generator::MovieProfiles, String)>> {
    let path = PathBuf::from(&loaded.origin).with_file_name("ratings.csv");
    if loaded.origin.contains("://") || !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut pairs = Vec::new();
    for (number, line) in text.lines().enumerate().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        let pair = match fields[..] {
            [_, movie, rating, _] => movie.parse::<i32>().ok().zip(rating.parse::<f64>().ok()),
            _ => None,
        };
        let pair = pair.with_context(|| {
            format!(
                "{} line {}: not userId,movieId,rating,timestamp: {line:?}",
                path.display(),
                number + 1
            )
        })?;
        pairs.push(pair);
    }
    let profiles = ratings_generator::MovieProfiles::from_ratings(pairs);
    let origin = format!(
        "{} ({} ratings of {} movies)",
        path.display(),
        profiles.ratings(),
        profiles.len()
    );
    Ok(Some((profiles, origin)))
}
