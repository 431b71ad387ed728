//! Arrow/Parquet schemas of the three datasets and the conversion of rows into record batches.
//!
//! Raw ratings: `userId int32, movieId int32, rating double, timestamp int64,
//! event_time timestamp(µs, UTC), watermark timestamp(µs, UTC)` — the last one the processor's
//! watermark when it read the rating (null before the first one; absent in files written before
//! it existed): the rating counts in each of its windows that ends after it, which lets an audit
//! recompute every window from the raw rows alone ([`RawRow`]). Aggregates: window bounds and `processing_time` as UTC
//! timestamps, `top_movies` and `metrics_by_genre` as lists of structs (real nested columns),
//! `rating_histogram` as a list of ten counts (0.5 … 5.0 stars; null in rows written by a
//! version before it existed). Partition columns (`date`, `hour`) live in the folder names, as
//! Hive and Spark expect.

use std::sync::{Arc, LazyLock};

use arrow_array::builder::{
    ArrayBuilder, Float64Builder, Int32Builder, Int64Builder, ListBuilder, StringBuilder,
    StructBuilder,
};
use arrow_array::{
    new_null_array, Array, ArrayRef, Float64Array, Int32Array, Int64Array, ListArray, RecordBatch,
    StringArray, StructArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use ratings_core::published::{GenreMetric as PublishedGenre, TopMovie as PublishedMovie, Window};
use ratings_core::time::{rfc3339_millis, rfc3339_seconds};
use ratings_core::{Rating, WindowResult};

const MICROS: i64 = 1_000_000;

fn utc_timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// Schema of the raw ratings dataset.
pub static RAW_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("userId", DataType::Int32, false),
        Field::new("movieId", DataType::Int32, false),
        Field::new("rating", DataType::Float64, false),
        Field::new("timestamp", DataType::Int64, false),
        Field::new("event_time", utc_timestamp(), false),
        Field::new("watermark", utc_timestamp(), true),
    ]))
});

/// A valid rating and the watermark (epoch seconds) when the processor read it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawRow {
    pub rating: Rating,
    pub watermark: Option<i64>,
}

fn top_movie_fields() -> Fields {
    Fields::from(vec![
        Field::new("movieId", DataType::Int32, false),
        Field::new("title", DataType::Utf8, true),
        Field::new("count", DataType::Int64, false),
        Field::new("avg_rating", DataType::Float64, false),
    ])
}

fn genre_fields() -> Fields {
    Fields::from(vec![
        Field::new("genre", DataType::Utf8, false),
        Field::new("count", DataType::Int64, false),
        Field::new("avg_rating", DataType::Float64, false),
    ])
}

fn list_of(fields: Fields) -> DataType {
    DataType::List(Arc::new(Field::new(
        "element",
        DataType::Struct(fields),
        false,
    )))
}

fn histogram_type() -> DataType {
    DataType::List(Arc::new(Field::new("element", DataType::Int64, false)))
}

/// Schema of the tumbling and sliding aggregate datasets.
pub static AGGREGATE_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("window_start", utc_timestamp(), false),
        Field::new("window_end", utc_timestamp(), false),
        Field::new("window_type", DataType::Utf8, false),
        Field::new("count", DataType::Int64, false),
        Field::new("avg_rating", DataType::Float64, false),
        Field::new("p50_rating", DataType::Float64, false),
        Field::new("p95_rating", DataType::Float64, false),
        Field::new("rating_histogram", histogram_type(), true),
        Field::new("top_movies", list_of(top_movie_fields()), false),
        Field::new("metrics_by_genre", list_of(genre_fields()), false),
        Field::new("processing_time", utc_timestamp(), false),
    ]))
});

