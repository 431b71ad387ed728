//! A small built-in movie catalog for running without the MovieLens files.
//!
//! Ids, titles and genres are those of MovieLens (https://grouplens.org/datasets/movielens/,
//! F. M. Harper and J. A. Konstan, 2015), used under its research license.

use ratings_core::Catalog;

const MOVIES_CSV: &str = "movieId,title,genres
1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy
2,Jumanji (1995),Adventure|Children|Fantasy
32,Twelve Monkeys (a.k.a. 12 Monkeys) (1995),Mystery|Sci-Fi|Thriller
47,Seven (a.k.a. Se7en) (1995),Mystery|Thriller
50,\"Usual Suspects, The (1995)\",Crime|Mystery|Thriller
110,Braveheart (1995),Action|Drama|War
260,Star Wars: Episode IV - A New Hope (1977),Action|Adventure|Sci-Fi
296,Pulp Fiction (1994),Comedy|Crime|Drama|Thriller
318,\"Shawshank Redemption, The (1994)\",Crime|Drama
356,Forrest Gump (1994),Comedy|Drama|Romance|War
480,Jurassic Park (1993),Action|Adventure|Sci-Fi|Thriller
527,Schindler's List (1993),Drama|War
589,Terminator 2: Judgment Day (1991),Action|Sci-Fi
593,\"Silence of the Lambs, The (1991)\",Crime|Horror|Thriller
858,\"Godfather, The (1972)\",Crime|Drama
1196,Star Wars: Episode V - The Empire Strikes Back (1980),Action|Adventure|Sci-Fi
1198,Raiders of the Lost Ark (Indiana Jones and the Raiders of the Lost Ark) (1981),Action|Adventure
2571,\"Matrix, The (1999)\",Action|Sci-Fi|Thriller
2959,Fight Club (1999),Action|Crime|Drama|Thriller
4993,\"Lord of the Rings: The Fellowship of the Ring, The (2001)\",Adventure|Fantasy
";

/// The built-in catalog: 20 of the most rated MovieLens movies.
pub fn builtin_catalog() -> Catalog {
    Catalog::from_csv(MOVIES_CSV.as_bytes()).expect("the built-in catalog is valid")
}

#[cfg(test)]
mod tests {
    #[test]
    fn builtin_catalog_loads() {
        let c = super::builtin_catalog();
        assert_eq!(c.len(), 20);
        assert_eq!(
            c.movie(318).unwrap().title.as_ref(),
            "Shawshank Redemption, The (1994)"
        );
    }
}
