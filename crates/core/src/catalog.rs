//! The MovieLens movie catalog (`movies.csv`: `movieId,title,genres`), read exactly as GroupLens
//! ships it: CRLF line ends, quoted titles containing commas or doubled quotes, stray trailing
//! spaces (trimmed), titles without a year, and `(no genres listed)` (which means no genre).
//!
//! Genres are interned to small integer ids so the engine can keep per-genre counters in arrays.

use std::io::Read;
use std::sync::Arc;

use rustc_hash::FxHashMap;

/// The `genres` value GroupLens uses for a movie without genres.
pub const NO_GENRES: &str = "(no genres listed)";

/// Dense index of a genre name in [`Catalog::genre_names`].
pub type GenreId = u16;

/// One movie of the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct Movie {
    pub title: Arc<str>,
    pub genres: Box<[GenreId]>,
}

/// The movie catalog with interned genres.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    movies: FxHashMap<i32, Movie>,
    genre_names: Vec<Arc<str>>,
    genre_ids: FxHashMap<Arc<str>, GenreId>,
    /// Bit `id` is set when movie `id` exists, for ids below [`BITSET_LIMIT`]: a membership test
    /// that stays in cache on the per-event path.
    known: Vec<u64>,
    /// Titles longer than [`MAX_TITLE_BYTES`], cut.
    titles_cut: usize,
}

/// Longest title kept, in bytes; longer ones are cut (at a character boundary) and counted.
pub const MAX_TITLE_BYTES: usize = 1024;
/// Largest catalog file read (the largest MovieLens catalog, ml-latest, is ~4 MB).
pub const MAX_CATALOG_BYTES: u64 = 64 << 20;

/// Movie ids below this are tracked in the `known` bitset (at most 2 MB).
const BITSET_LIMIT: i32 = 1 << 24;

/// Why `movies.csv` could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("movies.csv line {line}: {message}")]
    BadRow { line: u64, message: String },
    #[error("movies.csv: header must be movieId,title,genres, found {found:?}")]
    BadHeader { found: String },
    #[error("movies.csv: {0}")]
    Csv(#[from] csv::Error),
    #[error("movies.csv: more than {} distinct genres", GenreId::MAX)]
    TooManyGenres,
    #[error("movies.csv is larger than {} MB (the largest MovieLens catalog is ~4 MB)", MAX_CATALOG_BYTES >> 20)]
    TooLarge,
}

impl Catalog {
    /// Reads `movies.csv` content (with its header row).
    /// Reads at most [`MAX_CATALOG_BYTES`].
    pub fn from_csv<R: Read>(reader: R) -> Result<Catalog, CatalogError> {
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_reader(Capped {
                inner: reader,
                left: MAX_CATALOG_BYTES,
            });
        check_header(csv.headers().map_err(row_error)?)?;
        let mut catalog = Catalog::default();
        let mut lines: FxHashMap<i32, u64> = FxHashMap::default();
        for row in csv.records() {
            let row = row.map_err(row_error)?;
            let line = row.position().map_or(0, |p| p.line());
            let movie_id = catalog.add_row(&row, line)?;
            if let Some(first) = lines.insert(movie_id, line) {
                return Err(CatalogError::BadRow {
                    line,
                    message: format!("movieId {movie_id} appears twice (first on line {first})"),
                });
            }
        }
        Ok(catalog)
    }

    /// Adds one row; its movie id.
    fn add_row(&mut self, row: &csv::StringRecord, line: u64) -> Result<i32, CatalogError> {
        let bad = |message: String| CatalogError::BadRow { line, message };
        let id_text = row.get(0).unwrap_or("").trim();
        let movie_id: i32 = id_text
            .parse()
            .ok()
            .filter(|id| *id > 0)
            .ok_or_else(|| bad(format!("movieId {id_text:?} is not a positive integer")))?;
        let title: Arc<str> = self.bounded(row.get(1).unwrap_or("").trim()).into();
        let genres = self.intern_genres(row.get(2).unwrap_or(""))?;
        let movie = Movie { title, genres };
        self.movies.insert(movie_id, movie);
        if movie_id < BITSET_LIMIT {
            let word = (movie_id / 64) as usize;
            if word >= self.known.len() {
                self.known.resize(word + 1, 0);
            }
            self.known[word] |= 1 << (movie_id % 64);
        }
        Ok(movie_id)
    }