/// Raw ratings as a record batch.
pub fn raw_batch(rows: &[RawRow]) -> RecordBatch {
    let column = |f: fn(&Rating) -> i64| rows.iter().map(move |r| f(&r.rating));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int32Array::from_iter_values(
            rows.iter().map(|r| r.rating.user_id),
        )),
        Arc::new(Int32Array::from_iter_values(
            rows.iter().map(|r| r.rating.movie_id),
        )),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.rating.rating),
        )),
        Arc::new(Int64Array::from_iter_values(column(|r| r.timestamp))),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(column(|r| r.timestamp * MICROS))
                .with_timezone("UTC"),
        ),
        Arc::new(
            TimestampMicrosecondArray::from_iter(
                rows.iter().map(|r| r.watermark.map(|w| w * MICROS)),
            )
            .with_timezone("UTC"),
        ),
    ];
    RecordBatch::try_new(RAW_SCHEMA.clone(), columns).expect("columns match the raw schema")
}

/// Final windows (with their processing time, epoch milliseconds) as a record batch.
pub fn aggregate_batch(windows: &[(WindowResult, i64)]) -> RecordBatch {
    let timestamps = |f: fn(&(WindowResult, i64)) -> i64| -> ArrayRef {
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(windows.iter().map(f)).with_timezone("UTC"),
        )
    };
    let metric = |f: fn(&WindowResult) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(
            windows.iter().map(|(w, _)| f(w)),
        ))
    };
    let columns: Vec<ArrayRef> = vec![
        timestamps(|(w, _)| w.window_start * MICROS),
        timestamps(|(w, _)| w.window_end * MICROS),
        Arc::new(StringArray::from_iter_values(
            windows.iter().map(|(w, _)| &*w.window_type),
        )),
        Arc::new(Int64Array::from_iter_values(
            windows.iter().map(|(w, _)| w.metrics.count as i64),
        )),
        metric(|w| w.metrics.avg_rating),
        metric(|w| w.metrics.p50_rating),
        metric(|w| w.metrics.p95_rating),
        histogram_column(windows),
        top_movies_column(windows),
        genres_column(windows),
        timestamps(|(_, processing)| processing * 1000),
    ];
    RecordBatch::try_new(AGGREGATE_SCHEMA.clone(), columns)
        .expect("columns match the aggregate schema")
}

fn struct_list(fields: Fields) -> ListBuilder<StructBuilder> {
    let element = Field::new("element", DataType::Struct(fields.clone()), false);
    ListBuilder::new(StructBuilder::from_fields(fields, 0)).with_field(Arc::new(element))
}

/// The builder of field `index` of a list entry (the fields are the schema's, so it exists).
fn field<B: ArrayBuilder>(entries: &mut StructBuilder, index: usize) -> &mut B {
    entries
        .field_builder::<B>(index)
        .expect("a field of the schema")
}

fn histogram_column(windows: &[(WindowResult, i64)]) -> ArrayRef {
    let element = Field::new("element", DataType::Int64, false);
    let mut list = ListBuilder::new(Int64Builder::new()).with_field(Arc::new(element));
    for (window, _) in windows {
        let counts = window.metrics.rating_histogram.iter().map(|c| *c as i64);
        list.values()
            .append_values(&counts.collect::<Vec<_>>(), &[true; 10]);
        list.append(true);
    }
    Arc::new(list.finish())
}

