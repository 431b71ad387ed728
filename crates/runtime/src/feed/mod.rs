//! Feeding the input topic: synthetic ratings ([`generate`], also as a file) and a MovieLens
//! `ratings.csv` in timestamp order ([`replay`]).

pub mod generate;
pub mod replay;