    /// `title`, cut to [`MAX_TITLE_BYTES`] (and counted) when longer.
    fn bounded<'a>(&mut self, title: &'a str) -> &'a str {
        if title.len() <= MAX_TITLE_BYTES {
            return title;
        }
        self.titles_cut += 1;
        let end = (0..=MAX_TITLE_BYTES)
            .rev()
            .find(|i| title.is_char_boundary(*i))
            .unwrap_or(0);
        &title[..end]
    }

    /// Titles that were longer than [`MAX_TITLE_BYTES`] and were cut.
    pub fn titles_cut(&self) -> usize {
        self.titles_cut
    }

    fn intern_genres(&mut self, field: &str) -> Result<Box<[GenreId]>, CatalogError> {
        let field = field.trim();
        if field.is_empty() || field == NO_GENRES {
            return Ok(Box::new([]));
        }
        let mut ids = Vec::new();
        for name in field.split('|').map(str::trim).filter(|g| !g.is_empty()) {
            let id = self.genre_id(name)?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        Ok(ids.into_boxed_slice())
    }

    fn genre_id(&mut self, name: &str) -> Result<GenreId, CatalogError> {
        if let Some(id) = self.genre_ids.get(name) {
            return Ok(*id);
        }
        let id =
            GenreId::try_from(self.genre_names.len()).map_err(|_| CatalogError::TooManyGenres)?;
        let name: Arc<str> = name.into();
        self.genre_names.push(name.clone());
        self.genre_ids.insert(name, id);
        Ok(id)
    }

    /// The movie with this id, if the catalog has it.
    #[inline]
    pub fn movie(&self, movie_id: i32) -> Option<&Movie> {
        self.movies.get(&movie_id)
    }

    /// True when the catalog has this movie (fast, for the per-event path).
    #[inline]
    pub fn contains(&self, movie_id: i32) -> bool {
        if (0..BITSET_LIMIT).contains(&movie_id) {
            let word = (movie_id / 64) as usize;
            self.known
                .get(word)
                .is_some_and(|w| w >> (movie_id % 64) & 1 == 1)
        } else {
            self.movies.contains_key(&movie_id)
        }
    }

    /// Number of movies.
    pub fn len(&self) -> usize {
        self.movies.len()
    }

    /// True when the catalog has no movies.
    pub fn is_empty(&self) -> bool {
        self.movies.is_empty()
    }

    /// Genre names, indexed by [`GenreId`].
    pub fn genre_names(&self) -> &[Arc<str>] {
        &self.genre_names
    }

    /// The name of a genre id.
    pub fn genre_name(&self, id: GenreId) -> &str {
        &self.genre_names[usize::from(id)]
    }

    /// All movie ids, ascending.
    pub fn movie_ids(&self) -> Vec<i32> {
        let mut ids: Vec<i32> = self.movies.keys().copied().collect();
        ids.sort_unstable();
        ids
    }
}

/// A reader that fails once it has given `left` bytes.
struct Capped<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            // one more byte is one too many
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? == 0 {
                return Ok(0);
            }
            return Err(std::io::ErrorKind::FileTooLarge.into());
        }
        let most = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let read = self.inner.read(&mut buf[..most])?;
        self.left -= read as u64;
        Ok(read)
    }
}

/// A CSV error, named by its line where it has one: a row with the wrong number of columns,
/// or text that is not UTF-8.
fn row_error(error: csv::Error) -> CatalogError {
    if matches!(error.kind(), csv::ErrorKind::Io(e) if e.kind() == std::io::ErrorKind::FileTooLarge)
    {
        return CatalogError::TooLarge;
    }
    let line = error.position().map(csv::Position::line);
    let message = match error.kind() {
        csv::ErrorKind::UnequalLengths { len, .. } => format!(
            "{len} columns, expected 3 (movieId,title,genres); a title holding a comma must be \
             quoted"
        ),
        csv::ErrorKind::Utf8 { err, .. } => format!(
            "not UTF-8 ({err}): movies.csv must be UTF-8, as GroupLens ships it; convert it \
             first, e.g. iconv -f latin1 -t utf-8"
        ),
        _ => return CatalogError::Csv(error),
    };
    match line {
        Some(line) => CatalogError::BadRow { line, message },
        None => CatalogError::Csv(error),
    }
}