/// `batch` (rows written with an earlier version of `schema`, e.g. kept in a checkpoint) in
/// `schema`: a column it lacks is null, when the schema allows.
pub fn conform(batch: RecordBatch, schema: &SchemaRef) -> anyhow::Result<RecordBatch> {
    if batch.schema() == *schema {
        return Ok(batch);
    }
    let columns = schema
        .fields()
        .iter()
        .map(|field| match batch.column_by_name(field.name()) {
            Some(column) => Ok(column.clone()),
            None if field.is_nullable() => Ok(new_null_array(field.data_type(), batch.num_rows())),
            None => anyhow::bail!("saved rows lack the column {}", field.name()),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// Column `name` of `batch` as an array of type `A`, or an error naming what is wrong.
fn column<'a, A: Array + 'static>(batch: &'a RecordBatch, name: &str) -> anyhow::Result<&'a A> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| anyhow::anyhow!("no column {name}"))?;
    column
        .as_any()
        .downcast_ref::<A>()
        .ok_or_else(|| anyhow::anyhow!("column {name} is {}", column.data_type()))
}

/// Epoch seconds of a UTC timestamp column's value.
fn seconds(values: &TimestampMicrosecondArray, row: usize) -> i64 {
    values.value(row).div_euclid(MICROS)
}

/// The rows of a raw batch (the inverse of [`raw_batch`]); a file without the `watermark`
/// column (written before it existed) gives `None` for every row's watermark, like a rating
/// read before the first watermark: see [`raw_rows_have_watermarks`].
pub fn raw_rows(batch: &RecordBatch) -> anyhow::Result<Vec<RawRow>> {
    let users = column::<Int32Array>(batch, "userId")?;
    let movies = column::<Int32Array>(batch, "movieId")?;
    let ratings = column::<Float64Array>(batch, "rating")?;
    let times = column::<Int64Array>(batch, "timestamp")?;
    let watermarks = match batch.column_by_name("watermark") {
        None => None,
        Some(_) => Some(column::<TimestampMicrosecondArray>(batch, "watermark")?),
    };
    Ok((0..batch.num_rows())
        .map(|i| RawRow {
            rating: Rating {
                user_id: users.value(i),
                movie_id: movies.value(i),
                rating: ratings.value(i),
                timestamp: times.value(i),
            },
            watermark: watermarks.filter(|w| w.is_valid(i)).map(|w| seconds(w, i)),
        })
        .collect())
}

/// Whether a raw batch records the watermark each rating was read at.
pub fn raw_rows_have_watermarks(batch: &RecordBatch) -> bool {
    batch.column_by_name("watermark").is_some()
}

/// The windows of an aggregate batch as the records a processor publishes (the inverse of
/// [`aggregate_batch`]); a row without `rating_histogram` (written before it existed) has none.
pub fn aggregate_windows(batch: &RecordBatch) -> anyhow::Result<Vec<Window>> {
    let starts = column::<TimestampMicrosecondArray>(batch, "window_start")?;
    let ends = column::<TimestampMicrosecondArray>(batch, "window_end")?;
    let types = column::<StringArray>(batch, "window_type")?;
    let counts = column::<Int64Array>(batch, "count")?;
    let metric = |name| column::<Float64Array>(batch, name);
    let (avgs, p50s, p95s) = (
        metric("avg_rating")?,
        metric("p50_rating")?,
        metric("p95_rating")?,
    );
    let histograms = match batch.column_by_name("rating_histogram") {
        None => None,
        Some(_) => Some(column::<ListArray>(batch, "rating_histogram")?),
    };
    let tops = column::<ListArray>(batch, "top_movies")?;
    let genres = column::<ListArray>(batch, "metrics_by_genre")?;
    let processed = column::<TimestampMicrosecondArray>(batch, "processing_time")?;
    (0..batch.num_rows())
        .map(|i| {
            let (start, end) = (seconds(starts, i), seconds(ends, i));
            let millis = processed.value(i).div_euclid(1000);
            Ok(Window {
                window_start: rfc3339_seconds(start),
                window_end: rfc3339_seconds(end),
                window_type: types.value(i).into(),
                count: counts.value(i) as u64,
                avg_rating: avgs.value(i),
                p50_rating: p50s.value(i),
                p95_rating: p95s.value(i),
                rating_histogram: histograms
                    .filter(|h| h.is_valid(i))
                    .map(|h| histogram_of(&h.value(i)))
                    .transpose()?,
                top_movies: top_movies_of(&tops.value(i))?,
                metrics_by_genre: genres_of(&genres.value(i))?,
                is_final: true,
                processing_time: rfc3339_millis(millis),
                span: (start, end),
                published_millis: millis,
            })
        })
        .collect()
}

fn histogram_of(counts: &ArrayRef) -> anyhow::Result<[u64; 10]> {
    let counts = counts
        .as_any()
        .downcast_ref::<Int64Array>()
        .ok_or_else(|| anyhow::anyhow!("rating_histogram is not a list of int64"))?;
    let values: Vec<u64> = counts.values().iter().map(|c| *c as u64).collect();
    values
        .try_into()
        .map_err(|v: Vec<u64>| anyhow::anyhow!("rating_histogram has {} counts, not 10", v.len()))
}

/// The entries of one list-of-structs value.
fn entries(list: &ArrayRef, what: &str) -> anyhow::Result<RecordBatch> {
    let entries = list
        .as_any()
        .downcast_ref::<StructArray>()
        .ok_or_else(|| anyhow::anyhow!("{what} is not a list of structs"))?;
    Ok(RecordBatch::from(entries))
}

fn top_movies_of(list: &ArrayRef) -> anyhow::Result<Vec<PublishedMovie>> {
    let entries = entries(list, "top_movies")?;
    let ids = column::<Int32Array>(&entries, "movieId")?;
    let titles = column::<StringArray>(&entries, "title")?;
    let counts = column::<Int64Array>(&entries, "count")?;
    let avgs = column::<Float64Array>(&entries, "avg_rating")?;
    Ok((0..entries.num_rows())
        .map(|i| PublishedMovie {
            movie_id: i64::from(ids.value(i)),
            title: titles.is_valid(i).then(|| titles.value(i).into()),
            count: counts.value(i) as u64,
            avg_rating: avgs.value(i),
        })
        .collect())
}

fn genres_of(list: &ArrayRef) -> anyhow::Result<Vec<PublishedGenre>> {
    let entries = entries(list, "metrics_by_genre")?;
    let names = column::<StringArray>(&entries, "genre")?;
    let counts = column::<Int64Array>(&entries, "count")?;
    let avgs = column::<Float64Array>(&entries, "avg_rating")?;
    Ok((0..entries.num_rows())
        .map(|i| PublishedGenre {
            genre: names.value(i).into(),
            count: counts.value(i) as u64,
            avg_rating: avgs.value(i),
        })
        .collect())
}

fn top_movies_column(windows: &[(WindowResult, i64)]) -> ArrayRef {
    let mut list = struct_list(top_movie_fields());
    for (window, _) in windows {
        let entries = list.values();
        for movie in &window.metrics.top_movies {
            field::<Int32Builder>(entries, 0).append_value(movie.movie_id);
            field::<StringBuilder>(entries, 1).append_option(movie.title.as_deref());
            field::<Int64Builder>(entries, 2).append_value(movie.count as i64);
            field::<Float64Builder>(entries, 3).append_value(movie.avg_rating);
            entries.append(true);
        }
        list.append(true);
    }
    Arc::new(list.finish())
}

fn genres_column(windows: &[(WindowResult, i64)]) -> ArrayRef {
    let mut list = struct_list(genre_fields());
    for (window, _) in windows {
        let entries = list.values();
        for genre in &window.metrics.metrics_by_genre {
            field::<StringBuilder>(entries, 0).append_value(&*genre.genre);
            field::<Int64Builder>(entries, 1).append_value(genre.count as i64);
            field::<Float64Builder>(entries, 2).append_value(genre.avg_rating);
            entries.append(true);
        }
        list.append(true);
    }
    Arc::new(list.finish())
}

#[cfg(test)]
mod tests {
    use arrow_array::{Array, ListArray};
    use ratings_core::output::WindowMetrics;

    use super::*;

    fn window() -> WindowResult {
        WindowResult {
            window_start: 1_761_764_400,
            window_end: 1_761_764_460,
            window_type: "tumbling_1min".into(),
            metrics: WindowMetrics {
                count: 3,
                avg_rating: 3.5,
                p50_rating: 3.5,
                p95_rating: 4.0,
                rating_histogram: [0, 0, 0, 0, 0, 1, 1, 1, 0, 0],
                top_movies: Vec::new(),
                metrics_by_genre: Vec::new(),
            },
            is_final: true,
        }
    }

    #[test]
    fn aggregate_rows_read_back_as_the_published_windows() {
        let mut with_entries = window();
        with_entries.metrics.top_movies = vec![
            ratings_core::TopMovie {
                movie_id: 7,
                title: Some("Heat (1995)".into()),
                count: 2,
                avg_rating: 3.75,
            },
            ratings_core::TopMovie {
                movie_id: 9,
                title: None,
                count: 1,
                avg_rating: 3.5,
            },
        ];
        with_entries.metrics.metrics_by_genre = vec![ratings_core::GenreMetric {
            genre: "Drama".into(),
            count: 2,
            avg_rating: 3.75,
        }];
        let rows = [
            (window(), 1_761_764_470_005),
            (with_entries, 1_761_764_471_000),
        ];
        let read = aggregate_windows(&aggregate_batch(&rows)).unwrap();
        let expected: Vec<Window> = rows.iter().map(|(w, at)| Window::of(w, *at)).collect();
        assert_eq!(read, expected);
    }

    #[test]
    fn raw_rows_read_back_with_their_watermark() {
        let rating = |t| Rating {
            user_id: 1,
            movie_id: 2,
            rating: 4.5,
            timestamp: t,
        };
        let rows = [
            RawRow {
                rating: rating(-61),
                watermark: None,
            },
            RawRow {
                rating: rating(1_761_764_400),
                watermark: Some(1_761_763_800),
            },
        ];
        let batch = raw_batch(&rows);
        assert!(raw_rows_have_watermarks(&batch));
        assert_eq!(raw_rows(&batch).unwrap(), rows);
        let old = batch.project(&[0, 1, 2, 3, 4]).unwrap();
        assert!(!raw_rows_have_watermarks(&old));
        assert!(raw_rows(&old)
            .unwrap()
            .iter()
            .all(|r| r.watermark.is_none()));
        let error = raw_rows(&batch.project(&[0, 2, 3]).unwrap()).unwrap_err();
        assert_eq!(error.to_string(), "no column movieId");
    }

    #[test]
    fn the_histogram_is_a_list_of_ten_counts() {
        let batch = aggregate_batch(&[(window(), 0)]);
        let lists = batch
            .column_by_name("rating_histogram")
            .unwrap()
            .as_any()
            .downcast_ref::<ListArray>()
            .unwrap()
            .value(0);
        let counts = lists.as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(counts.values().to_vec(), vec![0, 0, 0, 0, 0, 1, 1, 1, 0, 0]);
    }

    #[test]
    fn rows_saved_before_the_histogram_existed_get_a_null_one() {
        let batch = aggregate_batch(&[(window(), 0)]);
        let without = batch.project(&[0, 1, 2, 3, 4, 5, 6, 8, 9, 10]).unwrap();
        assert!(without.column_by_name("rating_histogram").is_none());
        let conformed = conform(without, &AGGREGATE_SCHEMA).unwrap();
        assert_eq!(conformed.schema(), *AGGREGATE_SCHEMA);
        assert!(conformed
            .column_by_name("rating_histogram")
            .unwrap()
            .is_null(0));
        assert_eq!(conformed.column(3).as_ref(), batch.column(3).as_ref());
        let without_count = batch.project(&[0, 1, 2, 4, 5, 6, 7, 8, 9, 10]).unwrap();
        let error = conform(without_count, &AGGREGATE_SCHEMA).unwrap_err();
        assert!(
            error.to_string().contains("lack the column count"),
            "{error}"
        );
    }
}