fn check_header(header: &csv::StringRecord) -> Result<(), CatalogError> {
    let names: Vec<&str> = header.iter().map(str::trim).collect();
    if names == ["movieId", "title", "genres"] {
        Ok(())
    } else {
        Err(CatalogError::BadHeader {
            found: names.join(","),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "movieId,title,genres\r\n\
        1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\r\n\
        11,\"American President, The (1995)\",Comedy|Drama|Romance\r\n\
        7789,\"11'09\"\"01 - September 11 (2002)\",Drama\r\n\
        27008,From Dusk Till Dawn 2: Texas Blood Money (1999) ,Comedy|Crime|Horror\r\n\
        40697,Babylon 5,Sci-Fi\r\n\
        143410,Hyena Road,(no genres listed)\r\n";

    fn sample() -> Catalog {
        Catalog::from_csv(SAMPLE.as_bytes()).unwrap()
    }

    fn genres(c: &Catalog, id: i32) -> Vec<&str> {
        c.movie(id)
            .unwrap()
            .genres
            .iter()
            .map(|g| c.genre_name(*g))
            .collect()
    }

    #[test]
    fn reads_grouplens_quirks() {
        let c = sample();
        assert_eq!(c.len(), 6);
        assert_eq!(
            &*c.movie(11).unwrap().title,
            "American President, The (1995)"
        );
        assert_eq!(
            &*c.movie(7789).unwrap().title,
            "11'09\"01 - September 11 (2002)"
        );
        assert_eq!(
            &*c.movie(27008).unwrap().title,
            "From Dusk Till Dawn 2: Texas Blood Money (1999)"
        );
        assert_eq!(&*c.movie(40697).unwrap().title, "Babylon 5");
        assert_eq!(
            genres(&c, 1),
            ["Adventure", "Animation", "Children", "Comedy", "Fantasy"]
        );
        assert_eq!(genres(&c, 27008), ["Comedy", "Crime", "Horror"]);
        assert!(genres(&c, 143410).is_empty());
        assert!(c.movie(2).is_none());
        assert!(c.contains(143410) && c.contains(1) && !c.contains(2) && !c.contains(-1));
        assert!(!c.contains(1 << 30));
        assert!(!c.genre_names().iter().any(|g| &**g == NO_GENRES));
    }

    #[test]
    fn interns_each_genre_once() {
        let c = sample();
        let comedy = c.genre_names().iter().filter(|g| &***g == "Comedy").count();
        assert_eq!(comedy, 1);
        assert_eq!(
            c.movie(1).unwrap().genres[3],
            c.movie(11).unwrap().genres[0]
        );
    }

    #[test]
    fn reports_bad_rows_with_line_numbers() {
        let err = Catalog::from_csv("movieId,title,genres\n1,A,Drama\nx,B,Drama\n".as_bytes())
            .unwrap_err();
        assert!(err.to_string().contains("line 3"), "{err}");
        let dup = Catalog::from_csv("movieId,title,genres\n1,A,Drama\n1,B,Drama\n".as_bytes())
            .unwrap_err();
        assert!(dup.to_string().contains("appears twice"), "{dup}");
        assert!(dup
            .to_string()
            .contains("line 3: movieId 1 appears twice (first on line 2)"));
        let header = Catalog::from_csv("id,name\n1,A\n".as_bytes()).unwrap_err();
        assert!(matches!(header, CatalogError::BadHeader { .. }), "{header}");
    }

    #[test]
    fn rows_with_missing_columns_or_another_encoding_are_named_by_line() {
        let error = |text: &[u8]| Catalog::from_csv(text).unwrap_err().to_string();
        let short = error(b"movieId,title,genres\n1,A,Drama\n2,B\n");
        assert!(
            short.contains("line 3: 2 columns, expected 3 (movieId,title,genres)"),
            "{short}"
        );
        let comma = error(b"movieId,title,genres\n1,American President, The (1995),Drama\n");
        assert!(
            comma.contains("line 2: 4 columns") && comma.contains("quoted"),
            "{comma}"
        );
        // Latin-1 "Cité" (ml-1m's encoding)
        let latin1 = error(b"movieId,title,genres\n1,A,Drama\n2,Cit\xe9 (1999),Drama\n");
        assert!(
            latin1.contains("line 3: not UTF-8") && latin1.contains("iconv"),
            "{latin1}"
        );
        let header = error(b"movieId,title\n1,A\n");
        assert!(
            header.contains("header must be movieId,title,genres"),
            "{header}"
        );
    }

    #[test]
    fn a_huge_title_is_cut_and_counted_and_a_huge_file_refused() {
        let long = "é".repeat(MAX_TITLE_BYTES); // two bytes each
        let text = format!("movieId,title,genres\n1,{long},Drama\n2,Short,Drama\n");
        let catalog = Catalog::from_csv(text.as_bytes()).unwrap();
        let title = &catalog.movie(1).unwrap().title;
        assert_eq!(title.len(), MAX_TITLE_BYTES);
        assert!(title.chars().all(|c| c == 'é'));
        assert_eq!(catalog.titles_cut(), 1);
        assert_eq!(&*catalog.movie(2).unwrap().title, "Short");

        let header = &b"movieId,title,genres\n1,"[..];
        let endless = std::io::repeat(b'a').take(MAX_CATALOG_BYTES + 10);
        let error = Catalog::from_csv(header.chain(endless)).unwrap_err();
        assert!(matches!(error, CatalogError::TooLarge), "{error}");
    }
}
